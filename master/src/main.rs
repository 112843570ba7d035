//! `tos-pool-master`: the one process of a pool cluster that owns the chain
//! view and the money.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::launch;
use tos_pool_common::shutdown::Shutdown;
use tos_pool_common::telemetry::Telemetry;
use tos_pool_master::import::{self, ImportOptions, Totals};
use tos_pool_master::ledger::Ledger;

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
    /// Copy balances, matured blocks and confirmed payments from the Go
    /// pool's Redis into this pool's (`redis.*` of --config); a second run
    /// changes nothing. See docs/MIGRATION.md.
    ImportSeed {
        /// The Go pool's Redis, e.g. redis://10.0.0.5:6379/0.
        #[arg(long)]
        from: String,
        /// Read both sides and print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Overwrite balances this pool already holds.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::MigrateConfig { old }) = &cli.command {
        print!("{}", launch::migrate_config(old)?);
        return Ok(());
    }
    let config = launch::load_config(&cli.config, Role::Master)?;
    if let Some(Command::ImportSeed {
        from,
        dry_run,
        force,
    }) = cli.command
    {
        let options = ImportOptions {
            from,
            dry_run,
            force,
        };
        return import_seed(&config, &options);
    }
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

/// `import-seed`: runs the import and prints what it did.
fn import_seed(config: &Config, options: &ImportOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let ledger = Ledger::connect(&config.redis)
            .await
            .context("connecting to this pool's Redis (redis.*)")?;
        import::run(&ledger, config.network, options)
            .await
            .context("importing from the Go pool")
    })?;
    let line = |name: &str, totals: &Totals| {
        println!(
            "{name:<10} miners {:>6}  immature {:>18}  payable {:>18}  pending {:>18}  paid {:>18}  blocks {:>6}  payments {:>6}",
            totals.miners,
            totals.immature,
            totals.confirmed,
            totals.pending,
            totals.paid,
            totals.blocks,
            totals.payments
        );
    };
    println!("amounts in atomic units (1 TOS = 100000000), the same unit in both pools");
    line("Go pool", &report.source);
    line("before", &report.before);
    line("after", &report.after);
    println!(
        "{} balance fields set, {} blocks, {} payments and {} list entries added{}",
        report.balances_set,
        report.blocks_added,
        report.payments_added,
        report.blacklist_added.len() + report.whitelist_added.len(),
        match (options.dry_run, report.written) {
            (true, _) => " (dry run: nothing written)",
            (false, false) => " (nothing to change)",
            (false, true) => "",
        }
    );
    for skipped in &report.skipped {
        println!("skipped: {skipped}");
    }
    if !report.blacklist_added.is_empty() {
        println!(
            "runtime blacklist (/api/admin/blacklist) += {}",
            report.blacklist_added.join(", ")
        );
    }
    if !report.whitelist_added.is_empty() {
        println!(
            "runtime whitelist (/api/admin/whitelist) += {}",
            report.whitelist_added.join(", ")
        );
    }
    Ok(())
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
