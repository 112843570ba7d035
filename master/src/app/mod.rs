//! The master process: wires the ledger, the upstreams, the jobs, the slave
//! gateway, the block path, the unlocker and payouts, and stops them together.
//!
//! [`MasterHandle::start`] starts everything in-process (tests and the local
//! cluster bind port 0 and read [`MasterHandle::gateway_addr`]); [`run`] is
//! the binary's loop around it. Shutdown is one [`ShutdownTrigger`]: every
//! task holds a [`Shutdown`] listener and ends when it fires, streams close
//! with `UNAVAILABLE`, and the handle's drop raises it too, so nothing
//! outlives the master.

mod chain;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tos_pool_common::config::{Config, ConfigError};
use tos_pool_common::metrics::Metrics;
use tos_pool_common::shutdown::{Shutdown, ShutdownTrigger};
use tos_pool_common::telemetry::Telemetry;
use tos_pool_common::telemetry::events::EventSink;

use crate::api::{self, ApiError, ApiParts};
use crate::blocks::{BlockAdder, BlockService, BlockSpool, SpoolError, SpoolReplayer};
use crate::gateway::{self, Gateway, GatewayError};
use crate::history::Sampler;
use crate::jobs::{JobError, JobManager};
use crate::ledger::{AccessList, Ledger, LedgerError, LedgerSettings};
use crate::monitor;
use crate::notify::{Notifier, NotifyError};
use crate::payouts::{PayoutError, Payouts};
use crate::pplns::{PplnsError, PplnsWindow};
use crate::unlocker::{self, Discovery, Unlocker, UnlockerError};
use crate::upstream::{UpstreamError, UpstreamPool};

pub use chain::DaemonChain;

/// How long a graceful shutdown may take before the remaining tasks are
/// aborted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the master cannot start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// Redis could not be reached.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The upstream daemons are misconfigured.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The job manager cannot start.
    #[error(transparent)]
    Jobs(#[from] JobError),
    /// The PPLNS settings cannot be used.
    #[error(transparent)]
    Pplns(#[from] PplnsError),
    /// The unlocker settings cannot be used.
    #[error(transparent)]
    Unlocker(#[from] UnlockerError),
    /// The slave gateway cannot start or failed.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The payout settings cannot be used.
    #[error(transparent)]
    Payouts(#[from] PayoutError),
    /// A notification target is unusable.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// The REST API cannot start.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The block spool directory cannot be used.
    #[error(transparent)]
    BlockSpool(#[from] SpoolError),
    /// The pool's miner key cannot be read from the config.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// A running master.
#[derive(Debug)]
pub struct MasterHandle {
    gateway_addr: SocketAddr,
    gateway: Gateway,
    ledger: Arc<Ledger>,
    upstreams: Arc<UpstreamPool>,
    jobs: Arc<JobManager>,
    payouts: Option<Payouts>,
    telemetry: Telemetry,
    notifier: Notifier,
    api_addr: Option<SocketAddr>,
    stop: ShutdownTrigger,
    server: Option<JoinHandle<Result<(), GatewayError>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl MasterHandle {
    /// Starts the master for a validated `config`: connects Redis, starts the
    /// upstream pool and the job manager, binds `master.bind` (port 0 picks a
    /// free one), and starts the job feed, the unlocker (when
    /// `unlocker.enabled`), the gateway, and the gauges' refresh (every
    /// `newrelic.export_interval`). Metrics, events and the `block.submit`
    /// spans go to `telemetry` ([`Telemetry::disabled`] for none).
    pub async fn start(config: &Config, telemetry: Telemetry) -> Result<MasterHandle, MasterError> {
        let window = PplnsWindow::new(
            config.pplns.window,
            config.pplns.dynamic_window,
            config.pplns.min_window,
            config.pplns.max_window,
        )?;
        let policy = unlocker::policy(config)?;
        let tls = gateway::tls_config(&config.master)?;
        let ledger = Arc::new(
            Ledger::connect(&config.redis)
                .await?
                .with_settings(LedgerSettings::from_config(config)),
        );
        let upstreams = UpstreamPool::start(&config.node)?;
        let jobs = Arc::new(JobManager::start(config, upstreams.clone())?);
        let chain = Arc::new(DaemonChain::new(upstreams.clone(), jobs.clone()));
        let stop = ShutdownTrigger::new();
        let (notifier, notify_task) =
            Notifier::start(&config.notify, config.network, stop.listener())?;

        let share_wait = (config.slave.share_flush_interval * 20).max(Duration::from_secs(1));
        let spool = match &config.master.block_spool_dir {
            Some(dir) => Some(BlockSpool::open(dir)?),
            None => None,
        };
        let pool_key = config.miner_public_key()?;
        let mut blocks = BlockService::new(
            chain.clone(),
            ledger.clone(),
            window,
            share_wait,
            telemetry.clone(),
        )
        .with_notifier(notifier.clone());
        if let Some(spool) = &spool {
            blocks = blocks.with_spool(spool.clone());
        }
        let blocks = Arc::new(blocks);
        let block_adder = Arc::new(BlockAdder::new(
            chain.clone(),
            ledger.clone(),
            window,
            pool_key,
            config.network,
            spool.clone(),
        ));
        let gateway = Gateway::new(
            config,
            ledger.clone(),
            blocks,
            stop.listener(),
            telemetry.metrics().clone(),
        );
        // The operator's runtime lists outlive restarts: every slave gets
        // them from its first Welcome on.
        gateway.set_access_lists(
            ledger.access_list(AccessList::Blacklist).await?,
            ledger.access_list(AccessList::Whitelist).await?,
        );
        let incoming = gateway::bind(&config.master)?;
        let gateway_addr = incoming.local_addr().map_err(|error| GatewayError::Bind {
            addr: config.master.bind,
            reason: error.to_string(),
        })?;

        let mut tasks = vec![
            tokio::spawn(feed_jobs(
                jobs.clone(),
                gateway.clone(),
                ledger.clone(),
                telemetry.metrics().clone(),
                stop.listener(),
            )),
            tokio::spawn(monitor::run(
                telemetry.metrics().clone(),
                ledger.clone(),
                jobs.clone(),
                gateway.clone(),
                config.newrelic.export_interval,
                stop.listener(),
            )),
        ];
        tasks.push(tokio::spawn(
            Sampler::new(
                ledger.clone(),
                gateway.clone(),
                jobs.clone(),
                config.web.sample_interval,
            )
            .run(stop.listener()),
        ));
        if let Some(spool) = &spool {
            let replayer = SpoolReplayer::new(
                spool.clone(),
                ledger.clone(),
                share_wait,
                telemetry.metrics().clone(),
            )
            .with_notifier(notifier.clone());
            tasks.push(tokio::spawn(replayer.run(stop.listener())));
        }
        if config.unlocker.enabled {
            let discovery = Discovery::new(
                pool_key,
                config.network,
                config.unlocker.mature_depth,
                config.unlocker.immature_depth,
                telemetry.metrics().clone(),
            )
            .with_spool(spool.clone());
            let unlocker = Unlocker::new(chain, ledger.clone(), policy)
                .with_notifier(notifier.clone())
                .with_discovery(discovery);
            tasks.push(tokio::spawn(
                unlocker.run(config.unlocker.interval, stop.listener()),
            ));
        }
        let payouts = if config.payouts.enabled {
            let payouts =
                Payouts::from_config(config, ledger.clone(), upstreams.clone(), telemetry.clone())?
                    .with_notifier(notifier.clone());
            tasks.push(tokio::spawn(payouts.clone().run(stop.listener())));
            Some(payouts)
        } else {
            None
        };
        tasks.extend(notify_task);
        let mut api_addr = None;
        if config.api.enabled {
            let parts = ApiParts {
                ledger: ledger.clone(),
                upstreams: upstreams.clone(),
                jobs: jobs.clone(),
                gateway: gateway.clone(),
                metrics: telemetry.metrics().clone(),
                payouts: payouts.clone(),
                block_adder,
            };
            let server = api::start(config, parts, stop.listener()).await?;
            api_addr = Some(server.addr);
            tasks.push(server.task);
        }
        let server = tokio::spawn(gateway::serve(
            gateway.clone(),
            incoming,
            tls,
            stop.listener().stopped(),
        ));
        tracing::info!(
            gateway = %gateway_addr,
            network = %config.network,
            tls = config.master.tls_cert.is_some(),
            "master started"
        );
        Ok(MasterHandle {
            gateway_addr,
            gateway,
            ledger,
            upstreams,
            jobs,
            payouts,
            telemetry,
            notifier,
            api_addr,
            stop,
            server: Some(server),
            tasks,
        })
    }

    /// The address the slave gateway listens on.
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_addr
    }

    /// The address the REST API listens on, when `api.enabled`.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_addr
    }

    /// The notifier (block and payment messages to operators).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The slave gateway (connected slaves, for the admin API).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The share ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The upstream daemons.
    pub fn upstreams(&self) -> &Arc<UpstreamPool> {
        &self.upstreams
    }

    /// The job manager.
    pub fn jobs(&self) -> &Arc<JobManager> {
        &self.jobs
    }

    /// The payout service, when `payouts.enabled` (admin resolution of
    /// pending payments).
    pub fn payouts(&self) -> Option<Payouts> {
        self.payouts.clone()
    }

    /// The metrics registry (gauges, share counters, histograms), for
    /// `/metrics` on the API.
    pub fn metrics(&self) -> Metrics {
        self.telemetry.metrics().clone()
    }

    /// The custom event sink, for services started beside the master.
    pub fn events(&self) -> EventSink {
        self.telemetry.events().clone()
    }

    /// The telemetry handles the master was started with.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// A listener of the master's stop, for services started beside the
    /// master (the API, payouts) to end with it.
    pub fn stop_listener(&self) -> Shutdown {
        self.stop.listener()
    }

    /// Resolves when the gateway server stopped on its own (an error), with
    /// that error; pending while it runs.
    pub async fn failed(&mut self) -> Result<(), MasterError> {
        let Some(server) = self.server.as_mut() else {
            return std::future::pending().await;
        };
        let outcome = server.await;
        self.server = None;
        match outcome {
            Ok(result) => result.map_err(MasterError::from),
            Err(error) => Err(MasterError::Gateway(GatewayError::Bind {
                addr: self.gateway_addr,
                reason: format!("the gateway task ended: {error}"),
            })),
        }
    }

    /// Stops everything: streams close, tasks end; what has not ended after
    /// [`SHUTDOWN_GRACE`] is aborted.
    pub async fn shutdown(mut self) {
        self.stop.stop();
        self.gateway.close_all();
        let mut tasks: Vec<JoinHandle<()>> = std::mem::take(&mut self.tasks);
        if let Some(server) = self.server.take() {
            tasks.push(tokio::spawn(async move {
                if let Ok(Err(error)) = server.await {
                    tracing::warn!(%error, "the slave gateway stopped with an error");
                }
            }));
        }
        for mut task in tasks {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        tracing::info!("master stopped");
    }
}

impl Drop for MasterHandle {
    fn drop(&mut self) {
        self.stop.stop();
        self.gateway.close_all();
        for task in &self.tasks {
            task.abort();
        }
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// Runs the master for `config` until `shutdown` fires or the gateway
/// fails, then stops it gracefully.
pub async fn run(
    config: Config,
    telemetry: Telemetry,
    shutdown: Shutdown,
) -> Result<(), MasterError> {
    let mut master = MasterHandle::start(&config, telemetry).await?;
    let outcome = tokio::select! {
        () = shutdown.stopped() => Ok(()),
        failed = master.failed() => failed,
    };
    master.shutdown().await;
    outcome
}

/// Sends every new job to the slaves, updates the network gauges, and trims
/// the share log to what the PPLNS window can still need at the job's
/// difficulty.
async fn feed_jobs(
    jobs: Arc<JobManager>,
    gateway: Gateway,
    ledger: Arc<Ledger>,
    metrics: Metrics,
    stop: Shutdown,
) {
    let mut feed = jobs.subscribe();
    if let Some(job) = jobs.current() {
        gateway.publish_job(job.to_proto());
        monitor::record_job(&metrics, &job);
    }
    loop {
        let job = tokio::select! {
            () = stop.stopped() => return,
            received = feed.recv() => match received {
                Ok(job) => job,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "job feed lagged; sending the current job");
                    match jobs.current() {
                        Some(job) => job,
                        None => continue,
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        gateway.publish_job(job.to_proto());
        monitor::record_job(&metrics, &job);
        if let Err(error) = ledger
            .trim_share_log(job.difficulty.to_u64_saturating())
            .await
        {
            tracing::warn!(%error, "cannot trim the share log; retrying at the next job");
        }
    }
}
