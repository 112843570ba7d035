//! The stored record of a found block, what the daemon says about it, and
//! the changes a step makes.

use serde::{Deserialize, Serialize};

use crate::pplns::{PplnsSnapshot, Split};

/// Where a found block is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockState {
    /// Written ahead of `submit_block`: the daemon's answer is not known
    /// yet (or never was, after a crash). The unlocker treats it as a
    /// candidate: credited if the chain has it, given up if it does not.
    Submitting,
    /// Submitted and accepted by the daemon; nothing credited yet.
    Candidate,
    /// Deep enough to show: immature balances credited.
    Immature,
    /// Final: real balances credited with the reward the daemon reported,
    /// immature credits reversed.
    Matured,
    /// Out of the chain for good: nothing paid, immature credits reversed.
    Orphaned,
    /// Refused by the daemon at submission: never credited.
    Refused,
}

impl BlockState {
    /// Whether the block's story is over (no step changes it any more).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BlockState::Matured | BlockState::Orphaned | BlockState::Refused
        )
    }
}

/// The daemon's `block_type` of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlockType {
    /// In the DAG order at its own height: full reward.
    Normal,
    /// In the DAG order at a height already covered: a cut reward.
    Side,
    /// Stable and in the order: full reward.
    Sync,
    /// Not in the DAG order: no reward.
    Orphaned,
}

impl BlockType {
    /// Whether the chain orders the block, so that it pays `miner_reward`.
    pub fn is_ordered(self) -> bool {
        !matches!(self, BlockType::Orphaned)
    }
}

/// What the daemon reports for a known block (`get_block_by_hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedBlock {
    /// `block_type`; only this decides whether the block is ordered.
    pub block_type: BlockType,
    /// `topoheight` (null when orphaned); informational.
    pub topoheight: Option<u64>,
    /// `miner_reward`: what the chain pays the block's miner, in atomic units.
    pub miner_reward: u64,
}

/// One reading of the chain for one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainObservation {
    /// The daemon's current height.
    pub tip_height: u64,
    /// The block as the daemon reports it; `None` when the daemon does not
    /// know the hash at all (its "unknown hash" error).
    pub block: Option<ObservedBlock>,
}

/// One balance change the ledger applies for a block, in atomic units.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LedgerOp {
    /// Add to the address's immature balance.
    CreditImmature {
        /// The miner (or fee) address.
        address: String,
        /// Atomic units.
        amount: u64,
    },
    /// Take back from the address's immature balance.
    DebitImmature {
        /// The miner (or fee) address.
        address: String,
        /// Atomic units.
        amount: u64,
    },
    /// Add to the address's payable balance.
    CreditBalance {
        /// The miner (or fee) address.
        address: String,
        /// Atomic units.
        amount: u64,
    },
}

/// A found block as the master stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Block hash (64 hex).
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// When the pool found it, Unix milliseconds.
    pub found_at_ms: u64,
    /// Address of the miner whose share was the block.
    pub finder: String,
    /// Where the block is in its life.
    pub state: BlockState,
    /// The PPLNS window when it was found.
    pub snapshot: PplnsSnapshot,
    /// `miner_reward` of the template at submission, in atomic units.
    pub expected_reward: u64,
    /// Immature credits now standing in the ledger for this block; `None`
    /// when there are none (not yet credited, or reversed).
    pub immature_credits: Option<Split>,
    /// The real credits, once matured.
    pub matured_credits: Option<Split>,
    /// The reward the daemon reported at maturity.
    pub final_reward: Option<u64>,
    /// The daemon's `block_type` at the last change of state.
    pub block_type: Option<BlockType>,
}

impl BlockRecord {
    /// A block the daemon accepted: a candidate with nothing credited.
    pub fn candidate(
        hash: String,
        height: u64,
        found_at_ms: u64,
        finder: String,
        snapshot: PplnsSnapshot,
        expected_reward: u64,
    ) -> Self {
        BlockRecord {
            hash,
            height,
            found_at_ms,
            finder,
            state: BlockState::Candidate,
            snapshot,
            expected_reward,
            immature_credits: None,
            matured_credits: None,
            final_reward: None,
            block_type: None,
        }
    }

    /// A block written ahead of its submission: a candidate whose outcome
    /// is not known yet.
    pub fn submitting(
        hash: String,
        height: u64,
        found_at_ms: u64,
        finder: String,
        snapshot: PplnsSnapshot,
        expected_reward: u64,
    ) -> Self {
        BlockRecord {
            state: BlockState::Submitting,
            ..Self::candidate(hash, height, found_at_ms, finder, snapshot, expected_reward)
        }
    }

    /// A block the daemon refused at submission, kept for the record.
    pub fn refused(
        hash: String,
        height: u64,
        found_at_ms: u64,
        finder: String,
        snapshot: PplnsSnapshot,
        expected_reward: u64,
    ) -> Self {
        BlockRecord {
            state: BlockState::Refused,
            ..Self::candidate(hash, height, found_at_ms, finder, snapshot, expected_reward)
        }
    }

    /// How far below the tip the block is (0 at or above the tip).
    pub fn depth(&self, tip_height: u64) -> u64 {
        tip_height.saturating_sub(self.height)
    }

    /// Writes a transition's new state and fields into the record (what the
    /// ledger stores together with the transition's ledger ops).
    pub fn apply(&mut self, transition: &Transition) {
        self.state = transition.new_state;
        self.immature_credits = transition.immature_credits.clone();
        self.matured_credits = transition.matured_credits.clone();
        self.final_reward = transition.final_reward;
        self.block_type = transition.block_type;
    }
}

/// A change of a block's state, with everything that must be written
/// together in one atomic step: the ledger ops and the record's new fields
/// (see [`BlockRecord::apply`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The state after the step.
    pub new_state: BlockState,
    /// Balance changes, in order; amounts are never zero.
    pub ledger_ops: Vec<LedgerOp>,
    /// The record's `immature_credits` after the step.
    pub immature_credits: Option<Split>,
    /// The record's `matured_credits` after the step.
    pub matured_credits: Option<Split>,
    /// The record's `final_reward` after the step.
    pub final_reward: Option<u64>,
    /// The record's `block_type` after the step.
    pub block_type: Option<BlockType>,
}
