//! The payout planner, without I/O: confirmed balances and the payout rules
//! in, batches of transfers out.
//!
//! - A balance is paid whole when it is at least `threshold`.
//! - Its withdrawal fee is `withdrawal_fee + floor(balance × rate)`: the
//!   rate part rounds down, in the miner's favour. A balance that does not
//!   exceed its fee is skipped (nothing would arrive).
//! - The miner receives `balance − fee`; the balance is debited exactly
//!   `amount + fee`.
//! - Order: largest balance first, ties by address, so the plan is the same
//!   on every run and for every payer.
//! - At most `max_per_tx` transfers per transaction; every transaction
//!   reserves `network_fee` of the wallet's spendable balance, and the sum of
//!   all amounts and reserved fees never exceeds it. A transfer that does not
//!   fit is skipped this run and stays in the balance.
//! - Suspects ([`plan_with_alone`]) travel alone, one transaction each.
//!
//! Amounts are u64 atomic units; products and sums are u128 before they are
//! narrowed, so nothing overflows.

use std::collections::{BTreeMap, BTreeSet};

use crate::ledger::PaymentTransfer;

/// Parts per billion: the resolution of [`PlanRules::fee_rate_ppb`].
pub const PPB: u64 = 1_000_000_000;

/// The payout rules of `payouts.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanRules {
    /// Smallest balance paid (`payouts.threshold`).
    pub threshold: u64,
    /// Fixed fee per transfer (`payouts.withdrawal_fee`).
    pub withdrawal_fee: u64,
    /// Fee rate in parts per billion (`payouts.withdrawal_fee_rate` percent ×
    /// 10^7), at most [`PPB`].
    pub fee_rate_ppb: u64,
    /// Transfers per transaction (`payouts.max_addresses_per_tx`, ≥ 1).
    pub max_per_tx: usize,
}

impl PlanRules {
    /// The rate of `percent` (0..=100) in parts per billion, rounded to the
    /// nearest; out-of-range or non-finite values are clamped.
    pub fn rate_ppb(percent: f64) -> u64 {
        if !percent.is_finite() || percent <= 0.0 {
            return 0;
        }
        // percent ≤ 100 gives at most 10^9, far inside f64's exact integers.
        ((percent * 1e7).round() as u64).min(PPB)
    }

    /// The withdrawal fee of a payout of `balance`: the fixed fee plus the
    /// rate part rounded down.
    pub fn fee(&self, balance: u64) -> u128 {
        let rate = u128::from(balance) * u128::from(self.fee_rate_ppb.min(PPB)) / u128::from(PPB);
        u128::from(self.withdrawal_fee) + rate
    }
}

/// Why a balance was not paid this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The balance does not exceed its withdrawal fee.
    FeeExceedsBalance,
    /// The wallet's spendable balance cannot cover it this run.
    WalletShort,
}

/// A plan: transactions to send, in order, and what was left for later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One entry per transaction.
    pub batches: Vec<Vec<PaymentTransfer>>,
    /// Balances at or above the threshold that were not planned.
    pub skipped: Vec<(String, SkipReason)>,
}

impl Plan {
    /// Transfers over all batches.
    pub fn transfers(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }

    /// Sum of the amounts sent over all batches.
    pub fn amount(&self) -> u128 {
        self.batches
            .iter()
            .flatten()
            .map(|t| u128::from(t.amount))
            .sum()
    }

    /// Sum of the withdrawal fees over all batches.
    pub fn fees(&self) -> u128 {
        self.batches
            .iter()
            .flatten()
            .map(|t| u128::from(t.fee))
            .sum()
    }

    /// The largest batch (the one whose network fee is highest).
    pub fn largest_batch(&self) -> Option<&[PaymentTransfer]> {
        self.batches
            .iter()
            .max_by_key(|batch| batch.len())
            .map(Vec::as_slice)
    }
}

/// Plans the payout of `balances` (address → confirmed balance; zero or
/// negative ones are ignored) from a wallet holding `spendable`, reserving
/// `network_fee` per transaction.
pub fn plan(
    balances: &BTreeMap<String, i64>,
    rules: &PlanRules,
    spendable: u64,
    network_fee: u64,
) -> Plan {
    plan_with_alone(balances, rules, spendable, network_fee, &BTreeSet::new())
}

/// [`plan`], with each address of `alone` paid in a transaction of its own
/// (payout suspects: a refusal of theirs then names no one else), reserving
/// a network fee for each.
pub fn plan_with_alone(
    balances: &BTreeMap<String, i64>,
    rules: &PlanRules,
    spendable: u64,
    network_fee: u64,
    alone: &BTreeSet<String>,
) -> Plan {
    let max_per_tx = rules.max_per_tx.max(1);
    let mut payable: Vec<(&String, u64)> = balances
        .iter()
        .filter_map(|(address, &balance)| Some((address, u64::try_from(balance).ok()?)))
        .filter(|&(_, balance)| balance > 0 && balance >= rules.threshold)
        .collect();
    // Largest first; the BTreeMap already ordered equal balances by address
    // and the sort is stable.
    payable.sort_by_key(|&(_, balance)| std::cmp::Reverse(balance));

    let mut out = Plan::default();
    let mut budget = u128::from(spendable);
    let mut batch: Vec<PaymentTransfer> = Vec::new();
    for (address, balance) in payable {
        let fee = rules.fee(balance);
        if fee >= u128::from(balance) {
            out.skipped
                .push((address.clone(), SkipReason::FeeExceedsBalance));
            continue;
        }
        // fee < balance ≤ u64::MAX, so both fit.
        let fee = u64::try_from(fee).unwrap_or(u64::MAX);
        let amount = balance - fee;
        let single = alone.contains(address);
        let cost = u128::from(amount)
            + if batch.is_empty() || single {
                u128::from(network_fee)
            } else {
                0
            };
        if cost > budget {
            out.skipped.push((address.clone(), SkipReason::WalletShort));
            continue;
        }
        budget -= cost;
        let transfer = PaymentTransfer {
            address: address.clone(),
            amount,
            fee,
        };
        if single {
            out.batches.push(vec![transfer]);
            continue;
        }
        batch.push(transfer);
        if batch.len() == max_per_tx {
            out.batches.push(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        out.batches.push(batch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(threshold: u64, withdrawal_fee: u64, percent: f64, max_per_tx: usize) -> PlanRules {
        PlanRules {
            threshold,
            withdrawal_fee,
            fee_rate_ppb: PlanRules::rate_ppb(percent),
            max_per_tx,
        }
    }

    fn balances(entries: &[(&str, i64)]) -> BTreeMap<String, i64> {
        entries.iter().map(|(a, b)| ((*a).to_owned(), *b)).collect()
    }

    #[test]
    fn pays_balances_at_the_threshold_minus_their_fee() {
        let plan = plan(
            &balances(&[("a", 1_000), ("b", 999), ("c", 5_000), ("d", -4), ("e", 0)]),
            &rules(1_000, 10, 1.0, 100),
            u64::MAX,
            0,
        );
        assert_eq!(
            plan.batches,
            vec![vec![
                PaymentTransfer {
                    address: "c".into(),
                    amount: 5_000 - 10 - 50,
                    fee: 60
                },
                PaymentTransfer {
                    address: "a".into(),
                    amount: 1_000 - 10 - 10,
                    fee: 20
                },
            ]]
        );
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn the_rate_part_rounds_down() {
        let rules = rules(1, 0, 0.5, 10);
        assert_eq!(rules.fee(199), 0, "0.995 rounds down to 0");
        assert_eq!(rules.fee(200), 1);
        assert_eq!(PlanRules::rate_ppb(100.0), PPB);
        assert_eq!(PlanRules::rate_ppb(250.0), PPB);
        assert_eq!(PlanRules::rate_ppb(f64::NAN), 0);
        assert_eq!(PlanRules::rate_ppb(0.0000001), 1);
    }

    #[test]
    fn a_balance_not_above_its_fee_is_skipped() {
        let plan = plan(
            &balances(&[("a", 100), ("b", 101)]),
            &rules(1, 100, 0.0, 10),
            u64::MAX,
            0,
        );
        assert_eq!(plan.transfers(), 1);
        assert_eq!(plan.batches[0][0].amount, 1);
        assert_eq!(
            plan.skipped,
            vec![("a".to_owned(), SkipReason::FeeExceedsBalance)]
        );
        let all = plan_all_fee(100.0);
        assert_eq!(all.transfers(), 0, "a 100% rate leaves nothing to send");
    }

    fn plan_all_fee(percent: f64) -> Plan {
        plan(
            &balances(&[("a", 1_000)]),
            &rules(1, 0, percent, 10),
            u64::MAX,
            0,
        )
    }

    #[test]
    fn batches_hold_at_most_max_per_tx_in_a_stable_order() {
        let entries: Vec<(String, i64)> = (0..7).map(|i| (format!("m{i}"), 100)).collect();
        let map: BTreeMap<String, i64> = entries.into_iter().collect();
        let plan = plan(&map, &rules(1, 0, 0.0, 3), u64::MAX, 0);
        let sizes: Vec<usize> = plan.batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        let order: Vec<&str> = plan
            .batches
            .iter()
            .flatten()
            .map(|t| t.address.as_str())
            .collect();
        assert_eq!(order, vec!["m0", "m1", "m2", "m3", "m4", "m5", "m6"]);
    }

    #[test]
    fn suspects_are_paid_alone_with_their_own_network_fee() {
        let map = balances(&[("a", 500), ("b", 400), ("c", 300), ("d", 200)]);
        let alone: BTreeSet<String> = ["b".to_owned()].into();
        let plan = plan_with_alone(&map, &rules(1, 0, 0.0, 3), 1_000_000, 20, &alone);
        let shapes: Vec<Vec<&str>> = plan
            .batches
            .iter()
            .map(|batch| batch.iter().map(|t| t.address.as_str()).collect())
            .collect();
        assert_eq!(shapes, vec![vec!["b"], vec!["a", "c", "d"]]);
        // 1400 sent + two network fees, exactly: the budget holds no more.
        let tight = plan_with_alone(&map, &rules(1, 0, 0.0, 3), 1_440, 20, &alone);
        assert_eq!(tight.transfers(), 4);
        let short = plan_with_alone(&map, &rules(1, 0, 0.0, 3), 1_439, 20, &alone);
        assert_eq!(short.transfers(), 3);
    }

    #[test]
    fn the_wallet_balance_and_network_fees_bound_the_plan() {
        let map = balances(&[("a", 500), ("b", 400), ("c", 300), ("d", 50)]);
        // 1000 spendable, 20 per transaction, 2 per transaction.
        let plan = plan(&map, &rules(1, 0, 0.0, 2), 1_000, 20);
        // a (500 + 20) and b (400) fit; c (300 + 20) does not; d (50 + 20) does.
        let paid: Vec<&str> = plan
            .batches
            .iter()
            .flatten()
            .map(|t| t.address.as_str())
            .collect();
        assert_eq!(paid, vec!["a", "b", "d"]);
        assert_eq!(
            plan.skipped,
            vec![("c".to_owned(), SkipReason::WalletShort)]
        );
        assert!(plan.amount() + 20 * plan.batches.len() as u128 <= 1_000);
        let empty = super::plan(&map, &rules(1, 0, 0.0, 2), 0, 0);
        assert_eq!(empty.transfers(), 0);
        assert_eq!(empty.skipped.len(), 4);
    }
}
