//! Slave-wide counters for `/metrics` and the stats sent to the master, and
//! the registry of open sessions (who is mining, at what hashrate).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::link::{SlaveReport, StatsSource};
use tokio::sync::watch;

/// Counters of every door of one slave; read with [`SlaveCounters::snapshot`].
#[derive(Debug)]
pub struct SlaveCounters {
    connections_total: AtomicU64,
    connections_refused: AtomicU64,
    shares_valid: AtomicU64,
    shares_stale: AtomicU64,
    shares_invalid: AtomicU64,
    shares_busy: AtomicU64,
    shares_rate_limited: AtomicU64,
    blocks_found: AtomicU64,
    malformed_requests: AtomicU64,
    bans: AtomicU64,
    slow_clients: AtomicU64,
    sessions: Mutex<HashMap<u64, SessionView>>,
    open: watch::Sender<u64>,
}

/// What the registry knows about one open session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionView {
    /// Miner address, once authorized.
    pub address: Option<String>,
    /// Worker name, once authorized.
    pub worker: Option<String>,
    /// Estimated hashrate, hashes per second.
    pub hashrate: f64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountersSnapshot {
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Connections refused by policy (ban, per-IP limit).
    pub connections_refused: u64,
    /// Open sessions.
    pub sessions: u64,
    /// Sessions that logged in.
    pub authorized_sessions: u64,
    /// Distinct addresses among them.
    pub miners: u64,
    /// Distinct (address, worker) pairs among them.
    pub workers: u64,
    /// Valid shares accepted and recorded.
    pub shares_valid: u64,
    /// Stale shares (21).
    pub shares_stale: u64,
    /// Invalid shares (duplicate, low difficulty, other).
    pub shares_invalid: u64,
    /// Valid shares refused because the master link was backlogged.
    pub shares_busy: u64,
    /// Shares refused for the per-connection rate.
    pub shares_rate_limited: u64,
    /// Block candidates found.
    pub blocks_found: u64,
    /// Malformed requests (bad JSON, unknown method, oversized line).
    pub malformed_requests: u64,
    /// Bans this slave imposed.
    pub bans: u64,
    /// Connections closed because they did not read their data in time.
    pub slow_clients: u64,
    /// Sum of the sessions' estimated hashrates.
    pub hashrate: f64,
}

/// Which counter to add to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A connection was accepted.
    Connection,
    /// A connection was refused by policy.
    Refused,
    /// A share was accepted and recorded.
    Valid,
    /// A stale share.
    Stale,
    /// An invalid share.
    Invalid,
    /// A valid share refused because the link was backlogged.
    Busy,
    /// A share over the rate limit.
    RateLimited,
    /// A block candidate.
    Block,
    /// A malformed request.
    Malformed,
    /// A ban imposed here.
    Ban,
    /// A slow reader disconnected.
    SlowClient,
}

impl Default for SlaveCounters {
    fn default() -> Self {
        SlaveCounters::new()
    }
}

impl SlaveCounters {
    /// All zero.
    pub fn new() -> SlaveCounters {
        SlaveCounters {
            connections_total: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            shares_valid: AtomicU64::new(0),
            shares_stale: AtomicU64::new(0),
            shares_invalid: AtomicU64::new(0),
            shares_busy: AtomicU64::new(0),
            shares_rate_limited: AtomicU64::new(0),
            blocks_found: AtomicU64::new(0),
            malformed_requests: AtomicU64::new(0),
            bans: AtomicU64::new(0),
            slow_clients: AtomicU64::new(0),
            sessions: Mutex::new(HashMap::new()),
            open: watch::Sender::new(0),
        }
    }

    /// Adds one to `counter`.
    pub fn add(&self, counter: Counter) {
        let cell = match counter {
            Counter::Connection => &self.connections_total,
            Counter::Refused => &self.connections_refused,
            Counter::Valid => &self.shares_valid,
            Counter::Stale => &self.shares_stale,
            Counter::Invalid => &self.shares_invalid,
            Counter::Busy => &self.shares_busy,
            Counter::RateLimited => &self.shares_rate_limited,
            Counter::Block => &self.blocks_found,
            Counter::Malformed => &self.malformed_requests,
            Counter::Ban => &self.bans,
            Counter::SlowClient => &self.slow_clients,
        };
        cell.fetch_add(1, Ordering::Relaxed);
    }

    /// Registers an open session.
    pub fn open_session(&self, session_id: u64) {
        let open = {
            let mut sessions = self.sessions();
            sessions.insert(session_id, SessionView::default());
            sessions.len() as u64
        };
        self.open.send_replace(open);
    }

    /// Updates what is known about an open session.
    pub fn update_session(&self, session_id: u64, view: SessionView) {
        if let Some(entry) = self.sessions().get_mut(&session_id) {
            *entry = view;
        }
    }

    /// Forgets a closed session.
    pub fn close_session(&self, session_id: u64) {
        let open = {
            let mut sessions = self.sessions();
            sessions.remove(&session_id);
            sessions.len() as u64
        };
        self.open.send_replace(open);
    }

    /// The number of open sessions as it changes (drain waits on it).
    pub fn open_sessions(&self) -> watch::Receiver<u64> {
        self.open.subscribe()
    }

    /// The counters now.
    pub fn snapshot(&self) -> CountersSnapshot {
        let load = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        let (sessions, authorized, miners, workers, hashrate) = {
            let sessions = self.sessions();
            // Borrowed, not copied: this runs over every session while
            // their registry is locked (and a writer thread may be waiting
            // on it to record a retarget).
            let mut miners = std::collections::HashSet::new();
            let mut workers = std::collections::HashSet::new();
            let mut authorized = 0;
            let mut hashrate = 0.0;
            for view in sessions.values() {
                hashrate += view.hashrate;
                if let (Some(address), Some(worker)) = (&view.address, &view.worker) {
                    authorized += 1;
                    miners.insert(address.as_str());
                    workers.insert((address.as_str(), worker.as_str()));
                }
            }
            (
                sessions.len() as u64,
                authorized,
                miners.len() as u64,
                workers.len() as u64,
                hashrate,
            )
        };
        CountersSnapshot {
            connections_total: load(&self.connections_total),
            connections_refused: load(&self.connections_refused),
            sessions,
            authorized_sessions: authorized,
            miners,
            workers,
            shares_valid: load(&self.shares_valid),
            shares_stale: load(&self.shares_stale),
            shares_invalid: load(&self.shares_invalid),
            shares_busy: load(&self.shares_busy),
            shares_rate_limited: load(&self.shares_rate_limited),
            blocks_found: load(&self.blocks_found),
            malformed_requests: load(&self.malformed_requests),
            bans: load(&self.bans),
            slow_clients: load(&self.slow_clients),
            hashrate,
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SessionView>> {
        // Plain data: still consistent after a panic elsewhere.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl StatsSource for SlaveCounters {
    fn report(&self) -> SlaveReport {
        let now = SlaveCounters::snapshot(self);
        SlaveReport {
            sessions: now.sessions,
            authorized_sessions: now.authorized_sessions,
            miners: now.miners,
            workers: now.workers,
            shares_valid: now.shares_valid,
            shares_invalid: now.shares_invalid,
            shares_stale: now.shares_stale,
            hashrate: now.hashrate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_counts_distinct_miners_and_workers() {
        let counters = SlaveCounters::new();
        for id in 1..=3 {
            counters.open_session(id);
        }
        let view = |address: &str, worker: &str| SessionView {
            address: Some(address.into()),
            worker: Some(worker.into()),
            hashrate: 10.0,
        };
        counters.update_session(1, view("a", "rig1"));
        counters.update_session(2, view("a", "rig2"));
        counters.add(Counter::Valid);
        let now = counters.snapshot();
        assert_eq!(now.sessions, 3);
        assert_eq!(now.authorized_sessions, 2);
        assert_eq!(now.miners, 1);
        assert_eq!(now.workers, 2);
        assert_eq!(now.shares_valid, 1);
        assert!((now.hashrate - 20.0).abs() < 1e-9);
        counters.close_session(1);
        assert_eq!(*counters.open_sessions().borrow(), 2);
    }
}
