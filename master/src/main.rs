//! `tos-pool-master`: the one process of a pool cluster that owns the chain
//! view and the money.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::launch;
use tos_pool_common::shutdown::Shutdown;
use tos_pool_common::telemetry::Telemetry;

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
    /// A one-off operator command instead of running the master.
    #[command(subcommand)]
    command: Option<Command>,
}

/// One-off operator commands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Convert a config of the Go pool (tos-network/tos-pool) into ours and
    /// print it, every change commented: `migrate-config OLD.yaml > NEW.yaml`.
    MigrateConfig {
        /// The Go pool's YAML config.
        old: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::MigrateConfig { old }) = &cli.command {
        print!("{}", launch::migrate_config(old)?);
        return Ok(());
    }
    let config = launch::load_config(&cli.config, Role::Master)?;
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
    launch::run(config, Role::Master, serve)
}

/// The master's part of the run: it serves until `shutdown` fires or its
/// gateway fails.
async fn serve(config: Config, telemetry: Telemetry, shutdown: Shutdown) -> anyhow::Result<()> {
    tracing::info!(
        network = %config.network,
        bind = %config.master.bind,
        version = env!("CARGO_PKG_VERSION"),
        "tos-pool-master loaded its config"
    );
    tos_pool_master::app::run(config, telemetry, shutdown)
        .await
        .context("running the master")
}
