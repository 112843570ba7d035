//! The PPLNS weights of the moment a block was found, kept with the block.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::walk::sum_by_address;
use super::{FeeRate, LogBucket, PplnsError, PplnsWindow, ShareLogEntry, Split, cut, split, walk};

/// The PPLNS window as it stood when a block candidate was found: its size,
/// the weights that filled it and their total.
///
/// Stored with the block (JSON) so the block can be split again at maturity
/// with the reward the daemon finally reports. Weights are sorted by address,
/// unique and non-zero, and add up to `total_weight` ≤ `window_size`; a
/// stored snapshot that breaks this is refused when read. Large integers are
/// written as decimal strings, as the daemon writes difficulties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SnapshotRepr", into = "SnapshotRepr")]
pub struct PplnsSnapshot {
    network_difficulty: u64,
    window_multiple_ppm: u64,
    window_size: u128,
    total_weight: u128,
    weights: Vec<(String, u128)>,
}

impl PplnsSnapshot {
    /// Cuts the window for a block found at `network_difficulty` out of the
    /// share log's buckets, newest first (see [`cut`]), and keeps the
    /// weights: what the block path does with what the ledger read.
    pub fn from_share_log(
        buckets: impl IntoIterator<Item = LogBucket>,
        window: &PplnsWindow,
        network_difficulty: u64,
        pool_share: Option<f64>,
    ) -> Self {
        Self::filled(window, network_difficulty, pool_share, |window_size| {
            sum_by_address(cut(buckets, window_size))
        })
    }

    /// Walks share-log entries (newest first, see [`walk`]) for a block found
    /// at `network_difficulty` and keeps the result.
    pub fn take<'a>(
        entries: impl IntoIterator<Item = &'a ShareLogEntry>,
        window: &PplnsWindow,
        network_difficulty: u64,
        pool_share: Option<f64>,
    ) -> Self {
        Self::filled(window, network_difficulty, pool_share, |window_size| {
            walk(entries, window_size)
        })
    }

    /// The snapshot of a window filled by `fill`, given the window size; the
    /// weights it returns are sorted by unique address, non-zero, and add up
    /// to at most the window size.
    fn filled(
        window: &PplnsWindow,
        network_difficulty: u64,
        pool_share: Option<f64>,
        fill: impl FnOnce(u128) -> Vec<(String, u128)>,
    ) -> Self {
        let window_size = window.size(network_difficulty, pool_share);
        let weights = fill(window_size);
        // A filled window's weights add up to at most window_size.
        let total_weight = weights.iter().map(|(_, weight)| weight).sum();
        PplnsSnapshot {
            network_difficulty,
            window_multiple_ppm: window.multiple_ppm(pool_share),
            window_size,
            total_weight,
            weights,
        }
    }

    /// A snapshot from weights computed elsewhere: duplicates are summed,
    /// zero weights dropped, and the total must fit in `window_size`.
    pub fn new(
        network_difficulty: u64,
        window_multiple_ppm: u64,
        window_size: u128,
        weights: impl IntoIterator<Item = (String, u128)>,
    ) -> Result<Self, PplnsError> {
        let mut merged: BTreeMap<String, u128> = BTreeMap::new();
        let mut total_weight: u128 = 0;
        for (address, weight) in weights.into_iter().filter(|(_, weight)| *weight > 0) {
            total_weight = total_weight
                .checked_add(weight)
                .ok_or(PplnsError::WeightOverflow)?;
            *merged.entry(address).or_default() += weight;
        }
        if total_weight > window_size {
            return Err(PplnsError::OverfullWindow {
                total: total_weight,
                window_size,
            });
        }
        Ok(PplnsSnapshot {
            network_difficulty,
            window_multiple_ppm,
            window_size,
            total_weight,
            weights: merged.into_iter().collect(),
        })
    }

    /// Splits `reward` with these weights (see [`split`]).
    pub fn split(&self, reward: u64, fee: FeeRate, fee_address: &str) -> Split {
        split(reward, fee, fee_address, &self.weights)
    }

    /// The weights, sorted by address.
    pub fn weights(&self) -> &[(String, u128)] {
        &self.weights
    }

    /// The sum of the weights.
    pub fn total_weight(&self) -> u128 {
        self.total_weight
    }

    /// The window size in share difficulty.
    pub fn window_size(&self) -> u128 {
        self.window_size
    }

    /// The window's multiple of the network difficulty, in parts per million.
    pub fn window_multiple_ppm(&self) -> u64 {
        self.window_multiple_ppm
    }

    /// The network difficulty when the block was found.
    pub fn network_difficulty(&self) -> u64 {
        self.network_difficulty
    }

    /// Whether the share log held enough shares to fill the window.
    pub fn is_full(&self) -> bool {
        self.total_weight == self.window_size
    }
}

/// The stored form: big integers as decimal strings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotRepr {
    network_difficulty: String,
    window_multiple_ppm: u64,
    window_size: String,
    total_weight: String,
    weights: Vec<WeightRepr>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightRepr {
    address: String,
    weight: String,
}

impl From<PplnsSnapshot> for SnapshotRepr {
    fn from(snapshot: PplnsSnapshot) -> Self {
        SnapshotRepr {
            network_difficulty: snapshot.network_difficulty.to_string(),
            window_multiple_ppm: snapshot.window_multiple_ppm,
            window_size: snapshot.window_size.to_string(),
            total_weight: snapshot.total_weight.to_string(),
            weights: snapshot
                .weights
                .into_iter()
                .map(|(address, weight)| WeightRepr {
                    address,
                    weight: weight.to_string(),
                })
                .collect(),
        }
    }
}

impl TryFrom<SnapshotRepr> for PplnsSnapshot {
    type Error = PplnsError;

    fn try_from(repr: SnapshotRepr) -> Result<Self, Self::Error> {
        let mut weights = Vec::with_capacity(repr.weights.len());
        for entry in repr.weights {
            let weight = parse("weight", &entry.weight)?;
            if weights
                .last()
                .is_some_and(|(last, _): &(String, u128)| *last >= entry.address)
            {
                return Err(corrupt("weights are not sorted by unique address"));
            }
            if weight == 0 {
                return Err(corrupt("a weight is zero"));
            }
            weights.push((entry.address, weight));
        }
        let total_weight: u128 = parse("total_weight", &repr.total_weight)?;
        let snapshot = PplnsSnapshot::new(
            parse("network_difficulty", &repr.network_difficulty)?,
            repr.window_multiple_ppm,
            parse("window_size", &repr.window_size)?,
            weights,
        )?;
        if snapshot.total_weight != total_weight {
            return Err(corrupt("total_weight is not the sum of the weights"));
        }
        Ok(snapshot)
    }
}

fn parse<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, PplnsError> {
    text.parse()
        .map_err(|_| corrupt(&format!("{field} {text:?} is not a decimal integer")))
}

fn corrupt(reason: &str) -> PplnsError {
    PplnsError::CorruptSnapshot {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> Vec<ShareLogEntry> {
        [("bob", 600), ("alice", 1_000), ("bob", 900)]
            .into_iter()
            .map(|(address, weight)| ShareLogEntry {
                address: address.to_owned(),
                weight,
            })
            .collect()
    }

    #[test]
    fn take_walks_the_configured_window() {
        let window = PplnsWindow::fixed(2.0).expect("valid multiple");
        let snapshot = PplnsSnapshot::take(&log(), &window, 1_000, None);
        assert_eq!(snapshot.window_size(), 2_000);
        assert_eq!(snapshot.window_multiple_ppm(), 2_000_000);
        assert_eq!(snapshot.network_difficulty(), 1_000);
        assert_eq!(
            snapshot.weights(),
            &[("alice".to_owned(), 1_000), ("bob".to_owned(), 1_000)]
        );
        assert_eq!(snapshot.total_weight(), 2_000);
        assert!(snapshot.is_full());
        let split = snapshot.split(1_000, FeeRate::ZERO, "pool");
        assert_eq!(split.credits.get("alice"), Some(&500));
        assert_eq!(split.credits.get("bob"), Some(&500));

        let short = PplnsSnapshot::take(&log(), &window, 10_000, None);
        assert_eq!(short.total_weight(), 2_500);
        assert!(!short.is_full());
    }

    #[test]
    fn json_round_trip_keeps_big_numbers_exact() {
        let snapshot = PplnsSnapshot::new(
            u64::MAX,
            2_000_000,
            u128::MAX,
            vec![("b".to_owned(), u128::MAX - 5), ("a".to_owned(), 5)],
        )
        .expect("total fits");
        let json = serde_json::to_string(&snapshot).expect("a snapshot always serializes");
        assert!(json.contains(&format!("\"{}\"", u128::MAX - 5)));
        let back: PplnsSnapshot = serde_json::from_str(&json).expect("its own JSON reads back");
        assert_eq!(back, snapshot);
        assert_eq!(back.weights()[0].0, "a");
    }

    #[test]
    fn corrupt_json_is_refused() {
        let good = r#"{"network_difficulty":"1000","window_multiple_ppm":2000000,"window_size":"2000","total_weight":"30","weights":[{"address":"a","weight":"10"},{"address":"b","weight":"20"}]}"#;
        assert!(serde_json::from_str::<PplnsSnapshot>(good).is_ok());
        let bad = [
            good.replace("\"30\"", "\"31\""),
            good.replace("\"address\":\"b\"", "\"address\":\"a\""),
            good.replace("\"20\"", "\"0\"").replace("\"30\"", "\"10\""),
            good.replace("\"2000\"", "\"20\""),
            good.replace("\"10\"", "\"-10\""),
            good.replace("\"1000\"", "1000"),
        ];
        for json in bad {
            assert!(
                serde_json::from_str::<PplnsSnapshot>(&json).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn new_refuses_overflow_and_overfull_windows() {
        assert_eq!(
            PplnsSnapshot::new(
                1,
                1,
                u128::MAX,
                vec![("a".into(), u128::MAX), ("b".into(), 1)]
            ),
            Err(PplnsError::WeightOverflow)
        );
        assert!(matches!(
            PplnsSnapshot::new(1, 1, 10, vec![("a".into(), 11)]),
            Err(PplnsError::OverfullWindow { .. })
        ));
    }
}
