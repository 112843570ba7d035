//! The unlocker: every `unlocker.interval`, each block still in play
//! (candidate or immature) is read from the daemon, stepped through the
//! block lifecycle ([`crate::lifecycle::step`]) and its transition written
//! by the ledger in one atomic, idempotent step. A run that fails halfway
//! changes nothing twice: the next run reads the stored states again.
//! Each run also reads the chain's newly settled heights for blocks the
//! pool mined that have no record (`discover`).

mod discover;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tos_pool_common::clock::unix_ms;
use tos_pool_common::config::Config;
use tos_pool_common::metrics::{Gauge, Metrics};
use tos_pool_common::network::Network;
use tos_pool_common::shutdown::Shutdown;

pub use discover::{
    MAX_HEIGHTS_PER_RUN, MAX_RESUME_GAP, ScanCursor, UnrecordedBlock, is_pool_miner,
};

use crate::blocks::{BlockSpool, Chain, ChainError};
use crate::ledger::{Ledger, LedgerError, state_name};
use crate::lifecycle::{BlockState, ChainObservation, LifecycleError, LifecyclePolicy, step};
use crate::notify::{Notification, Notifier};
use crate::pplns::{FeeRate, PplnsError};

/// Depth below the tip at which TOS considers a block final (`STABLE_LIMIT`):
/// a block reported orphaned, or unknown, that deep is given up.
pub const STABLE_LIMIT: u64 = 24;

/// Why the unlocker cannot start or a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum UnlockerError {
    /// `pool.fee_percent` cannot be used.
    #[error(transparent)]
    Fee(#[from] PplnsError),
    /// The unlocker depths or fee address cannot be used.
    #[error(transparent)]
    Policy(#[from] LifecycleError),
    /// The ledger could not be read or written; the run stops and the next
    /// one starts over.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The daemon's tip could not be read; the run is skipped.
    #[error("cannot read the chain tip: {0}")]
    Chain(#[from] ChainError),
}

/// The lifecycle policy of `config`: `unlocker.immature_depth`,
/// `unlocker.mature_depth`, the fee of `pool.fee_percent` to
/// `pool.fee_address`, and [`STABLE_LIMIT`] (at least `mature_depth`) as the
/// depth at which a block missing from the chain is given up.
pub fn policy(config: &Config) -> Result<LifecyclePolicy, UnlockerError> {
    let give_up = STABLE_LIMIT.max(config.unlocker.immature_depth);
    let policy = LifecyclePolicy {
        immature_depth: config.unlocker.immature_depth,
        mature_depth: config.unlocker.mature_depth,
        orphan_depth: give_up,
        missing_grace_depth: give_up,
        fee: FeeRate::from_percent(config.pool.fee_percent)?,
        fee_address: config.pool.fee_address.clone(),
    };
    policy.validate()?;
    Ok(policy)
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Blocks looked at.
    pub checked: usize,
    /// Transitions written.
    pub moved: usize,
    /// Blocks skipped because the daemon could not be asked.
    pub skipped: usize,
    /// Pool blocks without a record noticed for the first time.
    pub unrecorded: usize,
}

/// What the unlocker needs to find the pool's blocks that have no record.
#[derive(Debug)]
pub struct Discovery {
    /// The key in the miner field of every header the pool builds.
    pub pool_key: [u8; 32],
    /// The network the daemon's addresses are on.
    pub network: Network,
    /// The block spool, whose records are not missing, only not in Redis yet.
    pub spool: Option<BlockSpool>,
    /// Where the count of unrecorded blocks is shown.
    pub metrics: Metrics,
    cursor: Mutex<ScanCursor>,
}

impl Discovery {
    /// Discovery of blocks mined with `pool_key` on `network`, reading back
    /// `lookback` blocks at start and each height once it is `settle_depth`
    /// deep.
    pub fn new(
        pool_key: [u8; 32],
        network: Network,
        lookback: u64,
        settle_depth: u64,
        metrics: Metrics,
    ) -> Self {
        Discovery {
            pool_key,
            network,
            spool: None,
            metrics,
            cursor: Mutex::new(ScanCursor::new(lookback, settle_depth)),
        }
    }

    /// The same discovery, counting the records in `spool` as recorded.
    pub fn with_spool(mut self, spool: Option<BlockSpool>) -> Self {
        self.spool = spool;
        self
    }

    fn is_fresh(&self) -> bool {
        self.cursor.lock().is_ok_and(|cursor| cursor.is_fresh())
    }

    fn resume(&self, stored: Option<u64>, tip_height: u64) {
        if let Ok(mut cursor) = self.cursor.lock() {
            cursor.resume(stored, tip_height);
        }
    }

    fn due(&self, tip_height: u64) -> Option<std::ops::RangeInclusive<u64>> {
        self.cursor
            .lock()
            .map_or(None, |cursor| cursor.due(tip_height))
    }

    fn advance_to(&self, next: u64) {
        if let Ok(mut cursor) = self.cursor.lock() {
            cursor.advance_to(next);
        }
    }
}

/// Moves found blocks through their lifecycle.
pub struct Unlocker {
    chain: Arc<dyn Chain>,
    ledger: Arc<Ledger>,
    policy: LifecyclePolicy,
    notifier: Notifier,
    discovery: Option<Discovery>,
}

impl std::fmt::Debug for Unlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unlocker")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Unlocker {
    /// An unlocker reading `chain` and writing `ledger` under `policy`.
    pub fn new(chain: Arc<dyn Chain>, ledger: Arc<Ledger>, policy: LifecyclePolicy) -> Self {
        Unlocker {
            chain,
            ledger,
            policy,
            notifier: Notifier::disabled(),
            discovery: None,
        }
    }

    /// The same unlocker, also looking for the pool's blocks that have no
    /// record.
    pub fn with_discovery(mut self, discovery: Discovery) -> Self {
        self.discovery = Some(discovery);
        self
    }

    /// The same unlocker, telling `notifier` of every block it orphans.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// One pass over every candidate and immature block.
    pub async fn run_once(&self) -> Result<RunReport, UnlockerError> {
        let tip_height = self.chain.tip_height().await?;
        let mut report = RunReport::default();
        for state in [
            BlockState::Submitting,
            BlockState::Candidate,
            BlockState::Immature,
        ] {
            for record in self.ledger.blocks_in_state(state).await? {
                report.checked += 1;
                let block = match self.chain.block(&record.hash).await {
                    Ok(block) => block,
                    Err(error) => {
                        tracing::warn!(hash = %record.hash, %error, "cannot read the block: skipped this run");
                        report.skipped += 1;
                        continue;
                    }
                };
                let observation = ChainObservation { tip_height, block };
                let Some(transition) = step(&record, &observation, &self.policy) else {
                    continue;
                };
                let applied = self
                    .ledger
                    .apply_transition(&record.hash, record.state, &transition)
                    .await?;
                if applied {
                    report.moved += 1;
                    if transition.new_state == BlockState::Orphaned {
                        self.notifier.notify(Notification::BlockOrphaned {
                            hash: record.hash.clone(),
                            height: record.height,
                        });
                    }
                    tracing::info!(
                        hash = %record.hash,
                        height = record.height,
                        depth = record.depth(tip_height),
                        from = state_name(record.state),
                        to = state_name(transition.new_state),
                        block_type = ?transition.block_type,
                        reward = ?transition.final_reward,
                        ops = transition.ledger_ops.len(),
                        "block lifecycle step"
                    );
                }
            }
        }
        if let Some(discovery) = &self.discovery {
            report.unrecorded = self.discover(discovery, tip_height).await?;
        }
        Ok(report)
    }

    /// Reads the heights due for blocks mined by the pool without a record,
    /// notes and reports each new one, drops the notes of blocks recorded
    /// since, and sets the gauge. Returns how many were new.
    async fn discover(
        &self,
        discovery: &Discovery,
        tip_height: u64,
    ) -> Result<usize, UnlockerError> {
        let mut new = 0;
        if discovery.is_fresh() {
            discovery.resume(self.ledger.scan_height().await?, tip_height);
        }
        if let Some(due) = discovery.due(tip_height) {
            let mut next = *due.start();
            for height in due {
                let blocks = match self.chain.blocks_at_height(height).await {
                    Ok(blocks) => blocks,
                    Err(error) => {
                        tracing::warn!(height, %error, "cannot read the blocks at a height; the scan for unrecorded pool blocks resumes there");
                        break;
                    }
                };
                for block in blocks {
                    if !is_pool_miner(&block.miner, &discovery.pool_key, discovery.network)
                        || self.ledger.block(&block.hash).await?.is_some()
                        || discovery
                            .spool
                            .as_ref()
                            .is_some_and(|spool| spool.contains(&block.hash))
                    {
                        continue;
                    }
                    let noted = UnrecordedBlock {
                        hash: block.hash.clone(),
                        height: block.height,
                        timestamp_ms: block.timestamp_ms,
                        miner_reward: block.observed.miner_reward,
                        noticed_at_ms: unix_ms(),
                    };
                    let json = serde_json::to_string(&noted).unwrap_or_default();
                    if self
                        .ledger
                        .note_unrecorded_block(&block.hash, &json)
                        .await?
                    {
                        new += 1;
                        tracing::error!(
                            hash = %block.hash,
                            height = block.height,
                            block_type = ?block.observed.block_type,
                            miner_reward = block.observed.miner_reward,
                            "the pool mined this block but has no record of it: it will not be credited until added with POST /api/admin/blocks"
                        );
                    }
                }
                next = height + 1;
            }
            discovery.advance_to(next);
            self.ledger.set_scan_height(next).await?;
        }
        let mut still_missing = 0usize;
        for (hash, _) in self.ledger.unrecorded_blocks().await? {
            if self.ledger.block(&hash).await?.is_some() {
                self.ledger.forget_unrecorded_block(&hash).await?;
            } else {
                still_missing += 1;
            }
        }
        discovery
            .metrics
            .set_gauge(Gauge::BlocksUnrecorded, still_missing as f64);
        Ok(new)
    }

    /// Runs every `interval` until `shutdown` fires.
    pub async fn run(self, interval: Duration, shutdown: Shutdown) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.stopped() => return,
                _ = ticker.tick() => {}
            }
            match self.run_once().await {
                Ok(report) if report.moved > 0 || report.skipped > 0 => {
                    tracing::debug!(
                        checked = report.checked,
                        moved = report.moved,
                        skipped = report.skipped,
                        "unlocker run"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "unlocker run stopped; retrying next interval")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_reads_the_config_and_gives_up_below_the_stable_limit() {
        let mut config = Config::default();
        config.pool.fee_address = "tst1pool".to_owned();
        config.pool.fee_percent = 2.5;
        config.unlocker.immature_depth = 2;
        config.unlocker.mature_depth = 5;
        let policy = policy(&config).expect("valid policy");
        assert_eq!((policy.immature_depth, policy.mature_depth), (2, 5));
        assert_eq!((policy.orphan_depth, policy.missing_grace_depth), (24, 24));
        assert_eq!(policy.fee.ppm(), 25_000);
        config.unlocker.immature_depth = 50;
        config.unlocker.mature_depth = 40;
        assert!(matches!(
            super::policy(&config),
            Err(UnlockerError::Policy(_))
        ));
    }
}
