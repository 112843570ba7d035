//! `GET /api/stats`: the pool (hashrate, miners, workers, shares, blocks,
//! fee, last block, total paid, payout rules, current round) and the
//! network (height, difficulty, hashrate), computed at most once per
//! `api.stats_cache`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tos_pool_common::clock::unix_ms;

use super::blocks::BlockView;
use super::{ApiError, ApiState};
use crate::ledger::{BlockCounts, ShareCounts};

/// The answer of `/api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsView {
    /// The pool.
    pub pool: PoolView,
    /// The network, as the active daemon reports it.
    pub network: NetworkView,
    /// When these numbers were computed, ms since the Unix epoch.
    pub updated_ms: u64,
}

/// The pool part of `/api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolView {
    /// Hashes per second over `validation.hashrate_window`.
    pub hashrate: f64,
    /// Hashes per second over `validation.hashrate_large_window`.
    pub hashrate_large: f64,
    /// Miners with a share within `validation.hashrate_window`.
    pub miners: u64,
    /// Miners known (not idle past the stats expiry).
    pub miners_total: u64,
    /// Distinct (address, worker) pairs logged in on the connected slaves.
    pub workers: u64,
    /// Open miner connections on the connected slaves.
    pub sessions: u64,
    /// Connected slaves.
    pub slaves: u64,
    /// Shares by outcome, as the ledger counted them.
    pub shares: ShareCounts,
    /// Time of the latest share, ms since the Unix epoch.
    pub last_share_ms: Option<u64>,
    /// Blocks found (every stored block but those the daemon refused).
    pub blocks_found: u64,
    /// Stored blocks by state.
    pub blocks: BlockCounts,
    /// `pool.fee_percent`.
    pub fee_percent: f64,
    /// The highest block found, if any.
    pub last_block: Option<BlockView>,
    /// Everything the pool has paid miners, atomic units.
    pub total_paid: u64,
    /// Whether this master pays out (`payouts.enabled`).
    pub payouts_enabled: bool,
    /// Smallest balance paid out (`payouts.threshold`), atomic units.
    pub payout_threshold: u64,
    /// Time between payout runs (`payouts.interval`), ms.
    pub payout_interval_ms: u64,
    /// Depth at which a block matures (`unlocker.mature_depth`).
    pub mature_depth: u64,
    /// Share difficulty counted since the last found block.
    pub round_shares: u64,
}

/// The network part of `/api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkView {
    /// Chain height (the daemon's, or the current job's when no daemon
    /// answered).
    pub height: Option<u64>,
    /// Network difficulty, decimal (as TOS writes difficulties).
    pub difficulty: Option<String>,
    /// Estimated network hashrate: difficulty per block time.
    pub hashrate: Option<f64>,
    /// The daemon's target time between blocks, ms.
    pub block_time_target_ms: u64,
    /// The upstream in use, if any is healthy.
    pub upstream: Option<String>,
    /// Why the daemon's numbers are missing, when they are.
    pub error: Option<String>,
}

/// TOS's block time when the daemon does not say (ms).
const DEFAULT_BLOCK_TIME_MS: u64 = 1_000;

/// Hashes per second of a network at `difficulty` making a block every
/// `block_time_ms` (the TOS default of 1 s when 0).
pub fn network_hashrate(difficulty: f64, block_time_ms: u64) -> f64 {
    let block_time_ms = if block_time_ms == 0 {
        DEFAULT_BLOCK_TIME_MS
    } else {
        block_time_ms
    };
    difficulty * 1_000.0 / block_time_ms as f64
}

/// The handler.
pub async fn handler(State(state): State<ApiState>) -> Result<Json<StatsView>, ApiError> {
    let now = unix_ms();
    let view = state.inner.stats.get(now, || compute(&state, now)).await?;
    Ok(Json(view))
}

async fn compute(state: &ApiState, now: u64) -> Result<StatsView, ApiError> {
    let parts = state.parts();
    let ledger = &parts.ledger;
    let (pool, counts, last, network, total_paid, round_shares) = tokio::join!(
        ledger.pool_stats(now),
        ledger.block_counts(),
        ledger.recent_blocks(0, 1),
        network(state),
        ledger.total_paid(),
        ledger.current_round_shares(),
    );
    let pool = pool?;
    let counts = counts?;
    let last = last?;
    let last_block = match last.first() {
        Some(record) => Some(state.block_views(std::slice::from_ref(record)).await?),
        None => None,
    };
    let slaves = parts.gateway.connected_slaves();
    Ok(StatsView {
        pool: PoolView {
            hashrate: pool.activity.hashrate,
            hashrate_large: pool.activity.hashrate_large,
            miners: pool.miners_online,
            miners_total: pool.miners_total,
            workers: slaves.iter().map(|slave| slave.workers).sum(),
            sessions: slaves.iter().map(|slave| slave.sessions).sum(),
            slaves: slaves.len() as u64,
            shares: pool.activity.shares,
            last_share_ms: pool.activity.last_share_ms,
            blocks_found: counts.found(),
            blocks: counts,
            fee_percent: state.inner.fee_percent,
            last_block: last_block.and_then(|views| views.into_iter().next()),
            total_paid: total_paid?,
            payouts_enabled: state.inner.payouts.enabled,
            payout_threshold: state.inner.payouts.threshold,
            payout_interval_ms: state.inner.payouts.interval_ms,
            mature_depth: state.inner.payouts.mature_depth,
            round_shares: round_shares?,
        },
        network,
        updated_ms: now,
    })
}

/// The daemon's view through the active upstream, or the current job's
/// height and difficulty when no daemon answers.
async fn network(state: &ApiState) -> NetworkView {
    let parts = state.parts();
    let upstream = parts.upstreams.active().map(|up| up.name().to_owned());
    match parts.upstreams.get_info().await {
        Ok(info) => NetworkView {
            height: Some(info.height),
            difficulty: Some(info.difficulty.to_string()),
            hashrate: Some(network_hashrate(
                info.difficulty.to_f64(),
                info.block_time_target,
            )),
            block_time_target_ms: if info.block_time_target == 0 {
                DEFAULT_BLOCK_TIME_MS
            } else {
                info.block_time_target
            },
            upstream,
            error: None,
        },
        Err(error) => {
            tracing::warn!(%error, "API: the daemon's info is unavailable; using the current job");
            let job = parts.jobs.current();
            NetworkView {
                height: job.as_ref().map(|job| job.height),
                difficulty: job.as_ref().map(|job| job.difficulty.to_string()),
                hashrate: job
                    .as_ref()
                    .map(|job| network_hashrate(job.difficulty.to_f64(), DEFAULT_BLOCK_TIME_MS)),
                block_time_target_ms: DEFAULT_BLOCK_TIME_MS,
                upstream,
                error: Some(error.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_hashrate_is_difficulty_per_block_time() {
        assert_eq!(network_hashrate(1_000_000.0, 1_000), 1_000_000.0);
        assert_eq!(network_hashrate(1_000_000.0, 2_000), 500_000.0);
        assert_eq!(network_hashrate(3_000.0, 0), 3_000.0);
    }
}
