//! The PPLNS share log: valid share difficulty per address, summed per
//! second, read newest first until a window is covered, and trimmed to what
//! the largest window can need. The window itself is cut by
//! [`crate::pplns::cut`]; the ledger only reads and trims what is stored.

use std::collections::HashMap;

use super::{Ledger, LedgerError};
use crate::pplns::{self, LogBucket, ShareLogEntry};

/// Seconds read per page of the index.
const PAGE: usize = 1_000;

/// Seconds dropped per trim call (keeps each call short).
const TRIM_CHUNK: usize = 1_000;

impl Ledger {
    /// The newest seconds of the share log, newest first, as stored: enough
    /// of them to cover `window_size` of share difficulty (all of them when
    /// the log holds less), none for an empty window. Feed them to
    /// [`crate::pplns::PplnsSnapshot::from_share_log`], which cuts the window.
    pub async fn share_log(&self, window_size: u128) -> Result<Vec<LogBucket>, LedgerError> {
        if window_size == 0 {
            return Ok(Vec::new());
        }
        let (seconds, _) = self.newest_seconds_covering(window_size).await?;
        let mut connection = self.connection();
        let mut buckets = Vec::with_capacity(seconds.len());
        for chunk in seconds.chunks(PAGE) {
            let mut pipe = redis::pipe();
            for second in chunk {
                pipe.hgetall(self.keys.share_log_bucket(*second));
            }
            let hashes: Vec<HashMap<String, u64>> = pipe
                .query_async(&mut connection)
                .await
                .map_err(LedgerError::redis("reading the PPLNS share log"))?;
            buckets.extend(hashes.into_iter().map(|weights| LogBucket {
                weights: weights.into_iter().collect(),
            }));
        }
        Ok(buckets)
    }

    /// The share log as it stood at `last_second` (Unix seconds): the
    /// newest seconds at or before it, newest first, enough to cover
    /// `window_size` (all of them when the log holds less). Shares booked
    /// later are not read, so the window of a block is the same whenever it
    /// is taken, once the shares sent before the block are stored.
    pub async fn share_log_until(
        &self,
        window_size: u128,
        last_second: u64,
    ) -> Result<Vec<LogBucket>, LedgerError> {
        if window_size == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection();
        let mut buckets = Vec::new();
        let mut sum: u128 = 0;
        let mut offset = 0usize;
        loop {
            let seconds: Vec<u64> = redis::cmd("ZREVRANGEBYSCORE")
                .arg(self.keys.share_log_index())
                .arg(last_second)
                .arg("-inf")
                .arg("LIMIT")
                .arg(offset)
                .arg(PAGE)
                .query_async(&mut connection)
                .await
                .map_err(LedgerError::redis("paging the PPLNS share log"))?;
            let full_page = seconds.len() == PAGE;
            let mut pipe = redis::pipe();
            for second in &seconds {
                pipe.hgetall(self.keys.share_log_bucket(*second));
            }
            let hashes: Vec<HashMap<String, u64>> = pipe
                .query_async(&mut connection)
                .await
                .map_err(LedgerError::redis("reading the PPLNS share log"))?;
            for weights in hashes {
                sum = weights
                    .values()
                    .fold(sum, |sum, weight| sum.saturating_add(u128::from(*weight)));
                buckets.push(LogBucket {
                    weights: weights.into_iter().collect(),
                });
                if sum >= window_size {
                    return Ok(buckets);
                }
            }
            if !full_page {
                return Ok(buckets);
            }
            offset += PAGE;
        }
    }

    /// The newest second the share log holds, if any.
    pub async fn newest_share_second(&self) -> Result<Option<u64>, LedgerError> {
        let mut connection = self.connection();
        let newest: Vec<u64> = redis::cmd("ZREVRANGE")
            .arg(self.keys.share_log_index())
            .arg(0)
            .arg(0)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading the newest PPLNS second"))?;
        Ok(newest.first().copied())
    }

    /// [`share_log`](Self::share_log) cut to `window_size` by
    /// [`crate::pplns::cut`], as share-log entries: for reading the window
    /// back ([`crate::pplns::walk`], [`crate::pplns::PplnsSnapshot::take`]).
    pub async fn pplns_entries(
        &self,
        window_size: u128,
    ) -> Result<Vec<ShareLogEntry>, LedgerError> {
        Ok(pplns::cut(self.share_log(window_size).await?, window_size))
    }

    /// Drops the share-log seconds older than what the largest PPLNS window
    /// can need at `network_difficulty` ([`LedgerSettings::share_log_keep`]:
    /// the newest seconds that cover it are kept). Call it at every new job;
    /// returns how many seconds were dropped.
    ///
    /// [`LedgerSettings::share_log_keep`]: super::LedgerSettings::share_log_keep
    pub async fn trim_share_log(&self, network_difficulty: u64) -> Result<u64, LedgerError> {
        let keep = self.settings.share_log_keep(network_difficulty);
        if keep == 0 {
            return Ok(0);
        }
        let (seconds, covered) = self.newest_seconds_covering(keep).await?;
        let Some(oldest_kept) = seconds.last().filter(|_| covered) else {
            return Ok(0);
        };
        let mut dropped = 0u64;
        let mut connection = self.connection();
        loop {
            let count: u64 = self
                .scripts
                .share_log_trim
                .key(self.keys.share_log_index())
                .key(self.keys.share_log_totals())
                .arg(self.keys.share_log_bucket_prefix())
                .arg(*oldest_kept)
                .arg(TRIM_CHUNK)
                .invoke_async(&mut connection)
                .await
                .map_err(LedgerError::redis("trimming the PPLNS share log"))?;
            dropped += count;
            if count < TRIM_CHUNK as u64 {
                break;
            }
        }
        if dropped > 0 {
            tracing::debug!(
                dropped,
                oldest_kept = *oldest_kept,
                network_difficulty,
                "PPLNS share log trimmed"
            );
        }
        Ok(dropped)
    }

    /// The newest seconds of the share log whose totals reach `size`, newest
    /// first, and whether they do reach it (false: the whole log is less).
    async fn newest_seconds_covering(&self, size: u128) -> Result<(Vec<u64>, bool), LedgerError> {
        let mut connection = self.connection();
        let mut seconds = Vec::new();
        let mut sum: u128 = 0;
        let mut start = 0usize;
        loop {
            let page: Vec<(u64, u128)> = self
                .scripts
                .share_log_page
                .key(self.keys.share_log_index())
                .key(self.keys.share_log_totals())
                .arg(start)
                .arg(start + PAGE - 1)
                .invoke_async(&mut connection)
                .await
                .map_err(LedgerError::redis("paging the PPLNS share log"))?;
            let full_page = page.len() == PAGE;
            for (second, total) in page {
                seconds.push(second);
                sum = sum.saturating_add(total);
                if sum >= size {
                    return Ok((seconds, true));
                }
            }
            if !full_page {
                return Ok((seconds, false));
            }
            start += PAGE;
        }
    }
}
