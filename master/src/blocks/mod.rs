//! Block candidates: a share that meets the network target, straight from a
//! slave, skipping the batch queue.
//!
//! The path, in order:
//! 1. the job from the backlog (an unknown job is refused as stale);
//! 2. the header rebuilt from the job's template and the MinerWork, which
//!    must be the job's work;
//! 3. the PoW hashed again (off the I/O runtime) against the job's network
//!    target;
//! 4. at the same time: `submit_block` through the upstreams, `get_info`
//!    for the reward the block is expected to pay, and the record written
//!    ahead (`Submitting`, with its PPLNS snapshot) to Redis within
//!    [`WRITE_AHEAD_BOUND`], or, when Redis fails or is slower, to the spool
//!    on local disk (fsynced). Nothing is awaited before the submission
//!    leaves;
//! 5. after the daemon answered: the record settled as `Candidate`
//!    (accepted, or no daemon answered) or `Refused`, with the PPLNS
//!    snapshot taken again once the ledger holds the finding share (the
//!    slave's ack point reached `share_seq`, or after a short wait); where
//!    the record went ahead it is settled ([`plan::settle_in`]), and a
//!    Redis write that fails puts it in the spool;
//! 6. the slave answered.
//!
//! The PPLNS window of a block always ends at the share-log second the
//! block was found in ([`WindowCut`]), so a snapshot taken late (a replay
//! from the spool, a block added by the operator) is the one taken on time.
//! The spool is replayed by [`SpoolReplayer`]; the decisions are pure, in
//! [`plan`].

mod chain;
mod manual;
mod path;
pub mod plan;
mod replay;
pub mod spool;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tos_pool_common::clock::unix_ms;
use tos_pool_common::clock::unix_us;
use tos_pool_common::telemetry::Telemetry;
use tos_pool_common::telemetry::events::{BlockFound, Event};
use tos_pool_proto::v1::{BlockCandidate, BlockResult};
use tracing::Instrument;

use crate::ledger::{Ledger, state_name};
use crate::lifecycle::BlockState;
use crate::notify::{Notification, Notifier};
use crate::pplns::PplnsWindow;

pub use chain::{BlockJob, Chain, ChainError, MinedBlock};
pub use manual::{AddBlockError, BlockAdder};
pub use path::{PathStamps, PathTimes};
pub use plan::{SpooledBlock, WindowCut};
pub use replay::{RecordError, ReplayReport, SpoolReplayer, store};
pub use spool::{BlockSpool, SpoolError};
pub use verify::{Rebuilt, Refusal, check_pow, rebuild};

use plan::{Answer, SettleIn, WriteAhead, settle_in};

/// Longest the record written ahead of a submission waits for Redis before
/// it goes to the spool instead.
pub const WRITE_AHEAD_BOUND: Duration = Duration::from_millis(500);

/// Longest the settled record waits for Redis before it goes to the spool.
pub const SETTLE_BOUND: Duration = Duration::from_secs(2);

/// Where a candidate came from: the slave, and its stream's ack point, to
/// wait for the finding share before the PPLNS snapshot.
#[derive(Debug, Clone)]
pub struct CandidateSource {
    /// The slave that sent the candidate.
    pub slave_id: String,
    /// The highest share seq of the slave's stream the ledger holds.
    pub acked: watch::Receiver<u64>,
    /// When the master read the candidate from the stream, µs since the
    /// Unix epoch (0 when not stamped).
    pub received_at_us: u64,
}

/// Handles block candidates.
pub struct BlockService {
    chain: Arc<dyn Chain>,
    ledger: Arc<Ledger>,
    window: PplnsWindow,
    share_wait: Duration,
    telemetry: Telemetry,
    notifier: Notifier,
    spool: Option<BlockSpool>,
}

impl std::fmt::Debug for BlockService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockService")
            .field("window", &self.window)
            .field("share_wait", &self.share_wait)
            .field("spool", &self.spool)
            .finish_non_exhaustive()
    }
}

impl BlockService {
    /// A block path over `chain` and `ledger`, with the PPLNS `window`.
    /// `share_wait` bounds how long the snapshot waits for the finding share
    /// to reach the ledger. Every submission is traced as a `block.submit`
    /// span and every accepted block is a `BlockFound` event in `telemetry`.
    pub fn new(
        chain: Arc<dyn Chain>,
        ledger: Arc<Ledger>,
        window: PplnsWindow,
        share_wait: Duration,
        telemetry: Telemetry,
    ) -> Self {
        BlockService {
            chain,
            ledger,
            window,
            share_wait,
            telemetry,
            notifier: Notifier::disabled(),
            spool: None,
        }
    }

    /// The same service, telling `notifier` of every block it records as
    /// found.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// The same service, keeping in `spool` the records Redis cannot take
    /// at once.
    pub fn with_spool(mut self, spool: BlockSpool) -> Self {
        self.spool = Some(spool);
        self
    }

    /// Checks, submits and records one candidate; the answer for the slave.
    /// Runs inside a `block.submit` span (exported to New Relic as a trace)
    /// that ends with the block's hash and whether the daemon accepted it.
    pub async fn handle(&self, candidate: BlockCandidate, source: CandidateSource) -> BlockResult {
        let span = self.telemetry.span(|| {
            tracing::info_span!(
                "block.submit",
                height = candidate.height,
                job = %candidate.job_id,
                slave = %source.slave_id,
                address = %candidate.address,
                worker = %candidate.worker,
                hash = tracing::field::Empty,
                accepted = tracing::field::Empty,
                path_us = tracing::field::Empty,
                slave_us = tracing::field::Empty,
                wire_us = tracing::field::Empty,
                master_us = tracing::field::Empty,
            )
        });
        let result = self
            .submit(candidate, source)
            .instrument(span.clone())
            .await;
        if !result.block_hash.is_empty() {
            span.record("hash", result.block_hash.as_str());
        }
        span.record("accepted", result.accepted);
        result
    }

    async fn submit(&self, candidate: BlockCandidate, source: CandidateSource) -> BlockResult {
        let refused = |reason: String| BlockResult {
            request_id: candidate.request_id,
            accepted: false,
            block_hash: String::new(),
            reason,
            height: candidate.height,
        };
        let (job, rebuilt) = match self.check(&candidate).await {
            Ok(checked) => checked,
            Err(refusal) => {
                tracing::warn!(
                    slave = %source.slave_id,
                    job = %candidate.job_id,
                    address = %candidate.address,
                    reason = %refusal,
                    "block candidate refused by the master"
                );
                return refused(refusal.to_string());
            }
        };
        let work_hex = rebuilt.work.to_hex();
        let path = PathStamps {
            read_at_us: candidate.read_at_us,
            sent_at_us: candidate.sent_at_us,
            received_at_us: source.received_at_us,
            leaving_at_us: unix_us(),
        }
        .times();
        let found_at_ms = if candidate.found_at_ms == 0 {
            unix_ms()
        } else {
            candidate.found_at_ms
        };
        let ahead = SpooledBlock {
            hash: rebuilt.hash.clone(),
            height: job.height,
            found_at_ms,
            finder: candidate.address.clone(),
            state: BlockState::Submitting,
            expected_reward: 0,
            cut: WindowCut::new(
                &self.window,
                job.network_difficulty.to_u64_saturating(),
                found_at_ms,
            ),
        };
        // The submission is polled first: its request leaves before the
        // Redis write ahead of it is even started.
        let (submitted, reward, write_ahead) = tokio::join!(
            self.chain.submit_block(&job.template_hex, &work_hex),
            self.chain.miner_reward(),
            self.write_ahead(&ahead)
        );
        self.record_path(&path);
        let expected_reward = reward.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the block reward at submission; recording 0");
            0
        });
        let answer = Answer::of(&submitted);
        let accepted = answer == Answer::Accepted;
        let reason = match &submitted {
            Ok(true) => String::new(),
            Ok(false) => "the daemon did not accept the block".to_owned(),
            Err(error) => error.to_string(),
        };
        tracing::info!(
            hash = %rebuilt.hash,
            height = job.height,
            slave = %source.slave_id,
            address = %candidate.address,
            worker = %candidate.worker,
            accepted,
            reason = %reason,
            write_ahead = ?write_ahead,
            path_us = PathTimes::micros(path.total),
            slave_us = PathTimes::micros(path.slave),
            wire_us = PathTimes::micros(path.wire),
            master_us = PathTimes::micros(path.master),
            "block submitted"
        );
        let settled = SpooledBlock {
            expected_reward,
            ..ahead.settled(answer.settled_state())
        };
        self.settle(&settled, write_ahead, answer, &source, candidate.share_seq)
            .await;
        if accepted {
            self.telemetry
                .events()
                .record(Event::BlockFound(BlockFound {
                    height: job.height,
                    hash: rebuilt.hash.as_str().into(),
                    finder: candidate.address.as_str().into(),
                    reward: expected_reward,
                }));
            BlockResult {
                request_id: candidate.request_id,
                accepted: true,
                block_hash: rebuilt.hash,
                reason: String::new(),
                height: job.height,
            }
        } else if answer.counts() {
            refused(format!(
                "{reason}; the block is tracked and credited if the chain has it"
            ))
        } else {
            refused(reason)
        }
    }

    /// Step 4's write: the `Submitting` record to Redis within
    /// [`WRITE_AHEAD_BOUND`], else to the spool.
    async fn write_ahead(&self, ahead: &SpooledBlock) -> WriteAhead {
        let in_redis = tokio::time::timeout(WRITE_AHEAD_BOUND, store(&self.ledger, ahead)).await;
        let redis_ok = match in_redis {
            Ok(Ok(_)) => true,
            Ok(Err(error)) => {
                tracing::warn!(hash = %ahead.hash, %error, "cannot write the block ahead of its submission to Redis; spooling it");
                false
            }
            Err(_) => {
                tracing::warn!(hash = %ahead.hash, bound_ms = WRITE_AHEAD_BOUND.as_millis(), "Redis is too slow to take the block ahead of its submission; spooling it");
                false
            }
        };
        let spooled = match (redis_ok, &self.spool) {
            (true, _) => None,
            (false, Some(_)) => Some(self.spool_write(ahead).await),
            (false, None) => {
                tracing::warn!(hash = %ahead.hash, "no block spool is configured (master.block_spool_dir): the block is recorded only if Redis takes the daemon's answer");
                None
            }
        };
        WriteAhead::of(redis_ok, spooled)
    }

    /// Step 5: the daemon's answer written where the record went ahead
    /// (Redis, else the spool).
    async fn settle(
        &self,
        settled: &SpooledBlock,
        write_ahead: WriteAhead,
        answer: Answer,
        source: &CandidateSource,
        share_seq: u64,
    ) {
        match settle_in(write_ahead) {
            SettleIn::Spool => {
                self.spool_write(settled).await;
            }
            SettleIn::Redis => {
                if answer.counts() {
                    self.wait_for_share(source, share_seq).await;
                }
                match tokio::time::timeout(SETTLE_BOUND, store(&self.ledger, settled)).await {
                    Ok(Ok(action)) => {
                        if action != plan::ReplayAction::Done
                            && settled.state == BlockState::Candidate
                        {
                            self.notify_found(settled);
                        }
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(hash = %settled.hash, %error, "cannot record the daemon's answer in Redis; spooling it");
                        self.spool_write(settled).await;
                    }
                    Err(_) => {
                        tracing::warn!(hash = %settled.hash, bound_ms = SETTLE_BOUND.as_millis(), "Redis is too slow to record the daemon's answer; spooling it");
                        self.spool_write(settled).await;
                    }
                }
            }
        }
    }

    /// Writes `block` to the spool (off the I/O runtime); whether it is
    /// there. Without a spool, or when the disk fails, the block is lost to
    /// the ledger: logged at error level with what the operator must do.
    async fn spool_write(&self, block: &SpooledBlock) -> bool {
        let Some(spool) = self.spool.clone() else {
            tracing::error!(
                hash = %block.hash,
                height = block.height,
                state = state_name(block.state),
                "found block NOT recorded and no block spool is configured (master.block_spool_dir): add it with POST /api/admin/blocks or it will never be credited"
            );
            return false;
        };
        let entry = block.clone();
        let written = tokio::task::spawn_blocking(move || spool.write(&entry)).await;
        match written {
            Ok(Ok(())) => {
                tracing::info!(hash = %block.hash, height = block.height, state = state_name(block.state), "found block spooled to disk; it is replayed into Redis when Redis answers");
                true
            }
            Ok(Err(error)) => {
                tracing::error!(hash = %block.hash, height = block.height, %error, "found block NOT recorded: the spool write failed; add it with POST /api/admin/blocks or it will never be credited");
                false
            }
            Err(error) => {
                tracing::error!(hash = %block.hash, height = block.height, %error, "found block NOT recorded: the spool write did not finish; add it with POST /api/admin/blocks or it will never be credited");
                false
            }
        }
    }

    fn notify_found(&self, block: &SpooledBlock) {
        self.notifier.notify(Notification::BlockFound {
            hash: block.hash.clone(),
            height: block.height,
            finder: block.finder.clone(),
            reward: block.expected_reward,
        });
    }

    /// Puts the block path in the `block_path` histogram and on the
    /// `block.submit` span (the current span while a candidate is handled).
    fn record_path(&self, path: &PathTimes) {
        if let Some(total) = path.total {
            self.telemetry.metrics().observe_block_path(total);
        }
        let span = tracing::Span::current();
        for (field, part) in [
            ("path_us", path.total),
            ("slave_us", path.slave),
            ("wire_us", path.wire),
            ("master_us", path.master),
        ] {
            if let Some(micros) = PathTimes::micros(part) {
                span.record(field, micros);
            }
        }
    }

    /// Steps 1–3: job, rebuild, PoW.
    async fn check(&self, candidate: &BlockCandidate) -> Result<(BlockJob, Rebuilt), Refusal> {
        let job = self
            .chain
            .job(&candidate.job_id)
            .ok_or_else(|| Refusal::StaleJob(candidate.job_id.clone()))?;
        let rebuilt = rebuild(&job, &candidate.miner_work)?;
        let work = rebuilt.work;
        let target = job.network_difficulty.target();
        tokio::task::spawn_blocking(move || check_pow(&work, &target))
            .await
            .map_err(|error| Refusal::MalformedWork(format!("PoW check failed: {error}")))??;
        Ok((job, rebuilt))
    }

    /// Waits until the ledger holds the slave's share `share_seq`, at most
    /// `share_wait`.
    async fn wait_for_share(&self, source: &CandidateSource, share_seq: u64) {
        if share_seq == 0 {
            return;
        }
        let mut acked = source.acked.clone();
        let stored = tokio::time::timeout(self.share_wait, acked.wait_for(|seq| *seq >= share_seq));
        if !matches!(stored.await, Ok(Ok(_))) {
            tracing::warn!(
                slave = %source.slave_id,
                share_seq,
                "the finding share is not in the ledger yet: snapshot taken without it"
            );
        }
    }
}
