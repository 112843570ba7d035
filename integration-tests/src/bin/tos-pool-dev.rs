//! `tos-pool-dev`: the whole pool on one machine for local work — a private
//! Redis, the devnet and wallet emulators, the master and two slaves — with
//! optional demo miners, until Ctrl-C or SIGTERM. Like the pool's own
//! binaries, it serves what its config turns on: the profiling server when
//! `profiling.enabled`.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::sync::watch;
use tos_pool_common::config::parse_duration;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::http::HttpLimits;
use tos_pool_common::{profiling, telemetry};
use tos_pool_integration_tests::cluster::{Cluster, ClusterOptions, demo};

/// The local development cluster.
#[derive(Debug, Parser)]
#[command(
    name = "tos-pool-dev",
    version,
    about = "Runs a whole TOS Pool cluster locally: Redis, devnet and wallet emulators, master, two slaves",
    long_about = "Runs a whole TOS Pool cluster on loopback: a private Redis on the port of \
redis.url, the devnet emulator on the port of node.url, the wallet emulator on the port of \
payouts.wallet_rpc, the master on master.bind, and two slaves (the second on the first's ports \
+ 100). Every config key can be overridden as TOS_POOL_<SECTION>_<KEY>, e.g. \
TOS_POOL_MINING_INITIAL_DIFFICULTY=1. Ctrl-C or SIGTERM stops everything."
)]
struct Args {
    /// The cluster's config.
    #[arg(short, long, default_value = "config/dev.yaml")]
    config: PathBuf,
    /// Demo miners to start (test miners mining real shares over Stratum).
    #[arg(long, default_value_t = 0)]
    miners: usize,
    /// Network difficulty of the devnet emulator.
    #[arg(long, default_value_t = 1_000_000)]
    devnet_difficulty: u64,
    /// Time between the emulated network's own blocks: 500ms, 1s, 2m.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    block_interval: Duration,
    /// Slaves to start (the n-th on the first's ports + 100 × n).
    #[arg(long, default_value_t = 2)]
    slaves: u16,
    /// Seconds between summary lines.
    #[arg(long, default_value_t = 5)]
    summary_every: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(&args.config)
        .with_context(|| format!("loading config {}", args.config.display()))?;
    let _logging = telemetry::init_logging(&config.log, "dev").context("setting up logging")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(args, config))
}

async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let mut signals = StopSignals::register().context("listening for SIGTERM and SIGINT")?;
    config
        .validate_for(Role::Master)
        .context("the config is not valid for the master")?;
    let network = config.network;
    let (stop, stopped) = watch::channel(false);
    let profiling = if config.profiling.enabled {
        let mut stopping = stopped.clone();
        let server = profiling::serve(
            &config.profiling,
            HttpLimits::from_config(&config.http),
            async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            },
        )
        .await
        .context("starting the profiling server (profiling.enabled)")?;
        Some(server)
    } else {
        None
    };
    let cluster = Cluster::start(
        config,
        ClusterOptions {
            fixed_ports: true,
            devnet_difficulty: args.devnet_difficulty,
            block_interval: args.block_interval,
            produce_blocks: true,
            tls_dir: PathBuf::from("target/dev-cluster/tls"),
            slaves: args.slaves,
            ..ClusterOptions::default()
        },
    )
    .await
    .context("starting the local cluster")?;

    let mut out = std::io::stdout();
    writeln!(out, "TOS Pool local cluster is up:")?;
    for (name, place) in cluster.endpoints() {
        writeln!(out, "  {name:<28} {place}")?;
    }
    if let Some(server) = &profiling {
        let place = format!("http://{}/debug/pprof/", server.local_addr);
        writeln!(out, "  {:<28} {place}", "profiling")?;
    }
    writeln!(out, "Stop with Ctrl-C.")?;
    out.flush()?;

    let doors = cluster
        .slaves()
        .map(|slave| slave.doors().stratum)
        .collect();
    let tally = demo::start(args.miners, doors, network, stopped);

    let mut summary = tokio::time::interval(Duration::from_secs(args.summary_every.max(1)));
    summary.tick().await;
    let mut last_valid = 0u64;
    let mut last_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            name = signals.wait() => {
                writeln!(out, "{name}: stopping the cluster")?;
                out.flush()?;
                break;
            }
            _ = summary.tick() => {
                let totals = cluster.totals();
                let now = tokio::time::Instant::now();
                let seconds = now.duration_since(last_at).as_secs_f64().max(0.001);
                let rate = totals.shares_valid.saturating_sub(last_valid) as f64 / seconds;
                last_valid = totals.shares_valid;
                last_at = now;
                writeln!(
                    out,
                    "miners {} | shares {} ({rate:.1}/s) | invalid {} | stale {} | blocks {} | demo accepted {}",
                    totals.authorized_sessions,
                    totals.shares_valid,
                    totals.shares_invalid,
                    totals.shares_stale,
                    totals.blocks_found,
                    tally.accepted.load(Ordering::Relaxed),
                )?;
                out.flush()?;
            }
        }
    }
    stop.send_replace(true);
    cluster.shutdown().await;
    if let Some(server) = profiling {
        server
            .stopped()
            .await
            .context("stopping the profiling server")?;
    }
    writeln!(out, "stopped")?;
    Ok(())
}

/// SIGTERM and SIGINT (Ctrl-C), registered at once so a signal that comes
/// while the cluster starts is not lost.
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                term: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// Waits for one and names it.
    async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
