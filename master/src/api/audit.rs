//! The admin audit log: every admin action (a ban, an unban, a payment
//! resolution) is written as one structured log line (target `audit`) and
//! one JSON entry in Redis (`P:audit`, newest first, the last
//! [`AUDIT_LOG_LENGTH`](crate::ledger::AUDIT_LOG_LENGTH) kept), with who
//! asked (the address the request came from), what, on what, and how it
//! ended. `GET /api/admin/audit` reads it back.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use tos_pool_common::clock::unix_ms;

use super::{ApiError, ApiState};

/// Who made an admin request: set by the admin middleware for the
/// handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminCaller {
    /// The address the request came from (the proxy's when behind one);
    /// `None` when the server did not say.
    pub address: Option<SocketAddr>,
}

/// One admin action as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// The admin's address (`ip:port`), or `unknown`.
    pub address: String,
    /// What: `ban`, `unban`, `resolve_payment`.
    pub action: String,
    /// On what: an IP, a payment id.
    pub target: String,
    /// How it ended: `ok`, or `refused` / `failed`.
    pub outcome: String,
    /// The details: the resolution asked for, the evidence, the reason for
    /// a refusal.
    pub detail: String,
}

impl AuditEntry {
    /// An entry for `action` on `target` by `caller`, now.
    pub fn new(
        caller: AdminCaller,
        action: &str,
        target: &str,
        outcome: &str,
        detail: impl Into<String>,
    ) -> AuditEntry {
        AuditEntry {
            at_ms: unix_ms(),
            address: caller
                .address
                .map_or_else(|| "unknown".to_owned(), |address| address.to_string()),
            action: action.to_owned(),
            target: target.to_owned(),
            outcome: outcome.to_owned(),
            detail: detail.into(),
        }
    }
}

/// Writes `entry` to the log and to Redis. The action already happened: a
/// Redis failure is logged, not returned.
pub async fn record(state: &ApiState, entry: AuditEntry) {
    tracing::info!(
        target: "audit",
        address = %entry.address,
        action = %entry.action,
        target_id = %entry.target,
        outcome = %entry.outcome,
        detail = %entry.detail,
        "admin action"
    );
    let json = match serde_json::to_string(&entry) {
        Ok(json) => json,
        Err(error) => {
            tracing::error!(%error, "cannot encode an audit entry");
            return;
        }
    };
    if let Err(error) = state.parts().ledger.append_audit(&json).await {
        tracing::error!(%error, action = %entry.action, "admin action not written to the audit log in Redis");
    }
}

/// `?limit=` of `GET /api/admin/audit`.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditQuery {
    /// Entries wanted, newest first; default `api.page_size`, at most
    /// `api.max_page_size`.
    pub limit: Option<u32>,
}

/// `GET /api/admin/audit`: the newest admin actions, newest first.
pub async fn list(
    State(state): State<ApiState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = query
        .limit
        .unwrap_or(state.inner.page_size)
        .clamp(1, state.inner.max_page_size);
    let raw = state
        .parts()
        .ledger
        .audit_log(usize::try_from(limit).unwrap_or(usize::MAX))
        .await?;
    let entries = raw
        .iter()
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect();
    Ok(Json(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_the_caller_or_say_unknown() {
        let caller = AdminCaller {
            address: Some(SocketAddr::from(([192, 0, 2, 1], 40_000))),
        };
        let entry = AuditEntry::new(caller, "ban", "203.0.113.9", "ok", "for 600 s");
        assert_eq!(entry.address, "192.0.2.1:40000");
        let json = serde_json::to_string(&entry).expect("encodes");
        let back: AuditEntry = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, entry);
        let nobody = AuditEntry::new(AdminCaller { address: None }, "unban", "x", "ok", "");
        assert_eq!(nobody.address, "unknown");
    }
}
