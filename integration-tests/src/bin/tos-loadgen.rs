//! `tos-loadgen`: opens many simulated miner sessions against a TOS Pool's
//! slaves, sends real shares, and reports sessions, share rates, answer
//! latency, job fan-out and whether the pool's own counts match.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::sync::watch;
use tos_pool_common::config::parse_duration;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::loadgen::{
    ApiCounts, LoadSettings, PoolCounts, ShareMix, ShareRate, insecure_tls, parse_endpoint,
    parse_sources, raise_open_files_limit, run,
};

/// The load generator.
#[derive(Debug, Parser)]
#[command(
    name = "tos-loadgen",
    version,
    about = "Opens many simulated miners against TOS Pool slaves and measures the pool",
    long_about = "Opens many simulated miner sessions against one or more slave endpoints \
(any mix of stratum+tcp://, stratum+ssl://, ws://, wss:// and xatum:// URLs; session i uses \
URL i mod n). Each session logs in as its own devnet-style address and worker lgN, and sends \
real shares at the configured rate with the configured fractions of invalid (low difficulty), \
duplicate and stale ones. A live line goes to stderr every second; at the end a summary gives \
sessions, shares accepted and refused by reason, answer latency percentiles, the job fan-out \
spread (first to last session receiving each new job) and, with --api, the pool's own counts \
read back through the master's REST API (GET /api/stats and /api/miners/ADDRESS) and checked \
against the answers, in total and miner by miner. The pool's totals are read from a /api/stats \
computed after the read began, so each such read (one before the run, one or more after it until \
the pool has counted every answered share) waits up to the master's api.stats_cache.\n\n\
The soft open-files limit is raised to the hard limit at start (one file per session).\n\
Exit status: 0 when the run ended and every count read back matched, 2 when a count differs, \
1 on an error."
)]
struct Args {
    /// Slave endpoints: stratum+tcp://HOST:PORT, stratum+ssl://HOST:PORT, ws://HOST:PORT,
    /// wss://HOST:PORT, xatum://HOST:PORT (TLS ones need --insecure).
    #[arg(required = true, value_name = "URL")]
    endpoints: Vec<String>,
    /// Sessions (simulated miners) to open.
    #[arg(short = 'n', long, default_value_t = 100)]
    sessions: usize,
    /// Local addresses to connect from, round robin, bound before connecting:
    /// a range 127.0.0.1-127.0.0.8, single addresses, or a comma-separated
    /// list. Each address has ~28,000 local ports; use several beyond that.
    /// Default: the system chooses.
    #[arg(long, value_name = "ADDRS")]
    source_addrs: Option<String>,
    /// New sessions per second at most (0: as fast as --connect-concurrency allows).
    #[arg(long, default_value_t = 2000.0)]
    connect_rate: f64,
    /// Sessions connecting and logging in at the same time at most.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Shares per second over all sessions together; 0 for idle sessions
    /// (session and fan-out runs); max for each session sending its next
    /// share as soon as the last is answered.
    #[arg(long, default_value = "0")]
    rate: ShareRate,
    /// Stop sending after this many shares in all; the run ends once they
    /// are answered.
    #[arg(long, value_name = "N")]
    shares: Option<u64>,
    /// Stop the run after this long (500ms, 30s, 5m). Without it the run
    /// ends when --shares are answered, or on Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Fraction of shares sent invalid: a nonce whose hash misses the share
    /// target (needs pool share difficulty ≥ 2; at 1 every hash is valid).
    #[arg(long, default_value_t = 0.0)]
    invalid: f64,
    /// Fraction of shares sent as duplicates of the session's last accepted one.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Fraction of shares sent stale: for the session's first job once
    /// --stale-after-jobs newer ones came, before that for a job id the pool
    /// never issued.
    #[arg(long, default_value_t = 0.0)]
    stale: f64,
    /// Newer jobs after which a session's first job is surely out of the
    /// pool's backlog (the pool's mining.job_backlog).
    #[arg(long, default_value_t = 8)]
    stale_after_jobs: u32,
    /// The pool's network: mainnet, testnet, stagenet or devnet (decides the
    /// miners' address prefix).
    #[arg(long, default_value = "devnet")]
    network: Network,
    /// Number of the first miner: miner i logs in as miner number
    /// login-offset + i, so a rerun can use miners the pool has not seen.
    #[arg(long, default_value_t = 0)]
    login_offset: u64,
    /// Longest wait for a connection, a login or an answer (30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Accept any TLS certificate (self-signed test pools); needed for the TLS schemes.
    #[arg(long)]
    insecure: bool,
    /// The master's REST API (http://HOST:PORT, its api.bind), to read the
    /// pool's counts back and check them against the answers: the pool's
    /// totals from /api/stats, each miner's from /api/miners/ADDRESS.
    #[arg(long, value_name = "URL")]
    api: Option<String>,
    /// Jobs that reached fewer than this share (0..1) of the widest job's
    /// sessions are left out of the fan-out spread.
    #[arg(long, default_value_t = 0.9)]
    fanout_min_share: f64,
    /// Write the summary as JSON to this file ("-" for stdout).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// No live line.
    #[arg(short, long)]
    quiet: bool,
    /// Sessions the pool closes connect again, to the next endpoint in turn
    /// (as a miner with failover pools does), until the run ends.
    #[arg(long)]
    reconnect: bool,
    /// Watch-only sessions: idle, plain-TCP Stratum, reading pushed jobs
    /// with a byte scan instead of the full test miner (fan-out runs of tens
    /// of thousands of sessions a process).
    #[arg(long)]
    watch: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match raise_open_files_limit() {
        Ok((before, after)) => tracing::info!(?before, ?after, "open-files soft limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open-files limit"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let matched = runtime.block_on(run_args(args))?;
    if !matched {
        std::process::exit(2);
    }
    Ok(())
}

async fn run_args(args: Args) -> anyhow::Result<bool> {
    let tls = if args.insecure {
        Some(insecure_tls()?)
    } else {
        None
    };
    let endpoints = args
        .endpoints
        .iter()
        .map(|url| parse_endpoint(url, tls.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut settings = LoadSettings::new(endpoints, args.sessions, args.network);
    if let Some(sources) = &args.source_addrs {
        settings.sources = parse_sources(sources)?;
    }
    settings.connect_rate = args.connect_rate.max(0.0);
    settings.connect_concurrency = args.connect_concurrency.max(1);
    settings.rate = args.rate;
    settings.max_shares = args.shares;
    settings.duration = args.duration;
    settings.mix = ShareMix::new(args.invalid, args.duplicate, args.stale)?;
    settings.login_offset = args.login_offset;
    settings.timeout = args.timeout;
    settings.stale_after_jobs = args.stale_after_jobs;
    settings.live = !args.quiet;
    settings.fanout_min_share = args.fanout_min_share;
    settings.reconnect = args.reconnect;
    settings.watch = args.watch;
    if settings.rate == ShareRate::Idle && settings.duration.is_none() {
        eprintln!("idle sessions without --duration: the run ends on Ctrl-C");
    }

    let counts = match &args.api {
        Some(url) => Some(ApiCounts::new(url).context("the master's API URL (--api)")?),
        None => None,
    };
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: Ctrl-C");
            let _ = stop_tx.send(true);
        }
    });
    let source = counts.as_ref().map(|c| c as &dyn PoolCounts);
    let (summary, _) = run(settings, source, stop).await?;
    let text = summary.to_text();
    let mut stdout = std::io::stdout().lock();
    match &args.json {
        Some(path) if path.as_os_str() == "-" => {
            serde_json::to_writer_pretty(&mut stdout, &summary).context("writing JSON")?;
            writeln!(stdout)?;
            eprint!("{text}");
        }
        Some(path) => {
            let json = serde_json::to_vec_pretty(&summary).context("encoding JSON")?;
            std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
            write!(stdout, "{text}")?;
        }
        None => write!(stdout, "{text}")?,
    }
    Ok(summary.verification.as_ref().is_none_or(|v| v.all_match()))
}
