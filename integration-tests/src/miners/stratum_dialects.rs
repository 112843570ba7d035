//! The Stratum forms beyond the plain one, as `tosminer`'s
//! `--stratum-protocol ethproxy` and `ethereumstratum` modes and miners
//! written for the Go pool send them: `eth_submitLogin` without a subscribe,
//! `eth_getWork` / `eth_submitWork`, an EthereumStratum/1.0.0 subscribe,
//! `mining.suggest_difficulty`, a client-sent `mining.set_difficulty`, a
//! 5-parameter submit. (A login without a subscribe is
//! [`StratumMiner::authorize`] with no [`StratumMiner::subscribe`] before it.)

use std::time::Instant;

use serde_json::{Value, json};
use tos_pool_common::difficulty::Target;

use super::stratum::{StratumMiner, USER_AGENT};
use super::work::{Job, decode_hex, decode_hex_array, nonce_hex};
use super::{MinerError, SubmitOutcome};

/// The protocol name `tosminer --stratum-protocol ethereumstratum` adds to
/// its subscribe.
pub const ETHEREUM_STRATUM: &str = "EthereumStratum/1.0.0";

/// What an EthereumStratum/1.0.0 subscribe answered:
/// `[["mining.notify", sid, "EthereumStratum/1.0.0"], extranonce1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NiceHashSubscription {
    /// The session id.
    pub session_id: String,
    /// The protocol the pool confirmed.
    pub protocol: String,
    /// The session's extranonce1.
    pub extranonce1: Vec<u8>,
}

impl NiceHashSubscription {
    /// Where `tosminer` starts searching: extranonce1's first 8 bytes read
    /// little-endian (0 when shorter).
    pub fn start_nonce(&self) -> u64 {
        self.extranonce1
            .get(..8)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map_or(0, u64::from_le_bytes)
    }
}

/// Parses an EthereumStratum/1.0.0 subscribe result.
pub fn parse_nicehash_subscription(result: &Value) -> Result<NiceHashSubscription, String> {
    let (Some(Value::Array(notify)), Some(Value::String(extranonce1))) =
        (result.get(0), result.get(1))
    else {
        return Err("result must be [[\"mining.notify\", sid, protocol], extranonce1]".into());
    };
    let text = |index: usize| notify.get(index).and_then(Value::as_str);
    match (text(0), text(1), text(2)) {
        (Some("mining.notify"), Some(sid), Some(protocol)) => Ok(NiceHashSubscription {
            session_id: sid.to_string(),
            protocol: protocol.to_string(),
            extranonce1: decode_hex("extranonce1", extranonce1).map_err(|e| e.to_string())?,
        }),
        _ => Err(format!(
            "result[0] {notify:?} is not [\"mining.notify\", sid, protocol]"
        )),
    }
}

/// Parses an `eth_getWork` result `["0x<MinerWork>", "<job id>",
/// "0x<share target>", "0x<height>"]`.
pub fn decode_eth_work(result: &Value) -> Result<Job, String> {
    let item = |index: usize, what: &str| {
        result
            .get(index)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("eth_getWork result[{index}] ({what}) must be a string"))
    };
    let height = item(3, "height")?;
    let height = u64::from_str_radix(height.trim_start_matches("0x"), 16)
        .map_err(|_| format!("eth_getWork height {height:?} is not 0x-hex"))?;
    Ok(Job {
        job_id: item(1, "job id")?.to_string(),
        header: decode_hex_array("header", item(0, "header")?).map_err(|e| e.to_string())?,
        target: Target(decode_hex_array("target", item(2, "target")?).map_err(|e| e.to_string())?),
        height,
        difficulty: None,
        clean: true,
        received_at: Instant::now(),
    })
}

impl StratumMiner {
    /// `tosminer --stratum-protocol ethproxy`: no subscribe, then
    /// `eth_submitLogin [login]`, with the password only when it is
    /// neither empty nor `x`; must be answered `true`. Work then comes as
    /// `mining.notify`, and the search starts at 0 (no extranonce1).
    pub async fn eth_submit_login(&self, login: &str, password: &str) -> Result<(), MinerError> {
        let params = if password.is_empty() || password == "x" {
            json!([login])
        } else {
            json!([login, password])
        };
        self.call_expecting_true("eth_submitLogin", Some(params))
            .await?;
        self.set_worker(login);
        self.core.start_at(0);
        Ok(())
    }

    /// `tosminer --stratum-protocol ethereumstratum`:
    /// `mining.subscribe ["tosminer/1.0.0", "EthereumStratum/1.0.0"]`; the
    /// search then starts where `tosminer` would.
    pub async fn subscribe_ethereum_stratum(&self) -> Result<NiceHashSubscription, MinerError> {
        let method = "mining.subscribe";
        let result = self
            .call(method, Some(json!([USER_AGENT, ETHEREUM_STRATUM])))
            .await?;
        let subscription =
            parse_nicehash_subscription(&result).map_err(|why| MinerError::UnexpectedResponse {
                method: method.to_string(),
                response: format!("{why}: {result}"),
            })?;
        self.core.start_at(subscription.start_nonce());
        Ok(subscription)
    }

    /// `mining.suggest_difficulty [difficulty]`, which must be answered `true`.
    pub async fn suggest_difficulty(&self, difficulty: Value) -> Result<(), MinerError> {
        self.call_expecting_true("mining.suggest_difficulty", Some(json!([difficulty])))
            .await
    }

    /// A client-sent `mining.set_difficulty [difficulty]`, which must be
    /// answered `true`.
    pub async fn ask_set_difficulty(&self, difficulty: Value) -> Result<(), MinerError> {
        self.call_expecting_true("mining.set_difficulty", Some(json!([difficulty])))
            .await
    }

    /// The standard 5-parameter submit
    /// `[worker, job_id, extranonce2, ntime, nonce_hex16]`.
    pub async fn submit_with_ntime(
        &self,
        job_id: &str,
        nonce: u64,
    ) -> Result<SubmitOutcome, MinerError> {
        let worker = self.worker();
        self.submit_params(json!([
            worker,
            job_id,
            "00000000",
            "6553f100",
            nonce_hex(nonce)
        ]))
        .await
    }

    /// `eth_getWork []`: the session's current work.
    pub async fn eth_get_work(&self) -> Result<Job, MinerError> {
        let method = "eth_getWork";
        let result = self.call(method, Some(json!([]))).await?;
        decode_eth_work(&result).map_err(|why| MinerError::UnexpectedResponse {
            method: method.to_string(),
            response: format!("{why}: {result}"),
        })
    }

    /// `eth_submitWork ["0x<nonce>", work]`, `work` being the header sent
    /// back (`0x` and 224 hex digits) or the job id.
    pub async fn eth_submit_work(
        &self,
        nonce: u64,
        work: &str,
    ) -> Result<SubmitOutcome, MinerError> {
        self.submit_request(
            "eth_submitWork",
            json!([format!("0x{}", nonce_hex(nonce)), work]),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_nicehash_subscribe_and_the_eth_work() {
        let result = json!([
            ["mining.notify", "1f", ETHEREUM_STRATUM],
            "0200000000000000"
        ]);
        let subscription = parse_nicehash_subscription(&result).expect("valid");
        assert_eq!(subscription.protocol, ETHEREUM_STRATUM);
        assert_eq!(subscription.start_nonce(), 2);
        assert!(parse_nicehash_subscription(&json!([[["mining.notify", "1f"]], "00", 4])).is_err());

        let header = format!("0x{}", "11".repeat(112));
        let target = format!("0x00{}", "ff".repeat(31));
        let job = decode_eth_work(&json!([header, "j7", target, "0x1e240"])).expect("valid");
        assert_eq!((job.job_id.as_str(), job.height), ("j7", 123_456));
        assert_eq!(job.header, [0x11; 112]);
        assert!(decode_eth_work(&json!([header, "j7", target, 5])).is_err());
    }
}
