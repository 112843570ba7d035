//! The JSON-RPC 2.0 envelope, without I/O: building a request and reading a
//! reply (TOS.md: named parameters, no `params` for methods without any,
//! errors as `{code, message}`).

use serde_json::{Map, Value, json};

/// What a reply carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The `result` member (which may be `null`).
    Result(Value),
    /// The `error` member.
    Error {
        /// The error code.
        code: i64,
        /// The daemon's message.
        message: String,
    },
}

/// A request object; `params` is left out when it is `null`.
pub fn request(id: u64, method: &str, params: Value) -> Value {
    let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if !params.is_null()
        && let Value::Object(map) = &mut request
    {
        map.insert("params".into(), params);
    }
    request
}

/// Reads a reply body; with `expected_id`, the reply must carry that id.
pub fn parse_reply(body: &[u8], expected_id: Option<u64>) -> Result<Reply, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| format!("not JSON ({error})"))?;
    let Value::Object(map) = value else {
        return Err("not a JSON object".to_string());
    };
    read_reply(map, expected_id)
}

/// Reads a reply already parsed as a JSON object.
pub fn read_reply(mut map: Map<String, Value>, expected_id: Option<u64>) -> Result<Reply, String> {
    match map.get("jsonrpc") {
        Some(Value::String(version)) if version == "2.0" => {}
        Some(other) => return Err(format!("\"jsonrpc\" is {other}, expected \"2.0\"")),
        None => return Err("\"jsonrpc\" is missing".to_string()),
    }
    if let Some(expected) = expected_id {
        match map.get("id") {
            Some(Value::Number(id)) if id.as_u64() == Some(expected) => {}
            other => {
                return Err(format!(
                    "reply id {} does not match request id {expected}",
                    other.map_or_else(|| "missing".to_string(), Value::to_string)
                ));
            }
        }
    }
    if let Some(error) = map.remove("error")
        && !error.is_null()
    {
        let code = error.get("code").and_then(Value::as_i64);
        let message = error.get("message").and_then(Value::as_str);
        return match (code, message) {
            (Some(code), Some(message)) => Ok(Reply::Error {
                code,
                message: message.to_string(),
            }),
            _ => Err(format!(
                "error member {error} lacks an integer code or a message"
            )),
        };
    }
    map.remove("result")
        .map(Reply::Result)
        .ok_or_else(|| "neither \"result\" nor \"error\" is present".to_string())
}

/// The start of a body as text, for error messages (at most `limit` chars).
pub fn body_excerpt(body: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(limit).collect();
    if text.chars().count() > limit {
        excerpt.push('…');
    }
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_without_params_leave_them_out() {
        assert_eq!(
            request(7, "get_info", Value::Null),
            json!({"jsonrpc":"2.0","id":7,"method":"get_info"})
        );
        assert_eq!(
            request(8, "get_block_template", json!({"address": "tst1"})),
            json!({"jsonrpc":"2.0","id":8,"method":"get_block_template","params":{"address":"tst1"}})
        );
    }

    #[test]
    fn results_and_errors_are_read() {
        let ok = br#"{"jsonrpc":"2.0","id":3,"result":{"height":5}}"#;
        assert_eq!(
            parse_reply(ok, Some(3)),
            Ok(Reply::Result(json!({"height":5})))
        );
        let null = br#"{"jsonrpc":"2.0","id":3,"result":null}"#;
        assert_eq!(parse_reply(null, Some(3)), Ok(Reply::Result(Value::Null)));
        let error = br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"unknown hash"}}"#;
        assert_eq!(
            parse_reply(error, Some(3)),
            Ok(Reply::Error {
                code: -32602,
                message: "unknown hash".into()
            })
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            br#"{"id":3,"result":1}"#,
            br#"{"jsonrpc":"1.0","id":3,"result":1}"#,
            br#"{"jsonrpc":"2.0","id":4,"result":1}"#,
            br#"{"jsonrpc":"2.0","id":"3","result":1}"#,
            br#"{"jsonrpc":"2.0","id":3}"#,
            br#"{"jsonrpc":"2.0","id":3,"error":{"code":"x","message":"m"}}"#,
            br#"{"jsonrpc":"2.0","id":3,"error":{"code":1}}"#,
        ] {
            assert!(
                parse_reply(body, Some(3)).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(body_excerpt(b"abc", 10), "abc");
        assert_eq!(body_excerpt(b"abcdef", 3), "abc…");
        assert_eq!(body_excerpt(&[0xff, b'a'], 10), "\u{fffd}a");
    }
}
