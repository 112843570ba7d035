//! The JSON-RPC 2.0 envelope the daemon speaks: request parsing, batches,
//! notifications and the error shape. Method bodies live in `methods`.

use serde_json::{Map, Value, json};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a JSON-RPC 2.0 request object.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Parameters missing, malformed or naming something unknown.
pub const INVALID_PARAMS: i64 = -32602;
/// The daemon refused the request (a rejected block, a missing balance).
pub const INTERNAL_ERROR: i64 = -32603;

/// A JSON-RPC error: code and a message saying what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// JSON-RPC error code.
    pub code: i64,
    /// Human-readable reason.
    pub message: String,
}

impl RpcError {
    /// An invalid-params error (-32602).
    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError {
            code: INVALID_PARAMS,
            message: message.into(),
        }
    }

    /// An internal error (-32603), also used for refused blocks.
    pub fn internal(message: impl Into<String>) -> RpcError {
        RpcError {
            code: INTERNAL_ERROR,
            message: message.into(),
        }
    }
}

/// A well-formed request: method, params and id (`None` = notification).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Method name.
    pub method: String,
    /// `params` as sent (`Null` when absent).
    pub params: Value,
    /// The request id; `None` when the member is absent (a notification).
    pub id: Option<Value>,
}

/// The success reply for `id`.
pub fn success(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The error reply for `id`.
pub fn failure(id: Value, error: &RpcError) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": error.code, "message": error.message},
    })
}

/// Reads one request object; the error carries the id to answer with.
pub fn parse_request(value: Value) -> Result<Request, (Value, RpcError)> {
    let Value::Object(mut object) = value else {
        return Err((
            Value::Null,
            invalid_request("a request must be a JSON object"),
        ));
    };
    let id = object.remove("id");
    let reply_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((reply_id, invalid_request("\"jsonrpc\" must be \"2.0\"")));
    }
    if let Some(id) = &id
        && !(id.is_number() || id.is_string() || id.is_null())
    {
        return Err((
            Value::Null,
            invalid_request("\"id\" must be a number or a string"),
        ));
    }
    let Some(Value::String(method)) = object.remove("method") else {
        return Err((reply_id, invalid_request("\"method\" must be a string")));
    };
    let params = object.remove("params").unwrap_or(Value::Null);
    Ok(Request { method, params, id })
}

fn invalid_request(message: &str) -> RpcError {
    RpcError {
        code: INVALID_REQUEST,
        message: format!("invalid request: {message}"),
    }
}

/// Answers a request body (one request or a batch) with `call`; `None` when
/// nothing is to be sent back (notifications only).
pub fn answer(
    body: &[u8],
    mut call: impl FnMut(&Request) -> Result<Value, RpcError>,
) -> Option<Value> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            let error = RpcError {
                code: PARSE_ERROR,
                message: format!("parse error: {e}"),
            };
            return Some(failure(Value::Null, &error));
        }
    };
    match value {
        Value::Array(items) if items.is_empty() => Some(failure(
            Value::Null,
            &invalid_request("a batch must hold at least one request"),
        )),
        Value::Array(items) => {
            let replies: Vec<Value> = items
                .into_iter()
                .filter_map(|item| answer_one(item, &mut call))
                .collect();
            (!replies.is_empty()).then_some(Value::Array(replies))
        }
        single => answer_one(single, &mut call),
    }
}

fn answer_one(
    value: Value,
    call: &mut impl FnMut(&Request) -> Result<Value, RpcError>,
) -> Option<Value> {
    let request = match parse_request(value) {
        Ok(request) => request,
        Err((id, error)) => return Some(failure(id, &error)),
    };
    let outcome = call(&request);
    let id = request.id?;
    Some(match outcome {
        Ok(result) => success(id, result),
        Err(error) => failure(id, &error),
    })
}

/// Reads named-object params into `T`; absent params read as `{}`.
pub fn params<T: serde::de::DeserializeOwned>(params: &Value) -> Result<T, RpcError> {
    let value = match params {
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    };
    if !value.is_object() {
        return Err(RpcError::invalid_params(
            "invalid params: parameters must be a named object",
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| RpcError::invalid_params(format!("invalid params: {e}")))
}

/// Refuses params on a method that takes none (absent, `null`, `{}` or `[]`
/// are accepted).
pub fn no_params(params: &Value) -> Result<(), RpcError> {
    let empty = match params {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    };
    if empty {
        Ok(())
    } else {
        Err(RpcError::invalid_params(
            "invalid params: this method takes no parameters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(request: &Request) -> Result<Value, RpcError> {
        match request.method.as_str() {
            "echo" => Ok(request.params.clone()),
            _ => Err(RpcError {
                code: METHOD_NOT_FOUND,
                message: "method not found".into(),
            }),
        }
    }

    fn code(reply: &Value) -> Option<i64> {
        reply["error"]["code"].as_i64()
    }

    #[test]
    fn answers_requests_and_keeps_ids() {
        let reply = answer(
            br#"{"jsonrpc":"2.0","id":"a","method":"echo","params":{"x":1}}"#,
            echo,
        )
        .expect("a request gets a reply");
        assert_eq!(reply, json!({"jsonrpc":"2.0","id":"a","result":{"x":1}}));
        let reply = answer(br#"{"jsonrpc":"2.0","id":7,"method":"nope"}"#, echo).expect("reply");
        assert_eq!(code(&reply), Some(METHOD_NOT_FOUND));
        assert_eq!(reply["id"], json!(7));
    }

    #[test]
    fn notifications_get_no_reply_but_run() {
        let mut calls = 0;
        let reply = answer(br#"{"jsonrpc":"2.0","method":"echo"}"#, |r| {
            calls += 1;
            echo(r)
        });
        assert_eq!(reply, None);
        assert_eq!(calls, 1);
    }

    #[test]
    fn malformed_input_gets_the_standard_codes() {
        let reply = answer(b"{not json", echo).expect("reply");
        assert_eq!(code(&reply), Some(PARSE_ERROR));
        assert_eq!(reply["id"], Value::Null);
        let reply = answer(br#"{"id":1,"method":"echo"}"#, echo).expect("reply");
        assert_eq!(code(&reply), Some(INVALID_REQUEST));
        assert_eq!(reply["id"], json!(1));
        let reply = answer(br#"{"jsonrpc":"1.0","id":1,"method":"echo"}"#, echo).expect("reply");
        assert_eq!(code(&reply), Some(INVALID_REQUEST));
        let reply = answer(br#"{"jsonrpc":"2.0","id":1,"method":5}"#, echo).expect("reply");
        assert_eq!(code(&reply), Some(INVALID_REQUEST));
        let reply = answer(b"[]", echo).expect("reply");
        assert_eq!(code(&reply), Some(INVALID_REQUEST));
        let reply = answer(b"42", echo).expect("reply");
        assert_eq!(code(&reply), Some(INVALID_REQUEST));
    }

    #[test]
    fn batches_answer_each_request() {
        let reply = answer(
            br#"[{"jsonrpc":"2.0","id":1,"method":"echo"},{"jsonrpc":"2.0","method":"echo"},3]"#,
            echo,
        )
        .expect("reply");
        let items = reply.as_array().expect("batch reply is an array");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["id"], json!(1));
        assert_eq!(code(&items[1]), Some(INVALID_REQUEST));
    }

    #[test]
    fn params_must_be_named() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct P {
            #[allow(dead_code)]
            hash: String,
        }
        assert!(params::<P>(&json!({"hash":"ab"})).is_ok());
        assert_eq!(
            params::<P>(&json!(["ab"])).map_err(|e| e.code),
            Err(INVALID_PARAMS)
        );
        assert_eq!(
            params::<P>(&Value::Null).map_err(|e| e.code),
            Err(INVALID_PARAMS)
        );
        assert!(no_params(&Value::Null).is_ok());
        assert!(no_params(&json!({})).is_ok());
        assert!(no_params(&json!({"a":1})).is_err());
    }
}
