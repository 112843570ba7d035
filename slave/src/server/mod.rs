//! The miner-facing doors of a slave: listeners (Stratum over TCP and TLS),
//! one task per connection that only moves bytes and time between the
//! socket, the codec and the session core ([`line`]), and the
//! protocol-neutral [`driver`] (share rate, hashing, forwarding to the master
//! link, bans) every door shares. WebSocket and Xatum reuse everything but
//! their framing.

pub mod counters;
pub mod driver;
pub mod fanout;
pub mod feed;
pub mod line;
pub mod listener;
pub mod stratum;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tos_pool_common::config::SlaveConfig;
use tos_pool_proto::v1::MinerProtocol;

use crate::extranonce::ExtraNonceSource;
use crate::link::LinkHandle;
use crate::policy::Policy;
use crate::session::{JobTemplate, SessionConfig};
use crate::validation::{TrustConfig, ValidationPool};

pub use counters::{Counter, CountersSnapshot, SessionView, SlaveCounters};
pub use driver::{POOL_BUSY, SessionDriver, Turn};
pub use listener::DoorSpec;
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
    pub jobs: watch::Receiver<Option<Arc<JobTemplate>>>,
    /// Session ids and extra_nonces.
    pub nonces: ExtraNonceSource,
    /// Limits and bans.
    pub policy: Arc<Policy>,
    /// Counters for `/metrics` and the master's stats.
    pub counters: Arc<SlaveCounters>,
    /// Turns true when the slave drains.
    pub drain: watch::Receiver<bool>,
    /// Work is resent at least this often (`mining.job_refresh`).
    pub job_refresh: Duration,
    /// Longest a write to a miner may take.
    pub write_timeout: Duration,
    /// Measures each job's fan-out to the sessions.
    pub fanout: Arc<fanout::FanoutProbe>,
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
}

/// The doors a slave opened, with the addresses actually bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doors {
    /// Stratum over TCP.
    pub stratum: SocketAddr,
    /// Stratum over TLS, when configured.
    pub stratum_tls: Option<SocketAddr>,
}

/// Binds the Stratum doors of `config` and starts their accept loops.
pub async fn open_doors(
    config: &SlaveConfig,
    ctx: Arc<ServerContext>,
) -> Result<Doors, ServerError> {
    let stratum = bind("slave.stratum_bind", config.stratum_bind).await?;
    let stratum_tls = match config.stratum_tls_bind {
        Some(addr) => {
            let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
                return Err(ServerError::NoCertificate {
                    key: "slave.stratum_tls_bind",
                });
            };
            let acceptor = tls::acceptor(cert, key)?;
            Some((bind("slave.stratum_tls_bind", addr).await?, acceptor))
        }
        None => None,
    };
    let doors = Doors {
        stratum: local_addr(&stratum, config.stratum_bind),
        stratum_tls: stratum_tls
            .as_ref()
            .map(|(listener, _)| local_addr(listener, config.stratum_bind)),
    };
    tracing::info!(addr = %doors.stratum, "Stratum (TCP) listening");
    tokio::spawn(listener::accept_loop(
        stratum,
        DoorSpec {
            protocol: MinerProtocol::Stratum,
            tls: None,
        },
        Arc::clone(&ctx),
    ));
    if let Some((listener, acceptor)) = stratum_tls {
        tracing::info!(addr = ?doors.stratum_tls, "Stratum (TLS) listening");
        tokio::spawn(listener::accept_loop(
            listener,
            DoorSpec {
                protocol: MinerProtocol::StratumTls,
                tls: Some(acceptor),
            },
            ctx,
        ));
    }
    Ok(doors)
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
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
