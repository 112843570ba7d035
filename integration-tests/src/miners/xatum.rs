//! An Xatum test miner: one JSON object per line over TLS, string ids,
//! object params, hex with `0x`.

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Instant;

use serde_json::{Value, json};
use tos_pool_common::difficulty::Target;

use super::connection::{Connection, Dialect, connect_io};
use super::core::MinerCore;
use super::work::{Job, decode_hex, decode_hex_array, nonce_hex_prefixed};
use super::{MinerError, MinerOptions, SubmitOutcome, Transport};

/// The protocol version this miner announces.
pub const VERSION: &str = "1.0.0";
/// The protocol name this miner announces.
pub const PROTOCOL: &str = "xatum/1.0";

/// What the handshake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The pool's protocol version.
    pub version: String,
    /// The pool's protocol name.
    pub protocol: String,
    /// The session id (decoded from `0x…` hex).
    pub session_id: Vec<u8>,
    /// The session's starting share difficulty.
    pub difficulty: u64,
}

/// Parses a handshake result `{version, protocol, session_id:"0x…", difficulty}`.
pub fn parse_handshake(result: &Value) -> Result<Handshake, String> {
    let text = |name: &str| {
        result
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("handshake result needs a string {name}"))
    };
    let session_id = decode_hex("session_id", &text("session_id")?).map_err(|e| e.to_string())?;
    let difficulty = result
        .get("difficulty")
        .and_then(Value::as_u64)
        .ok_or("handshake difficulty must be an unsigned integer")?;
    Ok(Handshake {
        version: text("version")?,
        protocol: text("protocol")?,
        session_id,
        difficulty,
    })
}

/// Parses a pushed job's `result`
/// `{id, header_hash:"0x…", target:"0x…", height, difficulty, clean}`.
pub fn decode_job(result: &Value) -> Result<Job, String> {
    let field = |name: &str| result.get(name).ok_or_else(|| format!("job has no {name}"));
    let text = |name: &str| {
        field(name)?
            .as_str()
            .ok_or_else(|| format!("job {name} must be a string"))
    };
    let job_id = match field("id")? {
        Value::String(id) => id.clone(),
        Value::Number(id) => id.to_string(),
        _ => return Err("job id must be a string".to_string()),
    };
    Ok(Job {
        job_id,
        header: decode_hex_array("header_hash", text("header_hash")?).map_err(|e| e.to_string())?,
        target: Target(decode_hex_array("target", text("target")?).map_err(|e| e.to_string())?),
        height: field("height")?
            .as_u64()
            .ok_or("job height must be an unsigned integer")?,
        difficulty: Some(
            field("difficulty")?
                .as_u64()
                .ok_or("job difficulty must be an unsigned integer")?,
        ),
        clean: field("clean")?
            .as_bool()
            .ok_or("job clean must be a boolean")?,
        received_at: Instant::now(),
    })
}

/// An Xatum test miner. Dereferences to its [`Connection`] for the
/// transcript, jobs, pushes and close state.
pub struct XatumMiner {
    core: MinerCore,
}

impl Deref for XatumMiner {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.core
    }
}

impl XatumMiner {
    /// Connects to an Xatum listener. Xatum is TLS only; `Transport::Tcp`
    /// exists to test that a pool refuses it.
    pub async fn connect(
        addr: SocketAddr,
        transport: Transport,
        options: MinerOptions,
    ) -> Result<XatumMiner, MinerError> {
        let (io, tls_version) =
            connect_io(addr, &transport, options.timeout, options.source_addr).await?;
        let core = MinerCore::new(Connection::spawn_lines(
            Dialect::Xatum,
            io,
            tls_version,
            options,
        ));
        Ok(XatumMiner { core })
    }

    /// `handshake {version:"1.0.0", protocol:"xatum/1.0"}`.
    pub async fn handshake(&self) -> Result<Handshake, MinerError> {
        self.handshake_with(VERSION, PROTOCOL).await
    }

    /// A handshake announcing any version and protocol (for refusal tests).
    pub async fn handshake_with(
        &self,
        version: &str,
        protocol: &str,
    ) -> Result<Handshake, MinerError> {
        let method = "handshake";
        let params = json!({"version": version, "protocol": protocol});
        let result = self.call(method, Some(params)).await?;
        parse_handshake(&result).map_err(|why| MinerError::UnexpectedResponse {
            method: method.to_string(),
            response: format!("{why}: {result}"),
        })
    }

    /// `authorize {address, worker}`, which must be answered `true`.
    pub async fn authorize(&self, address: &str, worker: &str) -> Result<(), MinerError> {
        let params = json!({"address": address, "worker": worker});
        self.call_expecting_true("authorize", Some(params)).await
    }

    /// `submit {job_id, nonce:"0x…"}`.
    pub async fn submit(&self, job_id: &str, nonce: u64) -> Result<SubmitOutcome, MinerError> {
        self.submit_params(json!({"job_id": job_id, "nonce": nonce_hex_prefixed(nonce)}))
            .await
    }

    /// `submit` with any params, for malformed-share tests.
    pub async fn submit_params(&self, params: Value) -> Result<SubmitOutcome, MinerError> {
        self.submit_request("submit", params).await
    }

    /// `ping`, waiting for `{"method":"pong"}`.
    pub async fn ping(&self) -> Result<(), MinerError> {
        self.ping_expecting_pong("ping").await
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_handshake_and_job() {
        let handshake = parse_handshake(&json!({"version": "1.0.0", "protocol": "xatum/1.0",
            "session_id": "0x1234", "difficulty": 1000000}))
        .expect("valid");
        assert_eq!(handshake.session_id, vec![0x12, 0x34]);
        assert_eq!(handshake.difficulty, 1_000_000);
        assert!(
            parse_handshake(&json!({"version": "1.0.0", "protocol": "xatum/1.0",
            "session_id": "0x1234"}))
            .is_err()
        );

        let job = json!({"id": "j9", "header_hash": format!("0x{}", "33".repeat(112)),
            "target": "ff".repeat(32), "height": 5, "difficulty": 16, "clean": false});
        let parsed = decode_job(&job).expect("valid");
        assert_eq!(parsed.header, [0x33; 112]);
        assert_eq!(
            (parsed.job_id.as_str(), parsed.height, parsed.difficulty),
            ("j9", 5, Some(16))
        );
        assert!(!parsed.clean);
        let mut bad = job.clone();
        bad["clean"] = json!(1);
        assert!(decode_job(&bad).is_err());
    }
}
