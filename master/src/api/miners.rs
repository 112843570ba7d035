//! `GET /api/miners/{address}`: one miner's hashrates, share counts,
//! balances and workers.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::Serialize;
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;

use super::payments::RECENT_MINER_PAYMENTS;
use super::{ApiError, ApiState};
use crate::app::now_ms;
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

/// Reads the address of a path: a TOS address of the pool's network, in its
/// canonical form; anything else is a 400 with the reason.
pub fn parse_address(
    path: Result<Path<String>, PathRejection>,
    network: Network,
) -> Result<String, ApiError> {
    let Path(text) = path.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "the address in the path is unreadable: {rejection}"
        ))
    })?;
    let address = Address::parse(text.trim(), network).map_err(|error| {
        ApiError::BadRequest(format!("{text:?} is not a {network} address: {error}"))
    })?;
    Ok(address.to_string())
}

/// The handler.
pub async fn handler(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<MinerView>, ApiError> {
    let address = parse_address(path, state.inner.network)?;
    let ledger = &state.parts().ledger;
    let now = now_ms();
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
