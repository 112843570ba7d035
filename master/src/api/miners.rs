//! `GET /api/miners/{address}`: one miner's hashrates, share counts,
//! balances and workers.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::Serialize;
use tos_pool_common::clock::unix_ms;

use super::payments::RECENT_MINER_PAYMENTS;
use super::{ApiError, ApiState};
use crate::ledger::{Balances, MinerPayment, ShareCounts};

/// The answer of `/api/miners/{address}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerView {
    /// The address, in its canonical (lowercase) form.
    pub address: String,
    /// Hashes per second over `validation.hashrate_window`.
    pub hashrate: f64,
    /// Hashes per second over `validation.hashrate_large_window` (24 h by
    /// default).
    pub hashrate_large: f64,
    /// Shares by outcome over all its workers.
    pub shares: ShareCounts,
    /// Time of its latest share, ms since the Unix epoch.
    pub last_share_ms: Option<u64>,
    /// Workers with a share within `validation.hashrate_window`.
    pub workers_online: u64,
    /// Workers known.
    pub workers_total: u64,
    /// Balances in atomic units.
    pub balances: Balances,
    /// Each worker, by name.
    pub workers: Vec<WorkerView>,
    /// Its latest confirmed payments, newest first (all of them at
    /// `/api/miners/{address}/payments`).
    pub payments: Vec<MinerPayment>,
    /// How many confirmed payments it has in total.
    pub payments_total: u64,
}

/// One worker of a miner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerView {
    /// The worker name (after the `.` of the login).
    pub name: String,
    /// Hashes per second over `validation.hashrate_window`.
    pub hashrate: f64,
    /// Hashes per second over `validation.hashrate_large_window`.
    pub hashrate_large: f64,
    /// Shares by outcome.
    pub shares: ShareCounts,
    /// Time of its latest share, ms since the Unix epoch.
    pub last_seen_ms: Option<u64>,
}

/// The handler.
pub async fn handler(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<MinerView>, ApiError> {
    let address = state.miner_address(path)?;
    let ledger = &state.parts().ledger;
    let now = unix_ms();
    let (stats, workers, balances, payments) = tokio::join!(
        ledger.miner_stats(&address, now),
        ledger.worker_stats(&address, now),
        ledger.balances(&address),
        ledger.miner_payments(&address, 0, RECENT_MINER_PAYMENTS),
    );
    let (stats, workers, balances, payments) = (stats?, workers?, balances?, payments?);
    let Some(stats) = stats else {
        if balances == Balances::default() && payments.total == 0 {
            return Err(ApiError::NotFound(format!(
                "no share or balance of {address} is known: check the address, or mine a share first"
            )));
        }
        return Ok(Json(MinerView {
            address,
            hashrate: 0.0,
            hashrate_large: 0.0,
            shares: ShareCounts::default(),
            last_share_ms: None,
            workers_online: 0,
            workers_total: 0,
            balances,
            workers: Vec::new(),
            payments: payments.items,
            payments_total: payments.total,
        }));
    };
    Ok(Json(MinerView {
        address,
        hashrate: stats.activity.hashrate,
        hashrate_large: stats.activity.hashrate_large,
        shares: stats.activity.shares,
        last_share_ms: stats.activity.last_share_ms,
        workers_online: stats.workers_online,
        workers_total: stats.workers_total,
        balances,
        workers: workers
            .into_iter()
            .map(|worker| WorkerView {
                name: worker.worker,
                hashrate: worker.activity.hashrate,
                hashrate_large: worker.activity.hashrate_large,
                shares: worker.activity.shares,
                last_seen_ms: worker.activity.last_share_ms,
            })
            .collect(),
        payments: payments.items,
        payments_total: payments.total,
    }))
}
