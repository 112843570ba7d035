//! Opening the socket (TCP, TLS) and writing to it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::{BoxedIo, CloseReason, Connection, Writer};
use crate::miners::transcript::{Direction, Frame};
use crate::miners::{MinerError, Transport};

/// Opens TCP (and TLS) to `addr`, from `source` when given.
pub(crate) async fn connect_io(
    addr: SocketAddr,
    transport: &Transport,
    timeout: Duration,
    source: Option<IpAddr>,
) -> Result<(BoxedIo, Option<rustls::ProtocolVersion>), MinerError> {
    let connect = async {
        let tcp = connect_tcp(addr, source)
            .await
            .map_err(|source| MinerError::Connect { addr, source })?;
        // Small JSON messages: send each at once.
        tcp.set_nodelay(true)
            .map_err(|source| MinerError::Connect { addr, source })?;
        match transport {
            Transport::Tcp => Ok::<_, MinerError>((Box::new(tcp) as BoxedIo, None)),
            Transport::Tls(tls) => {
                let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
                let stream = connector
                    .connect(tls.server_name.clone(), tcp)
                    .await
                    .map_err(|source| MinerError::Tls { addr, source })?;
                let version = stream.get_ref().1.protocol_version();
                Ok((Box::new(stream) as BoxedIo, version))
            }
        }
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| MinerError::Timeout {
            what: format!("connection to {addr}"),
            after: timeout,
        })?
}

/// A TCP connection to `addr`, bound to `source` (any port) first when given.
pub(crate) async fn connect_tcp(
    addr: SocketAddr,
    source: Option<IpAddr>,
) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = if source.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

impl Connection {
    /// Sends one line (Stratum, Xatum; a newline is added) or one text frame
    /// (WebSocket) exactly as given: for malformed-input tests.
    pub async fn send_raw_text(&self, text: &str) -> Result<(), MinerError> {
        self.transcript
            .record(Direction::ToServer, Frame::Text(text.to_string()));
        match &self.writer {
            Writer::Lines(writer) => {
                let mut line = Vec::with_capacity(text.len() + 1);
                line.extend_from_slice(text.as_bytes());
                line.push(b'\n');
                self.write_lines(writer, &line).await
            }
            Writer::WebSocket(sink) => {
                self.write_frame(sink, Message::text(text.to_string()))
                    .await
            }
        }
    }

    /// Sends bytes as they are (lines: no newline added; WebSocket: a binary frame).
    pub async fn send_raw_bytes(&self, bytes: &[u8]) -> Result<(), MinerError> {
        self.transcript
            .record(Direction::ToServer, Frame::Binary(bytes.to_vec()));
        match &self.writer {
            Writer::Lines(writer) => self.write_lines(writer, bytes).await,
            Writer::WebSocket(sink) => {
                self.write_frame(sink, Message::binary(bytes.to_vec()))
                    .await
            }
        }
    }

    /// Closes the connection from this side: a close frame with `code` and
    /// `reason` on WebSocket, a TCP (and TLS) shutdown otherwise.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), MinerError> {
        match &self.writer {
            Writer::Lines(writer) => {
                let mut writer = writer.lock().await;
                writer
                    .shutdown()
                    .await
                    .map_err(|e| MinerError::Send(e.to_string()))?;
            }
            Writer::WebSocket(sink) => {
                self.transcript.record(
                    Direction::ToServer,
                    Frame::Close {
                        code,
                        reason: reason.to_string(),
                    },
                );
                let frame = CloseFrame {
                    code: code.into(),
                    reason: reason.to_string().into(),
                };
                self.write_frame(sink, Message::Close(Some(frame))).await?;
            }
        }
        self.set_closed(CloseReason::Local);
        Ok(())
    }

    async fn write_lines(
        &self,
        writer: &tokio::sync::Mutex<WriteHalf<BoxedIo>>,
        bytes: &[u8],
    ) -> Result<(), MinerError> {
        let write = async {
            let mut writer = writer.lock().await;
            writer.write_all(bytes).await?;
            writer.flush().await
        };
        match tokio::time::timeout(self.options.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(MinerError::Send(e.to_string())),
            Err(_) => Err(self.write_timeout()),
        }
    }

    async fn write_frame(
        &self,
        sink: &tokio::sync::Mutex<SplitSink<WebSocketStream<BoxedIo>, Message>>,
        message: Message,
    ) -> Result<(), MinerError> {
        let write = async { sink.lock().await.send(message).await };
        match tokio::time::timeout(self.options.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(MinerError::Send(e.to_string())),
            Err(_) => Err(self.write_timeout()),
        }
    }

    fn write_timeout(&self) -> MinerError {
        MinerError::Timeout {
            what: "write to the pool (is it reading?)".to_string(),
            after: self.options.timeout,
        }
    }
}
