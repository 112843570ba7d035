//! One Xatum line into a typed request.

use serde_json::{Map, Value};

use super::PROTOCOL_FAMILY;
use crate::jsonrpc::{EnvelopeError, parse_envelope};
use crate::session::{Login, Request, Submit};
use crate::stratum::{RequestId, parse_nonce, truncated};

/// A decoded request and the id to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XatumRequest {
    /// The request's id, echoed in the answer.
    pub id: RequestId,
    /// What is asked.
    pub request: Request,
}

/// A line that is not a request the pool understands: answered with code 20
/// and counted toward the malformed-request ban.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct XatumRequestError {
    /// The request's id, when it could be read (`Null` otherwise).
    pub id: RequestId,
    /// What was wrong.
    pub kind: XatumErrorKind,
}

impl XatumRequestError {
    /// Whether the connection must close after the answer (a handshake for
    /// a protocol this pool does not speak).
    pub fn is_fatal(&self) -> bool {
        matches!(self.kind, XatumErrorKind::UnsupportedProtocol(_))
    }
}

/// What was wrong with an Xatum line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XatumErrorKind {
    /// Not JSON, or not a JSON object.
    #[error("request is not a JSON object ({0}): send one JSON object per line")]
    BadJson(String),
    /// No `method` string.
    #[error("request has no \"method\": name the method, e.g. \"handshake\"")]
    MissingMethod,
    /// A method the pool does not offer.
    #[error("unknown method {0:?}: use handshake, authorize, submit or ping")]
    UnknownMethod(String),
    /// The handshake names another protocol.
    #[error("unsupported protocol {0:?}: this pool speaks xatum/1.0 (any xatum/1.x handshake)")]
    UnsupportedProtocol(String),
    /// The method's parameters are not as expected.
    #[error("bad {method} params: {reason}")]
    BadParams {
        /// The method.
        method: &'static str,
        /// What to send instead.
        reason: String,
    },
}

/// Parses one line (without its newline) into a request.
pub fn parse_line(line: &[u8]) -> Result<XatumRequest, XatumRequestError> {
    let fail = |id: &RequestId, kind| XatumRequestError {
        id: id.clone(),
        kind,
    };
    let envelope = parse_envelope(line).map_err(|(id, error)| {
        let kind = match error {
            EnvelopeError::BadJson(reason) => XatumErrorKind::BadJson(reason),
            EnvelopeError::MissingMethod => XatumErrorKind::MissingMethod,
        };
        fail(&id, kind)
    })?;
    let Some(params) = envelope.params_object() else {
        return Err(fail(
            &envelope.id,
            XatumErrorKind::BadParams {
                method: "request",
                reason: "params must be an object".into(),
            },
        ));
    };
    let (id, method) = (&envelope.id, envelope.method.as_str());
    let request = match method {
        "handshake" => handshake(&params),
        "authorize" => authorize(&params),
        "submit" => submit(&params),
        "ping" => Ok(Request::Ping),
        other => Err(XatumErrorKind::UnknownMethod(truncated(other))),
    };
    request
        .map(|request| XatumRequest {
            id: id.clone(),
            request,
        })
        .map_err(|kind| fail(id, kind))
}

/// A string field of `params`, or what to send instead.
fn text<'a>(
    params: &'a Map<String, Value>,
    method: &'static str,
    name: &str,
) -> Result<Option<&'a str>, XatumErrorKind> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(XatumErrorKind::BadParams {
            method,
            reason: format!("{name} must be a string"),
        }),
    }
}

fn required<'a>(
    params: &'a Map<String, Value>,
    method: &'static str,
    name: &str,
) -> Result<&'a str, XatumErrorKind> {
    text(params, method, name)?.ok_or_else(|| XatumErrorKind::BadParams {
        method,
        reason: format!("{name} is missing"),
    })
}

fn handshake(params: &Map<String, Value>) -> Result<Request, XatumErrorKind> {
    let protocol = required(params, "handshake", "protocol")?;
    if !protocol.starts_with(PROTOCOL_FAMILY) {
        return Err(XatumErrorKind::UnsupportedProtocol(truncated(protocol)));
    }
    let version = text(params, "handshake", "version")?;
    let agent = match text(params, "handshake", "agent")? {
        Some(agent) => Some(truncated(agent)),
        None => version.map(|version| format!("{} {}", truncated(protocol), truncated(version))),
    };
    Ok(Request::Subscribe { agent })
}

fn authorize(params: &Map<String, Value>) -> Result<Request, XatumErrorKind> {
    let address = required(params, "authorize", "address")?;
    let worker = text(params, "authorize", "worker")?;
    let password = text(params, "authorize", "password")?;
    Ok(Request::Authorize {
        login: Login::Parts {
            address: address.to_string(),
            worker: worker.map(str::to_string),
        },
        password: password.map(str::to_string),
    })
}

fn submit(params: &Map<String, Value>) -> Result<Request, XatumErrorKind> {
    let bad = |reason: String| XatumErrorKind::BadParams {
        method: "submit",
        reason,
    };
    let job_id = match params.get("job_id") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => return Err(bad("job_id must be a string".into())),
    };
    let nonce = required(params, "submit", "nonce")?;
    let nonce = parse_nonce(nonce).map_err(bad)?;
    Ok(Request::Submit(Submit { job_id, nonce }))
}
