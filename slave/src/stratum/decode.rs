//! One Stratum request line into a typed request.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::dialects::{eth_proxy, is_ethereum_stratum, set_difficulty};
use crate::jsonrpc::{EnvelopeError, parse_envelope};
use crate::session::{Login, Request, Submit};

/// A request's `id`, kept exactly as the miner sent it and echoed back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestId {
    /// A JSON number (usually an integer).
    Number(serde_json::Number),
    /// A string.
    Text(String),
    /// Absent or `null`.
    Null,
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RequestId::Number(number) => number.serialize(serializer),
            RequestId::Text(text) => serializer.serialize_str(text),
            RequestId::Null => serializer.serialize_unit(),
        }
    }
}

impl From<u64> for RequestId {
    fn from(id: u64) -> RequestId {
        RequestId::Number(id.into())
    }
}

/// The Stratum dialect a request came in, which decides how its answer is
/// written (`tosminer --stratum-protocol stratum|ethproxy|ethereumstratum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// Plain Stratum, as PROTOCOLS.md shows.
    #[default]
    Stratum,
    /// The `eth_*` methods: `eth_getWork` is answered with an array.
    EthProxy,
    /// EthereumStratum/1.0.0 (NiceHash style): `mining.subscribe` is answered
    /// `[["mining.notify", sid, "EthereumStratum/1.0.0"], extranonce1]`.
    EthereumStratum,
}

/// Where an answer goes: the request's id, and the dialect to write it in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplyTo {
    /// The request's id, echoed.
    pub id: RequestId,
    /// How the answer is written.
    pub dialect: Dialect,
}

/// A decoded request and the id to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StratumRequest {
    /// The request's id.
    pub id: RequestId,
    /// The dialect to answer in.
    pub dialect: Dialect,
    /// What is asked.
    pub request: Request,
}

impl StratumRequest {
    /// Where the answer goes.
    pub fn reply_to(&self) -> ReplyTo {
        ReplyTo {
            id: self.id.clone(),
            dialect: self.dialect,
        }
    }
}

/// A line that is not a request the pool understands. Answered with code 20
/// and counted toward the malformed-request ban.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct RequestError {
    /// The request's id, when it could be read (`Null` otherwise).
    pub id: RequestId,
    /// What was wrong.
    pub kind: RequestErrorKind,
}

/// What was wrong with a request line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestErrorKind {
    /// Not JSON, or not a JSON object.
    #[error("request is not a JSON object ({0}): send one JSON-RPC object per line")]
    BadJson(String),
    /// No `method` string.
    #[error("request has no \"method\": name the method, e.g. \"mining.subscribe\"")]
    MissingMethod,
    /// A method the pool does not offer.
    #[error(
        "unknown method {0:?}: use mining.subscribe, mining.authorize, mining.submit, mining.suggest_difficulty, mining.set_difficulty, mining.ping, mining.extranonce.subscribe, eth_submitLogin, eth_getWork, eth_submitWork or eth_submitHashrate"
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

/// Parses one line (without its newline) into a request.
pub fn parse_request(line: &[u8]) -> Result<StratumRequest, RequestError> {
    let fail = |id: &RequestId, kind| RequestError {
        id: id.clone(),
        kind,
    };
    let envelope = parse_envelope(line).map_err(|(id, error)| {
        let kind = match error {
            EnvelopeError::BadJson(reason) => RequestErrorKind::BadJson(reason),
            EnvelopeError::MissingMethod => RequestErrorKind::MissingMethod,
        };
        fail(&id, kind)
    })?;
    let Some(params) = envelope.params_array() else {
        return Err(fail(
            &envelope.id,
            RequestErrorKind::BadParams {
                method: "request",
                reason: "params must be an array".into(),
            },
        ));
    };
    let (id, method) = (&envelope.id, envelope.method.as_str());
    let mut dialect = Dialect::Stratum;
    let request = match method {
        "mining.subscribe" => {
            if is_ethereum_stratum(params) {
                dialect = Dialect::EthereumStratum;
            }
            Ok(Request::Subscribe {
                agent: params.first().and_then(Value::as_str).map(str::to_string),
            })
        }
        "mining.authorize" => authorize(params),
        "mining.submit" => submit(params),
        "mining.suggest_difficulty" => set_difficulty("mining.suggest_difficulty", params),
        "mining.set_difficulty" => set_difficulty("mining.set_difficulty", params),
        "mining.ping" => Ok(Request::Ping),
        "mining.extranonce.subscribe" => Ok(Request::ExtranonceSubscribe),
        "eth_submitLogin" | "eth_getWork" | "eth_submitWork" | "eth_submitHashrate" => {
            dialect = Dialect::EthProxy;
            eth_proxy(method, params)
        }
        other => Err(RequestErrorKind::UnknownMethod(truncated(other))),
    };
    request
        .map(|request| StratumRequest {
            id: id.clone(),
            dialect,
            request,
        })
        .map_err(|kind| fail(id, kind))
}

fn authorize(params: &[Value]) -> Result<Request, RequestErrorKind> {
    authorize_params(params).map_err(|reason| RequestErrorKind::BadParams {
        method: "mining.authorize",
        reason,
    })
}

/// The login of an authorize request whose params are a list (Stratum and
/// WebSocket GetWork): `["ADDRESS.WORKER"]`, `["ADDRESS.WORKER", "password"]`
/// or `["ADDRESS", "WORKER", "password"]`; otherwise what to send instead.
pub(crate) fn authorize_params(params: &[Value]) -> Result<Request, String> {
    let text = |value: &Value, what: &str| {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{what} must be a string"))
    };
    let password = match params {
        [_, password] | [_, _, password] => password.as_str().map(str::to_string),
        _ => None,
    };
    let login = match params {
        [login] | [login, _] => Login::Combined(text(login, "the login")?),
        [address, worker, _] => Login::Parts {
            address: text(address, "the address")?,
            worker: worker.as_str().map(str::to_string),
        },
        _ => {
            return Err("expected [\"ADDRESS.WORKER\"], [\"ADDRESS.WORKER\", \"password\"] or [\"ADDRESS\", \"WORKER\", \"password\"]".to_owned());
        }
    };
    Ok(Request::Authorize { login, password })
}

fn submit(params: &[Value]) -> Result<Request, RequestErrorKind> {
    let bad = |reason: String| RequestErrorKind::BadParams {
        method: "mining.submit",
        reason,
    };
    // Worker, extranonce2 and ntime carry no information: the session knows
    // the first two, and the MinerWork's timestamp is the pool's.
    let (job_id, nonce) = match params {
        [_, job_id, _, _, nonce] | [_, job_id, _, nonce] | [_, job_id, nonce] => (job_id, nonce),
        _ => {
            return Err(bad(
                "expected [worker, job_id, extranonce2, nonce], [worker, job_id, extranonce2, ntime, nonce] or [worker, job_id, nonce]".into(),
            ));
        }
    };
    let job_id = match job_id {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return Err(bad("job_id must be a string".into())),
    };
    let nonce = nonce
        .as_str()
        .ok_or_else(|| bad("nonce must be a hex string".into()))
        .and_then(|text| parse_nonce(text).map_err(bad))?;
    Ok(Request::Submit(Submit { job_id, nonce }))
}

/// A nonce as every door writes it: 16 hex digits, with or without `0x`,
/// read big-endian. The error says what to send instead.
pub fn parse_nonce(text: &str) -> Result<u64, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let mut bytes = [0u8; 8];
    if digits.len() != 16 || hex::decode_to_slice(digits, &mut bytes).is_err() {
        return Err(format!(
            "nonce {:?} must be exactly 16 hex digits (8 bytes, big-endian), with or without 0x",
            truncated(text)
        ));
    }
    Ok(u64::from_be_bytes(bytes))
}

/// Miner-supplied text cut short for error messages.
pub(crate) fn truncated(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(number) => write!(f, "{number}"),
            RequestId::Text(text) => write!(f, "{text:?}"),
            RequestId::Null => f.write_str("null"),
        }
    }
}
