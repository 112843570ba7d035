//! The fault programme behind `tos-chaos` (`scripts/chaos`): a whole pool
//! as separate processes — Redis with AOF, the daemon and wallet emulators
//! (with their state on disk), the master and two slaves (each slave with
//! its share journal) — driven by simulated miners that reconnect like real
//! ones, with blocks maturing and payouts running, while a seeded plan
//! kills processes with SIGKILL and restarts them, or freezes them with
//! SIGSTOP and thaws them. After the run everything is restarted and
//! thawed, the pool is given time to settle, and [`audit::check`] verifies
//! the promises: every share acknowledged is counted once, money is
//! conserved, nothing is paid twice, no balance is negative, no block of
//! the pool goes unrecorded.
//!
//! The plan ([`schedule`]) and the checks ([`audit`]) are pure and tested
//! beside their code; the whole runs in `tests/e2e/chaos_short.rs`.

pub mod audit;
pub mod collect;
pub mod layout;
pub mod procs;
pub mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tos_pool_common::config::Config;
use tos_pool_common::network::Network;
use tos_pool_master::ledger::{Keys, Ledger};

use self::audit::{Checked, Evidence, Violation};
use self::layout::{Layout, Ports, loopback, write_config};
use self::procs::{Proc, ProcError};
use self::schedule::{Action, Component, Fault, Pace};
use crate::loadgen::{LoadSettings, MinerReport, ShareRate};
use crate::miners::Endpoint;

/// What a run does.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Seed of the fault plan.
    pub seed: u64,
    /// Time under faults (load runs all along).
    pub duration: Duration,
    /// Directory for configs, state and logs (created).
    pub dir: PathBuf,
    /// Directory holding the binaries: tos-pool-master, tos-pool-slave,
    /// tos-devnet, tos-wallet-emulator.
    pub bin_dir: PathBuf,
    /// Simulated miners.
    pub miners: usize,
    /// Shares per second over all miners.
    pub rate: f64,
    /// How dense the faults are.
    pub pace: Pace,
    /// Longest wait, after the run, for the pool to count every share and
    /// settle every payment.
    pub settle: Duration,
}

impl ChaosOptions {
    /// Defaults for a run of `duration` with `seed`, binaries in `bin_dir`.
    pub fn new(seed: u64, duration: Duration, dir: PathBuf, bin_dir: PathBuf) -> ChaosOptions {
        ChaosOptions {
            seed,
            duration,
            dir,
            bin_dir,
            miners: 24,
            rate: 60.0,
            pace: Pace::default(),
            settle: Duration::from_secs(90),
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct ChaosReport {
    /// The seed.
    pub seed: u64,
    /// Time under faults.
    pub duration: Duration,
    /// Faults applied.
    pub faults: Vec<Fault>,
    /// What was checked.
    pub checked: Checked,
    /// Shares sent but never answered (the connection died first).
    pub unanswered: u64,
    /// Miner reconnections.
    pub reconnects: u64,
    /// Broken promises.
    pub violations: Vec<Violation>,
    /// Whether the pool settled (every share counted, every payment
    /// settled) before the deadline.
    pub settled: bool,
}

impl ChaosReport {
    /// Kills and freezes per component.
    pub fn per_component(&self) -> BTreeMap<String, (u32, u32)> {
        let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for fault in &self.faults {
            let entry = counts.entry(fault.component.name()).or_default();
            match fault.action {
                Action::Kill => entry.0 += 1,
                Action::Freeze => entry.1 += 1,
            }
        }
        counts
    }

    /// The one summary line printed last.
    pub fn summary_line(&self) -> String {
        let kills: u32 = self.per_component().values().map(|(k, _)| k).sum();
        let freezes: u32 = self.per_component().values().map(|(_, f)| f).sum();
        format!(
            "chaos seed={} duration={}s kills={} freezes={} miners={} shares={} unanswered={} blocks={} payments={} transactions={} settled={} violations={} => {}",
            self.seed,
            self.duration.as_secs(),
            kills,
            freezes,
            self.checked.miners,
            self.checked.shares,
            self.unanswered,
            self.checked.blocks,
            self.checked.payments,
            self.checked.transactions,
            self.settled,
            self.violations.len(),
            if self.violations.is_empty() {
                "PASS"
            } else {
                "FAIL"
            }
        )
    }
}

/// Why a run could not be carried out (as opposed to a violation found).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// Setting up the run failed.
    #[error("setting up the run: {0}")]
    Setup(String),
    /// A process would not start.
    #[error(transparent)]
    Proc(#[from] ProcError),
    /// The evidence could not be read.
    #[error(transparent)]
    Collect(#[from] collect::CollectError),
}

/// Longest wait, after the faults, for every process to be ready again.
const HEAL_DEADLINE: Duration = Duration::from_secs(60);

/// The processes of the run.
struct Processes {
    redis: Proc,
    daemon: Proc,
    wallet: Proc,
    master: Proc,
    slaves: [Proc; 2],
}

impl Processes {
    fn get(&mut self, component: Component) -> &mut Proc {
        match component {
            Component::Master => &mut self.master,
            Component::Slave(index) => &mut self.slaves[usize::from(index).min(1)],
            Component::Redis => &mut self.redis,
            Component::Wallet => &mut self.wallet,
            Component::Daemon => &mut self.daemon,
        }
    }

    /// Starts everything in dependency order.
    fn start_all(&mut self) -> Result<(), ProcError> {
        self.redis.start()?;
        self.daemon.start()?;
        self.wallet.start()?;
        self.master.start()?;
        for slave in &mut self.slaves {
            slave.start()?;
        }
        Ok(())
    }

    /// Thaws whatever is frozen, restarts whatever is dead, and waits until
    /// every process is ready (restarting any that exits meanwhile).
    fn heal(&mut self) -> Result<(), ProcError> {
        for component in Component::ALL {
            let process = self.get(component);
            if process.is_frozen() {
                process.thaw()?;
            }
        }
        let deadline = Instant::now() + HEAL_DEADLINE;
        loop {
            supervise(self, &[])?;
            let waiting: Vec<String> = Component::ALL
                .into_iter()
                .filter(|c| !self.get(*c).is_ready())
                .map(Component::name)
                .collect();
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                // The last wait names the process and its log.
                let component = Component::ALL
                    .into_iter()
                    .find(|c| !self.get(*c).is_ready())
                    .unwrap_or(Component::Master);
                return self.get(component).wait_ready();
            }
            std::thread::sleep(TICK);
        }
    }

    /// Stops everything, the edge first.
    fn stop_all(&mut self) {
        for slave in &mut self.slaves {
            slave.stop(Duration::from_secs(5));
        }
        self.master.stop(Duration::from_secs(5));
        self.wallet.stop(Duration::from_secs(2));
        self.daemon.stop(Duration::from_secs(2));
        self.redis.stop(Duration::from_secs(5));
    }
}

/// The processes' command lines for `layout`, with configs written.
fn processes(
    options: &ChaosOptions,
    layout: &Layout,
    master: &Config,
) -> Result<Processes, ChaosError> {
    let ports = layout.ports;
    let bin = |name: &str| options.bin_dir.join(name);
    let setup = |e: std::io::Error| ChaosError::Setup(e.to_string());
    for dir in ["redis", "daemon"] {
        std::fs::create_dir_all(layout.path(dir)).map_err(setup)?;
    }
    write_config(master, &layout.path("master.yaml")).map_err(setup)?;
    let mut slave_paths = Vec::new();
    for index in 0..2 {
        let path = layout.path(&format!("slave{index}.yaml"));
        write_config(&layout.slave_config(master, index), &path).map_err(setup)?;
        slave_paths.push(path);
    }
    let redis_dir = layout.path("redis");
    let redis = Proc::new(
        "redis",
        "redis-server",
        [
            "--port".to_owned(),
            ports.redis.to_string(),
            "--bind".to_owned(),
            "127.0.0.1".to_owned(),
            "--dir".to_owned(),
            redis_dir.display().to_string(),
            "--appendonly".to_owned(),
            "yes".to_owned(),
            "--appendfsync".to_owned(),
            "everysec".to_owned(),
            "--save".to_owned(),
            String::new(),
        ],
        layout.log("redis"),
        loopback(ports.redis),
    );
    let daemon = Proc::new(
        "daemon",
        bin("tos-devnet"),
        [
            "--bind".to_owned(),
            format!("127.0.0.1:{}", ports.daemon),
            "--network".to_owned(),
            "devnet".to_owned(),
            "--difficulty".to_owned(),
            "4000".to_owned(),
            "--block-interval".to_owned(),
            "1s".to_owned(),
            "--state-dir".to_owned(),
            layout.path("daemon").display().to_string(),
        ],
        layout.log("daemon"),
        loopback(ports.daemon),
    );
    let wallet = Proc::new(
        "wallet",
        bin("tos-wallet-emulator"),
        [
            "--bind".to_owned(),
            format!("127.0.0.1:{}", ports.wallet),
            "--network".to_owned(),
            "devnet".to_owned(),
            "--address".to_owned(),
            master.pool.fee_address.clone(),
            "--balance".to_owned(),
            "100000000000000".to_owned(),
            "--daemon".to_owned(),
            format!("http://127.0.0.1:{}/json_rpc", ports.daemon),
            "--state".to_owned(),
            layout.path("wallet.state").display().to_string(),
        ],
        layout.log("wallet"),
        loopback(ports.wallet),
    );
    let role = |name: &str, binary: &str, config: &Path, port: u16| {
        Proc::new(
            name,
            bin(binary),
            ["--config".to_owned(), config.display().to_string()],
            layout.log(name),
            loopback(port),
        )
    };
    Ok(Processes {
        redis,
        daemon,
        wallet,
        master: role(
            "master",
            "tos-pool-master",
            &layout.path("master.yaml"),
            ports.api,
        ),
        slaves: [
            role(
                "slave0",
                "tos-pool-slave",
                &slave_paths[0],
                ports.stratum[0],
            ),
            role(
                "slave1",
                "tos-pool-slave",
                &slave_paths[1],
                ports.stratum[1],
            ),
        ],
    })
}

/// Runs the fault programme and audits the result.
pub async fn run(options: ChaosOptions) -> Result<ChaosReport, ChaosError> {
    std::fs::create_dir_all(&options.dir).map_err(|e| ChaosError::Setup(e.to_string()))?;
    let layout = Layout {
        dir: options.dir.clone(),
        ports: Ports::pick().map_err(|e| ChaosError::Setup(e.to_string()))?,
    };
    let master = layout.master_config();
    let mut processes = processes(&options, &layout, &master)?;
    let started = tokio::task::spawn_blocking(move || processes.start_all().map(|()| processes))
        .await
        .map_err(|e| ChaosError::Setup(e.to_string()))??;

    // The miners: reconnecting sessions spread over both slaves.
    let mut settings = LoadSettings::new(
        (0..2)
            .map(|index| Endpoint::stratum_tcp(loopback(layout.ports.stratum[index])))
            .collect(),
        options.miners,
        Network::Devnet,
    );
    settings.rate = ShareRate::PerSecond(options.rate);
    settings.reconnect = true;
    settings.timeout = Duration::from_secs(10);
    settings.connect_concurrency = 16;
    let (stop_load, load_stopped) = watch::channel(false);
    let load = crate::loadgen::run(settings, None, load_stopped);

    // The faults, on a thread of their own: starting a process blocks.
    let faults = schedule::plan(options.seed, options.duration, options.pace);
    let plan = faults.clone();
    let duration = options.duration;
    let faulting = async move {
        let outcome = tokio::task::spawn_blocking(move || {
            let mut processes = started;
            let result = apply(&mut processes, &plan, duration).and_then(|()| processes.heal());
            (processes, result)
        })
        .await;
        // The miners stop once the faults are over and every process is back.
        let _ = stop_load.send(true);
        outcome
    };
    let (load, faulting) = tokio::join!(load, faulting);
    let (mut processes, fault_result) = faulting.map_err(|e| ChaosError::Setup(e.to_string()))?;
    let reports: Vec<MinerReport> = match load {
        Ok((_, reports)) => reports,
        Err(error) => return Err(ChaosError::Setup(format!("load: {error}"))),
    };
    fault_result?;

    let outcome = audit_run(&options, &layout, &master, &reports).await;
    tokio::task::spawn_blocking(move || processes.stop_all())
        .await
        .map_err(|e| ChaosError::Setup(e.to_string()))?;
    let (checked, violations, settled) = outcome?;
    Ok(ChaosReport {
        seed: options.seed,
        duration: options.duration,
        faults,
        checked,
        unanswered: reports.iter().map(|r| r.unanswered).sum(),
        reconnects: reports.iter().map(|r| r.reconnects).sum(),
        violations,
        settled,
    })
}

/// How often the fault loop looks at the processes.
const TICK: Duration = Duration::from_millis(100);

/// Least time between two restarts of a process that keeps exiting (a
/// master started while Redis is down exits, as it should; its supervisor
/// starts it again).
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Applies `plan` in real time, restarting like a supervisor (systemd's
/// `Restart=always`) any process that exits while it should run; returns
/// when the run's time is up.
fn apply(processes: &mut Processes, plan: &[Fault], duration: Duration) -> Result<(), ProcError> {
    let start = Instant::now();
    let steps = schedule::steps(plan);
    let mut next = 0;
    let mut killed: Vec<Component> = Vec::new();
    loop {
        let now = start.elapsed();
        while let Some(step) = steps.get(next).filter(|step| step.at <= now) {
            next += 1;
            let fault = step.fault;
            let process = processes.get(fault.component);
            let at = step.at.as_secs_f64();
            match (fault.action, step.begins) {
                (Action::Kill, true) => {
                    eprintln!("chaos: t={at:.1}s kill -9 {}", process.name());
                    process.kill();
                    killed.push(fault.component);
                }
                (Action::Kill, false) => {
                    eprintln!("chaos: t={at:.1}s restart {}", process.name());
                    killed.retain(|c| *c != fault.component);
                    process.spawn()?;
                }
                (Action::Freeze, true) => {
                    eprintln!("chaos: t={at:.1}s SIGSTOP {}", process.name());
                    process.freeze()?;
                }
                (Action::Freeze, false) => {
                    eprintln!("chaos: t={at:.1}s SIGCONT {}", process.name());
                    process.thaw()?;
                }
            }
        }
        if next >= steps.len() && now >= duration {
            return Ok(());
        }
        supervise(processes, &killed)?;
        std::thread::sleep(TICK);
    }
}

/// Starts again every process that exited by itself (not one the plan
/// keeps dead), at most once per [`RESTART_BACKOFF`].
fn supervise(processes: &mut Processes, killed: &[Component]) -> Result<(), ProcError> {
    for component in Component::ALL {
        if killed.contains(&component) {
            continue;
        }
        let process = processes.get(component);
        let backed_off = process
            .since_spawn()
            .is_none_or(|since| since >= RESTART_BACKOFF);
        if !process.is_running() && backed_off {
            eprintln!("chaos: {} exited by itself; restarting it", process.name());
            process.spawn()?;
        }
    }
    Ok(())
}

/// Waits for the pool to settle, reads everything back and checks it.
async fn audit_run(
    options: &ChaosOptions,
    layout: &Layout,
    master: &Config,
    reports: &[MinerReport],
) -> Result<(Checked, Vec<Violation>, bool), ChaosError> {
    let ledger = Ledger::connect(&master.redis)
        .await
        .map_err(|e| ChaosError::Setup(format!("connecting to Redis: {e}")))?;
    let keys = Keys::new(&master.redis.key_prefix);
    let deadline = Instant::now() + options.settle;
    // Settled: every miner's acknowledged shares are in the ledger and no
    // payment is unsettled. A violation shows as never settling, and is
    // then reported by the checks below.
    let mut settled = false;
    while Instant::now() < deadline {
        let shares = collect::shares(&ledger, reports).await?;
        let counted = shares.iter().all(|m| m.ledger >= m.acknowledged);
        let unsettled = collect::unsettled_payments(&master.redis.url, &keys)?;
        if counted && unsettled == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // reqwest is built without a default TLS provider; it talks plain HTTP
    // here, but a client needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ChaosError::Setup(e.to_string()))?;
    let mut evidence = Evidence {
        shares: collect::shares(&ledger, reports).await?,
        ..Evidence::default()
    };
    collect::ledger_money(&master.redis.url, &keys, &mut evidence)?;
    let ports = layout.ports;
    evidence.wallet =
        collect::wallet_transactions(&http, &format!("http://127.0.0.1:{}", ports.wallet)).await?;
    evidence.chain_blocks = collect::pool_blocks_in_chain(
        &http,
        &format!("http://127.0.0.1:{}/json_rpc", ports.daemon),
        &master.pool.fee_address,
    )
    .await?;
    let (checked, violations) = audit::check(&evidence);
    Ok((checked, violations, settled))
}
