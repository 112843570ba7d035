//! The slave process: the master link, the hashing workers, the policy, the
//! miner doors and the operations server, started together ([`start`]) and
//! drained together ([`Slave::drain`]). [`run`] is what the binary calls;
//! tests and the local-cluster launcher use [`start`] and the returned
//! handle, which knows the addresses actually bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tos_pool_common::config::Config;
use tos_pool_common::http::HttpLimits;
use tos_pool_common::shutdown::{Shutdown, ShutdownTrigger};
use tos_pool_common::telemetry::Telemetry;

use crate::extranonce::ExtraNonceSource;
use crate::link::{self, LinkConfig, LinkError, LinkHandle};
use crate::ops::{self, OpsState};
use crate::policy::{Policy, PolicyConfig};
use crate::server::tls::{Certificate, TlsSetupError};
use crate::server::{self, Doors, MinerReports, ServerContext, ServerError, SlaveCounters};
use crate::session::{SessionConfig, SessionConfigError};
use crate::validation::{TrustConfig, ValidationError, ValidationPool};

/// Why the slave could not start.
#[derive(Debug, thiserror::Error)]
pub enum SlaveError {
    /// The session settings are invalid (address lists).
    #[error(transparent)]
    Session(#[from] SessionConfigError),
    /// The master link cannot be set up.
    #[error("master link: {0}")]
    Link(#[from] LinkError),
    /// The hashing workers did not start.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A miner door did not open.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The operations server could not bind.
    #[error(
        "cannot listen on {addr} (slave.http_bind): {source}; is another process using the port?"
    )]
    Http {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A job writer thread did not start.
    #[error("cannot start the job writer threads: {0}")]
    Writers(#[source] std::io::Error),
}

/// How a drain ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Sessions still open when the drain deadline passed (0 normally).
    pub sessions_left: u64,
    /// Shares the master had not acked at the deadline (0 normally).
    pub unacked_shares: usize,
}

/// A running slave.
pub struct Slave {
    doors: Doors,
    http: SocketAddr,
    link: LinkHandle,
    counters: Arc<SlaveCounters>,
    draining: watch::Sender<bool>,
    unready: watch::Sender<bool>,
    certificate: Option<Arc<Certificate>>,
    ops_stop: ShutdownTrigger,
    drain_timeout: Duration,
    drain_grace: Duration,
}

impl std::fmt::Debug for Slave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slave")
            .field("doors", &self.doors)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// Starts every part of a slave on the current runtime. Share outcomes,
/// miner connections and hash times go to `telemetry`
/// ([`Telemetry::disabled`] for none).
pub async fn start(config: &Config, telemetry: Telemetry) -> Result<Slave, SlaveError> {
    let session_config = SessionConfig::from_config(config)?;
    let link_config = LinkConfig::from_config(config);
    let reports = MinerReports::new(telemetry, &link_config.slave_id, &link_config.region);
    let link = link::spawn(link_config)?;
    let counters = Arc::new(SlaveCounters::new());
    link.set_stats_source(counters.clone());
    let validation = ValidationPool::from_config(config, reports.metrics().clone())?;
    let (draining, drain_rx) = watch::channel(false);
    let (unready, unready_rx) = watch::channel(false);
    let policy = Arc::new(Policy::new(
        PolicyConfig::from_security(&config.security),
        link.bans(),
        Some(link.clone()),
    ));
    policy.route_bans();
    let fanout = Arc::new(server::fanout::FanoutProbe::new(std::time::Instant::now()));
    let jobs = server::feed::jobs(&link, Arc::clone(&fanout));
    // One writer per worker thread: a job's pushes run on every core.
    let writers = tokio::runtime::Handle::current().metrics().num_workers();
    let sessions = server::feed::sessions(&link, session_config);
    let pushes = server::push::Pushes::start(&jobs, &sessions, &fanout, writers)
        .map_err(SlaveError::Writers)?;
    let ctx = Arc::new(ServerContext {
        link: link.clone(),
        validation: validation.clone(),
        trust: TrustConfig::from_config(&config.validation),
        sessions,
        jobs,
        nonces: ExtraNonceSource::with_random_salt(),
        policy,
        counters: counters.clone(),
        reports: reports.clone(),
        drain: drain_rx.clone(),
        write_timeout: server::DEFAULT_WRITE_TIMEOUT,
        fanout,
        pushes,
        proxies: config
            .slave
            .proxy_protocol
            .then(|| server::proxy::TrustedProxies::new(&config.slave.trusted_proxies)),
    });
    let http_listener =
        ops::bind(config.slave.http_bind)
            .await
            .map_err(|source| SlaveError::Http {
                addr: config.slave.http_bind,
                source,
            })?;
    let http = http_listener.local_addr().unwrap_or(config.slave.http_bind);
    warn_if_files_run_out(config.security.max_connections);
    let certificate = server::load_certificate(&config.slave)?;
    let doors = server::open_doors(&config.slave, certificate.as_ref(), ctx).await?;
    let ops_stop = ShutdownTrigger::new();
    tokio::spawn(server::report::refresh_gauges(
        reports.clone(),
        counters.clone(),
        config.newrelic.export_interval,
        ops_stop.listener(),
    ));
    tokio::spawn(ops::serve_with(
        http_listener,
        OpsState {
            counters: counters.clone(),
            link: link.clone(),
            draining: unready_rx,
            validation,
            reports,
        },
        HttpLimits::from_config(&config.http),
        ops_stop.listener(),
    ));
    tracing::info!(
        http = %http,
        stratum = %doors.stratum,
        stratum_tls = ?doors.stratum_tls,
        websocket = ?doors.websocket,
        websocket_tls = ?doors.websocket_tls,
        xatum = ?doors.xatum,
        "slave started"
    );
    Ok(Slave {
        doors,
        http,
        link,
        counters,
        draining,
        unready,
        certificate,
        ops_stop,
        drain_timeout: config.slave.drain_timeout,
        drain_grace: config.slave.drain_grace,
    })
}

impl Slave {
    /// The miner doors, with their bound addresses.
    pub fn doors(&self) -> Doors {
        self.doors
    }

    /// The operations server's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The master link.
    pub fn link(&self) -> &LinkHandle {
        &self.link
    }

    /// Reads the doors' certificate files again (`slave.tls_cert`,
    /// `slave.tls_key`): new TLS connections get the new certificate, open
    /// sessions keep theirs. `Ok(false)` when no TLS is configured; on an
    /// error the certificate in use stays.
    pub fn reload_certificate(&self) -> Result<bool, TlsSetupError> {
        match &self.certificate {
            Some(certificate) => certificate.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// The slave's counters.
    pub fn counters(&self) -> &Arc<SlaveCounters> {
        &self.counters
    }

    /// Drains: `/readyz` turns false; after `slave.drain_grace` (for the
    /// load balancer's health checks to notice) every door stops accepting,
    /// every miner is told to reconnect (Stratum `client.reconnect`,
    /// WebSocket close 1001 going away, Xatum `reconnect`) and closed, and
    /// the shares are flushed to the master until acked or
    /// `slave.drain_timeout` passes. Then everything stops.
    pub async fn drain(self) -> DrainReport {
        self.unready.send_replace(true);
        if !self.drain_grace.is_zero() {
            tracing::info!(grace = ?self.drain_grace, "not ready: waiting for the load balancer to notice");
            tokio::time::sleep(self.drain_grace).await;
        }
        let deadline = Instant::now() + self.drain_timeout;
        tracing::info!(timeout = ?self.drain_timeout, "draining");
        self.draining.send_replace(true);
        let mut open = self.counters.open_sessions();
        let closed = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            open.wait_for(|open| *open == 0),
        )
        .await
        .is_ok();
        let sessions_left = if closed { 0 } else { *open.borrow() };
        let unacked_shares = match self.link.flush_and_close(deadline).await {
            Ok(()) => 0,
            Err(LinkError::DrainIncomplete { unacked }) => unacked,
            Err(error) => {
                tracing::warn!(%error, "master link did not close cleanly");
                self.link.counters().unacked_shares as usize
            }
        };
        self.ops_stop.stop();
        let report = DrainReport {
            sessions_left,
            unacked_shares,
        };
        if report.unacked_shares > 0 || report.sessions_left > 0 {
            tracing::warn!(
                ?report,
                "drain deadline passed before everything was flushed"
            );
        } else {
            tracing::info!("drained: every share acked");
        }
        report
    }
}

/// Runs a slave until `shutdown` fires or the master asks it to drain,
/// then drains it.
pub async fn run(
    config: Config,
    telemetry: Telemetry,
    shutdown: Shutdown,
) -> Result<DrainReport, SlaveError> {
    let slave = start(&config, telemetry).await?;
    if let Some(certificate) = slave.certificate.clone() {
        tokio::spawn(reload_on_hangup(certificate, shutdown.clone()));
    }
    let mut master_drain = slave.link().drain_requests();
    tokio::select! {
        () = shutdown.stopped() => {}
        request = master_drain.wait_for(|request| request.is_some()) => {
            if let Ok(request) = request {
                tracing::info!(reason = ?*request, "the master asked this slave to drain");
            }
        }
    }
    Ok(slave.drain().await)
}

/// Reloads the doors' certificate on each SIGHUP until `shutdown`, so a
/// renewed certificate is taken without a restart.
async fn reload_on_hangup(certificate: Arc<Certificate>, shutdown: Shutdown) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP: certificates reload only on restart");
                return;
            }
        };
        loop {
            tokio::select! {
                () = shutdown.stopped() => return,
                received = hangups.recv() => {
                    if received.is_none() {
                        return;
                    }
                    match certificate.reload() {
                        Ok(()) => tracing::info!("TLS certificate reloaded: new connections get it"),
                        Err(error) => tracing::error!(%error, "TLS certificate not reloaded: the one in use stays"),
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (certificate, shutdown);
    }
}

/// Warns when `security.max_connections` sessions would not fit the
/// process's open-files limit (each session is a socket).
fn warn_if_files_run_out(max_connections: u32) {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    if let Some(soft) = soft
        && max_connections > 0
        && u64::from(max_connections) + 64 > soft
    {
        tracing::warn!(
            open_files = soft,
            max_connections,
            "security.max_connections does not fit the open-files limit: raise LimitNOFILE (or ulimit -n) above it, or lower it"
        );
    }
}
