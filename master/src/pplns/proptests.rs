//! Property tests of the cut, the walk and the split.

use std::collections::BTreeMap;

use proptest::prelude::*;
use ruint::aliases::U256;

use super::*;

/// Weights from one unit to the top of u128, small ones more often.
fn weight() -> impl Strategy<Value = u128> {
    prop_oneof![
        4 => 1u128..=1_000_000,
        2 => 1u128..=u128::from(u64::MAX),
        1 => any::<u128>().prop_map(|w| w.max(1)),
        1 => Just(0u128),
    ]
}

fn weights() -> impl Strategy<Value = Vec<(String, u128)>> {
    prop::collection::vec((0u8..12, weight()), 0..24).prop_map(|list| {
        // Keep the sum within u128 so a snapshot could hold it.
        let mut total: u128 = 0;
        list.into_iter()
            .filter(|(_, w)| match total.checked_add(*w) {
                Some(sum) => {
                    total = sum;
                    true
                }
                None => false,
            })
            .map(|(i, w)| (format!("m{i}"), w))
            .collect()
    })
}

fn reward() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..=1_000_000_000_000, 1 => any::<u64>()]
}

fn fee_address() -> impl Strategy<Value = String> {
    prop_oneof![Just("pool".to_owned()), Just("m0".to_owned())]
}

/// Sums the positive weights per address.
fn merged(weights: &[(String, u128)]) -> BTreeMap<String, U256> {
    let mut map = BTreeMap::new();
    for (address, weight) in weights.iter().filter(|(_, w)| *w > 0) {
        *map.entry(address.clone()).or_insert(U256::ZERO) += U256::from(*weight);
    }
    map
}

proptest! {
    #[test]
    fn split_is_exact(
        reward in reward(),
        ppm in 0u32..=1_000_000,
        fee_address in fee_address(),
        weights in weights(),
    ) {
        let fee = FeeRate::from_ppm(ppm).expect("ppm in range");
        let s = split(reward, fee, &fee_address, &weights);
        prop_assert_eq!(s.total, reward);
        let sum: u128 = s.credits.values().map(|v| u128::from(*v)).sum();
        prop_assert_eq!(sum, u128::from(reward));
        prop_assert!(s.credits.values().all(|v| *v > 0));

        let miners = merged(&weights);
        if miners.is_empty() {
            prop_assert_eq!(s.fee, reward);
            return Ok(());
        }
        let exact_fee = u128::from(reward) * u128::from(ppm) / 1_000_000;
        prop_assert_eq!(u128::from(s.fee), exact_fee);

        // Each miner is within one unit of reward part × weight / total.
        let part = U256::from(reward - s.fee);
        let total: U256 = miners.values().copied().sum();
        for (address, weight) in &miners {
            let mut credit = s.credits.get(address).copied().unwrap_or(0);
            if *address == fee_address {
                credit -= s.fee;
            }
            let scaled = U256::from(credit) * total;
            let exact = part * *weight;
            let gap = if scaled > exact { scaled - exact } else { exact - scaled };
            prop_assert!(gap < total, "{} got {} of {}", address, credit, part);
        }
        // Nobody outside the window or the fee address is paid.
        for address in s.credits.keys() {
            prop_assert!(miners.contains_key(address) || *address == fee_address);
        }
    }

    #[test]
    fn single_miner_gets_everything_but_the_fee(
        reward in reward(),
        ppm in 0u32..=1_000_000,
        weight in 1u128..=u128::MAX,
    ) {
        let fee = FeeRate::from_ppm(ppm).expect("ppm in range");
        let s = split(reward, fee, "pool", &[("solo".to_owned(), weight)]);
        prop_assert_eq!(s.credits.get("solo").copied().unwrap_or(0), reward - s.fee);
        prop_assert_eq!(s.credits.get("pool").copied().unwrap_or(0), s.fee);
    }

    #[test]
    fn split_ignores_input_order(
        reward in reward(),
        ppm in 0u32..=1_000_000,
        (original, shuffled) in weights().prop_flat_map(|w| (Just(w.clone()), Just(w).prop_shuffle())),
    ) {
        let fee = FeeRate::from_ppm(ppm).expect("ppm in range");
        prop_assert_eq!(
            split(reward, fee, "pool", &original),
            split(reward, fee, "pool", &shuffled)
        );
    }

    #[test]
    fn equal_weights_differ_by_at_most_one_unit(
        reward in reward(),
        count in 1usize..40,
        weight in 1u128..=u128::MAX / 64,
    ) {
        let weights: Vec<(String, u128)> =
            (0..count).map(|i| (format!("m{i:02}"), weight)).collect();
        let s = split(reward, FeeRate::ZERO, "pool", &weights);
        let amounts: Vec<u64> = weights
            .iter()
            .map(|(a, _)| s.credits.get(a).copied().unwrap_or(0))
            .collect();
        let low = amounts.iter().min().copied().unwrap_or(0);
        let high = amounts.iter().max().copied().unwrap_or(0);
        prop_assert!(high - low <= 1);
        // The extra units go to the smallest addresses.
        prop_assert!(amounts.windows(2).all(|pair| pair[0] >= pair[1]));
    }

    #[test]
    fn walk_fills_the_window_and_never_exceeds_it(
        log in prop::collection::vec((0u8..8, 0u64..=1_000_000_000), 0..40),
        window_size in prop_oneof![0u128..=100_000_000, 0u128..=40_000_000_000],
    ) {
        let log: Vec<ShareLogEntry> = log
            .into_iter()
            .map(|(i, weight)| ShareLogEntry { address: format!("m{i}"), weight })
            .collect();
        let walked = walk(&log, window_size);
        let total: u128 = walked.iter().map(|(_, w)| w).sum();
        let available: u128 = log.iter().map(|e| u128::from(e.weight)).sum();
        prop_assert_eq!(total, window_size.min(available));
        prop_assert!(walked.iter().all(|(_, w)| *w > 0));
        prop_assert!(walked.windows(2).all(|pair| pair[0].0 < pair[1].0));

        // Newest first: the walk equals the sums over the shortest prefix
        // of the log that covers the window, its last entry cut to fit.
        let mut expected: BTreeMap<String, u128> = BTreeMap::new();
        let mut before: u128 = 0;
        for entry in &log {
            if before >= window_size {
                break;
            }
            let taken = u128::from(entry.weight).min(window_size - before);
            if taken > 0 {
                *expected.entry(entry.address.clone()).or_default() += taken;
            }
            before += u128::from(entry.weight);
        }
        prop_assert_eq!(walked, expected.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn cut_fills_the_window_with_whole_buckets_then_a_fair_part(
        // One second of the log holds each address once (a Redis hash).
        log in prop::collection::vec(
            prop::collection::btree_map(0u8..6, prop_oneof![3 => 0u64..=1_000_000, 1 => any::<u64>()], 0..5),
            0..12,
        ),
        window_size in prop_oneof![0u128..=5_000_000, any::<u64>().prop_map(u128::from)],
    ) {
        let buckets: Vec<LogBucket> = log
            .iter()
            .map(|weights| LogBucket {
                weights: weights.iter().map(|(i, w)| (format!("m{i}"), *w)).collect(),
            })
            .collect();
        let entries = cut(buckets.clone(), window_size);
        let available: u128 = log.iter().flatten().map(|(_, w)| u128::from(*w)).sum();
        let total: u128 = entries.iter().map(|e| u128::from(e.weight)).sum();
        prop_assert_eq!(total, window_size.min(available));
        prop_assert!(entries.iter().all(|e| e.weight > 0));

        // Bucket by bucket: whole while it fits, then each address of the
        // bucket that fills the window within one unit of its fair part.
        let mut rest = entries.as_slice();
        let mut room = window_size;
        for bucket in &buckets {
            if room == 0 {
                break;
            }
            let mut whole: Vec<(String, u64)> =
                bucket.weights.iter().filter(|(_, w)| *w > 0).cloned().collect();
            whole.sort();
            let bucket_total: u128 = whole.iter().map(|(_, w)| u128::from(*w)).sum();
            if bucket_total <= room {
                let (taken, after) = rest.split_at(whole.len());
                let taken: Vec<(String, u64)> =
                    taken.iter().map(|e| (e.address.clone(), e.weight)).collect();
                prop_assert_eq!(taken, whole);
                rest = after;
                room -= bucket_total;
                continue;
            }
            for entry in rest {
                let (_, weight) = whole
                    .iter()
                    .find(|(address, _)| *address == entry.address)
                    .expect("the cut bucket's entries are its own addresses");
                let fair = U256::from(room) * U256::from(*weight);
                let given = U256::from(entry.weight) * U256::from(bucket_total);
                let gap = if given > fair { given - fair } else { fair - given };
                prop_assert!(gap < U256::from(bucket_total));
            }
            rest = &[];
            room = 0;
        }
        prop_assert!(rest.is_empty());

        // The snapshot of the buckets is the walk of the cut.
        let window = PplnsWindow::fixed(1.0).expect("a valid multiple");
        if let Ok(difficulty) = u64::try_from(window_size) {
            let snapshot = PplnsSnapshot::from_share_log(buckets, &window, difficulty, None);
            let walked = walk(&entries, window_size);
            prop_assert_eq!(snapshot.weights(), walked.as_slice());
        }
    }

    #[test]
    fn snapshot_json_round_trips(weights in weights(), window_extra in any::<u64>()) {
        let total: u128 = weights.iter().map(|(_, w)| w).sum();
        let window_size = total.saturating_add(u128::from(window_extra));
        let snapshot = PplnsSnapshot::new(1_000, 2_000_000, window_size, weights)
            .expect("weights fit their window");
        let json = serde_json::to_string(&snapshot).expect("a snapshot serializes");
        let back: PplnsSnapshot = serde_json::from_str(&json).expect("its own JSON reads back");
        prop_assert_eq!(back, snapshot);
    }
}
