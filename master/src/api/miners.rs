//! `GET /api/miners/{address}`: one miner's hashrates, share counts,
//! balances and workers. The workers are paged like every list
//! (`?page=&limit=` or `?offset=&limit=`), most recently active first;
//! `workers_total` counts them all.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use tos_pool_common::clock::unix_ms;

use super::page::PageQuery;
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
    /// Blocks whose winning share was its.
    pub blocks_found: u64,
    /// One page of its workers, most recently active first (ties by name).
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
    Query(query): Query<PageQuery>,
) -> Result<Json<MinerView>, ApiError> {
    let address = state.miner_address(path)?;
    let window = state.window(&query)?;
    let ledger = &state.parts().ledger;
    let now = unix_ms();
    let (stats, workers, balances, payments, blocks_found) = tokio::join!(
        ledger.miner_stats(&address, now),
        ledger.worker_stats(&address, now),
        ledger.balances(&address),
        ledger.miner_payments(&address, 0, RECENT_MINER_PAYMENTS),
        ledger.blocks_found_by(&address),
    );
    let (stats, workers, balances, payments, blocks_found) =
        (stats?, workers?, balances?, payments?, blocks_found?);
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
            blocks_found,
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
        blocks_found,
        workers: page_of_workers(
            workers
                .into_iter()
                .map(|worker| WorkerView {
                    name: worker.worker,
                    hashrate: worker.activity.hashrate,
                    hashrate_large: worker.activity.hashrate_large,
                    shares: worker.activity.shares,
                    last_seen_ms: worker.activity.last_share_ms,
                })
                .collect(),
            window.offset,
            window.limit,
        ),
        payments: payments.items,
        payments_total: payments.total,
    }))
}

/// The page of `workers` from `offset`, at most `limit` of them, most
/// recently active first (ties by name, so pages are stable).
fn page_of_workers(mut workers: Vec<WorkerView>, offset: u64, limit: u64) -> Vec<WorkerView> {
    workers.sort_by(|a, b| {
        b.last_seen_ms
            .cmp(&a.last_seen_ms)
            .then_with(|| a.name.cmp(&b.name))
    });
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    workers.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(name: &str, last_seen_ms: Option<u64>) -> WorkerView {
        WorkerView {
            name: name.to_owned(),
            hashrate: 0.0,
            hashrate_large: 0.0,
            shares: ShareCounts::default(),
            last_seen_ms,
        }
    }

    #[test]
    fn workers_are_paged_most_recent_first() {
        let workers = vec![
            worker("b", Some(5)),
            worker("a", Some(5)),
            worker("old", Some(1)),
            worker("new", Some(9)),
            worker("never", None),
        ];
        let names = |page: Vec<WorkerView>| page.into_iter().map(|w| w.name).collect::<Vec<_>>();
        assert_eq!(
            names(page_of_workers(workers.clone(), 0, 3)),
            ["new", "a", "b"]
        );
        assert_eq!(
            names(page_of_workers(workers.clone(), 3, 3)),
            ["old", "never"]
        );
        assert!(page_of_workers(workers, 10, 3).is_empty());
    }
}
