//! `tos-floor-server`: the push floor the slave's job fan-out is measured
//! against (docs/BENCHMARKS.md, "The push floor"). Serves idle Stratum
//! sessions with no async runtime: login threads answer subscribe and
//! authorize, writer threads each own a share of the sockets and write each
//! session its own `mining.notify` with one blocking write per job.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::parse_duration;
use tos_pool_integration_tests::floor::{FloorConfig, JobFanout, serve};
use tos_pool_integration_tests::loadgen::raise_open_files_limit;

/// The floor server.
#[derive(Debug, Parser)]
#[command(
    name = "tos-floor-server",
    version,
    about = "Pushes a Stratum job to every idle session with nothing else in the way: the floor the slave's fan-out is measured against",
    long_about = "Listens for Stratum miners, answers mining.subscribe (extranonce1: the \
session's number) and mining.authorize, then pushes a new mining.notify to every session each \
--job-interval: each writer thread owns its share of the sockets and writes each session its own \
notify (the job's MinerWork with that session's extra_nonce) with one blocking write. No shares \
are taken. One line per job on stderr: sessions written, dropped, and the time from publishing \
the job to the last write."
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:23533")]
    bind: SocketAddr,
    /// Time between jobs (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    job_interval: Duration,
    /// Jobs to push before exiting (0: until killed).
    #[arg(long, default_value_t = 0)]
    jobs: u64,
    /// Writer threads; sessions are dealt to them in turn.
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Threads accepting and logging in sessions.
    #[arg(long, default_value_t = 2)]
    login_threads: usize,
    /// Share difficulty announced to every session.
    #[arg(long, default_value_t = 1)]
    difficulty: u64,
    /// Read deadline during the login, and every write's deadline.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    socket_timeout: Duration,
    /// No line per job.
    #[arg(long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = raise_open_files_limit() {
        tracing::warn!(%error, "could not raise the open-files limit");
    }
    let listener =
        TcpListener::bind(args.bind).with_context(|| format!("binding {}", args.bind))?;
    eprintln!("tos-floor-server listening on {}", listener.local_addr()?);
    let config = FloorConfig {
        bind: args.bind,
        writers: args.writers,
        login_threads: args.login_threads,
        job_interval: args.job_interval,
        jobs: args.jobs,
        difficulty: args.difficulty,
        socket_timeout: args.socket_timeout,
    };
    let quiet = args.quiet;
    serve(listener, &config, move |job: &JobFanout| {
        if !quiet {
            eprintln!(
                "job {}: {} sessions written, {} dropped, last write {} us after publishing",
                job.job_id,
                job.written,
                job.dropped,
                job.last_write.as_micros()
            );
        }
    })
    .context("serving")?;
    Ok(())
}
