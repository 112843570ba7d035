//! `tos-pool-slave`: the edge of a pool cluster that miners connect to.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tokio::sync::watch;
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
    let _logging = telemetry::init_logging(&config.log, "slave").context("setting up logging")?;
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
        let (stop, stopped) = watch::channel(false);
        let signals = stop.clone();
        tokio::spawn(async move {
            match wait_for_signal().await {
                Ok(signal) => tracing::info!(signal, "stop signal: draining"),
                Err(error) => tracing::error!(%error, "cannot listen for signals: draining"),
            }
            signals.send_replace(true);
        });
        let profiling = if config.profiling.enabled {
            Some(profiling::serve(&config.profiling, until_stopped(stopped.clone())).await?)
        } else {
            None
        };
        let result = tos_pool_slave::app::run(config, stopped).await;
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

/// Resolves once `stopped` turns true (or its sender is gone).
async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Waits for SIGTERM or Ctrl-C (SIGINT) and names it.
async fn wait_for_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
    }
}
