//! What happens to a found block's record around `submit_block`, decided
//! without I/O: what is written ahead, where the daemon's answer goes, and
//! what a replay of the spool does against what Redis already holds.
//!
//! The life of a record:
//! 1. ahead of the answer, a `Submitting` record goes to Redis, racing the
//!    submission with a short bound; when Redis fails or is slow it goes to
//!    the spool on local disk instead ([`WriteAhead`]);
//! 2. the daemon's [`Answer`] settles it: `Candidate` (accepted, or no
//!    daemon answered) or `Refused`. A record written to Redis is settled
//!    there, one in the spool is rewritten in the spool ([`settle_in`]); a
//!    Redis write that fails puts the settled record in the spool;
//! 3. the spool is replayed into Redis when Redis answers again and at
//!    every start ([`replay_action`]); a record is replayed once the share
//!    log has caught up with the block's second, or after a bounded wait
//!    ([`replay_ready`]), and is removed from the spool once Redis holds it.
//!
//! Every Redis write is idempotent: a record is inserted only when its hash
//! is not stored, and settled only while it is `Submitting`. A record
//! replayed twice is one block, credited once by the unlocker.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ChainError;
use crate::lifecycle::{BlockRecord, BlockState};
use crate::pplns::{LogBucket, PplnsError, PplnsSnapshot, PplnsWindow, cut};

/// The PPLNS window of one block, fixed when the block is found, so that
/// the same snapshot can be taken again later from the share log: the
/// window's size at the block's network difficulty, and the last second of
/// the share log it reads (the second the block was found in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCut {
    /// Network difficulty of the block's job.
    pub network_difficulty: u64,
    /// The window's multiple of the network difficulty, parts per million.
    pub multiple_ppm: u64,
    /// Share difficulty the window holds.
    pub size: u128,
    /// The newest share-log second the window reads (Unix seconds).
    pub end_second: u64,
}

impl WindowCut {
    /// The cut of `window` for a block found at `found_at_ms` at
    /// `network_difficulty`.
    pub fn new(window: &PplnsWindow, network_difficulty: u64, found_at_ms: u64) -> Self {
        WindowCut {
            network_difficulty,
            multiple_ppm: window.multiple_ppm(None),
            size: window.size(network_difficulty, None),
            end_second: found_at_ms / 1_000,
        }
    }

    /// The snapshot of this window over `buckets` (the share log at
    /// [`end_second`](Self::end_second), newest first).
    pub fn snapshot(&self, buckets: Vec<LogBucket>) -> Result<PplnsSnapshot, PplnsError> {
        let entries = cut(buckets, self.size);
        PplnsSnapshot::new(
            self.network_difficulty,
            self.multiple_ppm,
            self.size,
            entries
                .into_iter()
                .map(|entry| (entry.address, u128::from(entry.weight))),
        )
    }
}

/// What the daemon answered to `submit_block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// It took the block.
    Accepted,
    /// It refused the block (or answered `false`).
    Refused,
    /// No daemon answered: the chain may or may not have the block.
    Unknown,
}

impl Answer {
    /// The answer of a `submit_block` call.
    pub fn of(submitted: &Result<bool, ChainError>) -> Answer {
        match submitted {
            Ok(true) => Answer::Accepted,
            Ok(false) | Err(ChainError::Refused(_)) => Answer::Refused,
            Err(ChainError::Unreachable(_)) => Answer::Unknown,
        }
    }

    /// The state the record settles in: a block whose fate is unknown is
    /// kept as a candidate (credited if the chain has it, given up if not).
    pub fn settled_state(self) -> BlockState {
        match self {
            Answer::Accepted | Answer::Unknown => BlockState::Candidate,
            Answer::Refused => BlockState::Refused,
        }
    }

    /// Whether the block may be credited (its window should hold the
    /// finding share).
    pub fn counts(self) -> bool {
        self.settled_state() == BlockState::Candidate
    }
}

/// Where the record written ahead of the answer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAhead {
    /// Redis took the `Submitting` record in time.
    Stored,
    /// Redis failed or was too slow; the record is in the spool.
    Spooled,
    /// Neither Redis nor the spool took it (the spool is off or the disk
    /// failed).
    Lost,
}

impl WriteAhead {
    /// The outcome of racing the Redis write (`redis_ok`: done in time) and,
    /// when it was not, writing the spool (`spooled`).
    pub fn of(redis_ok: bool, spooled: Option<bool>) -> WriteAhead {
        match (redis_ok, spooled) {
            (true, _) => WriteAhead::Stored,
            (false, Some(true)) => WriteAhead::Spooled,
            (false, _) => WriteAhead::Lost,
        }
    }
}

/// Where the settled record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleIn {
    /// In Redis: inserted if the hash is not stored, else the stored
    /// `Submitting` record settled. On failure it goes to the spool.
    Redis,
    /// In the spool, replacing the `Submitting` entry: the replay takes it
    /// to Redis. Redis is not tried here, so one place holds the block.
    Spool,
}

/// Where the answer is written, given where the record written ahead went.
pub fn settle_in(write_ahead: WriteAhead) -> SettleIn {
    match write_ahead {
        WriteAhead::Stored | WriteAhead::Lost => SettleIn::Redis,
        WriteAhead::Spooled => SettleIn::Spool,
    }
}

/// What replaying one spooled record does, given what Redis holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayAction {
    /// Redis has no record of the hash: insert the spooled one.
    Insert,
    /// Redis holds the record written ahead (`Submitting`) and the spool
    /// the daemon's answer: settle it.
    Settle,
    /// Redis already holds the block as far as the spool knows it, or
    /// further: nothing to write; drop the spooled record.
    Done,
}

/// The replay of a spooled record in `spooled` state when Redis holds the
/// hash in `stored` (`None`: not at all).
pub fn replay_action(spooled: BlockState, stored: Option<BlockState>) -> ReplayAction {
    match stored {
        None => ReplayAction::Insert,
        Some(BlockState::Submitting)
            if matches!(spooled, BlockState::Candidate | BlockState::Refused) =>
        {
            ReplayAction::Settle
        }
        Some(_) => ReplayAction::Done,
    }
}

/// Whether a spooled record is replayed now: once the share log holds the
/// block's second (`newest_second` ≥ the cut's end, so the shares sent
/// before the block have been stored) or once the replay has waited
/// `max_wait` with Redis answering. Only a record that will be credited
/// waits; a refused one has no window to complete.
pub fn replay_ready(
    spooled: BlockState,
    cut: &WindowCut,
    newest_second: Option<u64>,
    waited: Duration,
    max_wait: Duration,
) -> bool {
    spooled == BlockState::Refused
        || newest_second.is_some_and(|second| second >= cut.end_second)
        || waited >= max_wait
}

/// A found block as the spool keeps it: everything its record needs, the
/// PPLNS window as a cut to take again from the share log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpooledBlock {
    /// Block hash (64 hex).
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// When the pool found it, Unix milliseconds.
    pub found_at_ms: u64,
    /// Address of the finder.
    pub finder: String,
    /// `Submitting`, `Candidate` or `Refused`.
    pub state: BlockState,
    /// `miner_reward` at submission, atomic units.
    pub expected_reward: u64,
    /// The block's PPLNS window.
    pub cut: WindowCut,
}

impl SpooledBlock {
    /// The record to write, with the snapshot of the share log `buckets`
    /// read at the cut.
    pub fn record(&self, buckets: Vec<LogBucket>) -> Result<BlockRecord, PplnsError> {
        let snapshot = self.cut.snapshot(buckets)?;
        let make = match self.state {
            BlockState::Submitting => BlockRecord::submitting,
            BlockState::Refused => BlockRecord::refused,
            _ => BlockRecord::candidate,
        };
        Ok(make(
            self.hash.clone(),
            self.height,
            self.found_at_ms,
            self.finder.clone(),
            snapshot,
            self.expected_reward,
        ))
    }

    /// The same block, settled in `state`.
    pub fn settled(&self, state: BlockState) -> SpooledBlock {
        SpooledBlock {
            state,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUND_MS: u64 = 1_790_000_123_456;

    fn cut_at_difficulty(difficulty: u64) -> WindowCut {
        let window = PplnsWindow::fixed(2.0).expect("a valid window");
        WindowCut::new(&window, difficulty, FOUND_MS)
    }

    fn bucket(weights: &[(&str, u64)]) -> LogBucket {
        LogBucket {
            weights: weights
                .iter()
                .map(|(address, weight)| ((*address).to_owned(), *weight))
                .collect(),
        }
    }

    fn spooled(state: BlockState) -> SpooledBlock {
        SpooledBlock {
            hash: "ab".repeat(32),
            height: 7,
            found_at_ms: FOUND_MS,
            finder: "alice".to_owned(),
            state,
            expected_reward: 1_000,
            cut: cut_at_difficulty(100),
        }
    }

    #[test]
    fn the_cut_ends_at_the_second_the_block_was_found() {
        let cut = cut_at_difficulty(100);
        assert_eq!(cut.end_second, 1_790_000_123);
        assert_eq!(cut.size, 200);
        assert_eq!(cut.multiple_ppm, 2_000_000);
        // Newest first: bob's 150 fills most of it, alice's 100 the rest.
        let snapshot = cut
            .snapshot(vec![bucket(&[("bob", 150)]), bucket(&[("alice", 100)])])
            .expect("a snapshot");
        assert_eq!(
            snapshot.weights(),
            &[("alice".to_owned(), 50), ("bob".to_owned(), 150)]
        );
        assert_eq!(snapshot.window_size(), 200);
        // The same buckets give the same snapshot, whenever it is taken.
        let again = cut
            .snapshot(vec![bucket(&[("bob", 150)]), bucket(&[("alice", 100)])])
            .expect("a snapshot");
        assert_eq!(again, snapshot);
    }

    #[test]
    fn the_answer_decides_the_settled_state() {
        assert_eq!(Answer::of(&Ok(true)), Answer::Accepted);
        assert_eq!(Answer::of(&Ok(false)), Answer::Refused);
        assert_eq!(
            Answer::of(&Err(ChainError::Refused("stale".into()))),
            Answer::Refused
        );
        assert_eq!(
            Answer::of(&Err(ChainError::Unreachable("down".into()))),
            Answer::Unknown
        );
        assert_eq!(Answer::Accepted.settled_state(), BlockState::Candidate);
        assert_eq!(Answer::Unknown.settled_state(), BlockState::Candidate);
        assert_eq!(Answer::Refused.settled_state(), BlockState::Refused);
        assert!(Answer::Unknown.counts());
        assert!(!Answer::Refused.counts());
    }

    #[test]
    fn the_answer_goes_where_the_record_went() {
        assert_eq!(WriteAhead::of(true, None), WriteAhead::Stored);
        assert_eq!(WriteAhead::of(false, Some(true)), WriteAhead::Spooled);
        assert_eq!(WriteAhead::of(false, Some(false)), WriteAhead::Lost);
        assert_eq!(WriteAhead::of(false, None), WriteAhead::Lost);
        assert_eq!(settle_in(WriteAhead::Stored), SettleIn::Redis);
        assert_eq!(settle_in(WriteAhead::Spooled), SettleIn::Spool);
        // Nothing took it ahead: the answer tries Redis (and then the spool).
        assert_eq!(settle_in(WriteAhead::Lost), SettleIn::Redis);
    }

    #[test]
    fn a_block_found_while_redis_is_down_step_by_step() {
        // 1. Redis does not answer in time: the record goes to the spool.
        let write_ahead = WriteAhead::of(false, Some(true));
        let mut entry = spooled(BlockState::Submitting);
        // 2. The daemon accepts: the spool entry is rewritten as a candidate.
        assert_eq!(settle_in(write_ahead), SettleIn::Spool);
        entry = entry.settled(Answer::Accepted.settled_state());
        assert_eq!(entry.state, BlockState::Candidate);
        // 3. Redis is back but the share log has not reached the block's
        //    second: the replay waits, at most max_wait.
        let max_wait = Duration::from_secs(5);
        let behind = Some(entry.cut.end_second - 1);
        assert!(!replay_ready(
            entry.state,
            &entry.cut,
            behind,
            Duration::from_secs(1),
            max_wait
        ));
        assert!(replay_ready(
            entry.state,
            &entry.cut,
            behind,
            max_wait,
            max_wait
        ));
        assert!(replay_ready(
            entry.state,
            &entry.cut,
            Some(entry.cut.end_second),
            Duration::ZERO,
            max_wait
        ));
        // 4. Redis has no record: insert it; a second replay finds it there.
        assert_eq!(replay_action(entry.state, None), ReplayAction::Insert);
        assert_eq!(
            replay_action(entry.state, Some(BlockState::Candidate)),
            ReplayAction::Done
        );
        let record = entry
            .record(vec![bucket(&[("alice", 1)])])
            .expect("a record");
        assert_eq!(record.state, BlockState::Candidate);
        assert_eq!(record.snapshot.total_weight(), 1);
        assert_eq!(record.expected_reward, 1_000);
    }

    #[test]
    fn a_record_written_ahead_then_spooled_is_settled_by_the_replay() {
        // Redis took the Submitting record, then failed when the answer
        // came: the settled record is spooled, and the replay settles the
        // stored one instead of inserting.
        assert_eq!(settle_in(WriteAhead::Stored), SettleIn::Redis);
        let entry = spooled(BlockState::Refused);
        assert!(replay_ready(
            entry.state,
            &entry.cut,
            None,
            Duration::ZERO,
            Duration::from_secs(5)
        ));
        assert_eq!(
            replay_action(entry.state, Some(BlockState::Submitting)),
            ReplayAction::Settle
        );
        // Settled already (or moved on by the unlocker): nothing to do.
        for stored in [
            BlockState::Refused,
            BlockState::Candidate,
            BlockState::Immature,
            BlockState::Matured,
            BlockState::Orphaned,
        ] {
            assert_eq!(replay_action(entry.state, Some(stored)), ReplayAction::Done);
        }
    }

    #[test]
    fn a_submitting_record_left_by_a_crash_is_inserted_once() {
        // The master stopped before the answer: the spool holds Submitting.
        let entry = spooled(BlockState::Submitting);
        assert_eq!(replay_action(entry.state, None), ReplayAction::Insert);
        let record = entry.record(Vec::new()).expect("a record");
        assert_eq!(record.state, BlockState::Submitting);
        // A Submitting record never overwrites anything stored.
        for stored in [BlockState::Submitting, BlockState::Candidate] {
            assert_eq!(replay_action(entry.state, Some(stored)), ReplayAction::Done);
        }
    }
}
