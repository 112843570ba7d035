//! The PPLNS share log: valid share difficulty per address, summed per
//! second, read newest first until a window is covered, and trimmed to what
//! the largest window can need.

use std::collections::HashMap;

use ruint::aliases::U256;

use super::{Ledger, LedgerError};
use crate::pplns::ShareLogEntry;

/// Seconds read per page of the index.
const PAGE: usize = 1_000;

/// Seconds dropped per trim call (keeps each call short).
const TRIM_CHUNK: usize = 1_000;

/// One second of the share log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBucket {
    /// The second (Unix time).
    pub second: u64,
    /// Summed valid share difficulty per address.
    pub weights: Vec<(String, u64)>,
}

/// Turns buckets (newest first) into share-log entries covering
/// `window_size`: whole buckets while they fit, then the bucket that fills
/// the window, each address credited in proportion to its weight in it
/// (floors, then the leftover units to the largest remainders, ties to the
/// smaller address), so the entries add up to exactly
/// `min(window_size, all weight)`.
///
/// Within a bucket entries are sorted by address; the result feeds
/// [`crate::pplns::walk`], which then takes every entry whole.
pub fn window_entries(
    buckets: impl IntoIterator<Item = LogBucket>,
    window_size: u128,
) -> Vec<ShareLogEntry> {
    let mut entries = Vec::new();
    let mut room = window_size;
    for mut bucket in buckets {
        if room == 0 {
            break;
        }
        bucket.weights.retain(|(_, weight)| *weight > 0);
        bucket.weights.sort();
        let total: u128 = bucket.weights.iter().map(|(_, w)| u128::from(*w)).sum();
        if total <= room {
            room -= total;
            entries.extend(
                bucket
                    .weights
                    .into_iter()
                    .map(|(address, weight)| ShareLogEntry { address, weight }),
            );
            continue;
        }
        entries.extend(proportional(bucket.weights, total, room));
        room = 0;
    }
    entries
}

/// `room` (< `total`) shared among `weights` in proportion.
fn proportional(weights: Vec<(String, u64)>, total: u128, room: u128) -> Vec<ShareLogEntry> {
    let total = U256::from(total);
    let room_wide = U256::from(room);
    let mut shares: Vec<(usize, String, u64, U256)> = weights
        .into_iter()
        .enumerate()
        .map(|(order, (address, weight))| {
            let (quotient, remainder) = (room_wide * U256::from(weight)).div_rem(total);
            // quotient ≤ weight because room < total.
            (order, address, quotient.saturating_to::<u64>(), remainder)
        })
        .collect();
    let floored: u128 = shares.iter().map(|share| u128::from(share.2)).sum();
    let leftover = room - floored; // fewer than the number of addresses
    // Largest remainder first; the sort is stable, so ties keep address order.
    shares.sort_by_key(|share| std::cmp::Reverse(share.3));
    for (rank, share) in shares.iter_mut().enumerate() {
        if (rank as u128) < leftover {
            share.2 += 1;
        }
    }
    shares.sort_by_key(|share| share.0);
    shares
        .into_iter()
        .filter(|share| share.2 > 0)
        .map(|(_, address, weight, _)| ShareLogEntry { address, weight })
        .collect()
}

impl Ledger {
    /// The share log, newest first, up to `window_size` of share difficulty
    /// (see [`window_entries`]); feed it to [`crate::pplns::walk`] or
    /// [`crate::pplns::PplnsSnapshot::take`].
    pub async fn pplns_entries(
        &self,
        window_size: u128,
    ) -> Result<Vec<ShareLogEntry>, LedgerError> {
        if window_size == 0 {
            return Ok(Vec::new());
        }
        let (seconds, _) = self.newest_seconds_covering(window_size).await?;
        let mut connection = self.connection.clone();
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
            buckets.extend(chunk.iter().zip(hashes).map(|(second, weights)| LogBucket {
                second: *second,
                weights: weights.into_iter().collect(),
            }));
        }
        Ok(window_entries(buckets, window_size))
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
        let mut connection = self.connection.clone();
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
        let mut connection = self.connection.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pplns::walk;

    fn bucket(second: u64, weights: &[(&str, u64)]) -> LogBucket {
        LogBucket {
            second,
            weights: weights.iter().map(|(a, w)| ((*a).to_owned(), *w)).collect(),
        }
    }

    fn entry(address: &str, weight: u64) -> ShareLogEntry {
        ShareLogEntry {
            address: address.to_owned(),
            weight,
        }
    }

    #[test]
    fn whole_buckets_then_a_proportional_cut() {
        let buckets = vec![
            bucket(3, &[("bob", 100), ("alice", 50)]),
            bucket(2, &[("carol", 300), ("alice", 100)]),
            bucket(1, &[("dave", 1_000)]),
        ];
        // 150 + 200 of 400: half of each in the second bucket.
        let entries = window_entries(buckets.clone(), 350);
        assert_eq!(
            entries,
            vec![
                entry("alice", 50),
                entry("bob", 100),
                entry("alice", 50),
                entry("carol", 150)
            ]
        );
        assert_eq!(
            walk(&entries, 350),
            vec![
                ("alice".to_owned(), 100),
                ("bob".to_owned(), 100),
                ("carol".to_owned(), 150)
            ]
        );
        // Exactly the first bucket.
        assert_eq!(window_entries(buckets.clone(), 150).len(), 2);
        // More than the log: all of it.
        let all = window_entries(buckets, 10_000);
        assert_eq!(all.iter().map(|e| e.weight).sum::<u64>(), 1_550);
    }

    #[test]
    fn the_cut_sums_exactly_with_remainders_to_the_largest() {
        // 2 of 3 × 1: two thirds each; the two units go to a and b.
        let buckets = vec![bucket(1, &[("c", 1), ("a", 1), ("b", 1)])];
        let entries = window_entries(buckets, 2);
        assert_eq!(entries, vec![entry("a", 1), entry("b", 1)]);
        let buckets = vec![bucket(1, &[("a", 7), ("b", 2), ("c", 1)])];
        // 5 of 10: 3.5, 1 and 0.5 floor to 4; the unit goes to a (a tie
        // with c's half, the smaller address first).
        let entries = window_entries(buckets, 5);
        assert_eq!(entries, vec![entry("a", 4), entry("b", 1)]);
        assert!(window_entries(vec![bucket(1, &[("a", 5)])], 0).is_empty());
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let buckets = vec![bucket(
            1,
            &[("a", u64::MAX), ("b", u64::MAX), ("c", u64::MAX)],
        )];
        let room = u128::from(u64::MAX) * 2;
        let entries = window_entries(buckets, room);
        let sum: u128 = entries.iter().map(|e| u128::from(e.weight)).sum();
        assert_eq!(sum, room);
    }
}
