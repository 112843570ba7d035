//! Writing a found block's record to Redis ([`store`], used by the block
//! path and by the replay alike) and replaying the spool into Redis
//! ([`SpoolReplayer`]): at start, then every [`REPLAY_INTERVAL`] while the
//! spool holds anything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tos_pool_common::metrics::{Gauge, Metrics};
use tos_pool_common::shutdown::Shutdown;

use super::plan::{ReplayAction, SpooledBlock, replay_action, replay_ready};
use super::spool::{BlockSpool, SpoolError};
use crate::ledger::{Ledger, LedgerError, state_name};
use crate::lifecycle::BlockState;
use crate::notify::{Notification, Notifier};
use crate::pplns::PplnsError;

/// How often the spool is looked at.
pub const REPLAY_INTERVAL: Duration = Duration::from_secs(1);

/// Why a block's record could not be written to Redis.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Redis failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The PPLNS snapshot could not be built.
    #[error("cannot build the block's PPLNS snapshot: {0}")]
    Window(#[from] PplnsError),
    /// The spool could not be read or cleaned.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A blocking spool task did not finish.
    #[error("the block spool task failed: {0}")]
    Task(String),
}

/// Writes `block`'s record to Redis as [`replay_action`] decides against
/// what Redis holds: inserted when the hash is unknown, settled when Redis
/// holds it `Submitting` and `block` is the daemon's answer, left alone
/// otherwise. The PPLNS snapshot is taken from the share log at the block's
/// [`WindowCut`](super::WindowCut). Idempotent: a second call with the same
/// block returns [`ReplayAction::Done`] and writes nothing.
pub async fn store(ledger: &Ledger, block: &SpooledBlock) -> Result<ReplayAction, RecordError> {
    let stored = ledger.block(&block.hash).await?.map(|record| record.state);
    let action = replay_action(block.state, stored);
    if action == ReplayAction::Done {
        return Ok(action);
    }
    let buckets = ledger
        .share_log_until(block.cut.size, block.cut.end_second)
        .await?;
    let record = block.record(buckets)?;
    let written = match action {
        ReplayAction::Insert => ledger.insert_candidate(&record).await?,
        ReplayAction::Settle => ledger.settle_submission(&record).await?,
        ReplayAction::Done => false,
    };
    // Not written: another writer got there between the read and the write.
    Ok(if written { action } else { ReplayAction::Done })
}

/// What one replay pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records written to Redis (inserted or settled).
    pub written: usize,
    /// Records Redis already held, dropped from the spool.
    pub already_stored: usize,
    /// Records left in the spool (Redis down, or waiting for the share log).
    pub pending: usize,
    /// Torn files found and moved aside.
    pub torn: usize,
}

/// Replays the block spool into Redis.
pub struct SpoolReplayer {
    spool: BlockSpool,
    ledger: Arc<Ledger>,
    notifier: Notifier,
    metrics: Metrics,
    share_wait: Duration,
    /// When each pending block was first seen with Redis answering.
    waiting: HashMap<String, Instant>,
    torn_total: u64,
}

impl std::fmt::Debug for SpoolReplayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolReplayer")
            .field("spool", &self.spool)
            .field("share_wait", &self.share_wait)
            .finish_non_exhaustive()
    }
}

impl SpoolReplayer {
    /// A replayer of `spool` into `ledger`. A record to be credited waits at
    /// most `share_wait` (with Redis answering) for the share log to reach
    /// its block's second. Pending and torn records are shown in `metrics`.
    pub fn new(
        spool: BlockSpool,
        ledger: Arc<Ledger>,
        share_wait: Duration,
        metrics: Metrics,
    ) -> Self {
        SpoolReplayer {
            spool,
            ledger,
            notifier: Notifier::disabled(),
            metrics,
            share_wait,
            waiting: HashMap::new(),
            torn_total: 0,
        }
    }

    /// The same replayer, telling `notifier` of every candidate it writes.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// One pass: scans the spool (reporting torn files), and writes each
    /// record that is ready to Redis, removing it from the spool once Redis
    /// holds it. Stops at the first Redis failure (the rest waits for the
    /// next pass).
    pub async fn replay_once(&mut self) -> Result<ReplayReport, RecordError> {
        let spool = self.spool.clone();
        let scan = tokio::task::spawn_blocking(move || spool.scan())
            .await
            .map_err(|error| RecordError::Task(error.to_string()))??;
        let mut report = ReplayReport {
            torn: scan.torn.len(),
            pending: scan.blocks.len(),
            ..ReplayReport::default()
        };
        for torn in &scan.torn {
            tracing::error!(
                path = %torn.path.display(),
                moved_to = ?torn.moved_to,
                defect = %torn.defect,
                "torn block spool file: not replayed; if it held a block, add the block with POST /api/admin/blocks (the unlocker lists pool blocks without a record)"
            );
        }
        self.torn_total += scan.torn.len() as u64;
        self.metrics
            .set_gauge(Gauge::BlockSpoolTorn, self.torn_total as f64);
        self.waiting
            .retain(|hash, _| scan.blocks.iter().any(|block| &block.hash == hash));
        let outcome = self.replay_blocks(&scan.blocks, &mut report).await;
        self.metrics
            .set_gauge(Gauge::BlockSpoolPending, report.pending as f64);
        outcome.map(|()| report)
    }

    async fn replay_blocks(
        &mut self,
        blocks: &[SpooledBlock],
        report: &mut ReplayReport,
    ) -> Result<(), RecordError> {
        if blocks.is_empty() {
            return Ok(());
        }
        let newest_second = self.ledger.newest_share_second().await?;
        let now = Instant::now();
        for block in blocks {
            let first_seen = *self.waiting.entry(block.hash.clone()).or_insert(now);
            let waited = now.saturating_duration_since(first_seen);
            if !replay_ready(
                block.state,
                &block.cut,
                newest_second,
                waited,
                self.share_wait,
            ) {
                continue;
            }
            let action = match store(&self.ledger, block).await {
                Ok(action) => action,
                Err(RecordError::Ledger(error)) => return Err(RecordError::Ledger(error)),
                Err(error) => {
                    // Not Redis: this record cannot be written as it is; the
                    // others are not held up behind it.
                    tracing::error!(hash = %block.hash, height = block.height, %error, "spooled block cannot be replayed; it stays in the spool");
                    continue;
                }
            };
            match action {
                ReplayAction::Done => report.already_stored += 1,
                ReplayAction::Insert | ReplayAction::Settle => {
                    report.written += 1;
                    if block.state == BlockState::Candidate {
                        self.notifier.notify(Notification::BlockFound {
                            hash: block.hash.clone(),
                            height: block.height,
                            finder: block.finder.clone(),
                            reward: block.expected_reward,
                        });
                    }
                }
            }
            tracing::info!(
                hash = %block.hash,
                height = block.height,
                state = state_name(block.state),
                action = ?action,
                "spooled block replayed into Redis"
            );
            let spool = self.spool.clone();
            let replayed = block.clone();
            let removed = tokio::task::spawn_blocking(move || spool.remove_if_same(&replayed))
                .await
                .map_err(|error| RecordError::Task(error.to_string()))??;
            if removed {
                self.waiting.remove(&block.hash);
                report.pending -= 1;
            }
        }
        Ok(())
    }

    /// Replays at once, then every `REPLAY_INTERVAL`, until `shutdown`.
    pub async fn run(mut self, shutdown: Shutdown) {
        let mut ticker = tokio::time::interval(REPLAY_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.stopped() => return,
                _ = ticker.tick() => {}
            }
            match self.replay_once().await {
                Ok(report) if report.written > 0 || report.already_stored > 0 => {
                    tracing::info!(
                        written = report.written,
                        already_stored = report.already_stored,
                        pending = report.pending,
                        "block spool replayed"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, spool = %self.spool.dir().display(), "block spool replay stopped; retrying");
                }
            }
        }
    }
}
