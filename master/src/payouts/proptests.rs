//! Properties of the planner over arbitrary balances and rules.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::plan::{PPB, PlanRules, plan};

fn rules() -> impl Strategy<Value = PlanRules> {
    (0u64..10_000, 0u64..5_000, 0u64..=PPB, 1usize..8).prop_map(
        |(threshold, withdrawal_fee, fee_rate_ppb, max_per_tx)| PlanRules {
            threshold,
            withdrawal_fee,
            fee_rate_ppb,
            max_per_tx,
        },
    )
}

fn balances() -> impl Strategy<Value = BTreeMap<String, i64>> {
    prop::collection::btree_map(
        "[a-f]{1,3}",
        prop_oneof![-1_000i64..100_000, Just(i64::MAX), 0i64..i64::MAX],
        0..40,
    )
}

proptest! {
    #[test]
    fn every_debit_is_exactly_amount_plus_fee_and_within_the_balance(
        balances in balances(),
        rules in rules(),
        spendable in prop_oneof![Just(u64::MAX), 0u64..1_000_000],
        network_fee in 0u64..2_000,
    ) {
        let plan = plan(&balances, &rules, spendable, network_fee);
        let mut seen = BTreeSet::new();
        let mut debited: u128 = 0;
        for batch in &plan.batches {
            prop_assert!(!batch.is_empty() && batch.len() <= rules.max_per_tx);
            for transfer in batch {
                prop_assert!(seen.insert(transfer.address.clone()), "paid twice");
                let balance = balances[&transfer.address];
                prop_assert!(balance > 0 && balance as u64 >= rules.threshold);
                prop_assert!(transfer.amount > 0);
                // The whole balance is debited: amount + fee, exactly.
                prop_assert_eq!(
                    u128::from(transfer.amount) + u128::from(transfer.fee),
                    balance as u128
                );
                prop_assert_eq!(u128::from(transfer.fee), rules.fee(balance as u64));
                debited += balance as u128;
            }
        }
        prop_assert_eq!(plan.amount() + plan.fees(), debited);
        let reserved = u128::from(network_fee) * plan.batches.len() as u128;
        prop_assert!(plan.amount() + reserved <= u128::from(spendable));
        // Every payable balance is either planned or skipped with a reason.
        let payable = balances
            .values()
            .filter(|&&b| b > 0 && b as u64 >= rules.threshold)
            .count();
        prop_assert_eq!(plan.transfers() + plan.skipped.len(), payable);
    }

    #[test]
    fn planning_is_deterministic(balances in balances(), rules in rules(), spendable: u64) {
        prop_assert_eq!(
            plan(&balances, &rules, spendable, 1_001),
            plan(&balances, &rules, spendable, 1_001)
        );
    }
}
