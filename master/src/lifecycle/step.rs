//! One step of the block lifecycle.

use crate::pplns::Split;

use super::{BlockRecord, BlockState, ChainObservation, LedgerOp, LifecyclePolicy, Transition};

/// Decides what a block's new reading of the chain changes.
///
/// Returns `None` when nothing changes: a terminal block (matured, orphaned,
/// refused), or a block whose state the reading does not move. Applying the
/// returned transition ([`BlockRecord::apply`]) and stepping again with the
/// same reading always gives `None`.
///
/// Rules, with depth = tip height − block height:
/// - the block is *ordered* when the daemon reports it with a `block_type`
///   other than `Orphaned`; then
///   - at depth ≥ `mature_depth` it matures: its immature credits are
///     reversed and the daemon's `miner_reward` (a side block pays what the
///     chain paid) is split with the block's snapshot into real balances,
///     straight from candidate if the unlocker was away;
///   - a candidate at depth ≥ `immature_depth` becomes immature, credited
///     with the split of the current `miner_reward`;
/// - otherwise (reported `Orphaned`, or unknown to the daemon) the block is
///   given up at depth ≥ `orphan_depth` (`missing_grace_depth` when
///   unknown): its immature credits are reversed and it is orphaned; before
///   that depth an immature block only loses its immature credits and waits
///   as a candidate, since the chain may still order it.
pub fn step(
    record: &BlockRecord,
    observation: &ChainObservation,
    policy: &LifecyclePolicy,
) -> Option<Transition> {
    if record.state.is_terminal() {
        return None;
    }
    let depth = record.depth(observation.tip_height);
    let ordered = observation
        .block
        .filter(|block| block.block_type.is_ordered());

    if let Some(block) = ordered {
        let split = || {
            record
                .snapshot
                .split(block.miner_reward, policy.fee, &policy.fee_address)
        };
        if depth >= policy.mature_depth {
            let matured = split();
            let mut ledger_ops = reverse_immature(record);
            ledger_ops.extend(credits(&matured, |address, amount| {
                LedgerOp::CreditBalance { address, amount }
            }));
            return Some(Transition {
                new_state: BlockState::Matured,
                ledger_ops,
                immature_credits: None,
                matured_credits: Some(matured),
                final_reward: Some(block.miner_reward),
                block_type: Some(block.block_type),
            });
        }
        if depth >= policy.immature_depth
            && matches!(record.state, BlockState::Candidate | BlockState::Submitting)
        {
            let immature = split();
            let ledger_ops = credits(&immature, |address, amount| LedgerOp::CreditImmature {
                address,
                amount,
            })
            .collect();
            return Some(Transition {
                new_state: BlockState::Immature,
                ledger_ops,
                immature_credits: Some(immature),
                matured_credits: None,
                final_reward: None,
                block_type: Some(block.block_type),
            });
        }
        return None;
    }

    let give_up_depth = match observation.block {
        Some(_) => policy.orphan_depth,
        None => policy.missing_grace_depth,
    };
    let block_type = observation.block.map(|block| block.block_type);
    if depth >= give_up_depth {
        return Some(Transition {
            new_state: BlockState::Orphaned,
            ledger_ops: reverse_immature(record),
            immature_credits: None,
            matured_credits: None,
            final_reward: None,
            block_type: block_type.or(record.block_type),
        });
    }
    if record.state == BlockState::Immature {
        return Some(Transition {
            new_state: BlockState::Candidate,
            ledger_ops: reverse_immature(record),
            immature_credits: None,
            matured_credits: None,
            final_reward: None,
            block_type: block_type.or(record.block_type),
        });
    }
    None
}

/// The ops that take back the immature credits standing for the block.
fn reverse_immature(record: &BlockRecord) -> Vec<LedgerOp> {
    record
        .immature_credits
        .iter()
        .flat_map(|split| {
            credits(split, |address, amount| LedgerOp::DebitImmature {
                address,
                amount,
            })
        })
        .collect()
}

/// One op per non-zero credit of a split, in address order.
fn credits<'a>(
    split: &'a Split,
    op: impl Fn(String, u64) -> LedgerOp + 'a,
) -> impl Iterator<Item = LedgerOp> + 'a {
    split
        .credits
        .iter()
        .filter(|(_, amount)| **amount > 0)
        .map(move |(address, amount)| op(address.clone(), *amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{BlockType, ObservedBlock};
    use crate::pplns::{FeeRate, PplnsSnapshot};

    const HEIGHT: u64 = 1_000;

    fn policy() -> LifecyclePolicy {
        LifecyclePolicy {
            immature_depth: 10,
            mature_depth: 100,
            orphan_depth: 24,
            missing_grace_depth: 30,
            fee: FeeRate::from_percent(1.0).expect("1% is valid"),
            fee_address: "pool".to_owned(),
        }
    }

    /// alice 3 : bob 1.
    fn record() -> BlockRecord {
        record_made_by(BlockRecord::candidate)
    }

    /// The test block, built by one of `BlockRecord`'s constructors
    /// (`candidate`, `submitting`, `refused`).
    fn record_made_by(
        make: fn(String, u64, u64, String, PplnsSnapshot, u64) -> BlockRecord,
    ) -> BlockRecord {
        let snapshot = PplnsSnapshot::new(
            1_000,
            2_000_000,
            2_000,
            vec![("alice".to_owned(), 1_500), ("bob".to_owned(), 500)],
        )
        .expect("weights fit the window");
        make(
            "ab".repeat(32),
            HEIGHT,
            1_700_000_000_000,
            "alice".to_owned(),
            snapshot,
            1_000,
        )
    }

    fn seen(depth: u64, block_type: BlockType, miner_reward: u64) -> ChainObservation {
        ChainObservation {
            tip_height: HEIGHT + depth,
            block: Some(ObservedBlock {
                block_type,
                topoheight: block_type.is_ordered().then_some(HEIGHT),
                miner_reward,
            }),
        }
    }

    fn unknown(depth: u64) -> ChainObservation {
        ChainObservation {
            tip_height: HEIGHT + depth,
            block: None,
        }
    }

    fn immature(address: &str, amount: u64) -> LedgerOp {
        LedgerOp::CreditImmature {
            address: address.to_owned(),
            amount,
        }
    }

    fn debit(address: &str, amount: u64) -> LedgerOp {
        LedgerOp::DebitImmature {
            address: address.to_owned(),
            amount,
        }
    }

    fn balance(address: &str, amount: u64) -> LedgerOp {
        LedgerOp::CreditBalance {
            address: address.to_owned(),
            amount,
        }
    }

    /// Steps and applies, checking that a second step changes nothing.
    fn advance(record: &mut BlockRecord, observation: &ChainObservation) -> Option<Transition> {
        let transition = step(record, observation, &policy())?;
        record.apply(&transition);
        assert_eq!(
            step(record, observation, &policy()),
            None,
            "step is idempotent"
        );
        Some(transition)
    }

    #[test]
    fn normal_block_goes_candidate_immature_matured() {
        let mut block = record();
        assert_eq!(
            advance(&mut block, &seen(0, BlockType::Normal, 1_000)),
            None
        );
        assert_eq!(
            advance(&mut block, &seen(9, BlockType::Normal, 1_000)),
            None
        );

        // 1,000: fee 10, alice 742.5 → 743 (larger remainder? equal: 0.5
        // each, alice first), bob 247.5 → 247.
        let t = advance(&mut block, &seen(10, BlockType::Normal, 1_000)).expect("immature");
        assert_eq!(t.new_state, BlockState::Immature);
        assert_eq!(
            t.ledger_ops,
            vec![
                immature("alice", 743),
                immature("bob", 247),
                immature("pool", 10)
            ]
        );
        assert_eq!(block.block_type, Some(BlockType::Normal));
        assert_eq!(
            advance(&mut block, &seen(99, BlockType::Normal, 1_000)),
            None
        );

        let t = advance(&mut block, &seen(100, BlockType::Normal, 1_000)).expect("matured");
        assert_eq!(t.new_state, BlockState::Matured);
        assert_eq!(
            t.ledger_ops,
            vec![
                debit("alice", 743),
                debit("bob", 247),
                debit("pool", 10),
                balance("alice", 743),
                balance("bob", 247),
                balance("pool", 10),
            ]
        );
        assert_eq!(block.final_reward, Some(1_000));
        assert_eq!(block.immature_credits, None);
        assert_eq!(block.matured_credits.as_ref().map(|s| s.total), Some(1_000));
        // Terminal: nothing moves it any more.
        assert_eq!(step(&block, &unknown(500), &policy()), None);
        assert_eq!(
            step(&block, &seen(500, BlockType::Orphaned, 0), &policy()),
            None
        );
    }

    #[test]
    fn side_block_matures_with_what_the_chain_paid() {
        let mut block = record();
        advance(&mut block, &seen(12, BlockType::Normal, 1_000)).expect("immature");
        // Reordered as a side block: 30% of the reward.
        let t = advance(&mut block, &seen(120, BlockType::Side, 300)).expect("matured");
        assert_eq!(block.final_reward, Some(300));
        assert_eq!(block.block_type, Some(BlockType::Side));
        let credited: Vec<_> = t
            .ledger_ops
            .iter()
            .filter(|op| matches!(op, LedgerOp::CreditBalance { .. }))
            .cloned()
            .collect();
        // 300: fee 3, 297 split 3:1 = 222.75 / 74.25 → 223 / 74.
        assert_eq!(
            credited,
            vec![
                balance("alice", 223),
                balance("bob", 74),
                balance("pool", 3)
            ]
        );
    }

    #[test]
    fn candidate_can_mature_directly() {
        let mut block = record();
        let t = advance(&mut block, &seen(5_000, BlockType::Sync, 1_000)).expect("matured");
        assert_eq!(t.new_state, BlockState::Matured);
        assert!(
            t.ledger_ops
                .iter()
                .all(|op| matches!(op, LedgerOp::CreditBalance { .. }))
        );
        assert_eq!(t.ledger_ops.len(), 3);
    }

    #[test]
    fn orphaned_candidate_reverses_nothing() {
        let mut block = record();
        assert_eq!(advance(&mut block, &seen(5, BlockType::Orphaned, 0)), None);
        let t = advance(&mut block, &seen(24, BlockType::Orphaned, 0)).expect("orphaned");
        assert_eq!(t.new_state, BlockState::Orphaned);
        assert!(t.ledger_ops.is_empty());
        assert_eq!(block.block_type, Some(BlockType::Orphaned));
    }

    #[test]
    fn orphaned_immature_block_reverses_its_credits() {
        let mut block = record();
        advance(&mut block, &seen(10, BlockType::Normal, 1_000)).expect("immature");
        // Not ordered at depth 15: credits taken back, waits as a candidate.
        let t = advance(&mut block, &seen(15, BlockType::Orphaned, 0)).expect("back to candidate");
        assert_eq!(t.new_state, BlockState::Candidate);
        assert_eq!(
            t.ledger_ops,
            vec![debit("alice", 743), debit("bob", 247), debit("pool", 10)]
        );
        // Ordered again as a side block: immature again with its new reward.
        let t = advance(&mut block, &seen(18, BlockType::Side, 300)).expect("immature again");
        assert_eq!(
            t.ledger_ops,
            vec![
                immature("alice", 223),
                immature("bob", 74),
                immature("pool", 3)
            ]
        );
        // Orphaned for good at depth 24: exactly the standing credits reversed.
        let t = advance(&mut block, &seen(24, BlockType::Orphaned, 0)).expect("orphaned");
        assert_eq!(t.new_state, BlockState::Orphaned);
        assert_eq!(
            t.ledger_ops,
            vec![debit("alice", 223), debit("bob", 74), debit("pool", 3)]
        );
    }

    #[test]
    fn unknown_block_is_given_up_after_the_grace_depth() {
        let mut block = record();
        assert_eq!(advance(&mut block, &unknown(29)), None);
        let t = advance(&mut block, &unknown(30)).expect("orphaned");
        assert_eq!(t.new_state, BlockState::Orphaned);
        assert_eq!(block.block_type, None);
    }

    #[test]
    fn refused_block_is_never_credited() {
        let block = record_made_by(BlockRecord::refused);
        assert_eq!(block.state, BlockState::Refused);
        assert_eq!(
            step(&block, &seen(1_000, BlockType::Normal, 1_000), &policy()),
            None
        );
    }

    #[test]
    fn a_submitting_block_left_by_a_crash_is_stepped_as_a_candidate() {
        let submitting = record_made_by(BlockRecord::submitting);
        // Shallow: left alone (the block path may still settle it).
        let mut block = submitting.clone();
        assert_eq!(
            advance(&mut block, &seen(9, BlockType::Normal, 1_000)),
            None
        );
        // Ordered and deep enough: credited like a candidate.
        let t = advance(&mut block, &seen(10, BlockType::Normal, 1_000)).expect("immature");
        assert_eq!(t.new_state, BlockState::Immature);
        assert_eq!(t.ledger_ops.len(), 3);
        // Unknown to the chain at the grace depth: given up, nothing owed.
        let mut lost = submitting;
        assert_eq!(advance(&mut lost, &unknown(29)), None);
        let t = advance(&mut lost, &unknown(30)).expect("given up");
        assert_eq!(t.new_state, BlockState::Orphaned);
        assert!(t.ledger_ops.is_empty());
    }

    #[test]
    fn tip_below_the_block_is_depth_zero() {
        let block = record();
        let behind = ChainObservation {
            tip_height: HEIGHT - 5,
            block: None,
        };
        assert_eq!(block.depth(behind.tip_height), 0);
        assert_eq!(step(&block, &behind, &policy()), None);
    }

    #[test]
    fn record_round_trips_through_json() {
        let mut block = record();
        advance(&mut block, &seen(10, BlockType::Side, 300)).expect("immature");
        let json = serde_json::to_string(&block).expect("a record serializes");
        assert!(json.contains("\"state\":\"immature\""));
        assert!(json.contains("\"block_type\":\"Side\""));
        let back: BlockRecord = serde_json::from_str(&json).expect("its own JSON reads back");
        assert_eq!(back, block);
    }
}
