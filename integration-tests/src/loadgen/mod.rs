//! The load generator behind `tos-loadgen`: many simulated miners against
//! one or more slave endpoints (any protocol, a mix allowed), each logged
//! in with its own devnet address and worker and sending real shares at a
//! configured rate with configured fractions of invalid, duplicate and
//! stale ones. It measures answer latency and job fan-out, and reads the
//! pool's own counts back through the master's REST API ([`ApiCounts`]) to
//! check that they match what it sent.
//!
//! The sessions reuse the test miners ([`crate::miners`]): one reader task
//! per connection, lean options (no transcript, tiny queues), and one task
//! per simulated miner. Pure parts (the share mix, the histogram, the
//! fan-out spread, source addresses, endpoint URLs) are tested beside their
//! code; the whole runs end to end in `tests/e2e/loadgen.rs`.

mod api_counts;
mod endpoint;
mod fanout;
mod histogram;
mod mix;
mod readback;
mod report;
mod run;
mod session;
mod sources;
mod tally;
mod watch;

use std::net::IpAddr;
use std::time::Duration;

use tos_pool_common::network::Network;

pub use api_counts::ApiCounts;
pub use endpoint::{insecure_tls, parse_endpoint};
pub use fanout::{Fanout, FanoutSummary, JobSpread, summarize};
pub use histogram::{Histogram, Percentiles};
pub use mix::{KindCounts, ShareKind, ShareMix};
pub use readback::{CountsFuture, MinerMismatch, PoolCounts, ShareTotals, Verification};
pub use report::{Rejections, Summary};
pub use run::run;
pub use session::miner_login;
pub use sources::parse_sources;
pub use tally::MinerReport;
pub use tos_pool_common::limits::raise_open_files_limit;

use crate::miners::Endpoint;

/// How fast the simulated miners send shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShareRate {
    /// No shares: idle sessions (for session-count and fan-out runs).
    Idle,
    /// This many shares per second over all sessions together.
    PerSecond(f64),
    /// Each session sends its next share as soon as the last is answered.
    Max,
}

impl std::str::FromStr for ShareRate {
    type Err = String;

    fn from_str(text: &str) -> Result<ShareRate, String> {
        match text {
            "max" => Ok(ShareRate::Max),
            "0" | "idle" => Ok(ShareRate::Idle),
            number => match number.parse::<f64>() {
                Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(ShareRate::PerSecond(rate)),
                _ => Err(format!(
                    "{text:?} is not a rate: give shares per second (a positive number), 0 for none, or max"
                )),
            },
        }
    }
}

/// Everything a load run needs.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// Endpoints; session `i` uses `endpoints[i % len]`.
    pub endpoints: Vec<Endpoint>,
    /// Sessions to open.
    pub sessions: usize,
    /// Source addresses; session `i` binds to `sources[i % len]` (empty:
    /// the system chooses).
    pub sources: Vec<IpAddr>,
    /// New sessions per second at most (0: no limit).
    pub connect_rate: f64,
    /// Connections being opened (TCP, TLS, login) at once at most.
    pub connect_concurrency: usize,
    /// Share rate over all sessions.
    pub rate: ShareRate,
    /// Stop sending after this many shares in all (`None`: no limit).
    pub max_shares: Option<u64>,
    /// Stop after this long (`None`: when `max_shares` are answered, or on
    /// the stop signal).
    pub duration: Option<Duration>,
    /// Fractions of bad shares.
    pub mix: ShareMix,
    /// The pool's network (for the miners' addresses).
    pub network: Network,
    /// Miner `i` logs in as miner number `login_offset + i`, so reruns can
    /// use fresh miners.
    pub login_offset: u64,
    /// Longest wait for a connection, a login or an answer.
    pub timeout: Duration,
    /// A stale share reuses a session's first job once this many newer jobs
    /// came (the pool's `mining.job_backlog`); before that it names a job
    /// id the pool never issued.
    pub stale_after_jobs: u32,
    /// Print a live line to stderr every second.
    pub live: bool,
    /// Jobs reaching fewer than this share of the widest job's sessions are
    /// left out of the fan-out spread (jobs pushed while sessions open).
    pub fanout_min_share: f64,
    /// A session the pool closes (or that cannot open) connects again, to
    /// the next endpoint in turn, as a miner with failover pools does, until
    /// the run ends (fault runs); otherwise it ends.
    pub reconnect: bool,
    /// Watch-only sessions (`watch`): idle plain-TCP Stratum sessions that
    /// read pushed jobs with a byte scan instead of the full test miner, so
    /// one process can time tens of thousands of sessions' jobs.
    pub watch: bool,
}

impl LoadSettings {
    /// Settings for `sessions` idle Stratum sessions against `endpoints`.
    pub fn new(endpoints: Vec<Endpoint>, sessions: usize, network: Network) -> LoadSettings {
        LoadSettings {
            endpoints,
            sessions,
            sources: Vec::new(),
            connect_rate: 0.0,
            connect_concurrency: 256,
            rate: ShareRate::Idle,
            max_shares: None,
            duration: None,
            mix: ShareMix::default(),
            network,
            login_offset: 0,
            timeout: Duration::from_secs(30),
            stale_after_jobs: 8,
            live: false,
            fanout_min_share: 0.9,
            reconnect: false,
            watch: false,
        }
    }
}

/// Why a load run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An endpoint URL is wrong.
    #[error("endpoint {url}: {why}")]
    Endpoint {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The source address list is wrong.
    #[error("source addresses {text:?}: {why}; write e.g. 127.0.0.1-127.0.0.8")]
    Sources {
        /// The list given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// The bad-share fractions are impossible.
    #[error("share mix: {0}")]
    Mix(String),
    /// The TLS client could not be built.
    #[error("TLS client: {0}")]
    Tls(String),
    /// The settings ask for nothing sensible.
    #[error("settings: {0}")]
    Settings(String),
    /// Reading the pool's counts failed.
    #[error(
        "reading the pool's counts back from {url}{}: {why}",
        .status.map(|status| format!(" (HTTP {status})")).unwrap_or_default()
    )]
    ReadBack {
        /// The URL read.
        url: String,
        /// The HTTP status, when an answer came.
        status: Option<u16>,
        /// What was wrong and what to do.
        why: String,
    },
}
