//! The Stratum login a floor-server session needs: `mining.subscribe` and
//! `mining.authorize` answered as the pool answers them, on a blocking
//! socket with a read deadline. Any other request before the authorize is
//! answered `true`, so a miner that asks for more (extranonce subscribe,
//! ping) still gets in.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use serde_json::{Value, json};

/// Longest request line read during the login.
const MAX_LINE: u64 = 4096;

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The socket failed or the read deadline passed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The miner closed before authorizing.
    #[error("closed before authorizing")]
    Closed,
    /// A line that is not a JSON-RPC request.
    #[error("not a JSON request: {0}")]
    Malformed(String),
}

/// Answers the miner's requests on `stream` until it has authorized; session
/// `session`'s extranonce1 is its number, little-endian. The authorize's
/// answer is followed by `mining.set_difficulty` with `difficulty`.
pub fn login(stream: &TcpStream, session: u64, difficulty: u64) -> Result<(), LoginError> {
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut reader).take(MAX_LINE).read_line(&mut line)?;
        if read == 0 {
            return Err(LoginError::Closed);
        }
        if line.trim().is_empty() {
            continue;
        }
        let request: Value =
            serde_json::from_str(&line).map_err(|e| LoginError::Malformed(e.to_string()))?;
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let method = request.get("method").and_then(Value::as_str).unwrap_or("");
        let (result, authorized) = match method {
            "mining.subscribe" => {
                let sid = format!("{session:016x}");
                let subscriptions = json!([["mining.notify", sid], ["mining.set_difficulty", sid]]);
                (
                    json!([subscriptions, hex::encode(session.to_le_bytes()), 4]),
                    false,
                )
            }
            "mining.authorize" => (json!(true), true),
            _ => (json!(true), false),
        };
        let mut answer = json!({"id": id, "result": result, "error": null}).to_string();
        answer.push('\n');
        if authorized {
            answer.push_str(
                &json!({"id": null, "method": "mining.set_difficulty", "params": [difficulty]})
                    .to_string(),
            );
            answer.push('\n');
        }
        writer.write_all(answer.as_bytes())?;
        if authorized {
            return Ok(());
        }
    }
}
