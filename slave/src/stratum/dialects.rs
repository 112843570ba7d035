//! The Stratum forms beyond the plain one: what `tosminer`'s `ethproxy` and
//! `ethereumstratum` modes and miners written for other pools send
//! (`eth_submitLogin`, `eth_getWork`, `eth_submitWork`,
//! `eth_submitHashrate`, an
//! EthereumStratum/1.0.0 subscribe, `mining.suggest_difficulty`, a
//! client-sent `mining.set_difficulty`).

use serde_json::Value;
use tos_pool_common::header::{MINER_WORK_LENGTH, MinerWork};

use super::decode::{RequestErrorKind, authorize_params, parse_nonce, truncated};
use crate::session::{HeaderSubmit, Request, Submit, requested_difficulty};

/// The protocol name an EthereumStratum/1.0.0 (NiceHash style) subscribe
/// carries as its second parameter.
pub const ETHEREUM_STRATUM: &str = "EthereumStratum/1.0.0";

/// Whether a `mining.subscribe` asks for EthereumStratum (any parameter
/// naming `EthereumStratum/…`).
pub(super) fn is_ethereum_stratum(params: &[Value]) -> bool {
    params.iter().filter_map(Value::as_str).any(|text| {
        text.get(..16)
            .is_some_and(|head| head.eq_ignore_ascii_case("EthereumStratum/"))
    })
}

/// `mining.suggest_difficulty [difficulty]` or a client-sent
/// `mining.set_difficulty [difficulty]`: a positive number (or a string
/// holding one).
pub(super) fn set_difficulty(
    method: &'static str,
    params: &[Value],
) -> Result<Request, RequestErrorKind> {
    let bad = |reason: String| RequestErrorKind::BadParams { method, reason };
    let number = match params.first() {
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    number
        .and_then(requested_difficulty)
        .map(|difficulty| Request::SetDifficulty { difficulty })
        .ok_or_else(|| bad("expected [difficulty], a positive number, e.g. [5000]".into()))
}

/// The ethproxy methods.
pub(super) fn eth_proxy(method: &str, params: &[Value]) -> Result<Request, RequestErrorKind> {
    match method {
        "eth_submitLogin" => {
            authorize_params(params).map_err(|reason| RequestErrorKind::BadParams {
                method: "eth_submitLogin",
                reason,
            })
        }
        "eth_getWork" => Ok(Request::GetWork),
        "eth_submitHashrate" => Ok(Request::HashrateReport),
        _ => submit_work(params),
    }
}

/// `eth_submitWork [nonce, header or job id]`, a third parameter (the
/// mix digest of other chains) ignored.
fn submit_work(params: &[Value]) -> Result<Request, RequestErrorKind> {
    let bad = |reason: String| RequestErrorKind::BadParams {
        method: "eth_submitWork",
        reason,
    };
    let (Some(Value::String(nonce)), Some(work)) = (params.first(), params.get(1)) else {
        return Err(bad(
            "expected [\"0x<nonce, 16 hex digits>\", \"0x<header, 224 hex digits>\" or \"<job id>\"]"
                .into(),
        ));
    };
    let nonce = parse_nonce(nonce).map_err(bad)?;
    match work {
        Value::String(text) => Ok(match header_param(text) {
            Some(header) => Request::SubmitHeader(HeaderSubmit { header, nonce }),
            None => Request::Submit(Submit {
                job_id: text.clone(),
                nonce,
            }),
        }),
        Value::Number(number) => Ok(Request::Submit(Submit {
            job_id: number.to_string(),
            nonce,
        })),
        other => Err(bad(format!(
            "the second parameter must be the header or the job id, not {}",
            truncated(&other.to_string())
        ))),
    }
}

/// A parameter holding a whole MinerWork (224 hex digits, with or without
/// `0x`), as a miner sends back the header it was given.
pub(crate) fn header_param(text: &str) -> Option<MinerWork> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.len() != 2 * MINER_WORK_LENGTH {
        return None;
    }
    MinerWork::from_hex(digits).ok()
}
