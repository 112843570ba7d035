//! The gateway's connections before gRPC sees them: a cap on how many are
//! open, and two deadlines on each, so that no peer holds a connection it
//! has no use for.
//!
//! - At most `master.max_connections` are open; one beyond it is closed as
//!   soon as it is accepted.
//! - Admission: within `master.handshake_timeout` of being accepted, a
//!   connection must have finished its TLS handshake (tonic enforces the
//!   same bound on the handshake itself) and opened a stream with the right
//!   token ([`GatewayConnection::admit`]); otherwise it is closed. A
//!   half-sent handshake or HTTP/2 preface (slowloris) ends here.
//! - Idle: once admitted, a connection from which nothing arrives for
//!   `master.idle_timeout` is closed. The server pings every
//!   `master.keepalive_interval` (HTTP/2 PING), which a live slave answers,
//!   so only a dead or hostile peer goes quiet that long.
//!
//! Both deadlines are checked where the connection is read, by
//! [`GatewayIo`]: a deadline that passes fails the read, and the server
//! drops the connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep, sleep_until};
use tokio_stream::Stream;
use tonic::transport::server::{Connected, TcpIncoming};
use tos_pool_common::config::MasterConfig;

/// HTTP/2 streams one connection may have open at once: a slave uses one
/// (two for a moment while it replaces a broken one).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 8;

/// Shortest time between two warnings about refused connections.
const REFUSAL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// The connection limits of `master.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time from accept to an admitted stream.
    pub handshake_timeout: Duration,
    /// Time between the server's pings, and the longest wait for an answer.
    pub keepalive_interval: Duration,
    /// Longest silence of an admitted connection.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: u32,
}

impl ConnectionLimits {
    /// The limits of a validated `master` section.
    pub fn from_config(master: &MasterConfig) -> ConnectionLimits {
        ConnectionLimits {
            handshake_timeout: master.handshake_timeout,
            keepalive_interval: master.keepalive_interval,
            idle_timeout: master.idle_timeout,
            max_connections: master.max_connections.max(1),
        }
    }
}

/// The gateway's listener: TCP connections up to the cap, each wrapped in a
/// [`GatewayIo`].
#[derive(Debug)]
pub struct GatewayIncoming {
    inner: TcpIncoming,
    local_addr: io::Result<SocketAddr>,
    permits: Arc<Semaphore>,
    limits: ConnectionLimits,
    refused: u64,
    warned_at: Option<Instant>,
}

impl GatewayIncoming {
    /// Connections from `inner` (bound on `local_addr`), within `limits`.
    pub fn new(
        inner: TcpIncoming,
        local_addr: io::Result<SocketAddr>,
        limits: ConnectionLimits,
    ) -> GatewayIncoming {
        GatewayIncoming {
            inner,
            local_addr,
            permits: Arc::new(Semaphore::new(limits.max_connections as usize)),
            limits,
            refused: 0,
            warned_at: None,
        }
    }

    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.local_addr {
            Ok(addr) => Ok(*addr),
            Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
        }
    }

    /// The limits it applies.
    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Counts a refused connection; warns at most every
    /// [`REFUSAL_WARNING_EVERY`].
    fn refused(&mut self, peer: Option<SocketAddr>) {
        self.refused += 1;
        if self
            .warned_at
            .is_none_or(|at| at.elapsed() >= REFUSAL_WARNING_EVERY)
        {
            tracing::warn!(
                peer = ?peer,
                refused = self.refused,
                max_connections = self.limits.max_connections,
                "gateway connections refused: master.max_connections are open"
            );
            self.refused = 0;
            self.warned_at = Some(Instant::now());
        }
    }
}

impl Stream for GatewayIncoming {
    type Item = io::Result<GatewayIo>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let stream = match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(stream))) => stream,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            match this.permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    return Poll::Ready(Some(Ok(GatewayIo::new(stream, permit, this.limits))));
                }
                Err(_) => {
                    let peer = stream.peer_addr().ok();
                    drop(stream);
                    this.refused(peer);
                }
            }
        }
    }
}

/// What the service learns of the connection a stream came on.
#[derive(Debug, Clone)]
pub struct GatewayConnection {
    peer: Option<SocketAddr>,
    admitted: Arc<AtomicBool>,
}

impl GatewayConnection {
    /// The peer's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Marks the connection as carrying a stream with the right token: the
    /// admission deadline no longer applies, the idle one does.
    pub fn admit(&self) {
        self.admitted.store(true, Ordering::Relaxed);
    }

    fn is_admitted(&self) -> bool {
        self.admitted.load(Ordering::Relaxed)
    }
}

/// One accepted connection with its deadlines and its place under the cap.
#[derive(Debug)]
pub struct GatewayIo {
    stream: TcpStream,
    info: GatewayConnection,
    limits: ConnectionLimits,
    deadline: Pin<Box<Sleep>>,
    last_read: Instant,
    _permit: OwnedSemaphorePermit,
}

impl GatewayIo {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, limits: ConnectionLimits) -> GatewayIo {
        let now = Instant::now();
        GatewayIo {
            info: GatewayConnection {
                peer: stream.peer_addr().ok(),
                admitted: Arc::new(AtomicBool::new(false)),
            },
            stream,
            limits,
            deadline: Box::pin(sleep_until(now + limits.handshake_timeout)),
            last_read: now,
            _permit: permit,
        }
    }

    /// After the deadline passed: the next one, or why the connection ends.
    fn next_deadline(&self, now: Instant) -> Result<Instant, &'static str> {
        if !self.info.is_admitted() {
            return Err("no stream with the right token within master.handshake_timeout");
        }
        let idle_end = self.last_read + self.limits.idle_timeout;
        if idle_end > now {
            Ok(idle_end)
        } else {
            Err("nothing received within master.idle_timeout")
        }
    }
}

impl Connected for GatewayIo {
    type ConnectInfo = GatewayConnection;

    fn connect_info(&self) -> GatewayConnection {
        self.info.clone()
    }
}

impl AsyncRead for GatewayIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.last_read = Instant::now();
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => {}
        }
        while this.deadline.as_mut().poll(cx).is_ready() {
            match this.next_deadline(Instant::now()) {
                Ok(at) => this.deadline.as_mut().reset(at),
                Err(reason) => {
                    if this.info.is_admitted() {
                        tracing::warn!(peer = ?this.info.peer, reason, "gateway connection closed");
                    } else {
                        tracing::debug!(peer = ?this.info.peer, reason, "gateway connection closed");
                    }
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, reason)));
                }
            }
        }
        Poll::Pending
    }
}

impl AsyncWrite for GatewayIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_stream::StreamExt;

    fn limits(max_connections: u32) -> ConnectionLimits {
        ConnectionLimits {
            handshake_timeout: Duration::from_millis(200),
            keepalive_interval: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            max_connections,
        }
    }

    async fn incoming(limits: ConnectionLimits) -> (GatewayIncoming, SocketAddr) {
        let inner = TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let addr = inner.local_addr().expect("an address");
        (GatewayIncoming::new(inner, Ok(addr), limits), addr)
    }

    /// Longest a test waits for a deadline of a few hundred ms to act.
    const GENEROUS: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn an_unadmitted_connection_ends_at_the_handshake_deadline() {
        let (mut incoming, addr) = incoming(limits(4)).await;
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let mut io = incoming
            .next()
            .await
            .expect("a connection")
            .expect("accepted");
        let started = Instant::now();
        client
            .write_all(b"PRI * HTTP/2.0")
            .await
            .expect("half a preface");
        let mut buf = [0u8; 64];
        assert_eq!(io.read(&mut buf).await.expect("the bytes arrive"), 14);
        let error = tokio::time::timeout(GENEROUS, io.read(&mut buf))
            .await
            .expect("the deadline acts")
            .expect_err("the deadline fails the read");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= limits(4).handshake_timeout);
    }

    #[tokio::test]
    async fn an_admitted_connection_lives_while_bytes_arrive_then_idles_out() {
        let (mut incoming, addr) = incoming(limits(4)).await;
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let mut io = incoming
            .next()
            .await
            .expect("a connection")
            .expect("accepted");
        io.connect_info().admit();
        let mut buf = [0u8; 16];
        // Bytes every 100 ms keep it open past both deadlines.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.write_all(b"ping").await.expect("write");
            assert_eq!(io.read(&mut buf).await.expect("a read"), 4);
        }
        let quiet = Instant::now();
        let error = tokio::time::timeout(GENEROUS, io.read(&mut buf))
            .await
            .expect("the deadline acts")
            .expect_err("silence ends it");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(quiet.elapsed() >= limits(4).idle_timeout);
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed_at_once() {
        let (mut incoming, addr) = incoming(limits(1)).await;
        let _first = TcpStream::connect(addr).await.expect("connect");
        let held = incoming
            .next()
            .await
            .expect("a connection")
            .expect("accepted");
        let mut second = TcpStream::connect(addr).await.expect("connect");
        let accept_more = tokio::spawn(async move {
            let next = incoming.next().await;
            (incoming, next.map(|io| io.is_ok()))
        });
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
            .await
            .expect("the refused connection is closed, not left open");
        assert!(matches!(read, Ok(0) | Err(_)));
        drop(held);
        let _third = TcpStream::connect(addr).await.expect("connect");
        let (_incoming, accepted) = tokio::time::timeout(Duration::from_secs(5), accept_more)
            .await
            .expect("a freed slot admits the next connection")
            .expect("the accept task ran");
        assert_eq!(accepted, Some(true));
    }
}
