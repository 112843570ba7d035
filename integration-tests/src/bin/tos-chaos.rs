//! `tos-chaos`: the fault programme. Runs a whole pool as separate
//! processes under load, kills and freezes them at seeded random moments,
//! then checks that nothing acknowledged was lost or counted twice and that
//! no money was made, lost or paid twice.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tos_pool_integration_tests::chaos::schedule::Pace;
use tos_pool_integration_tests::chaos::{ChaosOptions, run};

/// Command line of the fault programme.
#[derive(Debug, Parser)]
#[command(
    name = "tos-chaos",
    version,
    about = "Kills and freezes a whole TOS Pool under load, then checks that nothing was lost, doubled or paid twice",
    long_about = "Starts Redis (AOF), the daemon and wallet emulators (state on disk), the master and \
two slaves (share journal on) as separate processes from the binaries in --bin-dir, drives them with \
reconnecting simulated miners while blocks mature and payouts run, and at seeded random moments \
kills a process with SIGKILL and restarts it, or freezes it with SIGSTOP and thaws it with SIGCONT. \
Afterwards every process is brought back, the pool is given --settle to count every share and settle \
every payment, and the run is checked through Redis, the wallet's transaction log and the daemon's \
chain: shares acknowledged to miners are in the ledger once, miner by miner; credits add up to the \
blocks' rewards; confirmed + pending + paid + withdrawal fees equal the matured rewards; every \
transaction the wallet sent belongs to one payment; no balance is negative; every block of the pool \
in the chain has a record. Prints each violation, then one summary line last.\n\n\
Exit status: 0 when no promise was broken, 2 when one was, 1 when the run could not be carried out."
)]
struct Args {
    /// Seed of the fault plan (the same seed gives the same plan).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time under faults: 30s, 2m, 1h.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Directory for configs, state and logs; default: a new one under target/chaos.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Directory of tos-pool-master, tos-pool-slave, tos-devnet and
    /// tos-wallet-emulator; default: this binary's own directory.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Simulated miners.
    #[arg(long, default_value_t = 24)]
    miners: usize,
    /// Shares per second over all miners.
    #[arg(long, default_value_t = 60.0)]
    rate: f64,
    /// Shortest and longest time between two faults, and the longest a
    /// process stays down or frozen: MIN,MAX,PAUSE (2s,6s,3s).
    #[arg(long, default_value = "2s,6s,3s")]
    pace: String,
    /// Longest wait after the run for every share to be counted and every
    /// payment settled.
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    settle: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    tos_pool_common::config::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_pace(text: &str) -> anyhow::Result<Pace> {
    let parts: Vec<Duration> = text
        .split(',')
        .map(parse_duration)
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--pace {text:?}"))?;
    let [min_gap, max_gap, max_pause] = parts[..] else {
        anyhow::bail!("--pace {text:?}: give MIN,MAX,PAUSE, e.g. 2s,6s,3s");
    };
    Ok(Pace {
        min_gap,
        max_gap,
        max_pause,
        ..Pace::default()
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()
            .context("locating this binary")?
            .parent()
            .context("this binary has no directory")?
            .to_path_buf(),
    };
    let dir = match args.dir {
        Some(dir) => dir,
        None => bin_dir.join("..").join("chaos").join(format!(
            "seed-{}-{}",
            args.seed,
            std::process::id()
        )),
    };
    let mut options = ChaosOptions::new(args.seed, args.duration, dir.clone(), bin_dir);
    options.miners = args.miners;
    options.rate = args.rate;
    options.pace = parse_pace(&args.pace)?;
    options.settle = args.settle;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    eprintln!("chaos: run directory {}", dir.display());
    let report = runtime
        .block_on(run(options))
        .context("the fault run could not be carried out")?;
    for (component, (kills, freezes)) in report.per_component() {
        println!("{component}: {kills} kills, {freezes} freezes");
    }
    for violation in &report.violations {
        println!("VIOLATION: {violation}");
    }
    println!("{}", report.summary_line());
    if !report.violations.is_empty() {
        std::process::exit(2);
    }
    Ok(())
}
