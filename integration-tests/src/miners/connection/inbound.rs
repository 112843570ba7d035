//! Reading from the pool: framing (lines or WebSocket frames), routing
//! answers to their requests, and turning pushed jobs into [`Job`]s.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, ReadHalf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::{BoxedIo, CloseReason, Connection, Dialect, lock};
use crate::miners::transcript::{Direction, Frame};

impl Connection {
    /// Handles one JSON text from the pool.
    fn on_text(&self, text: &str) {
        self.transcript
            .record(Direction::ToClient, Frame::Text(text.to_string()));
        let message: Value = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(error) => {
                self.protocol_error(format!("not JSON ({error}): {text}"));
                return;
            }
        };
        if let Some(method) = message.get("method").and_then(Value::as_str) {
            self.on_push(method, &message);
            self.pushes.push(message);
            return;
        }
        let key = match message.get("id") {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        match key {
            Some(key) => {
                let waiter = lock(&self.pending).remove(&key);
                match waiter {
                    // A waiter that timed out meanwhile no longer listens.
                    Some(waiter) => drop(waiter.send(message)),
                    None => {
                        self.protocol_error(format!("answer to no pending request: {text}"));
                        self.pushes.push(message);
                    }
                }
            }
            None => self.pushes.push(message),
        }
    }

    fn on_push(&self, method: &str, message: &Value) {
        let decoded = match (self.dialect, method) {
            (Dialect::Stratum, "mining.notify") => Some(crate::miners::stratum::decode_notify(
                message.get("params").unwrap_or(&Value::Null),
                self.stratum_difficulty(),
            )),
            (Dialect::Stratum, "mining.set_difficulty") => {
                match message
                    .get("params")
                    .and_then(|p| p.get(0))
                    .and_then(Value::as_f64)
                {
                    Some(difficulty) => *lock(&self.stratum_difficulty) = Some(difficulty),
                    None => self.protocol_error(format!("bad mining.set_difficulty: {message}")),
                }
                None
            }
            (Dialect::Stratum, "client.reconnect") => {
                self.reconnect_requested.store(true, Ordering::SeqCst);
                None
            }
            (Dialect::WebSocket, "mining.notify") => Some(crate::miners::websocket::decode_notify(
                message.get("params").unwrap_or(&Value::Null),
            )),
            (Dialect::Xatum, "job") => Some(crate::miners::xatum::decode_job(
                message.get("result").unwrap_or(&Value::Null),
            )),
            (_, "pong") => {
                self.pongs.send_modify(|count| *count += 1);
                None
            }
            _ => None,
        };
        match decoded {
            Some(Ok(job)) => self.jobs.push(job),
            Some(Err(error)) => self.protocol_error(format!("{error}: {message}")),
            None => {}
        }
    }
}

pub(super) async fn read_lines(
    connection: Arc<Connection>,
    read: ReadHalf<BoxedIo>,
    max_line: usize,
) {
    // Pool messages are a few hundred bytes: a small buffer keeps sessions cheap.
    let mut reader = BufReader::with_capacity(2048, read);
    let mut buffer = Vec::new();
    let limit = u64::try_from(max_line)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let reason = loop {
        buffer.clear();
        match (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut buffer)
            .await
        {
            Ok(0) => break CloseReason::Eof,
            Ok(_) => {
                if !buffer.ends_with(b"\n") && buffer.len() > max_line {
                    connection.protocol_error(format!("line longer than {max_line} bytes"));
                    break CloseReason::Error(format!("line longer than {max_line} bytes"));
                }
                let text = String::from_utf8_lossy(&buffer);
                let text = text.trim_end_matches(['\n', '\r']);
                if !text.trim().is_empty() {
                    connection.on_text(text);
                }
            }
            Err(error) => break CloseReason::Error(error.to_string()),
        }
    };
    connection.finish(reason);
}

pub(super) async fn read_frames(
    connection: Arc<Connection>,
    mut stream: SplitStream<WebSocketStream<BoxedIo>>,
) {
    let mut reason = CloseReason::Eof;
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Text(text)) => connection.on_text(text.as_str()),
            Ok(Message::Binary(bytes)) => {
                connection
                    .transcript
                    .record(Direction::ToClient, Frame::Binary(bytes.to_vec()));
                connection.protocol_error("binary frame from the pool".to_string());
            }
            Ok(Message::Close(frame)) => {
                let (code, text) = match frame {
                    Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
                    None => (1005, String::new()),
                };
                connection.transcript.record(
                    Direction::ToClient,
                    Frame::Close {
                        code,
                        reason: text.clone(),
                    },
                );
                reason = CloseReason::WebSocket { code, reason: text };
                // Announce at once; the stream ends after the close handshake.
                connection.set_closed(reason.clone());
            }
            Ok(_) => {}
            Err(error) => {
                if !matches!(reason, CloseReason::WebSocket { .. }) {
                    reason = CloseReason::Error(error.to_string());
                }
                break;
            }
        }
    }
    connection.finish(reason);
}
