//! One WebSocket text frame into a typed request.

use serde_json::Value;

use crate::jsonrpc::{EnvelopeError, parse_envelope};
use crate::session::{HeaderSubmit, Request, Submit};
use crate::stratum::{RequestId, authorize_params, header_param, parse_nonce, truncated};

/// A decoded request and the id to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsRequest {
    /// The request's id, echoed in the answer.
    pub id: RequestId,
    /// What is asked.
    pub request: Request,
}

/// A frame that is not a request the pool understands: answered with code
/// 20 and counted toward the malformed-request ban.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct WsRequestError {
    /// The request's id, when it could be read (`Null` otherwise).
    pub id: RequestId,
    /// What was wrong.
    pub kind: WsErrorKind,
}

/// What was wrong with a WebSocket request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsErrorKind {
    /// A binary frame: the protocol is JSON text.
    #[error("binary frame: send each request as one JSON text frame")]
    Binary,
    /// Not JSON, or not a JSON object.
    #[error("request is not a JSON object ({0}): send one JSON object per text frame")]
    BadJson(String),
    /// No `method` string.
    #[error("request has no \"method\": name the method, e.g. \"getwork\"")]
    MissingMethod,
    /// A method the pool does not offer.
    #[error(
        "unknown method {0:?}: use subscribe, authorize, getwork, submit or ping (mining.* names, tos_getWork and tos_submitWork work too)"
    )]
    UnknownMethod(String),
    /// The method's parameters are not as expected.
    #[error("bad {method} params: {reason}")]
    BadParams {
        /// The method.
        method: &'static str,
        /// What to send instead.
        reason: String,
    },
}

/// Parses one text frame into a request.
pub fn decode_text(text: &str) -> Result<WsRequest, WsRequestError> {
    let fail = |id: &RequestId, kind| WsRequestError {
        id: id.clone(),
        kind,
    };
    let envelope = parse_envelope(text.as_bytes()).map_err(|(id, error)| {
        let kind = match error {
            EnvelopeError::BadJson(reason) => WsErrorKind::BadJson(reason),
            EnvelopeError::MissingMethod => WsErrorKind::MissingMethod,
        };
        fail(&id, kind)
    })?;
    let Some(params) = envelope.params_array() else {
        return Err(fail(
            &envelope.id,
            WsErrorKind::BadParams {
                method: "request",
                reason: "params must be an array".into(),
            },
        ));
    };
    let (id, method) = (&envelope.id, envelope.method.as_str());
    let request = match method {
        "subscribe" | "mining.subscribe" => Ok(Request::Subscribe {
            agent: params.first().and_then(Value::as_str).map(str::to_string),
        }),
        "authorize" | "mining.authorize" => authorize(params),
        "getwork" | "mining.getwork" | "tos_getWork" => Ok(Request::GetWork),
        "submit" | "mining.submit" | "tos_submitWork" => submit(params),
        "ping" | "mining.ping" => Ok(Request::Ping),
        other => Err(WsErrorKind::UnknownMethod(truncated(other))),
    };
    request
        .map(|request| WsRequest {
            id: id.clone(),
            request,
        })
        .map_err(|kind| fail(id, kind))
}

fn authorize(params: &[Value]) -> Result<Request, WsErrorKind> {
    authorize_params(params).map_err(|reason| WsErrorKind::BadParams {
        method: "authorize",
        reason,
    })
}

fn submit(params: &[Value]) -> Result<Request, WsErrorKind> {
    let bad = |reason: String| WsErrorKind::BadParams {
        method: "submit",
        reason,
    };
    // [nonce, header]: the share names its job by the header it was sent.
    if let [nonce, header, ..] = params
        && params.len() <= 3
        && let Some(header) = header.as_str().and_then(header_param)
    {
        let nonce = nonce
            .as_str()
            .ok_or_else(|| bad("nonce must be a hex string".into()))
            .and_then(|text| parse_nonce(text).map_err(bad))?;
        return Ok(Request::SubmitHeader(HeaderSubmit { header, nonce }));
    }
    // [jobId, nonce]; the Stratum shapes carry a worker (and extranonce2)
    // the session already knows.
    let (job_id, nonce) = match params {
        [job_id, nonce] | [_, job_id, nonce] | [_, job_id, _, nonce] => (job_id, nonce),
        _ => {
            return Err(bad(
                "expected [\"<jobId>\", \"0x<nonce, 16 hex digits>\"] or [\"0x<nonce>\", \"0x<header, 224 hex digits>\"]".into()
            ));
        }
    };
    let job_id = match job_id {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return Err(bad("jobId must be a string".into())),
    };
    let nonce = nonce
        .as_str()
        .ok_or_else(|| bad("nonce must be a hex string".into()))
        .and_then(|text| parse_nonce(text).map_err(bad))?;
    Ok(Request::Submit(Submit { job_id, nonce }))
}
