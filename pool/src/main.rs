//! `tos-pool`: a whole pool in one process for small pools: the master and
//! one slave, from one config, through the same launch code and app
//! builders as `tos-pool-master` and `tos-pool-slave` (`MasterHandle::start`,
//! `tos_pool_slave::app::run`). The slave reaches
//! the master over its gRPC gateway on loopback, exactly as a remote slave
//! would, so nothing here is a second code path.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::launch;
use tos_pool_common::shutdown::{Shutdown, ShutdownTrigger};
use tos_pool_common::telemetry::{Telemetry, init_telemetry_scoped};
use tos_pool_master::app::MasterHandle;

tos_pool_common::install_jemalloc!();

/// Command line of the one-process pool.
#[derive(Debug, Parser)]
#[command(
    name = "tos-pool",
    version,
    about = "TOS Pool in one process: the master and a slave from one config",
    long_about = "Runs the master (templates, share ledger, blocks, PPLNS, payouts, API) and a \
slave (Stratum, WebSocket and Xatum doors) in one process from one config, for pools that need \
no separate edge machines. The config must be valid for both roles; the slave reaches the master \
through slave.master_url (normally http://127.0.0.1:<master.bind port> with \
master.allow_plaintext: true). SIGTERM drains the slave first, then stops the master.\n\nEvery \
config key can be overridden from the environment as TOS_POOL_<SECTION>_<KEY>."
)]
struct Cli {
    /// Path of the YAML config (both roles' keys in one file).
    #[arg(
        short,
        long,
        env = "TOS_POOL_CONFIG",
        default_value = "config/pool.yaml"
    )]
    config: PathBuf,
    /// Load and validate the config for both roles, print a summary and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = launch::load_config(&cli.config, Role::Master)?;
    config
        .validate_for(Role::Slave)
        .with_context(|| format!("loading config {} for the slave", cli.config.display()))?;
    if cli.check {
        println!(
            "{}: valid one-process pool config for {} (gRPC {}, API {}, stratum {})",
            cli.config.display(),
            config.network,
            config.master.bind,
            config.api.bind,
            config.slave.stratum_bind
        );
        return Ok(());
    }
    launch::run(config, Role::Master, serve)
}

/// Runs the master and the slave until a stop signal or until either one
/// fails. On a stop the slave drains first (its shares reach the master's
/// ledger), then the master stops; if either fails, the other is stopped
/// the same way and the failure is returned.
async fn serve(config: Config, telemetry: Telemetry, shutdown: Shutdown) -> anyhow::Result<()> {
    tracing::info!(
        network = %config.network,
        master = %config.master.bind,
        stratum = %config.slave.stratum_bind,
        version = env!("CARGO_PKG_VERSION"),
        "tos-pool (master and slave in one process) loaded its config"
    );
    // The master first: once `start` returns its gateway listens, so the
    // slave's first connection attempt finds it.
    let mut master = MasterHandle::start(&config, telemetry)
        .await
        .context("starting the master")?;
    // The slave's metrics and spans stay its own, as in its own process.
    let slave_telemetry = match init_telemetry_scoped(&config, Role::Slave) {
        Ok(slave_telemetry) => slave_telemetry,
        Err(error) => {
            master.shutdown().await;
            return Err(error).context("setting up the slave's telemetry");
        }
    };
    let slave_stop = ShutdownTrigger::new();
    let slave =
        tos_pool_slave::app::run(config, slave_telemetry.telemetry(), slave_stop.listener());
    tokio::pin!(slave);

    let mut master_failure = None;
    let slave_outcome = tokio::select! {
        outcome = &mut slave => outcome,
        () = shutdown.stopped() => {
            slave_stop.stop();
            slave.await
        }
        failed = master.failed() => {
            master_failure = failed.err();
            slave_stop.stop();
            slave.await
        }
    };
    // The slave has drained into the master's ledger: now the master stops.
    master.shutdown().await;
    // Dropping it flushes the slave's exports, which may block: off the
    // runtime's workers.
    let _ = tokio::task::spawn_blocking(move || drop(slave_telemetry)).await;

    let master_result = match master_failure {
        Some(error) => Err(anyhow::Error::new(error).context("running the master")),
        None => Ok(()),
    };
    let slave_result = slave_outcome.context("running the slave");
    match (master_result, slave_result) {
        (Ok(()), Ok(report)) => {
            tracing::info!(?report, "tos-pool stopped");
            Ok(())
        }
        (Err(master), Ok(_)) => Err(master),
        (Ok(()), Err(slave)) => Err(slave),
        (Err(master), Err(slave)) => {
            tracing::error!(error = %tos_pool_common::error::chain(slave.as_ref()), "the slave failed too");
            Err(master)
        }
    }
}
