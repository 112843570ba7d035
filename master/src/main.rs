//! `tos-pool-master`: the one process of a pool cluster that owns the chain
//! view and the money.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::telemetry;

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
    let _logging = telemetry::init_logging(&config.log, "master").context("setting up logging")?;
    tracing::info!(
        network = %config.network,
        bind = %config.master.bind,
        version = env!("CARGO_PKG_VERSION"),
        "tos-pool-master loaded its config"
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime
        .block_on(tos_pool_master::app::run(config, shutdown_signal()))
        .context("running the master")?;
    Ok(())
}

/// Resolves at SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: stopping"),
        () = terminate => tracing::info!("SIGTERM: stopping"),
    }
}
