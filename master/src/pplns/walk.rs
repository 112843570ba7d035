//! Filling a PPLNS window from the share log, newest first. [`cut`] is the
//! one place the window is cut; [`walk`] is the same cut over single runs,
//! summed per address.

use std::collections::BTreeMap;

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};

/// One run of a miner's consecutive shares in the aggregated share log.
///
/// The log is kept newest first; `weight` is the summed difficulty of the
/// shares in the run, so the walk touches one entry per run, not per share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareLogEntry {
    /// The miner's payout address (validated upstream).
    pub address: String,
    /// Summed share difficulty of the run.
    pub weight: u64,
}

/// One second of the share log as the ledger stores it: the valid share
/// difficulty of each address in that second. Shares of the same second are
/// not ordered among themselves, so a window that ends inside a bucket takes
/// every address in it in proportion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogBucket {
    /// Summed valid share difficulty per address (in any order).
    pub weights: Vec<(String, u64)>,
}

/// Cuts the window of `window_size` share difficulty out of `buckets`
/// (newest first): whole buckets while they fit, then the bucket that fills
/// the window, each address credited in proportion to its weight in it
/// (floors, then the leftover units to the largest remainders, ties to the
/// smaller address).
///
/// The entries add up to exactly `min(window_size, all weight)`, hold no
/// zero weight, and within a bucket are sorted by address. Buckets past the
/// window are not read.
pub fn cut(buckets: impl IntoIterator<Item = LogBucket>, window_size: u128) -> Vec<ShareLogEntry> {
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

/// Fills a window of `window_size` share difficulty from share-log entries,
/// newest first: [`cut`] with each entry a bucket of its own, so entries
/// count whole until the window is full and the entry that fills it counts
/// only the part needed. The same address in several entries is summed.
///
/// The result is sorted by address, holds no zero weights, and its weights
/// add up to `min(window_size, total weight of the log)`.
pub fn walk<'a>(
    entries: impl IntoIterator<Item = &'a ShareLogEntry>,
    window_size: u128,
) -> Vec<(String, u128)> {
    let runs = entries.into_iter().map(|entry| LogBucket {
        weights: vec![(entry.address.clone(), entry.weight)],
    });
    sum_by_address(cut(runs, window_size))
}

/// The weights of `entries` summed per address, sorted by address.
pub(super) fn sum_by_address(entries: Vec<ShareLogEntry>) -> Vec<(String, u128)> {
    let mut weights: BTreeMap<String, u128> = BTreeMap::new();
    for entry in entries {
        // The entries of a cut add up to at most its window (a u128).
        *weights.entry(entry.address).or_default() += u128::from(entry.weight);
    }
    weights.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(weights: &[(&str, u64)]) -> LogBucket {
        LogBucket {
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
            bucket(&[("bob", 100), ("alice", 50)]),
            bucket(&[("carol", 300), ("alice", 100)]),
            bucket(&[("dave", 1_000)]),
        ];
        // 150 + 200 of 400: half of each in the second bucket.
        let entries = cut(buckets.clone(), 350);
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
        assert_eq!(cut(buckets.clone(), 150).len(), 2);
        // More than the log: all of it.
        let all = cut(buckets, 10_000);
        assert_eq!(all.iter().map(|e| e.weight).sum::<u64>(), 1_550);
    }

    #[test]
    fn the_cut_sums_exactly_with_remainders_to_the_largest() {
        // 2 of 3 × 1: two thirds each; the two units go to a and b.
        let buckets = vec![bucket(&[("c", 1), ("a", 1), ("b", 1)])];
        let entries = cut(buckets, 2);
        assert_eq!(entries, vec![entry("a", 1), entry("b", 1)]);
        let buckets = vec![bucket(&[("a", 7), ("b", 2), ("c", 1)])];
        // 5 of 10: 3.5, 1 and 0.5 floor to 4; the unit goes to a (a tie
        // with c's half, the smaller address first).
        let entries = cut(buckets, 5);
        assert_eq!(entries, vec![entry("a", 4), entry("b", 1)]);
        assert!(cut(vec![bucket(&[("a", 5)])], 0).is_empty());
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let buckets = vec![bucket(&[("a", u64::MAX), ("b", u64::MAX), ("c", u64::MAX)])];
        let room = u128::from(u64::MAX) * 2;
        let entries = cut(buckets, room);
        let sum: u128 = entries.iter().map(|e| u128::from(e.weight)).sum();
        assert_eq!(sum, room);
    }

    #[test]
    fn walk_takes_newest_first_and_cuts_the_last_entry() {
        let log = [
            entry("carol", 300),
            entry("alice", 500),
            entry("bob", 400),
            entry("carol", 900),
        ];
        // 300 + 500 + 200 of bob's 400 = 1000.
        assert_eq!(
            walk(&log, 1_000),
            vec![
                ("alice".to_owned(), 500),
                ("bob".to_owned(), 200),
                ("carol".to_owned(), 300)
            ]
        );
        // The whole log plus part of the last run: carol's runs are summed.
        assert_eq!(
            walk(log.iter(), 1_500),
            vec![
                ("alice".to_owned(), 500),
                ("bob".to_owned(), 400),
                ("carol".to_owned(), 600)
            ]
        );
        // A window larger than the log takes it all.
        let all = walk(&log, 1_000_000);
        assert_eq!(all.iter().map(|(_, w)| w).sum::<u128>(), 2_100);
        assert!(walk(&log, 0).is_empty());
        assert!(walk([].iter(), 10).is_empty());
    }

    #[test]
    fn walk_skips_empty_runs() {
        let log = [entry("dave", 0), entry("erin", 10)];
        assert_eq!(walk(&log, 5), vec![("erin".to_owned(), 5)]);
    }
}
