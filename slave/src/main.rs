//! `tos-pool-slave`: the edge of a pool cluster that miners connect to.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::launch;
use tos_pool_common::shutdown::Shutdown;
use tos_pool_common::telemetry::Telemetry;

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
    /// A one-off operator command instead of running the slave.
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
    let config = launch::load_config(&cli.config, Role::Slave)?;
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
    launch::run(config, Role::Slave, serve)
}

/// The slave's part of the run: a stop signal drains it before `run`
/// returns.
async fn serve(config: Config, telemetry: Telemetry, shutdown: Shutdown) -> anyhow::Result<()> {
    tracing::info!(
        network = %config.network,
        master = %config.slave.master_url,
        version = env!("CARGO_PKG_VERSION"),
        "tos-pool-slave starting"
    );
    let report = tos_pool_slave::app::run(config, telemetry, shutdown)
        .await
        .context("running the slave")?;
    tracing::info!(?report, "tos-pool-slave stopped");
    Ok(())
}
