//! The JSON-RPC envelope the three doors share: every request is a JSON
//! object with an `id` (number, string or absent), a `method` string and
//! `params`; every answer is `{"id":…,"result":…}` or
//! `{"id":…,"result":null,"error":{"code":…,"message":…}}`. Each door's codec
//! reads the envelope here and only its own methods and params itself.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::stratum::RequestId;

/// A request's envelope: its id, method and (unchecked) params.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The id to answer with (`Null` when absent or neither number nor string).
    pub id: RequestId,
    /// The method name.
    pub method: String,
    /// `params` as sent; `Null` when absent.
    pub params: Value,
}

impl Envelope {
    /// `params` as a list (absent or `null` is empty); `None` for another
    /// shape.
    pub fn params_array(&self) -> Option<&[Value]> {
        match &self.params {
            Value::Null => Some(&[]),
            Value::Array(params) => Some(params),
            _ => None,
        }
    }

    /// `params` as an object (absent or `null` is empty); `None` for
    /// another shape.
    pub fn params_object(&self) -> Option<Cow<'_, Map<String, Value>>> {
        match &self.params {
            Value::Null => Some(Cow::Owned(Map::new())),
            Value::Object(params) => Some(Cow::Borrowed(params)),
            _ => None,
        }
    }
}

/// Why bytes are not a request envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not JSON, or not a JSON object (what the parser said).
    BadJson(String),
    /// An object without a `method` string.
    MissingMethod,
}

/// Reads the envelope of one request; on failure, the id when it could be
/// read (`Null` otherwise) with the reason.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, (RequestId, EnvelopeError)> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| (RequestId::Null, EnvelopeError::BadJson(error.to_string())))?;
    let Value::Object(mut object) = value else {
        return Err((
            RequestId::Null,
            EnvelopeError::BadJson("not an object".into()),
        ));
    };
    let id = match object.get("id") {
        Some(Value::Number(number)) => RequestId::Number(number.clone()),
        Some(Value::String(text)) => RequestId::Text(text.clone()),
        _ => RequestId::Null,
    };
    let Some(Value::String(method)) = object.remove("method") else {
        return Err((id, EnvelopeError::MissingMethod));
    };
    let params = object.remove("params").unwrap_or(Value::Null);
    Ok(Envelope { id, method, params })
}

/// `{"id":…,"result":…}`.
#[derive(Serialize)]
pub struct Success<'a, R: Serialize> {
    /// The request's id.
    pub id: &'a RequestId,
    /// The answer.
    pub result: R,
}

/// `{"id":…,"result":null,"error":{"code":…,"message":…}}`.
#[derive(Serialize)]
pub struct Failure<'a> {
    id: &'a RequestId,
    result: (),
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: u16,
    message: &'a str,
}

impl<'a> Failure<'a> {
    /// The error answer to request `id`.
    pub fn new(id: &'a RequestId, code: u16, message: &'a str) -> Failure<'a> {
        Failure {
            id,
            result: (),
            error: ErrorObject { code, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_id_method_and_params() {
        let envelope = parse_envelope(br#"{"id":"a1","method":"submit","params":{"n":1}}"#)
            .expect("an envelope");
        assert_eq!(envelope.id, RequestId::Text("a1".into()));
        assert_eq!(envelope.method, "submit");
        assert_eq!(envelope.params, serde_json::json!({"n": 1}));
        let bare = parse_envelope(br#"{"id":7,"method":"ping"}"#).expect("an envelope");
        assert_eq!(bare.id, RequestId::from(7));
        assert_eq!(bare.params, Value::Null);
        assert_eq!(bare.params_array(), Some(&[][..]));
        assert!(bare.params_object().is_some_and(|params| params.is_empty()));
        assert_eq!(envelope.params_array(), None);
        assert!(
            envelope
                .params_object()
                .is_some_and(|p| p.contains_key("n"))
        );
    }

    #[test]
    fn says_what_is_missing() {
        assert!(matches!(
            parse_envelope(b"[1,2]"),
            Err((RequestId::Null, EnvelopeError::BadJson(_)))
        ));
        assert!(matches!(
            parse_envelope(b"{nope"),
            Err((RequestId::Null, EnvelopeError::BadJson(_)))
        ));
        assert_eq!(
            parse_envelope(br#"{"id":3,"method":5}"#),
            Err((RequestId::from(3), EnvelopeError::MissingMethod))
        );
    }

    #[test]
    fn answers_have_the_json_rpc_shape() {
        let id = RequestId::from(4);
        let ok = serde_json::to_string(&Success {
            id: &id,
            result: true,
        })
        .expect("json");
        assert_eq!(ok, r#"{"id":4,"result":true}"#);
        let error = serde_json::to_string(&Failure::new(&id, 21, "stale")).expect("json");
        assert_eq!(
            error,
            r#"{"id":4,"result":null,"error":{"code":21,"message":"stale"}}"#
        );
    }
}
