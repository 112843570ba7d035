//! The life of a found block, as the unlocker sees it: a pure state machine.
//!
//! | from | reading of the chain | to | ledger |
//! |---|---|---|---|
//! | Submitting, Candidate | ordered, depth ≥ `immature_depth` | Immature | credit immature |
//! | Submitting, Candidate, Immature | ordered, depth ≥ `mature_depth` | Matured | reverse immature, credit balances |
//! | Immature | not ordered, not yet given up | Candidate | reverse immature |
//! | Submitting, Candidate, Immature | not ordered, given up | Orphaned | reverse immature |
//! | Matured, Orphaned, Refused | anything | (no change) | none |
//!
//! "Ordered": the daemon reports the block as Normal, Side or Sync.
//! "Given up": reported Orphaned at depth ≥ `orphan_depth`, or unknown to the
//! daemon at depth ≥ `missing_grace_depth`. Refused blocks (refused by the
//! daemon at submission) are recorded but never credited. A Submitting
//! block (written ahead of `submit_block`, its answer not recorded: the
//! master stopped in between) is stepped as a candidate; the block path
//! itself settles it as Candidate or Refused once the daemon answers.
//!
//! [`step`] reads a [`BlockRecord`] and a [`ChainObservation`] (what the
//! daemon says now) and returns the [`Transition`] to make, if any: the new
//! state, the new record fields and the exact [`LedgerOp`]s the ledger must
//! apply in the same atomic write. No Redis, no RPC, no clock: the unlocker
//! loop reads, steps, writes.

mod policy;
mod record;
mod step;

#[cfg(test)]
mod proptests;

pub use policy::{LifecycleError, LifecyclePolicy};
pub use record::{
    BlockRecord, BlockState, BlockType, ChainObservation, LedgerOp, ObservedBlock, Transition,
};
pub use step::step;
