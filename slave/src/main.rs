//! `tos-pool-slave`: the edge of a pool cluster that miners connect to.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::{profiling, shutdown, telemetry};

tos_pool_common::install_jemalloc!();

/// Command line of a slave.
#[derive(Debug, Parser)]
#[command(
    name = "tos-pool-slave",
    version,
    about = "TOS Pool slave: Stratum, WebSocket and Xatum edge that validates shares",
    long_about = "A slave of a TOS Pool cluster. It terminates miners' Stratum (TCP and TLS), \
WebSocket GetWork and Xatum connections, gives every session its own work and share difficulty, \
validates shares with TOS Hash V3, applies connection and ban policy, and forwards shares and \
block candidates to the master over one authenticated gRPC stream. Run as many as you need \
behind load balancers; SIGTERM drains a slave.\n\nEvery config key can be overridden from the \
environment as TOS_POOL_<SECTION>_<KEY>, e.g. TOS_POOL_SLAVE_MASTER_URL."
)]
struct Cli {
    /// Path of the YAML config (see config/slave.yaml for every key).
    #[arg(
        short,
        long,
        env = "TOS_POOL_CONFIG",
        default_value = "config/slave.yaml"
    )]
    config: PathBuf,
    /// Load and validate the config, print a summary and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load_for(&cli.config, Role::Slave)
        .with_context(|| format!("loading config {}", cli.config.display()))?;
    if cli.check {
        println!(
            "{}: valid slave config for {} (master {}, stratum {})",
            cli.config.display(),
            config.network,
            config.slave.master_url,
            config.slave.stratum_bind
        );
        return Ok(());
    }
    // Logging, and the New Relic export when `newrelic.enabled`; dropping the
    // guard at the end flushes what is buffered.
    let telemetry = telemetry::init_telemetry(&config, Role::Slave)
        .context("setting up logging and telemetry")?;
    tracing::info!(
        network = %config.network,
        master = %config.slave.master_url,
        version = env!("CARGO_PKG_VERSION"),
        "tos-pool-slave starting"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let (stop, stopped) = shutdown::stop_on_signal();
        let profiling = if config.profiling.enabled {
            let stop_profiling = shutdown::until_stopped(stopped.clone());
            Some(profiling::serve(&config.profiling, stop_profiling).await?)
        } else {
            None
        };
        // A stop signal drains the slave before `run` returns.
        let result = tos_pool_slave::app::run(config, telemetry.telemetry(), stopped).await;
        // The profiling server ends with the slave, whatever ended it.
        stop.send_replace(true);
        if let Some(server) = profiling {
            server.stopped().await?;
        }
        let report = result.context("running the slave")?;
        tracing::info!(?report, "tos-pool-slave stopped");
        anyhow::Ok(())
    })
}
