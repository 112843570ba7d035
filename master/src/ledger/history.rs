//! The charts' history in Redis: one list for the pool (hashrate, workers,
//! miners, network hashrate) and one per miner (hashrate), newest sample first, each trimmed
//! to the samples its retention needs (`history::series`).

use std::time::Duration;

use super::{Ledger, LedgerError};
use crate::history::series::Sample;

/// Values of a pool sample: hashrate, workers, miners, network hashrate.
pub const POOL_SAMPLE_WIDTH: usize = 4;

/// Values of a miner sample: hashrate.
pub const MINER_SAMPLE_WIDTH: usize = 1;

impl Ledger {
    /// Adds a pool sample, keeping the newest `keep`.
    pub async fn push_pool_sample(&self, sample: &Sample, keep: u64) -> Result<(), LedgerError> {
        let key = self.keys.pool_history();
        let mut connection = self.connection();
        redis::pipe()
            .atomic()
            .lpush(&key, sample.encode())
            .ignore()
            .ltrim(&key, 0, list_end(keep))
            .ignore()
            .query_async::<()>(&mut connection)
            .await
            .map_err(LedgerError::redis("writing a pool history sample"))
    }

    /// Adds one sample to each miner's history, keeping the newest `keep`
    /// of each; a miner's list expires `retention` after its last sample.
    pub async fn push_miner_samples(
        &self,
        samples: &[(String, Sample)],
        keep: u64,
        retention: Duration,
    ) -> Result<(), LedgerError> {
        if samples.is_empty() {
            return Ok(());
        }
        let expiry_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        for (address, sample) in samples {
            let key = self.keys.miner_history(address);
            pipe.lpush(&key, sample.encode())
                .ignore()
                .ltrim(&key, 0, list_end(keep))
                .ignore()
                .pexpire(&key, expiry_ms)
                .ignore();
        }
        let mut connection = self.connection();
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(LedgerError::redis("writing miner history samples"))
    }

    /// The pool's newest `count` samples, newest first.
    pub async fn pool_samples(&self, count: u64) -> Result<Vec<Sample>, LedgerError> {
        self.samples(self.keys.pool_history(), count, POOL_SAMPLE_WIDTH)
            .await
    }

    /// A miner's newest `count` samples, newest first.
    pub async fn miner_samples(
        &self,
        address: &str,
        count: u64,
    ) -> Result<Vec<Sample>, LedgerError> {
        self.samples(self.keys.miner_history(address), count, MINER_SAMPLE_WIDTH)
            .await
    }

    async fn samples(
        &self,
        key: String,
        count: u64,
        width: usize,
    ) -> Result<Vec<Sample>, LedgerError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection();
        let texts: Vec<String> = redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(list_end(count))
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading history samples"))?;
        Ok(texts
            .iter()
            .filter_map(|text| Sample::decode(text, width))
            .collect())
    }

    /// The addresses with a valid share since `since_ms` (the online miners).
    pub async fn miners_since(&self, since_ms: u64) -> Result<Vec<String>, LedgerError> {
        let mut connection = self.connection();
        redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.miners())
            .arg(since_ms)
            .arg("+inf")
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing the online miners"))
    }
}

/// The last index of a list of `count` items (`LTRIM`/`LRANGE` stop).
fn list_end(count: u64) -> isize {
    isize::try_from(count.max(1) - 1).unwrap_or(isize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_ends_are_inclusive_indexes() {
        assert_eq!(list_end(1), 0);
        assert_eq!(list_end(1_441), 1_440);
        assert_eq!(list_end(0), 0);
        assert_eq!(list_end(u64::MAX), isize::MAX);
    }
}
