//! Reads for the REST API that the other ledger files do not offer: a
//! health ping and the count of blocks in each state.

use serde::Serialize;

use super::{Ledger, LedgerError};
use crate::lifecycle::BlockState;

/// How many found blocks the ledger holds, in total and by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlockCounts {
    /// Every stored block, refused ones included.
    pub total: u64,
    /// Submitted (or being submitted), nothing credited yet.
    pub candidate: u64,
    /// Credited to immature balances.
    pub immature: u64,
    /// Final and paid into balances.
    pub matured: u64,
    /// Out of the chain for good.
    pub orphaned: u64,
    /// Refused by the daemon at submission.
    pub refused: u64,
}

impl BlockCounts {
    /// Blocks the pool found that the chain took or may still take (every
    /// block but the refused ones).
    pub fn found(&self) -> u64 {
        self.total.saturating_sub(self.refused)
    }
}

impl Ledger {
    /// Checks that Redis answers (`PING`).
    pub async fn ping(&self) -> Result<(), LedgerError> {
        let mut connection = self.connection();
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("pinging Redis"))?;
        Ok(())
    }

    /// The number of stored blocks, in total and in each state.
    pub async fn block_counts(&self) -> Result<BlockCounts, LedgerError> {
        let mut connection = self.connection();
        let mut pipe = redis::pipe();
        pipe.zcard(self.keys.blocks_by_height());
        for state in STATES {
            pipe.zcard(self.keys.blocks_in_state(state));
        }
        let counts: Vec<u64> = pipe
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("counting blocks"))?;
        let count = |index: usize| counts.get(index).copied().unwrap_or(0);
        Ok(BlockCounts {
            total: count(0),
            candidate: count(1) + count(6),
            immature: count(2),
            matured: count(3),
            orphaned: count(4),
            refused: count(5),
        })
    }
}

/// The states in the order [`Ledger::block_counts`] reads them.
const STATES: [BlockState; 6] = [
    BlockState::Candidate,
    BlockState::Immature,
    BlockState::Matured,
    BlockState::Orphaned,
    BlockState::Refused,
    BlockState::Submitting,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_blocks_are_not_counted_as_found() {
        let counts = BlockCounts {
            total: 7,
            candidate: 1,
            immature: 2,
            matured: 2,
            orphaned: 1,
            refused: 1,
        };
        assert_eq!(counts.found(), 6);
        assert_eq!(BlockCounts::default().found(), 0);
    }
}
