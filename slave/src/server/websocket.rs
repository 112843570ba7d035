//! The WebSocket GetWork door (ws and wss): the HTTP upgrade on any path,
//! then the [`crate::websocket`] codec over text frames, driven by the one
//! [`connection`](super::connection) task. Frames and messages are limited
//! to `security.max_request_size`; the pool pings every
//! [`KEEPALIVE_INTERVAL`] (pongs are answered by the transport); closes say
//! why: 1001 going away on drain, 1008 policy violation for bans, oversized
//! messages and idle sessions, 1002 for broken framing.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};

use crate::policy::ConnectionPermit;
use crate::session::{Output, Protocol};
use crate::stratum::RequestId;
use crate::websocket::{
    WsErrorKind, WsRequestError, decode_text, encode_malformed, encode_outputs, encode_push,
};

use super::connection::{End, Framing, Line};
use super::driver::SessionDriver;
use super::{ServerContext, now_ms};

/// How often the pool pings a WebSocket miner.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// How long a closing connection keeps reading what the miner still sends,
/// so the close frame is not lost to a reset.
const LINGER: Duration = Duration::from_secs(1);

/// Close reasons are control-frame payload: at most 123 bytes.
const MAX_CLOSE_REASON: usize = 123;

/// The transport limits for messages of at most `max_request` bytes.
pub fn config(max_request: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_request))
        .max_frame_size(Some(max_request))
}

/// What one read brought that is not handled yet.
enum Inbound {
    Text(Utf8Bytes),
    Binary,
}

/// WebSocket frames as the framing of the one connection task.
pub struct WsFraming<S> {
    stream: WebSocketStream<S>,
    inbound: Option<Inbound>,
    out: Vec<Message>,
}

impl<S> WsFraming<S> {
    /// Frames an upgraded `stream`.
    pub fn new(stream: WebSocketStream<S>) -> WsFraming<S> {
        WsFraming {
            stream,
            inbound: None,
            out: Vec::new(),
        }
    }
}

impl<S> Framing for WsFraming<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    type Id = RequestId;
    type Malformed = WsRequestError;

    async fn receive(&mut self) -> Result<(), End> {
        // `next` is cancel-safe: a partly read frame stays in the stream.
        match self.stream.next().await {
            None => Err(End::Eof),
            Some(Ok(Message::Text(text))) => {
                self.inbound = Some(Inbound::Text(text));
                Ok(())
            }
            Some(Ok(Message::Binary(_))) => {
                self.inbound = Some(Inbound::Binary);
                Ok(())
            }
            // Pings are answered by the transport on the next flush.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
            Some(Ok(Message::Close(_))) => Err(End::Eof),
            Some(Err(WsError::Capacity(_))) => Err(End::Oversized(
                self.stream.get_config().max_message_size.unwrap_or(0),
            )),
            Some(Err(WsError::Io(error))) => Err(End::Io(error)),
            Some(Err(error)) => Err(End::Refused(format!("WebSocket protocol error: {error}"))),
        }
    }

    fn next_request(&mut self) -> Result<Option<Line<RequestId, WsRequestError>>, usize> {
        Ok(self.inbound.take().map(|inbound| {
            let decoded = match inbound {
                Inbound::Text(text) => decode_text(text.as_str()),
                Inbound::Binary => Err(WsRequestError {
                    id: RequestId::Null,
                    kind: WsErrorKind::Binary,
                }),
            };
            match decoded {
                Ok(request) => Line::Request(request.id, request.request),
                Err(error) => Line::Malformed(error),
            }
        }))
    }

    fn is_fatal(&self, _malformed: &WsRequestError) -> bool {
        false
    }

    fn write_outputs(&mut self, id: &RequestId, outputs: &[Output]) {
        let mut frames = Vec::new();
        encode_outputs(&mut frames, id, outputs);
        self.out.extend(frames.into_iter().map(Message::text));
    }

    fn write_pushes(&mut self, outputs: &[Output]) {
        self.out
            .extend(outputs.iter().filter_map(encode_push).map(Message::text));
    }

    fn write_malformed(&mut self, malformed: &WsRequestError) {
        self.out.push(Message::text(encode_malformed(malformed)));
    }

    fn write_oversized(&mut self, _max: usize) {
        // The close frame (1008) carries the reason.
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        for message in self.out.drain(..) {
            self.stream
                .feed(message)
                .await
                .map_err(std::io::Error::other)?;
        }
        // Also sends the pongs the transport owes.
        self.stream.flush().await.map_err(std::io::Error::other)
    }

    fn keepalive_interval(&self) -> Option<Duration> {
        Some(KEEPALIVE_INTERVAL)
    }

    fn keepalive(&mut self) {
        self.out.push(Message::Ping(Bytes::new()));
    }

    async fn close(&mut self, end: &End) {
        let frame = close_frame(end);
        let _ = self.stream.close(frame).await;
        let socket = self.stream.get_mut();
        let _ = socket.shutdown().await;
        // Read (and drop) what the miner still sends until it closes, so the
        // kernel does not answer unread data with a reset that would lose
        // the close frame.
        let mut sink = [0u8; 1024];
        let _ = tokio::time::timeout(LINGER, async {
            while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

/// The close frame for `end` (none when the miner closed first: the
/// transport answers its close frame itself).
pub fn close_frame(end: &End) -> Option<CloseFrame> {
    let (code, reason) = match end {
        End::Eof => return None,
        End::Drained => (
            CloseCode::Away,
            "going away: the slave is draining, reconnect".to_string(),
        ),
        End::Refused(reason) if reason.starts_with("WebSocket protocol error") => {
            (CloseCode::Protocol, reason.clone())
        }
        End::Oversized(max) => (
            CloseCode::Policy,
            format!("message too large: over {max} bytes (security.max_request_size)"),
        ),
        End::Timeout => (CloseCode::Policy, "idle: no request in time".to_string()),
        End::Banned(reason) | End::Refused(reason) => (CloseCode::Policy, reason.clone()),
        End::Slow | End::Io(_) => (CloseCode::Error, end.to_string()),
    };
    Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(clip(&reason, MAX_CLOSE_REASON)),
    })
}

/// `text` cut to at most `max` bytes on a character boundary.
fn clip(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Upgrades `stream` (any path) and serves the session until it ends.
pub async fn serve<S>(
    stream: S,
    protocol: Protocol,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let ip = permit.ip();
    let policy = ctx.policy.config();
    let upgrade =
        tokio_tungstenite::accept_async_with_config(stream, Some(config(policy.max_request_size)));
    let stream = match tokio::time::timeout(policy.first_message_timeout, upgrade).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%ip, %error, "WebSocket upgrade failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%ip, "WebSocket upgrade timed out");
            return;
        }
    };
    let driver = SessionDriver::new(Arc::clone(&ctx), protocol, ip, now_ms());
    let seat = Arc::new(super::push::Seat::new(driver, None));
    super::connection::serve(WsFraming::new(stream), seat, ctx, permit).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_frames_say_why() {
        let code = |end: End| close_frame(&end).map(|frame| u16::from(frame.code));
        assert_eq!(code(End::Drained), Some(1001));
        assert_eq!(code(End::Oversized(4096)), Some(1008));
        assert_eq!(
            code(End::Banned("banned: malformed requests".into())),
            Some(1008)
        );
        assert_eq!(code(End::Timeout), Some(1008));
        assert_eq!(code(End::Eof), None);
        let long = End::Banned("é".repeat(200));
        let frame = close_frame(&long).expect("a frame");
        assert!(frame.reason.len() <= MAX_CLOSE_REASON);
        let oversized = close_frame(&End::Oversized(4096)).expect("a frame");
        assert!(oversized.reason.contains("4096"));
    }
}
