//! Property tests: any history of readings leaves the ledger exact.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::pplns::{FeeRate, PplnsSnapshot};

const HEIGHT: u64 = 50_000;

/// One reading: how much deeper, what the daemon says (None = unknown hash).
type Reading = (u64, Option<(BlockType, u64)>);

fn block_type() -> impl Strategy<Value = BlockType> {
    prop_oneof![
        Just(BlockType::Normal),
        Just(BlockType::Side),
        Just(BlockType::Sync),
        Just(BlockType::Orphaned),
    ]
}

fn reading() -> impl Strategy<Value = Reading> {
    (
        0u64..20,
        prop::option::weighted(0.85, (block_type(), 0u64..=10_000_000_000)),
    )
}

fn policy() -> impl Strategy<Value = LifecyclePolicy> {
    (
        0u64..20,
        1u64..60,
        1u64..40,
        1u64..40,
        0u32..=200_000,
        any::<bool>(),
    )
        .prop_map(
            |(immature, extra, orphan, grace, ppm, fee_mines)| LifecyclePolicy {
                immature_depth: immature,
                mature_depth: immature.max(1) + extra,
                orphan_depth: orphan,
                missing_grace_depth: grace,
                fee: FeeRate::from_ppm(ppm).expect("ppm in range"),
                fee_address: if fee_mines { "m0" } else { "pool" }.to_owned(),
            },
        )
}

fn snapshot() -> impl Strategy<Value = PplnsSnapshot> {
    prop::collection::vec((0u8..6, 1u128..=1_000_000_000_000), 0..8).prop_map(|weights| {
        let weights: Vec<(String, u128)> = weights
            .into_iter()
            .map(|(i, w)| (format!("m{i}"), w))
            .collect();
        PplnsSnapshot::new(1_000, 2_000_000, u128::MAX, weights).expect("small weights fit")
    })
}

fn observe(depth: u64, block: Option<(BlockType, u64)>) -> ChainObservation {
    ChainObservation {
        tip_height: HEIGHT + depth,
        block: block.map(|(block_type, miner_reward)| ObservedBlock {
            block_type,
            topoheight: block_type.is_ordered().then_some(HEIGHT),
            miner_reward,
        }),
    }
}

/// The ledger as the Redis layer would keep it, in signed units so that a
/// wrong debit shows as a negative balance.
#[derive(Default)]
struct Ledger {
    immature: BTreeMap<String, i128>,
    balance: BTreeMap<String, i128>,
}

impl Ledger {
    fn apply(&mut self, ops: &[LedgerOp]) {
        for op in ops {
            let (map, address, change) = match op {
                LedgerOp::CreditImmature { address, amount } => {
                    (&mut self.immature, address, i128::from(*amount))
                }
                LedgerOp::DebitImmature { address, amount } => {
                    (&mut self.immature, address, -i128::from(*amount))
                }
                LedgerOp::CreditBalance { address, amount } => {
                    (&mut self.balance, address, i128::from(*amount))
                }
            };
            assert!(change != 0, "no zero ops");
            *map.entry(address.clone()).or_default() += change;
        }
    }

    fn nonzero(map: &BTreeMap<String, i128>) -> BTreeMap<String, i128> {
        map.iter()
            .filter(|(_, v)| **v != 0)
            .map(|(a, v)| (a.clone(), *v))
            .collect()
    }
}

fn as_ledger(credits: Option<&crate::pplns::Split>) -> BTreeMap<String, i128> {
    credits
        .map(|split| {
            split
                .credits
                .iter()
                .map(|(a, v)| (a.clone(), i128::from(*v)))
                .collect()
        })
        .unwrap_or_default()
}

proptest! {
    #[test]
    fn any_history_leaves_the_ledger_exact(
        policy in policy(),
        snapshot in snapshot(),
        readings in prop::collection::vec(reading(), 0..30),
        last in prop::option::weighted(0.7, (block_type(), 0u64..=10_000_000_000)),
    ) {
        let mut record = BlockRecord::candidate(
            "00".repeat(32), HEIGHT, 0, "m0".to_owned(), snapshot, 1_000,
        );
        let mut ledger = Ledger::default();
        let mut depth = 0;
        // The reading that ended the block's story.
        let mut settled_by = None;
        // The last reading is deep enough to settle the block either way.
        let settle = policy.mature_depth.max(policy.orphan_depth).max(policy.missing_grace_depth);
        let history = readings.into_iter().chain(std::iter::once((settle, last)));
        for (deeper, block) in history {
            depth += deeper;
            let observation = observe(depth, block);
            if let Some(transition) = step(&record, &observation, &policy) {
                prop_assert_ne!(transition.new_state, record.state);
                ledger.apply(&transition.ledger_ops);
                if transition.new_state.is_terminal() {
                    settled_by = Some(block);
                }
                record.apply(&transition);
                prop_assert_eq!(step(&record, &observation, &policy), None, "idempotent");
            }
            // The ledger's immature balances are exactly the standing credits.
            prop_assert!(ledger.immature.values().all(|v| *v >= 0));
            prop_assert_eq!(
                Ledger::nonzero(&ledger.immature),
                as_ledger(record.immature_credits.as_ref())
            );
            if record.state != BlockState::Matured {
                prop_assert!(Ledger::nonzero(&ledger.balance).is_empty());
            }
        }

        prop_assert!(record.state.is_terminal());
        prop_assert!(Ledger::nonzero(&ledger.immature).is_empty());
        match record.state {
            BlockState::Matured => {
                let Some(Some((block_type, reward))) = settled_by else {
                    return Err(TestCaseError::fail("matured without a reading of the block"));
                };
                prop_assert!(block_type.is_ordered());
                prop_assert_eq!(record.final_reward, Some(reward));
                let paid: i128 = ledger.balance.values().sum();
                prop_assert_eq!(paid, i128::from(reward));
                let expected = record.snapshot.split(reward, policy.fee, &policy.fee_address);
                prop_assert_eq!(record.matured_credits.as_ref(), Some(&expected));
                prop_assert_eq!(Ledger::nonzero(&ledger.balance), as_ledger(Some(&expected)));
            }
            BlockState::Orphaned => {
                let Some(reading) = settled_by else {
                    return Err(TestCaseError::fail("orphaned by no reading"));
                };
                prop_assert!(reading.is_none_or(|(block_type, _)| !block_type.is_ordered()));
                prop_assert!(Ledger::nonzero(&ledger.balance).is_empty());
            }
            other => prop_assert!(false, "ended in {:?}", other),
        }

        // Settled blocks never move again.
        for later in [None, Some((BlockType::Normal, 1)), Some((BlockType::Orphaned, 0))] {
            prop_assert_eq!(step(&record, &observe(depth + 1_000, later), &policy), None);
        }
    }
}
