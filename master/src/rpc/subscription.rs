//! The daemon's `new_block_template` push over WebSocket: connect to the same
//! `/json_rpc` path with `ws://`, send
//! `{"method":"subscribe","params":{"notify":"new_block_template"}}`, then read
//! pushes `{"id":…,"result":{"event":"new_block_template", …template}}`.
//!
//! Only `ws://` works: the build has no WebSocket TLS, so an `https://` daemon
//! maps to `wss://` and fails to connect; the pool then lives on polling.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::envelope::{self, Reply};
use super::error::RpcError;
use super::types::BlockTemplate;

/// The event the pool subscribes to.
pub const NEW_BLOCK_TEMPLATE: &str = "new_block_template";

/// Request id of the subscribe request (pushes carry it too).
const SUBSCRIBE_ID: u64 = 1;

/// JSON-RPC method name used in errors.
const METHOD: &str = "subscribe";

/// The WebSocket URL of a daemon's JSON-RPC URL: `http` → `ws`, `https` →
/// `wss`, same host and path.
pub fn websocket_url(http_url: &str) -> Result<String, RpcError> {
    if let Some(rest) = http_url.strip_prefix("http://") {
        Ok(format!("ws://{rest}"))
    } else if let Some(rest) = http_url.strip_prefix("https://") {
        Ok(format!("wss://{rest}"))
    } else if http_url.starts_with("ws://") || http_url.starts_with("wss://") {
        Ok(http_url.to_string())
    } else {
        Err(RpcError::InvalidUrl {
            url: http_url.to_string(),
            reason: "expected an http:// or ws:// URL".to_string(),
        })
    }
}

/// One frame from the daemon, as the subscription sees it.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// The answer to our subscribe request.
    Confirmed,
    /// The daemon refused the subscription.
    Refused { code: i64, message: String },
    /// A `new_block_template` push.
    Template(Box<BlockTemplate>),
    /// Anything else (another event, another answer): ignored.
    Other,
}

/// Reads one text frame.
fn classify(text: &str) -> Result<Frame, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| format!("not JSON ({error})"))?;
    let Value::Object(map) = value else {
        return Err("not a JSON object".to_string());
    };
    let ours = map.get("id").and_then(Value::as_u64) == Some(SUBSCRIBE_ID);
    match envelope::read_reply(map, None)? {
        Reply::Error { code, message } if ours => Ok(Frame::Refused { code, message }),
        Reply::Error { .. } => Ok(Frame::Other),
        Reply::Result(Value::Bool(true)) if ours => Ok(Frame::Confirmed),
        Reply::Result(result) => {
            if result.get("event").and_then(Value::as_str) != Some(NEW_BLOCK_TEMPLATE) {
                return Ok(Frame::Other);
            }
            serde_json::from_value(result)
                .map(|template| Frame::Template(Box::new(template)))
                .map_err(|error| format!("a new_block_template push cannot be read: {error}"))
        }
    }
}

/// A live `new_block_template` subscription on one daemon.
#[derive(Debug)]
pub struct TemplateSubscription {
    url: String,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl TemplateSubscription {
    /// Connects to the daemon at `url` (its `http://` JSON-RPC URL or the
    /// `ws://` one) and subscribes; `timeout` bounds the whole handshake.
    pub async fn connect(url: &str, timeout: Duration) -> Result<TemplateSubscription, RpcError> {
        let ws_url = websocket_url(url)?;
        tokio::time::timeout(timeout, Self::handshake(ws_url.clone()))
            .await
            .map_err(|_| RpcError::Timeout {
                url: ws_url,
                method: METHOD.to_string(),
                timeout,
            })?
    }

    async fn handshake(url: String) -> Result<TemplateSubscription, RpcError> {
        let (socket, _response) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|error| RpcError::Transport {
                url: url.clone(),
                method: METHOD.to_string(),
                reason: format!("WebSocket connect failed: {error}"),
            })?;
        let mut subscription = TemplateSubscription { url, socket };
        let request = envelope::request(
            SUBSCRIBE_ID,
            METHOD,
            json!({ "notify": NEW_BLOCK_TEMPLATE }),
        );
        subscription
            .socket
            .send(Message::text(request.to_string()))
            .await
            .map_err(|error| {
                subscription.transport(format!("sending subscribe failed: {error}"))
            })?;
        loop {
            match subscription.next_frame().await? {
                Frame::Confirmed => return Ok(subscription),
                Frame::Refused { code, message } => {
                    return Err(RpcError::Rpc {
                        url: subscription.url,
                        method: METHOD.to_string(),
                        code,
                        message,
                    });
                }
                Frame::Template(_) | Frame::Other => {}
            }
        }
    }

    /// The WebSocket URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits for the next template push. An error means the subscription is
    /// over (closed, broken or sending nonsense): connect again.
    pub async fn next(&mut self) -> Result<BlockTemplate, RpcError> {
        loop {
            if let Frame::Template(template) = self.next_frame().await? {
                return Ok(*template);
            }
        }
    }

    async fn next_frame(&mut self) -> Result<Frame, RpcError> {
        loop {
            let message = match self.socket.next().await {
                None => return Err(self.transport("the daemon closed the WebSocket".into())),
                Some(Err(error)) => {
                    return Err(self.transport(format!("WebSocket failed: {error}")));
                }
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => {
                    return classify(text.as_str()).map_err(|reason| RpcError::BadResponse {
                        url: self.url.clone(),
                        method: METHOD.to_string(),
                        reason,
                    });
                }
                Message::Close(_) => {
                    return Err(self.transport("the daemon closed the WebSocket".into()));
                }
                Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    fn transport(&self, reason: String) -> RpcError {
        RpcError::Transport {
            url: self.url.clone(),
            method: METHOD.to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_map_to_websocket_urls() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8080/json_rpc").ok(),
            Some("ws://127.0.0.1:8080/json_rpc".to_string())
        );
        assert_eq!(
            websocket_url("https://node/json_rpc").ok(),
            Some("wss://node/json_rpc".to_string())
        );
        assert_eq!(
            websocket_url("ws://node/json_rpc").ok(),
            Some("ws://node/json_rpc".to_string())
        );
        assert!(websocket_url("node/json_rpc").is_err());
    }

    #[test]
    fn frames_are_told_apart() {
        assert_eq!(
            classify(r#"{"jsonrpc":"2.0","id":1,"result":true}"#),
            Ok(Frame::Confirmed)
        );
        assert_eq!(
            classify(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}"#),
            Ok(Frame::Refused {
                code: -32601,
                message: "no".into()
            })
        );
        assert_eq!(
            classify(r#"{"jsonrpc":"2.0","id":1,"result":{"event":"new_block","height":3}}"#),
            Ok(Frame::Other)
        );
        let push = r#"{"jsonrpc":"2.0","id":1,"result":{"event":"new_block_template",
            "template":"00","algorithm":"tos/v3","height":7,"topoheight":8,"difficulty":"1000"}}"#;
        match classify(push) {
            Ok(Frame::Template(template)) => {
                assert_eq!(template.height, 7);
                assert_eq!(template.difficulty.to_string(), "1000");
            }
            other => panic!("expected a template push, got {other:?}"),
        }
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(classify("{").is_err());
        assert!(classify("[]").is_err());
        assert!(
            classify(r#"{"jsonrpc":"2.0","id":1,"result":{"event":"new_block_template"}}"#)
                .is_err()
        );
    }
}
