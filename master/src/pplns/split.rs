//! Sharing one block reward among the miners of a PPLNS window.

use std::collections::BTreeMap;

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};

use super::FeeRate;

/// How a block reward is shared: what each address is credited.
///
/// `credits` sums exactly to `total`, and holds no zero amounts; the fee
/// address's fee is in `credits` (added to its miner's part when the fee
/// address also mined).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Split {
    /// Amount per address, in atomic units, fee included.
    pub credits: BTreeMap<String, u64>,
    /// The pool's fee, in atomic units (the whole reward when no share was
    /// in the window).
    pub fee: u64,
    /// The reward that was split.
    pub total: u64,
}

/// Splits `reward` among `weights` after the pool fee.
///
/// - fee = `floor(reward × fee_ppm / 10^6)`, credited to `fee_address`;
/// - the rest is shared pro rata by weight, each miner getting the floor of
///   its exact share;
/// - the units lost to flooring (fewer than the number of miners) go one each
///   to the miners with the largest remainders, ties to the smaller address
///   (largest-remainder method), so no miner is more than one unit from its
///   exact share and the split always sums to `reward`.
///
/// The same address appearing twice is summed first, zero weights are
/// ignored, and the input order does not matter. With no weight at all the
/// whole reward goes to `fee_address`.
pub fn split(reward: u64, fee: FeeRate, fee_address: &str, weights: &[(String, u128)]) -> Split {
    let mut merged: BTreeMap<&str, U256> = BTreeMap::new();
    for (address, weight) in weights.iter().filter(|(_, weight)| *weight > 0) {
        *merged.entry(address.as_str()).or_default() += U256::from(*weight);
    }
    let mut credits = BTreeMap::new();
    if merged.is_empty() {
        if reward > 0 {
            credits.insert(fee_address.to_owned(), reward);
        }
        return Split {
            credits,
            fee: reward,
            total: reward,
        };
    }

    let fee_amount = fee.fee_of(reward);
    let miners_part = reward - fee_amount;
    let total_weight: U256 = merged.values().copied().sum();
    let part = U256::from(miners_part);

    // Floor shares with their remainders; part × weight < 2^64 × 2^128, and
    // the sum of fewer than 2^64 weights stays below 2^192: no overflow.
    let mut shares: Vec<(&str, u64, U256)> = merged
        .iter()
        .map(|(address, weight)| {
            let (quotient, remainder) = (part * *weight).div_rem(total_weight);
            // quotient ≤ miners_part because weight ≤ total_weight.
            (*address, quotient.saturating_to::<u64>(), remainder)
        })
        .collect();
    let floored: u64 = shares.iter().map(|(_, amount, _)| *amount).sum();
    let leftover = miners_part - floored;

    // Largest remainder first; the sort is stable, so equal remainders keep
    // the address order of the map.
    shares.sort_by_key(|share| std::cmp::Reverse(share.2));
    for (index, (address, amount, _)) in shares.into_iter().enumerate() {
        let bonus = u64::from((index as u64) < leftover);
        if amount + bonus > 0 {
            credits.insert(address.to_owned(), amount + bonus);
        }
    }
    if fee_amount > 0 {
        *credits.entry(fee_address.to_owned()).or_default() += fee_amount;
    }
    Split {
        credits,
        fee: fee_amount,
        total: reward,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(list: &[(&str, u128)]) -> Vec<(String, u128)> {
        list.iter().map(|(a, w)| ((*a).to_owned(), *w)).collect()
    }

    fn credits(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
        list.iter().map(|(a, v)| ((*a).to_owned(), *v)).collect()
    }

    fn one_percent() -> FeeRate {
        FeeRate::from_percent(1.0).expect("1% is valid")
    }

    #[test]
    fn worked_example_with_remainders() {
        // reward 1000, fee 1% = 10, 990 shared 1:1:1 = 330 each exactly.
        let s = split(
            1_000,
            one_percent(),
            "pool",
            &weights(&[("a", 5), ("b", 5), ("c", 5)]),
        );
        assert_eq!(s.fee, 10);
        assert_eq!(
            s.credits,
            credits(&[("a", 330), ("b", 330), ("c", 330), ("pool", 10)])
        );

        // reward 100, no fee, weights 1:1:1 → 33.33 each; one unit left over,
        // remainders equal: the smallest address gets it.
        let s = split(
            100,
            FeeRate::ZERO,
            "pool",
            &weights(&[("c", 1), ("b", 1), ("a", 1)]),
        );
        assert_eq!(s.credits, credits(&[("a", 34), ("b", 33), ("c", 33)]));
        assert_eq!(s.fee, 0);

        // reward 10, weights 1:2:3:4 (sum 10): exact 1, 2, 3, 4.
        let s = split(
            10,
            FeeRate::ZERO,
            "pool",
            &weights(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]),
        );
        assert_eq!(
            s.credits,
            credits(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)])
        );

        // reward 7, weights 1:1:2 (sum 4): exact 1.75, 1.75, 3.5 → floors
        // 1, 1, 3 (5), two units to the largest remainders 0.75, 0.75.
        let s = split(
            7,
            FeeRate::ZERO,
            "pool",
            &weights(&[("a", 1), ("b", 1), ("c", 2)]),
        );
        assert_eq!(s.credits, credits(&[("a", 2), ("b", 2), ("c", 3)]));
    }

    #[test]
    fn genesis_reward_with_one_percent_fee() {
        // 97,486,707 atomic, fee 974,867, miners 96,511,840 split 3:1.
        let s = split(
            97_486_707,
            one_percent(),
            "pool",
            &weights(&[("a", 3_000), ("b", 1_000)]),
        );
        assert_eq!(s.fee, 974_867);
        assert_eq!(
            s.credits,
            credits(&[("a", 72_383_880), ("b", 24_127_960), ("pool", 974_867)])
        );
    }

    #[test]
    fn empty_window_pays_the_fee_address() {
        let s = split(5_000, one_percent(), "pool", &[]);
        assert_eq!(s.credits, credits(&[("pool", 5_000)]));
        assert_eq!((s.fee, s.total), (5_000, 5_000));
        let s = split(5_000, one_percent(), "pool", &weights(&[("a", 0)]));
        assert_eq!(s.credits, credits(&[("pool", 5_000)]));
        assert!(split(0, one_percent(), "pool", &[]).credits.is_empty());
    }

    #[test]
    fn fee_address_that_mines_gets_one_entry() {
        let s = split(
            1_000,
            one_percent(),
            "pool",
            &weights(&[("pool", 1), ("a", 1)]),
        );
        assert_eq!(s.credits, credits(&[("a", 495), ("pool", 505)]));
    }

    #[test]
    fn duplicates_are_summed_and_tiny_weights_may_get_nothing() {
        let s = split(
            10,
            FeeRate::ZERO,
            "pool",
            &weights(&[("a", 1), ("b", 1), ("a", 2)]),
        );
        assert_eq!(
            s.credits,
            split(10, FeeRate::ZERO, "pool", &weights(&[("a", 3), ("b", 1)])).credits
        );
        let s = split(
            1,
            FeeRate::ZERO,
            "pool",
            &weights(&[("a", 1_000), ("b", 1)]),
        );
        assert_eq!(s.credits, credits(&[("a", 1)]));
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let s = split(
            u64::MAX,
            FeeRate::ZERO,
            "pool",
            &weights(&[("a", u128::MAX), ("b", u128::MAX)]),
        );
        assert_eq!(
            s.credits,
            credits(&[("a", u64::MAX / 2 + 1), ("b", u64::MAX / 2)])
        );
    }
}
