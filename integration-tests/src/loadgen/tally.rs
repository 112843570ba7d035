//! Counters every session adds to while the run goes on (read by the live
//! line), and what one simulated miner reports when it ends.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::mix::KindCounts;
use super::readback::ShareTotals;

/// Run-wide counters, all atomic.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) opened: AtomicU64,
    pub(crate) open: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) closed_by_pool: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) stale: AtomicU64,
    pub(crate) duplicate: AtomicU64,
    pub(crate) low_difficulty: AtomicU64,
    pub(crate) other: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) invalid_impossible: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reads a counter.
pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// What one simulated miner sent and was answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MinerReport {
    /// Its address.
    pub address: String,
    /// Its worker name.
    pub worker: String,
    /// Whether its session opened and logged in.
    pub opened: bool,
    /// Why it could not open, if it could not.
    pub open_error: Option<String>,
    /// Shares sent by kind (an impossible invalid share is sent valid).
    pub sent: KindCounts,
    /// Answered `true`.
    pub accepted: u64,
    /// Refused as stale (21).
    pub stale: u64,
    /// Refused as duplicate (22).
    pub duplicate: u64,
    /// Refused as low difficulty (23).
    pub low_difficulty: u64,
    /// Refused with another code.
    pub other: u64,
    /// Sent but never answered (timeout, closed connection).
    pub unanswered: u64,
    /// Times the session connected again after the pool closed it or it
    /// could not open (`LoadSettings::reconnect`).
    pub reconnects: u64,
}

impl MinerReport {
    /// What the pool's ledger should hold for this miner.
    pub fn expected(&self) -> ShareTotals {
        ShareTotals {
            valid: self.accepted,
            invalid: self.duplicate + self.low_difficulty,
            stale: self.stale,
        }
    }
}
