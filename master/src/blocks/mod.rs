//! Block candidates: a share that meets the network target, straight from a
//! slave, skipping the batch queue.
//!
//! The path, in order:
//! 1. the job from the backlog (an unknown job is refused as stale);
//! 2. the header rebuilt from the job's template and the MinerWork, which
//!    must be the job's work;
//! 3. the PoW hashed again (off the I/O runtime) against the job's network
//!    target;
//! 4. `submit_block` through the upstreams, with `get_info` read at the same
//!    time for the reward the block is expected to pay: nothing else is
//!    awaited before the submission;
//! 5. after the daemon answered: the PPLNS snapshot, taken once the ledger
//!    holds the finding share itself (the slave's ack point reached
//!    `share_seq`, or after a short wait), so the window ends at the block;
//! 6. the block recorded as a candidate (or as refused, with the daemon's
//!    reason), and the slave answered.
//!
//! A submission whose outcome is unknown (no daemon answered) is recorded as
//! a candidate: if the chain has it the unlocker credits it, otherwise the
//! unlocker gives it up.

mod chain;
mod path;
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

use crate::ledger::Ledger;
use crate::lifecycle::BlockRecord;
use crate::notify::{Notification, Notifier};
use crate::pplns::{PplnsSnapshot, PplnsWindow};

pub use chain::{BlockJob, Chain, ChainError};
pub use path::{PathStamps, PathTimes};
pub use verify::{Rebuilt, Refusal, check_pow, rebuild};

/// Tries at recording a found block before giving up (logged as an error).
const RECORD_ATTEMPTS: u32 = 3;

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
}

impl std::fmt::Debug for BlockService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockService")
            .field("window", &self.window)
            .field("share_wait", &self.share_wait)
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
        }
    }

    /// The same service, telling `notifier` of every block it records as
    /// found.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
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
        let (submitted, reward) = tokio::join!(
            self.chain.submit_block(&job.template_hex, &work_hex),
            self.chain.miner_reward()
        );
        self.record_path(&path);
        let expected_reward = reward.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the block reward at submission; recording 0");
            0
        });
        let (accepted, reason) = match &submitted {
            Ok(true) => (true, String::new()),
            Ok(false) => (false, "the daemon did not accept the block".to_owned()),
            Err(error) => (false, error.to_string()),
        };
        tracing::info!(
            hash = %rebuilt.hash,
            height = job.height,
            slave = %source.slave_id,
            address = %candidate.address,
            worker = %candidate.worker,
            accepted,
            reason = %reason,
            path_us = PathTimes::micros(path.total),
            slave_us = PathTimes::micros(path.slave),
            wire_us = PathTimes::micros(path.wire),
            master_us = PathTimes::micros(path.master),
            "block submitted"
        );
        let counts = !matches!(submitted, Ok(false) | Err(ChainError::Refused(_)));
        if counts {
            self.wait_for_share(&source, candidate.share_seq).await;
        }
        self.record(&candidate, &job, &rebuilt, counts, expected_reward)
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
        } else if counts {
            refused(format!(
                "{reason}; the block is tracked and credited if the chain has it"
            ))
        } else {
            refused(reason)
        }
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

    /// Steps 5–6: snapshot and record.
    async fn record(
        &self,
        candidate: &BlockCandidate,
        job: &BlockJob,
        rebuilt: &Rebuilt,
        counts: bool,
        expected_reward: u64,
    ) {
        let difficulty = job.network_difficulty.to_u64_saturating();
        let found_at_ms = if candidate.found_at_ms == 0 {
            unix_ms()
        } else {
            candidate.found_at_ms
        };
        for attempt in 1..=RECORD_ATTEMPTS {
            let outcome = async {
                let buckets = self
                    .ledger
                    .share_log(self.window.size(difficulty, None))
                    .await?;
                let snapshot =
                    PplnsSnapshot::from_share_log(buckets, &self.window, difficulty, None);
                let make = if counts {
                    BlockRecord::candidate
                } else {
                    BlockRecord::refused
                };
                let record = make(
                    rebuilt.hash.clone(),
                    job.height,
                    found_at_ms,
                    candidate.address.clone(),
                    snapshot,
                    expected_reward,
                );
                self.ledger.insert_candidate(&record).await
            }
            .await;
            match outcome {
                Ok(inserted) => {
                    if inserted && counts {
                        self.notifier.notify(Notification::BlockFound {
                            hash: rebuilt.hash.clone(),
                            height: job.height,
                            finder: candidate.address.clone(),
                            reward: expected_reward,
                        });
                    }
                    return;
                }
                Err(error) => {
                    tracing::error!(hash = %rebuilt.hash, attempt, %error, "cannot record the found block");
                }
            }
        }
        tracing::error!(
            hash = %rebuilt.hash,
            height = job.height,
            "found block NOT recorded: add it by hand or it will never be credited"
        );
    }
}
