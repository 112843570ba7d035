//! `tos-pool-master`: the one process of a pool cluster that owns the chain
//! view and the money.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::shutdown::ShutdownTrigger;
use tos_pool_common::{profiling, telemetry};

tos_pool_common::install_jemalloc!();

/// Command line of the master.
#[derive(Debug, Parser)]
#[command(
    name = "tos-pool-master",
    version,
    about = "TOS Pool master: block templates, share ledger, blocks, PPLNS, payouts and the API",
    long_about = "The master of a TOS Pool cluster. It takes block templates from one or more \
TOS daemons (with health checks and failover), streams jobs over gRPC to the slaves, keeps the \
exactly-once share ledger in Redis, submits blocks, splits rewards by PPLNS, tracks block \
maturity, pays miners and serves the REST API.\n\nEvery config key can be overridden from the \
environment as TOS_POOL_<SECTION>_<KEY>, e.g. TOS_POOL_REDIS_PASSWORD."
)]
struct Cli {
    /// Path of the YAML config (see config/master.yaml for every key).
    #[arg(
        short,
        long,
        env = "TOS_POOL_CONFIG",
        default_value = "config/master.yaml"
    )]
    config: PathBuf,
    /// Load and validate the config, print a summary and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load_for(&cli.config, Role::Master)
        .with_context(|| format!("loading config {}", cli.config.display()))?;
    if cli.check {
        println!(
            "{}: valid master config for {} (gRPC {}, API {})",
            cli.config.display(),
            config.network,
            config.master.bind,
            config.api.bind
        );
        return Ok(());
    }
    // Logging, and the New Relic export when `newrelic.enabled`; dropping the
    // guard at the end flushes what is buffered.
    let telemetry = telemetry::init_telemetry(&config, Role::Master)
        .context("setting up logging and telemetry")?;
    tracing::info!(
        network = %config.network,
        bind = %config.master.bind,
        version = env!("CARGO_PKG_VERSION"),
        "tos-pool-master loaded its config"
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let stop = ShutdownTrigger::on_signal();
        let profiling = if config.profiling.enabled {
            let stop_profiling = stop.listener().stopped();
            Some(profiling::serve(&config.profiling, stop_profiling).await?)
        } else {
            None
        };
        let result =
            tos_pool_master::app::run(config, telemetry.telemetry(), stop.listener()).await;
        // The profiling server ends with the master, whatever ended it.
        stop.stop();
        if let Some(server) = profiling {
            server.stopped().await?;
        }
        result.context("running the master")
    })
}
