//! Accept loops: one per door. Each admitted connection gets its own task;
//! a refused one (ban, per-IP limit) is closed at once. The loop stops
//! accepting when the slave drains.
//!
//! With `slave.proxy_protocol`, a connection from a trusted load balancer
//! must start with a PROXY header (read before TLS, within
//! `security.first_message_timeout`), and is admitted as the miner's
//! address it carries; any other connection that starts with one is refused
//! and counts as a malformed request ([`super::proxy`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::policy::ConnectionPermit;
use crate::session::{Door, Protocol};

use super::counters::Counter;
use super::driver::SessionDriver;
use super::proxy::{self, ProxyError, Start};
use super::stratum::StratumLines;
use super::xatum::XatumLines;
use super::{ServerContext, line, now_ms, websocket};

/// A miner-facing door: its protocol and, for TLS doors, the acceptor.
#[derive(Clone)]
pub struct DoorSpec {
    /// What the door speaks (and whether over TLS), as reported to the master.
    pub protocol: Protocol,
    /// TLS for this door, if any.
    pub tls: Option<TlsAcceptor>,
    /// With `tls`: each connection is TLS only if its first byte starts a
    /// TLS handshake, plain otherwise (ws and wss on one port).
    pub tls_optional: bool,
}

/// The first byte of a TLS connection: a handshake record (ClientHello).
/// No plain HTTP request starts with it.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

impl DoorSpec {
    /// The session core's door for this listener's protocol.
    pub fn door(&self) -> Door {
        self.protocol.door()
    }
}

/// Accepts connections on `listener` until the slave drains.
pub async fn accept_loop(listener: TcpListener, door: DoorSpec, ctx: Arc<ServerContext>) {
    let mut drain = ctx.drain.clone();
    let local = listener.local_addr().ok();
    loop {
        if *drain.borrow_and_update() {
            break;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => admit(stream, peer, &door, &ctx),
                Err(error) => {
                    // Out of file descriptors and the like: wait for a
                    // connection to end rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = drain.changed() => {}
        }
    }
    tracing::info!(addr = ?local, protocol = ?door.protocol, "stopped accepting miners");
}

fn admit(stream: TcpStream, peer: SocketAddr, door: &DoorSpec, ctx: &Arc<ServerContext>) {
    let _ = stream.set_nodelay(true);
    let door = door.clone();
    let ctx = Arc::clone(ctx);
    match &ctx.proxies {
        Some(trusted) if trusted.contains(peer.ip()) => {
            tokio::spawn(behind_proxy(stream, peer, door, ctx));
        }
        Some(_) => {
            if let Some(permit) = admit_ip(peer.ip(), &ctx) {
                tokio::spawn(without_header(stream, door, ctx, permit));
            }
        }
        None => {
            if let Some(permit) = admit_ip(peer.ip(), &ctx) {
                start(stream, door, ctx, permit);
            }
        }
    }
}

/// The policy's word on a connection from `ip`: a permit, or `None` once
/// the refusal is counted and logged.
fn admit_ip(ip: IpAddr, ctx: &ServerContext) -> Option<ConnectionPermit> {
    match ctx.policy.admit(ip, now_ms()) {
        Ok(permit) => {
            ctx.counters.add(Counter::Connection);
            Some(permit)
        }
        Err(refusal) => {
            ctx.counters.add(Counter::Refused);
            tracing::info!(%ip, ?refusal, "connection refused");
            None
        }
    }
}

/// How long to wait before looking again at a header that is still partial.
const PEEK_RETRY: Duration = Duration::from_millis(5);

/// Looks at the first bytes of `stream` without taking them until
/// [`proxy::measure`] can tell whether they are a PROXY header.
async fn peek_start(stream: &TcpStream, deadline: Instant) -> Result<Start, ProxyError> {
    let mut buf = [0u8; proxy::PEEK];
    let mut seen = 0;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return Err(ProxyError::Truncated),
        };
        match proxy::measure(&buf[..n]) {
            Start::Incomplete => {
                if n == seen {
                    // Nothing new yet: peeking again at once would spin.
                    let wait = tokio::time::timeout_at(deadline, tokio::time::sleep(PEEK_RETRY));
                    if wait.await.is_err() {
                        return Err(ProxyError::Truncated);
                    }
                }
                seen = n;
            }
            start => return Ok(start),
        }
    }
}

/// A connection from a trusted load balancer: its PROXY header first, then
/// the door, for the miner's address the header names.
async fn behind_proxy(
    mut stream: TcpStream,
    peer: SocketAddr,
    door: DoorSpec,
    ctx: Arc<ServerContext>,
) {
    let deadline = Instant::now() + ctx.policy.config().first_message_timeout;
    let client = match read_header(&mut stream, deadline).await {
        Ok(Some(client)) => client.ip(),
        // The balancer's own health check (LOCAL, or an unknown family).
        Ok(None) => peer.ip(),
        Err(error) => {
            ctx.counters.add(Counter::Malformed);
            tracing::info!(proxy = %peer, reason = %error, "connection from a load balancer refused");
            return;
        }
    };
    if let Some(permit) = admit_ip(client, &ctx) {
        start(stream, door, ctx, permit);
    }
}

/// Reads (and takes) the PROXY header at the start of `stream`.
async fn read_header(
    stream: &mut TcpStream,
    deadline: Instant,
) -> Result<Option<SocketAddr>, ProxyError> {
    let len = match peek_start(stream, deadline).await? {
        Start::Header(len) => len,
        Start::NoHeader => return Err(ProxyError::Missing),
        Start::Refused(error) => return Err(error),
        Start::Incomplete => return Err(ProxyError::Truncated),
    };
    let mut header = vec![0u8; len];
    match tokio::time::timeout_at(deadline, stream.read_exact(&mut header)).await {
        Ok(Ok(_)) => proxy::client_address(&header),
        _ => Err(ProxyError::Truncated),
    }
}

/// A direct connection while PROXY headers are on: one that starts with a
/// header is refused and counts as malformed (it may ban its IP).
async fn without_header(
    stream: TcpStream,
    door: DoorSpec,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) {
    let ip = permit.ip();
    let deadline = Instant::now() + ctx.policy.config().first_message_timeout;
    match peek_start(&stream, deadline).await {
        Ok(Start::NoHeader) => start(stream, door, ctx, permit),
        Ok(_) => {
            ctx.counters.add(Counter::Malformed);
            tracing::info!(%ip, reason = %ProxyError::Untrusted, "connection refused");
            if ctx.policy.malformed(ip, now_ms()).is_some() {
                ctx.counters.add(Counter::Ban);
            }
        }
        Err(error) => tracing::debug!(%ip, %error, "nothing read in time"),
    }
}

/// Hands an admitted connection to its door (the TLS handshake first for
/// TLS doors).
fn start(stream: TcpStream, door: DoorSpec, ctx: Arc<ServerContext>, permit: ConnectionPermit) {
    match door.tls.clone() {
        None => spawn_plain(stream, &door, ctx, permit),
        Some(acceptor) if door.tls_optional => {
            tokio::spawn(tls_or_plain(stream, acceptor, door, ctx, permit));
        }
        Some(acceptor) => {
            tokio::spawn(tls_handshake(stream, acceptor, door, ctx, permit));
        }
    }
}

/// A door that takes TLS and plain connections on one port: waits for the
/// first byte (without reading it) and goes on with the TLS handshake or the
/// plain door. The session is reported with the protocol it really speaks.
async fn tls_or_plain(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    door: DoorSpec,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) {
    let ip = permit.ip();
    let wait = ctx.policy.config().first_message_timeout;
    let mut first = [0u8; 1];
    match tokio::time::timeout(wait, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {
            let tls_door = DoorSpec {
                protocol: door.protocol.over_tls(),
                tls: Some(acceptor.clone()),
                tls_optional: false,
            };
            tls_handshake(stream, acceptor, tls_door, ctx, permit).await;
        }
        Ok(Ok(1)) => {
            let plain_door = DoorSpec {
                tls: None,
                tls_optional: false,
                ..door
            };
            spawn_plain(stream, &plain_door, ctx, permit);
        }
        Ok(Ok(_)) => tracing::debug!(%ip, "closed before sending anything"),
        Ok(Err(error)) => tracing::debug!(%ip, %error, "first read failed"),
        Err(_) => tracing::debug!(%ip, "nothing sent in time"),
    }
}

/// A TLS door's first task: the handshake, then the door's own task over
/// the TLS stream. Apart, so a session's task never carries the handshake's
/// state, nor a plain session the TLS one's.
pub(super) async fn tls_handshake(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    door: DoorSpec,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) {
    let ip = permit.ip();
    let handshake = ctx.policy.config().first_message_timeout;
    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => spawn_door(tls, &door, ctx, permit),
        Ok(Err(error)) => tracing::debug!(%ip, %error, "TLS handshake failed"),
        Err(_) => tracing::debug!(%ip, "TLS handshake timed out"),
    }
}

/// Spawns a connection without TLS: a Stratum session gets its job pushes
/// from the writer threads, straight to its socket ([`super::push`]); other
/// doors as over any stream.
fn spawn_plain(
    stream: TcpStream,
    door: &DoorSpec,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) {
    if matches!(door.door(), Door::Stratum) {
        let driver = new_driver(&ctx, door.protocol, &permit);
        let codec = StratumLines::new(ctx.policy.config().max_request_size);
        tokio::spawn(line::serve_pushed(stream, codec, driver, ctx, permit));
    } else {
        spawn_door(stream, door, ctx, permit);
    }
}

/// Spawns one admitted connection's task with its door's framing and codec.
/// One spawn per door: a task's allocation is the size of its own future,
/// so an idle Stratum session does not pay for the WebSocket upgrade's.
fn spawn_door<S>(stream: S, door: &DoorSpec, ctx: Arc<ServerContext>, permit: ConnectionPermit)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let max_request = ctx.policy.config().max_request_size;
    match door.door() {
        Door::WebSocket => {
            tokio::spawn(websocket::serve(stream, door.protocol, ctx, permit));
        }
        Door::Stratum => {
            let driver = new_driver(&ctx, door.protocol, &permit);
            let codec = StratumLines::new(max_request);
            tokio::spawn(line::serve(stream, codec, driver, ctx, permit));
        }
        Door::Xatum => {
            let driver = new_driver(&ctx, door.protocol, &permit);
            let codec = XatumLines::new(max_request);
            tokio::spawn(line::serve(stream, codec, driver, ctx, permit));
        }
    }
}

fn new_driver(
    ctx: &Arc<ServerContext>,
    protocol: Protocol,
    permit: &ConnectionPermit,
) -> SessionDriver {
    SessionDriver::new(Arc::clone(ctx), protocol, permit.ip(), now_ms())
}
