//! Blocks the pool mined that the ledger has no record of: a block found
//! while the master crashed between `submit_block` and its record, or whose
//! spool file was torn. The unlocker reads the daemon's blocks height by
//! height and picks those whose `miner` is the pool's key; one with no
//! record (in Redis or the spool) is reported: logged at error level, kept
//! in `P:blocks:unrecorded` for `GET /api/admin/blocks/unrecorded`, and
//! counted in the `tos_pool_blocks_unrecorded` gauge, until the operator
//! adds it (`POST /api/admin/blocks`).
//!
//! Which heights are read is decided here without I/O ([`ScanCursor`]).

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;

/// Heights read per unlocker run at most, so a long outage is caught up
/// over several runs instead of one long one.
pub const MAX_HEIGHTS_PER_RUN: u64 = 200;

/// How far below the tip a scan resumed from Redis may start: a day of
/// 1-second blocks. A master stopped longer resumes this far back.
pub const MAX_RESUME_GAP: u64 = 86_400;

/// A block of the pool's with no record, as the unlocker noted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnrecordedBlock {
    /// Block hash (64 hex).
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// Block timestamp, ms.
    pub timestamp_ms: u64,
    /// What the chain pays its miner, atomic units.
    pub miner_reward: u64,
    /// When the unlocker noticed it, ms since the Unix epoch.
    pub noticed_at_ms: u64,
}

/// Whether the daemon's `miner` field names the pool's key.
pub fn is_pool_miner(miner: &str, pool_key: &[u8; 32], network: Network) -> bool {
    Address::parse(miner, network).is_ok_and(|address| &address.public_key() == pool_key)
}

/// The heights still to read, remembered between runs and, through Redis
/// (`P:blocks:scanned`), across restarts: a master with nothing stored
/// reads back `lookback` blocks from the tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanCursor {
    next: Option<u64>,
    lookback: u64,
    settle_depth: u64,
}

impl ScanCursor {
    /// A cursor that starts `lookback` blocks below the tip and reads a
    /// height once it is `settle_depth` deep (its record, written as the
    /// block was submitted, has had time to land).
    pub fn new(lookback: u64, settle_depth: u64) -> Self {
        ScanCursor {
            next: None,
            lookback,
            settle_depth,
        }
    }

    /// The heights to read now that the tip is `tip_height`, at most
    /// [`MAX_HEIGHTS_PER_RUN`]; `None` when there are none yet.
    pub fn due(&self, tip_height: u64) -> Option<RangeInclusive<u64>> {
        let last = tip_height.checked_sub(self.settle_depth)?;
        let first = self
            .next
            .unwrap_or_else(|| tip_height.saturating_sub(self.lookback));
        if first > last {
            return None;
        }
        let last = last.min(first.saturating_add(MAX_HEIGHTS_PER_RUN - 1));
        Some(first..=last)
    }

    /// Whether the cursor has not started yet (resume it first).
    pub fn is_fresh(&self) -> bool {
        self.next.is_none()
    }

    /// Starts where an earlier master stopped (`stored`, the next height it
    /// would have read), at most [`MAX_RESUME_GAP`] below `tip_height`;
    /// with nothing stored, the cursor starts `lookback` below the tip.
    pub fn resume(&mut self, stored: Option<u64>, tip_height: u64) {
        if let (None, Some(stored)) = (self.next, stored) {
            self.next = Some(stored.max(tip_height.saturating_sub(MAX_RESUME_GAP)));
        }
    }

    /// The next height to read, once started.
    pub fn next(&self) -> Option<u64> {
        self.next
    }

    /// Records that every height below `next` was read.
    pub fn advance_to(&mut self, next: u64) {
        self.next = Some(self.next.map_or(next, |known| known.max(next)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL_KEY: [u8; 32] = [7; 32];

    #[test]
    fn only_the_pools_key_is_the_pool() {
        let pool = Address::new(POOL_KEY, Network::Devnet).to_string();
        let other = Address::new([8; 32], Network::Devnet).to_string();
        assert!(is_pool_miner(&pool, &POOL_KEY, Network::Devnet));
        assert!(!is_pool_miner(&other, &POOL_KEY, Network::Devnet));
        assert!(!is_pool_miner("not an address", &POOL_KEY, Network::Devnet));
        let mainnet = Address::new(POOL_KEY, Network::Mainnet).to_string();
        assert!(!is_pool_miner(&mainnet, &POOL_KEY, Network::Devnet));
    }

    #[test]
    fn the_cursor_reads_each_settled_height_once() {
        let mut cursor = ScanCursor::new(100, 2);
        // Too young a chain: nothing settled yet.
        assert_eq!(cursor.due(1), None);
        // First run: from lookback below the tip to settle_depth below it.
        assert_eq!(cursor.due(500), Some(400..=498));
        cursor.advance_to(499);
        assert_eq!(cursor.due(500), None);
        assert_eq!(cursor.due(503), Some(499..=501));
        // A run that stopped early (a daemon error) resumes there.
        cursor.advance_to(500);
        assert_eq!(cursor.due(503), Some(500..=501));
        // The cursor never goes back.
        cursor.advance_to(10);
        assert_eq!(cursor.due(503), Some(500..=501));
    }

    #[test]
    fn a_restarted_master_resumes_where_the_last_one_stopped() {
        let mut cursor = ScanCursor::new(100, 2);
        assert!(cursor.is_fresh());
        cursor.resume(Some(350), 500);
        assert!(!cursor.is_fresh());
        assert_eq!(cursor.due(500), Some(350..=498));
        // Resuming again changes nothing once started.
        cursor.resume(Some(10), 500);
        assert_eq!(cursor.next(), Some(350));
        // Stored too far back: at most MAX_RESUME_GAP below the tip.
        let mut cursor = ScanCursor::new(100, 2);
        cursor.resume(Some(5), MAX_RESUME_GAP + 1_000);
        assert_eq!(cursor.next(), Some(1_000));
        // Nothing stored: the lookback.
        let mut cursor = ScanCursor::new(100, 2);
        cursor.resume(None, 500);
        assert!(cursor.is_fresh());
        assert_eq!(cursor.due(500), Some(400..=498));
    }

    #[test]
    fn a_long_gap_is_read_over_several_runs() {
        let mut cursor = ScanCursor::new(100, 2);
        cursor.advance_to(1_000);
        let due = cursor.due(5_000).expect("due");
        assert_eq!(due, 1_000..=1_000 + MAX_HEIGHTS_PER_RUN - 1);
        cursor.advance_to(due.end() + 1);
        assert_eq!(cursor.due(5_000).map(|range| *range.start()), Some(1_200));
    }
}
