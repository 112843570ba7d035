//! `/api/admin/stats` (what an operator checks first: payouts waiting or
//! running, list sizes, Redis health) and `/api/admin/backup` (every
//! balance, block and payment as one JSON document).

use std::time::Instant;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use tos_pool_common::clock::unix_ms;

use super::audit::{self, AdminCaller, AuditEntry};
use super::{ApiError, ApiState};
use crate::ledger::{AccessList, Backup};

/// The answer of `GET /api/admin/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct AdminStats {
    /// Payouts waiting or running.
    pub payouts: PayoutState,
    /// Sizes of the operator's lists and the bans in force.
    pub lists: ListSizes,
    /// Whether Redis answers, and how fast.
    pub redis: RedisHealth,
    /// Slaves connected now.
    pub slaves: usize,
}

/// Payouts waiting or running.
#[derive(Debug, Clone, Serialize)]
pub struct PayoutState {
    /// Whether `payouts.enabled`.
    pub enabled: bool,
    /// Payments written ahead but not final (`pending` or `sent`).
    pub unsettled: usize,
    /// Their amounts, atomic units.
    pub unsettled_amount: u64,
    /// Whether a payout run holds the payout lock now.
    pub locked: bool,
    /// Milliseconds left on that lock.
    pub lock_ttl_ms: Option<u64>,
}

/// Sizes of the operator's lists and the bans in force.
#[derive(Debug, Clone, Serialize)]
pub struct ListSizes {
    /// Blacklisted addresses.
    pub blacklist: usize,
    /// Whitelisted IPs and networks.
    pub whitelist: usize,
    /// IP bans in force on every slave.
    pub bans: usize,
}

/// Redis as the master sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RedisHealth {
    /// Whether PING was answered.
    pub ok: bool,
    /// How long PING took, ms.
    pub latency_ms: f64,
    /// `host:port` of the server written to.
    pub server: String,
    /// Sentinel failovers followed since start.
    pub failovers: u64,
    /// The error, when PING failed.
    pub error: Option<String>,
}

/// `GET /api/admin/stats`. Redis being down is reported, not an error.
pub async fn stats(State(state): State<ApiState>) -> Json<AdminStats> {
    let parts = state.parts();
    let ledger = &parts.ledger;
    let started = Instant::now();
    let ping = ledger.ping().await;
    let latency_ms = started.elapsed().as_secs_f64() * 1_000.0;
    let redis = RedisHealth {
        ok: ping.is_ok(),
        latency_ms,
        server: ledger.server(),
        failovers: ledger.failovers(),
        error: ping.err().map(|error| error.to_string()),
    };
    let unsettled = ledger.unsettled_payments().await.unwrap_or_default();
    let lock_ttl_ms = ledger.payout_lock_ttl_ms().await.ok().flatten();
    let payouts = PayoutState {
        enabled: parts.payouts.is_some(),
        unsettled: unsettled.len(),
        unsettled_amount: unsettled
            .iter()
            .fold(0u64, |sum, payment| sum.saturating_add(payment.amount)),
        locked: lock_ttl_ms.is_some(),
        lock_ttl_ms,
    };
    let lists = parts.gateway.access_lists();
    Json(AdminStats {
        payouts,
        lists: ListSizes {
            blacklist: lists.blacklist.len(),
            whitelist: lists.whitelist.len(),
            bans: parts.gateway.bans(unix_ms()).len(),
        },
        redis,
        slaves: parts.gateway.connected_slaves().len(),
    })
}

/// The answer of `GET /api/admin/backup`.
#[derive(Debug, Clone, Serialize)]
pub struct BackupView {
    /// When it was taken, ms since the Unix epoch.
    pub created_ms: u64,
    /// The pool's network.
    pub network: String,
    /// The operator's lists.
    pub blacklist: Vec<String>,
    /// The operator's whitelist.
    pub whitelist: Vec<String>,
    /// Balances, blocks and payments.
    #[serde(flatten)]
    pub ledger: Backup,
}

/// `GET /api/admin/backup`: a JSON export of every balance (atomic
/// units), block record and payment record, with the runtime lists
/// (audited: it is every miner's money in one document).
pub async fn backup(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
) -> Result<Json<BackupView>, ApiError> {
    let ledger = &state.parts().ledger;
    let created_ms = unix_ms();
    let backup = match ledger.backup().await {
        Ok(backup) => backup,
        Err(error) => {
            audit::record(
                &state,
                AuditEntry::new(caller, "backup", "ledger", "failed", error.to_string()),
            )
            .await;
            return Err(error.into());
        }
    };
    audit::record(
        &state,
        AuditEntry::new(
            caller,
            "backup",
            "ledger",
            "ok",
            format!(
                "{} balances, {} blocks, {} payments",
                backup.balances.len(),
                backup.blocks.len(),
                backup.payments.len()
            ),
        ),
    )
    .await;
    tracing::info!(
        balances = backup.balances.len(),
        blocks = backup.blocks.len(),
        payments = backup.payments.len(),
        "admin backup taken"
    );
    Ok(Json(BackupView {
        created_ms,
        network: state.inner.network.to_string(),
        blacklist: ledger.access_list(AccessList::Blacklist).await?,
        whitelist: ledger.access_list(AccessList::Whitelist).await?,
        ledger: backup,
    }))
}
