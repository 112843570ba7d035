//! A Stratum test miner (TCP or TLS), speaking exactly what `tosminer` speaks:
//! newline-delimited JSON with integer ids, hex without `0x`.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};
use tos_pool_common::difficulty::Target;

use super::connection::{Connection, Dialect, connect_io};
use super::core::MinerCore;
use super::work::{Job, decode_hex, decode_hex_array, nonce_hex};
use super::{MinerError, MinerOptions, SubmitOutcome, Transport};

/// The user agent `tosminer` sends in `mining.subscribe`.
pub const USER_AGENT: &str = "tosminer/1.0.0";

/// What `mining.subscribe` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `(method, subscription id)` pairs, e.g. `("mining.notify", sid)`.
    pub subscriptions: Vec<(String, String)>,
    /// The session's extranonce1.
    pub extranonce1: Vec<u8>,
    /// Size of extranonce2 in bytes.
    pub extranonce2_size: u64,
}

impl Subscription {
    /// The nonce `tosminer` starts at: the first 8 bytes of extranonce1 read
    /// little-endian (0 when extranonce1 is shorter).
    pub fn start_nonce(&self) -> u64 {
        self.extranonce1
            .get(..8)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0)
    }
}

/// Parses a `mining.subscribe` result:
/// `[[["mining.notify",sid],["mining.set_difficulty",sid]], extranonce1_hex, size]`.
pub fn parse_subscription(result: &Value) -> Result<Subscription, String> {
    let items = result
        .as_array()
        .filter(|items| items.len() == 3)
        .ok_or("subscribe result must be an array of 3")?;
    let subscriptions = items[0]
        .as_array()
        .ok_or("subscribe result[0] must be an array of [method, id] pairs")?
        .iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(method), Value::String(id)]) => Ok((method.clone(), id.clone())),
            _ => Err(format!("subscription pair {pair} is not [method, id]")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let extranonce1 = items[1]
        .as_str()
        .ok_or("extranonce1 must be a hex string")
        .and_then(|text| decode_hex("extranonce1", text).map_err(|_| "extranonce1 is not hex"))?;
    let extranonce2_size = items[2]
        .as_u64()
        .ok_or("extranonce2 size must be an unsigned integer")?;
    Ok(Subscription {
        subscriptions,
        extranonce1,
        extranonce2_size,
    })
}

/// Parses `mining.notify` params
/// `[job_id, miner_work_hex224, target_hex64, height, clean_bool]`; the job's
/// difficulty is the last `mining.set_difficulty` when it is a whole number.
pub fn decode_notify(params: &Value, set_difficulty: Option<f64>) -> Result<Job, String> {
    let items = params
        .as_array()
        .filter(|items| items.len() == 5)
        .ok_or("mining.notify params must be an array of 5")?;
    let job_id = items[0]
        .as_str()
        .ok_or("mining.notify job id must be a string")?;
    let header = items[1]
        .as_str()
        .ok_or("mining.notify header must be a hex string")?;
    let target = items[2]
        .as_str()
        .ok_or("mining.notify target must be a hex string")?;
    let height = items[3]
        .as_u64()
        .ok_or("mining.notify height must be an unsigned integer")?;
    let clean = items[4]
        .as_bool()
        .ok_or("mining.notify clean must be a boolean")?;
    let difficulty = set_difficulty
        .filter(|d| *d >= 1.0 && d.fract() == 0.0 && *d <= u64::MAX as f64)
        .map(|d| d as u64);
    Ok(Job {
        job_id: job_id.to_string(),
        header: decode_hex_array("header", header).map_err(|e| e.to_string())?,
        target: Target(decode_hex_array("target", target).map_err(|e| e.to_string())?),
        height,
        difficulty,
        clean,
        received_at: Instant::now(),
    })
}

/// A Stratum test miner. Dereferences to its [`Connection`] for the
/// transcript, jobs, pushes and close state.
pub struct StratumMiner {
    pub(super) core: MinerCore,
    worker: Mutex<String>,
}

impl Deref for StratumMiner {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.core
    }
}

impl StratumMiner {
    /// Connects to a Stratum listener.
    pub async fn connect(
        addr: SocketAddr,
        transport: Transport,
        options: MinerOptions,
    ) -> Result<StratumMiner, MinerError> {
        let (io, tls_version) =
            connect_io(addr, &transport, options.timeout, options.source_addr).await?;
        let core = MinerCore::new(Connection::spawn_lines(
            Dialect::Stratum,
            io,
            tls_version,
            options,
        ));
        Ok(StratumMiner {
            core,
            worker: Mutex::new(String::new()),
        })
    }

    /// `mining.subscribe ["tosminer/1.0.0"]`; the search then starts where
    /// `tosminer` would (extranonce1 read little-endian).
    pub async fn subscribe(&self) -> Result<Subscription, MinerError> {
        let method = "mining.subscribe";
        let result = self.call(method, Some(json!([USER_AGENT]))).await?;
        let subscription =
            parse_subscription(&result).map_err(|why| MinerError::UnexpectedResponse {
                method: method.to_string(),
                response: format!("{why}: {result}"),
            })?;
        self.core.start_at(subscription.start_nonce());
        Ok(subscription)
    }

    /// `mining.authorize [login, password]` (login `ADDRESS.WORKER`); later
    /// submits name `login` as the worker.
    pub async fn authorize(&self, login: &str, password: &str) -> Result<(), MinerError> {
        self.call_expecting_true("mining.authorize", Some(json!([login, password])))
            .await?;
        self.set_worker(login);
        Ok(())
    }

    /// The XELIS-style `mining.authorize [address, worker, password]`.
    pub async fn authorize_xelis(
        &self,
        address: &str,
        worker: &str,
        password: &str,
    ) -> Result<(), MinerError> {
        self.call_expecting_true("mining.authorize", Some(json!([address, worker, password])))
            .await?;
        self.set_worker(&format!("{address}.{worker}"));
        Ok(())
    }

    pub(super) fn set_worker(&self, worker: &str) {
        let mut current = self
            .worker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = worker.to_string();
    }

    pub(super) fn worker(&self) -> String {
        self.worker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// `mining.extranonce.subscribe []`, which must be answered `true`.
    pub async fn extranonce_subscribe(&self) -> Result<(), MinerError> {
        self.call_expecting_true("mining.extranonce.subscribe", Some(json!([])))
            .await
    }

    /// `mining.ping []`; returns the result (`"pong"`).
    pub async fn ping(&self) -> Result<Value, MinerError> {
        self.call("mining.ping", Some(json!([]))).await
    }

    /// The 4-parameter submit `[worker, job_id, "00000000", nonce_hex16]` with
    /// the authorized login as worker.
    pub async fn submit(&self, job_id: &str, nonce: u64) -> Result<SubmitOutcome, MinerError> {
        let worker = self.worker();
        self.submit_params(json!([worker, job_id, "00000000", nonce_hex(nonce)]))
            .await
    }

    /// The 3-parameter (XELIS-style) submit `[worker, job_id, nonce_hex16]`.
    pub async fn submit_short(
        &self,
        job_id: &str,
        nonce: u64,
    ) -> Result<SubmitOutcome, MinerError> {
        let worker = self.worker();
        self.submit_params(json!([worker, job_id, nonce_hex(nonce)]))
            .await
    }

    /// `mining.submit` with any params, for malformed-share tests.
    pub async fn submit_params(&self, params: Value) -> Result<SubmitOutcome, MinerError> {
        self.submit_request("mining.submit", params).await
    }

    /// Searches a nonce meeting the job's target on a blocking thread,
    /// continuing where the last search stopped.
    pub async fn mine(&self, job: &Job) -> Result<u64, MinerError> {
        self.core.mine(job).await
    }

    /// Mines a share for `job` and submits it (4-parameter form).
    pub async fn mine_and_submit_one(&self, job: &Job) -> Result<SubmitOutcome, MinerError> {
        let nonce = self.mine(job).await?;
        self.submit(&job.job_id, nonce).await
    }

    /// Submits a nonce whose hash misses the job's target; returns it with
    /// the verdict (which should be low difficulty, 23).
    pub async fn submit_bad_share(&self, job: &Job) -> Result<(u64, SubmitOutcome), MinerError> {
        let nonce = self.core.bad_nonce(job).await?;
        Ok((nonce, self.submit(&job.job_id, nonce).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subscribe_result_of_protocols_md() {
        let result = json!([
            [["mining.notify", "ab"], ["mining.set_difficulty", "ab"]],
            "0100000000000000",
            4
        ]);
        let subscription = parse_subscription(&result).expect("valid");
        assert_eq!(
            subscription.subscriptions[0],
            ("mining.notify".into(), "ab".into())
        );
        assert_eq!(subscription.extranonce1, vec![1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(subscription.extranonce2_size, 4);
        assert_eq!(subscription.start_nonce(), 1);
        assert!(parse_subscription(&json!([[], "zz", 4])).is_err());
        assert!(parse_subscription(&json!([[["a"]], "00", 4])).is_err());
        assert!(parse_subscription(&json!(true)).is_err());
    }

    #[test]
    fn decodes_notify_and_refuses_malformed_ones() {
        let header = "11".repeat(112);
        let target = format!("00{}", "ff".repeat(31));
        let params = json!(["j1", header, target, 123456, true]);
        let job = decode_notify(&params, Some(1000.0)).expect("valid");
        assert_eq!(job.job_id, "j1");
        assert_eq!(job.header, [0x11; 112]);
        assert_eq!(job.target.0[0], 0);
        assert_eq!(job.target.0[1], 0xff);
        assert_eq!(job.height, 123456);
        assert_eq!(job.difficulty, Some(1000));
        assert!(job.clean);
        assert_eq!(
            decode_notify(&params, Some(0.5)).expect("valid").difficulty,
            None
        );

        let short_header = json!(["j1", "11".repeat(111), target, 1, true]);
        assert!(decode_notify(&short_header, None).is_err());
        let string_clean = json!(["j1", header, target, 1, "true"]);
        assert!(decode_notify(&string_clean, None).is_err());
        assert!(decode_notify(&json!(["j1", header, target, 1]), None).is_err());
    }
}
