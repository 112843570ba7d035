//! The miner-facing doors of a slave: listeners (Stratum over TCP and TLS,
//! WebSocket GetWork over ws and wss, Xatum over TLS), the one
//! [`connection`] task per connection that only moves requests, pushes and
//! time between a door's framing (lines in [`line`](mod@line), frames in
//! [`websocket`]) and the session core, and the protocol-neutral [`driver`]
//! (share rate, hashing, forwarding to the master link, bans) every door
//! shares.

pub mod connection;
pub mod counters;
pub mod driver;
pub mod fanout;
pub mod feed;
pub mod gate;
pub mod line;
pub mod listener;
pub mod proxy;
pub mod push;
pub mod report;
pub mod stratum;
pub mod tls;
pub mod websocket;
pub mod xatum;

#[cfg(test)]
mod footprint;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tos_pool_common::config::SlaveConfig;

use crate::extranonce::ExtraNonceSource;
use crate::job::Job;
use crate::link::LinkHandle;
use crate::policy::Policy;
use crate::session::{Protocol, SessionConfig};
use crate::validation::{TrustConfig, ValidationPool};

pub use counters::{Counter, CountersSnapshot, SessionView, SlaveCounters};
pub use driver::{SessionDriver, Turn};
pub use listener::DoorSpec;
pub use report::MinerReports;
pub use tls::TlsSetupError;

/// Longest a write to a miner may take before the miner counts as a slow
/// reader and is disconnected.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection of a slave shares.
pub struct ServerContext {
    /// The master link (shares, blocks, events, bans).
    pub link: LinkHandle,
    /// The hashing workers.
    pub validation: ValidationPool,
    /// Trust-mode settings.
    pub trust: TrustConfig,
    /// Session settings, updated with the master's.
    pub sessions: watch::Receiver<Arc<SessionConfig>>,
    /// The current job.
    pub jobs: watch::Receiver<Option<Arc<Job>>>,
    /// Session ids and extra_nonces.
    pub nonces: ExtraNonceSource,
    /// Limits and bans.
    pub policy: Arc<Policy>,
    /// Counters for `/metrics` and the master's stats.
    pub counters: Arc<SlaveCounters>,
    /// Share outcomes and miner connections for New Relic and `/metrics`.
    pub reports: MinerReports,
    /// Turns true when the slave drains.
    pub drain: watch::Receiver<bool>,
    /// Longest a write to a miner may take.
    pub write_timeout: Duration,
    /// Measures each job's fan-out to the sessions.
    pub fanout: Arc<fanout::FanoutProbe>,
    /// The writer threads that push jobs to plain-TCP Stratum sessions.
    pub pushes: Arc<push::Pushes>,
    /// The load balancers PROXY headers are taken from, when
    /// `slave.proxy_protocol` is on.
    pub proxies: Option<proxy::TrustedProxies>,
}

/// Why a door could not open.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr} ({key}): {source}; is another process using the port?")]
    Bind {
        /// The config key.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TLS was asked for but cannot be set up.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// A TLS door without a certificate.
    #[error(
        "{key} is set but slave.tls_cert / slave.tls_key are not: give both or turn the door off"
    )]
    NoCertificate {
        /// The door's config key.
        key: &'static str,
    },
    /// Xatum is on but there is no certificate: Xatum is TLS only.
    #[error(
        "slave.xatum_enabled is true but Xatum is TLS only and slave.tls_cert / slave.tls_key are not set: give both or set slave.xatum_enabled: false"
    )]
    XatumWithoutTls,
}

/// The doors a slave opened, with the addresses actually bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doors {
    /// Stratum over TCP.
    pub stratum: SocketAddr,
    /// Stratum over TLS, when configured.
    pub stratum_tls: Option<SocketAddr>,
    /// WebSocket GetWork (ws), when enabled.
    pub websocket: Option<SocketAddr>,
    /// WebSocket GetWork over TLS (wss), when configured.
    pub websocket_tls: Option<SocketAddr>,
    /// Xatum (always TLS), when enabled.
    pub xatum: Option<SocketAddr>,
}

/// A bound listener waiting for its accept loop.
struct Bound {
    listener: TcpListener,
    door: DoorSpec,
    addr: SocketAddr,
}

/// The doors' certificate, when a TLS door is on and `slave.tls_cert` and
/// `slave.tls_key` are both set: shared by every TLS door and reloadable.
/// With no TLS door the files are not read.
pub fn load_certificate(
    config: &SlaveConfig,
) -> Result<Option<Arc<tls::Certificate>>, ServerError> {
    let tls_door = config.stratum_tls_bind.is_some()
        || config.wss_bind().is_some()
        || config.wss_shares_ws_port()
        || config.xatum_enabled;
    if !tls_door {
        return Ok(None);
    }
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(tls::Certificate::load(cert, key)?)),
        _ => Ok(None),
    }
}

/// Binds every door `config` turns on and starts their accept loops. Binds
/// all first, so a door that cannot open leaves none running. The TLS
/// doors present `certificate` as it is at each handshake.
pub async fn open_doors(
    config: &SlaveConfig,
    certificate: Option<&Arc<tls::Certificate>>,
    ctx: Arc<ServerContext>,
) -> Result<Doors, ServerError> {
    let acceptor = |key: &'static str| match certificate {
        Some(certificate) => Ok(certificate.acceptor()?),
        None => Err(ServerError::NoCertificate { key }),
    };
    let stratum = open(
        "slave.stratum_bind",
        config.stratum_bind,
        Protocol::Stratum,
        None,
    )
    .await?;
    let stratum_tls = match config.stratum_tls_bind {
        Some(addr) => {
            let key = "slave.stratum_tls_bind";
            Some(open(key, addr, Protocol::StratumTls, Some(acceptor(key)?)).await?)
        }
        None => None,
    };
    let (websocket, websocket_tls) = if config.wss_shares_ws_port() {
        // One port for both: each connection's first byte tells TLS apart.
        let key = "slave.websocket_tls_bind";
        let mut both = open(
            key,
            config.websocket_bind,
            Protocol::WebSocket,
            Some(acceptor(key)?),
        )
        .await?;
        both.door.tls_optional = true;
        (Some(both), None)
    } else {
        let websocket = if config.websocket_enabled {
            let (key, addr) = ("slave.websocket_bind", config.websocket_bind);
            Some(open(key, addr, Protocol::WebSocket, None).await?)
        } else {
            None
        };
        let websocket_tls = match config.wss_bind() {
            Some(addr) => {
                let key = "slave.websocket_tls_bind";
                Some(open(key, addr, Protocol::WebSocketTls, Some(acceptor(key)?)).await?)
            }
            None => None,
        };
        (websocket, websocket_tls)
    };
    let xatum = if config.xatum_enabled {
        let tls = match certificate {
            Some(certificate) => certificate.acceptor()?,
            None => return Err(ServerError::XatumWithoutTls),
        };
        let (key, addr) = ("slave.xatum_bind", config.xatum_bind);
        Some(open(key, addr, Protocol::Xatum, Some(tls)).await?)
    } else {
        None
    };
    let doors = Doors {
        stratum: stratum.addr,
        stratum_tls: stratum_tls.as_ref().map(|bound| bound.addr),
        websocket: websocket.as_ref().map(|bound| bound.addr),
        websocket_tls: match &websocket_tls {
            Some(bound) => Some(bound.addr),
            // wss on the ws port.
            None if config.wss_shares_ws_port() => websocket.as_ref().map(|bound| bound.addr),
            None => None,
        },
        xatum: xatum.as_ref().map(|bound| bound.addr),
    };
    for bound in [Some(stratum), stratum_tls, websocket, websocket_tls, xatum]
        .into_iter()
        .flatten()
    {
        tracing::info!(addr = %bound.addr, protocol = ?bound.door.protocol, "miner door listening");
        tokio::spawn(listener::accept_loop(
            bound.listener,
            bound.door,
            Arc::clone(&ctx),
        ));
    }
    Ok(doors)
}

async fn open(
    key: &'static str,
    addr: SocketAddr,
    protocol: Protocol,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<Bound, ServerError> {
    let listener = bind(key, addr).await?;
    Ok(Bound {
        addr: local_addr(&listener, addr),
        listener,
        door: DoorSpec {
            protocol,
            tls,
            tls_optional: false,
        },
    })
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { key, addr, source })
}

fn local_addr(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub use tos_pool_common::clock::unix_ms as now_ms;
