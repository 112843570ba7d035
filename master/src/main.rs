//! `tos-pool-master`: the one process of a pool cluster that owns the chain
//! view and the money.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::{profiling, telemetry};

/// Every allocation goes through jemalloc so that its sampling heap profiler
/// can back `/debug/pprof/heap`.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: profiling::Jemalloc = profiling::Jemalloc;

/// jemalloc's startup options: heap profiling on, sampling every 512 KiB.
// Exporting a symbol is `unsafe` because it could clash with another one.
// This is sound: jemalloc (built with the `_rjem_` prefix) declares
// `const char *_rjem_malloc_conf` as a weak symbol for exactly this purpose,
// nothing else defines it, and it reads it once at start-up; `&[u8; N]` is a
// thin pointer to an immutable NUL-terminated 'static string, the layout of
// `const char *`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 45] = profiling::JEMALLOC_MALLOC_CONF;

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
    runtime.block_on(async move {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let signals = stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            signals.send_replace(true);
        });
        let profiling = if config.profiling.enabled {
            Some(profiling::serve(&config.profiling, until_stopped(stopped.clone())).await?)
        } else {
            None
        };
        let result = tos_pool_master::app::run(config, until_stopped(stopped)).await;
        // The profiling server ends with the master, whatever ended it.
        stop.send_replace(true);
        if let Some(server) = profiling {
            server.stopped().await?;
        }
        result.context("running the master")
    })
}

/// Resolves once `stopped` turns true (or its sender is gone).
async fn until_stopped(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
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
