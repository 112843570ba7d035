//! A WebSocket GetWork test miner (ws or wss): JSON text frames, integer ids,
//! hex with `0x`.

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Instant;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tos_pool_common::difficulty::Target;

use super::connection::{Connection, connect_io};
use super::core::MinerCore;
use super::work::{Job, decode_hex_array, nonce_hex_prefixed};
use super::{MinerError, MinerOptions, SubmitOutcome, Transport};

/// Parses a pushed `mining.notify` params
/// `[jobId, "0x<header>", "0x<target>", height, clean]`.
pub fn decode_notify(params: &Value) -> Result<Job, String> {
    // Same shape as Stratum's notify; hex is read with or without `0x`.
    super::stratum::decode_notify(params, None)
}

/// Parses a `getwork` result
/// `{headerHash:"0x…", target:"0x…", height, jobId, difficulty}`.
pub fn decode_getwork(result: &Value) -> Result<Job, String> {
    let field = |name: &str| {
        result
            .get(name)
            .ok_or_else(|| format!("getwork result has no {name}"))
    };
    let text = |name: &str| {
        field(name)?
            .as_str()
            .ok_or_else(|| format!("getwork {name} must be a string"))
    };
    let job_id = match field("jobId")? {
        Value::String(id) => id.clone(),
        Value::Number(id) => id.to_string(),
        _ => return Err("getwork jobId must be a string".to_string()),
    };
    let height = field("height")?
        .as_u64()
        .ok_or("getwork height must be an unsigned integer")?;
    let difficulty = field("difficulty")?
        .as_u64()
        .ok_or("getwork difficulty must be an unsigned integer")?;
    Ok(Job {
        job_id,
        header: decode_hex_array("headerHash", text("headerHash")?).map_err(|e| e.to_string())?,
        target: Target(decode_hex_array("target", text("target")?).map_err(|e| e.to_string())?),
        height,
        difficulty: Some(difficulty),
        clean: true,
        received_at: Instant::now(),
    })
}

/// A WebSocket GetWork test miner. Dereferences to its [`Connection`] for
/// the transcript, jobs, pushes, raw frames and close state (close frames are
/// kept with their code and reason).
pub struct WebSocketMiner {
    core: MinerCore,
}

impl Deref for WebSocketMiner {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.core
    }
}

impl WebSocketMiner {
    /// Connects to `ws://addr/` (or `wss://` over TLS).
    pub async fn connect(
        addr: SocketAddr,
        transport: Transport,
        options: MinerOptions,
    ) -> Result<WebSocketMiner, MinerError> {
        WebSocketMiner::connect_path(addr, "/", transport, options).await
    }

    /// Connects to `ws://addr{path}` (or `wss://` over TLS).
    pub async fn connect_path(
        addr: SocketAddr,
        path: &str,
        transport: Transport,
        options: MinerOptions,
    ) -> Result<WebSocketMiner, MinerError> {
        let scheme = match transport {
            Transport::Tcp => "ws",
            Transport::Tls(_) => "wss",
        };
        let url = format!("{scheme}://{addr}{path}");
        let (io, tls_version) =
            connect_io(addr, &transport, options.timeout, options.source_addr).await?;
        let config = WebSocketConfig::default().max_message_size(Some(options.max_message_bytes));
        let handshake = tokio_tungstenite::client_async_with_config(url, io, Some(config));
        let (stream, _response) = tokio::time::timeout(options.timeout, handshake)
            .await
            .map_err(|_| MinerError::Timeout {
                what: format!("WebSocket handshake with {addr}"),
                after: options.timeout,
            })?
            .map_err(|source| MinerError::WebSocketHandshake {
                addr,
                source: Box::new(source),
            })?;
        let core = MinerCore::new(Connection::spawn_websocket(stream, tls_version, options));
        Ok(WebSocketMiner { core })
    }

    /// `authorize ["ADDRESS.WORKER"]`, which must be answered `true`.
    pub async fn authorize(&self, login: &str) -> Result<(), MinerError> {
        self.call_expecting_true("authorize", Some(json!([login])))
            .await
    }

    /// `getwork []`: the session's current job.
    pub async fn getwork(&self) -> Result<Job, MinerError> {
        let method = "getwork";
        let result = self.call(method, Some(json!([]))).await?;
        decode_getwork(&result).map_err(|why| MinerError::UnexpectedResponse {
            method: method.to_string(),
            response: format!("{why}: {result}"),
        })
    }

    /// `submit [jobId, "0x<nonce>"]`.
    pub async fn submit(&self, job_id: &str, nonce: u64) -> Result<SubmitOutcome, MinerError> {
        self.submit_params(json!([job_id, nonce_hex_prefixed(nonce)]))
            .await
    }

    /// The Go pool's `subscribe []`; returns the result.
    pub async fn subscribe(&self) -> Result<Value, MinerError> {
        self.call("subscribe", Some(json!([]))).await
    }

    /// The Go pool's `tos_getWork []`: the session's current job.
    pub async fn tos_get_work(&self) -> Result<Job, MinerError> {
        let method = "tos_getWork";
        let result = self.call(method, Some(json!([]))).await?;
        decode_getwork(&result).map_err(|why| MinerError::UnexpectedResponse {
            method: method.to_string(),
            response: format!("{why}: {result}"),
        })
    }

    /// The Go pool's `tos_submitWork [jobId, "0x<nonce>"]`.
    pub async fn tos_submit_work(
        &self,
        job_id: &str,
        nonce: u64,
    ) -> Result<SubmitOutcome, MinerError> {
        self.submit_request("tos_submitWork", json!([job_id, nonce_hex_prefixed(nonce)]))
            .await
    }

    /// `method [nonce, header]`: the share named by the header it was found
    /// on, nonce and header hex written as given.
    pub async fn submit_by_header(
        &self,
        method: &str,
        nonce: &str,
        header: &str,
    ) -> Result<SubmitOutcome, MinerError> {
        self.submit_request(method, json!([nonce, header])).await
    }

    /// `submit` with any params, for malformed-share tests.
    pub async fn submit_params(&self, params: Value) -> Result<SubmitOutcome, MinerError> {
        self.submit_request("submit", params).await
    }

    /// Searches a nonce meeting the job's target on a blocking thread.
    pub async fn mine(&self, job: &Job) -> Result<u64, MinerError> {
        self.core.mine(job).await
    }

    /// Mines a share for `job` and submits it.
    pub async fn mine_and_submit_one(&self, job: &Job) -> Result<SubmitOutcome, MinerError> {
        let nonce = self.mine(job).await?;
        self.submit(&job.job_id, nonce).await
    }

    /// Submits a nonce whose hash misses the job's target; returns it with the verdict.
    pub async fn submit_bad_share(&self, job: &Job) -> Result<(u64, SubmitOutcome), MinerError> {
        let nonce = self.core.bad_nonce(job).await?;
        Ok((nonce, self.submit(&job.job_id, nonce).await?))
    }

    /// Sends one text frame of `len` bytes (a JSON string padded with
    /// spaces): for max-frame-size tests.
    pub async fn send_oversized_text(&self, len: usize) -> Result<(), MinerError> {
        let mut text = String::with_capacity(len);
        text.push_str("{\"id\":1,\"method\":\"getwork\",\"params\":[]}");
        while text.len() < len {
            text.push(' ');
        }
        self.send_raw_text(&text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_getwork_and_notify() {
        let header = format!("0x{}", "22".repeat(112));
        let target = format!("0x{}", "ff".repeat(32));
        let result = json!({"headerHash": header, "target": target, "height": 7,
            "jobId": "abc", "difficulty": 1000000});
        let job = decode_getwork(&result).expect("valid");
        assert_eq!(job.header, [0x22; 112]);
        assert_eq!(job.target, Target([0xff; 32]));
        assert_eq!(
            (job.height, job.difficulty, job.job_id.as_str()),
            (7, Some(1_000_000), "abc")
        );

        let pushed = json!(["abd", header, target, 8, false]);
        let job = decode_notify(&pushed).expect("valid");
        assert_eq!(
            (job.job_id.as_str(), job.height, job.clean),
            ("abd", 8, false)
        );

        let mut missing = result.clone();
        missing.as_object_mut().expect("object").remove("target");
        assert!(decode_getwork(&missing).is_err());
        assert!(
            decode_getwork(&json!({"headerHash": "0x00", "target": target,
            "height": 7, "jobId": "abc", "difficulty": 1}))
            .is_err()
        );
    }
}
