//! Rounds and luck: the share difficulty the pool did between two found
//! blocks (a block's round shares; over its network difficulty, its effort),
//! the per-hour and all-time sums behind `/api/luck`, the blocks each
//! address found, and the total the pool has paid.

use std::collections::{BTreeMap, HashMap};

use super::{Ledger, LedgerError};
use crate::history::luck::{RoundSums, hour_of, oldest_hour_kept};
use crate::lifecycle::{BlockRecord, BlockState};

impl Ledger {
    /// Closes the round when `block` has just become a candidate (stored
    /// or settled as one). The block is stored either way: a failure is
    /// logged, and the round left open rolls its shares into the next
    /// block's round.
    pub(super) async fn close_round_at(&self, block: &BlockRecord) {
        if block.state != BlockState::Candidate {
            return;
        }
        if let Err(error) = self.close_round(block).await {
            tracing::warn!(%error, hash = %block.hash, "the block's round was not closed");
        }
    }

    /// Closes the round at `block` (once: a second call changes nothing)
    /// and answers its round shares. Called when a candidate is stored.
    pub async fn close_round(&self, block: &BlockRecord) -> Result<u64, LedgerError> {
        let mut connection = self.connection();
        let shares: u64 = self
            .scripts
            .round_close
            .key(self.keys.pool_stats())
            .key(self.keys.round_shares())
            .key(self.keys.luck_hourly())
            .key(self.keys.luck_total())
            .key(self.keys.blocks_found_by())
            .arg(&block.hash)
            .arg(block.snapshot.network_difficulty())
            .arg(hour_of(block.found_at_ms))
            .arg(oldest_hour_kept(block.found_at_ms))
            .arg(&block.finder)
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("closing a round"))?;
        Ok(shares)
    }

    /// The round shares of each of `hashes`, in that order (`None` for a
    /// block stored before rounds were counted).
    pub async fn round_shares(&self, hashes: &[&str]) -> Result<Vec<Option<u64>>, LedgerError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection();
        redis::cmd("HMGET")
            .arg(self.keys.round_shares())
            .arg(hashes)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading round shares"))
    }

    /// The share difficulty counted since the last found block.
    pub async fn current_round_shares(&self) -> Result<u64, LedgerError> {
        let mut connection = self.connection();
        let shares: Option<u64> = redis::cmd("HGET")
            .arg(self.keys.pool_stats())
            .arg("round")
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading the current round"))?;
        Ok(shares.unwrap_or(0))
    }

    /// The round sums of each kept hour and of all time.
    pub async fn luck_sums(&self) -> Result<(BTreeMap<u64, RoundSums>, RoundSums), LedgerError> {
        let mut connection = self.connection();
        let (hourly, total): (HashMap<String, u64>, HashMap<String, u64>) = redis::pipe()
            .hgetall(self.keys.luck_hourly())
            .hgetall(self.keys.luck_total())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading the luck sums"))?;
        let mut hours: BTreeMap<u64, RoundSums> = BTreeMap::new();
        for (field, value) in hourly {
            let Some((kind, hour)) = field.split_once(':') else {
                continue;
            };
            let Ok(hour) = hour.parse::<u64>() else {
                continue;
            };
            let sums = hours.entry(hour).or_default();
            match kind {
                "b" => sums.blocks = value,
                "s" => sums.round_shares = value,
                "d" => sums.difficulty = value,
                _ => {}
            }
        }
        let field = |name: &str| total.get(name).copied().unwrap_or(0);
        let all_time = RoundSums {
            blocks: field("blocks"),
            round_shares: field("round_shares"),
            difficulty: field("difficulty"),
        };
        Ok((hours, all_time))
    }

    /// How many blocks `address` found (counted since rounds were counted).
    pub async fn blocks_found_by(&self, address: &str) -> Result<u64, LedgerError> {
        let mut connection = self.connection();
        let count: Option<u64> = redis::cmd("HGET")
            .arg(self.keys.blocks_found_by())
            .arg(address)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading a miner's blocks found"))?;
        Ok(count.unwrap_or(0))
    }

    /// Everything the pool has paid, in atomic units (the sum of the paid
    /// balances, added up inside Redis).
    pub async fn total_paid(&self) -> Result<u64, LedgerError> {
        let mut connection = self.connection();
        let total: String = self
            .scripts
            .sum_hash
            .key(self.keys.balance_paid())
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("summing the paid balances"))?;
        Ok(total
            .parse::<f64>()
            .map_or(0, |total| total.max(0.0) as u64))
    }
}
