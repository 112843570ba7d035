//! `GET /api/payments` (every payment, newest first) and
//! `GET /api/miners/{address}/payments` (one miner's confirmed payments),
//! both paged, and the admin's list of unsettled payments and their
//! resolution.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

use super::audit::{self, AdminCaller, AuditEntry};
use super::{ApiError, ApiState, PageQuery, PageWindow, Paged};
use crate::ledger::{MinerPayment, PaymentRecord};
use crate::payouts::{PayoutError, Resolution};

/// Recent payments shown on a miner's page.
pub const RECENT_MINER_PAYMENTS: usize = 10;

/// `GET /api/payments`.
pub async fn list(
    State(state): State<ApiState>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Paged<PaymentRecord>>, ApiError> {
    let window = state.window(&query)?;
    let (offset, limit) = indices(window);
    let page = state.parts().ledger.payments(offset, limit).await?;
    Ok(Json(window.paged(page.items, page.total)))
}

/// `GET /api/miners/{address}/payments`.
pub async fn of_miner(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Paged<MinerPayment>>, ApiError> {
    let address = state.miner_address(path)?;
    let window = state.window(&query)?;
    let (offset, limit) = indices(window);
    let page = state
        .parts()
        .ledger
        .miner_payments(&address, offset, limit)
        .await?;
    Ok(Json(window.paged(page.items, page.total)))
}

/// `GET /api/admin/payments/pending`: payments still `pending` or `sent`,
/// oldest first. A `pending` one blocks payouts until it is resolved.
pub async fn unsettled(
    State(state): State<ApiState>,
) -> Result<Json<Vec<PaymentRecord>>, ApiError> {
    Ok(Json(state.parts().ledger.unsettled_payments().await?))
}

/// The body of `POST /api/admin/payments/{id}/resolve`: what the operator
/// found out about a pending payment (in the wallet or on an explorer).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "resolution", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResolveRequest {
    /// It was broadcast as `tx_hash`: the payment becomes `sent` and is
    /// confirmed like any other.
    Sent {
        /// The transaction's hash (64 hex digits).
        tx_hash: String,
    },
    /// It never left the wallet: the amounts go back to the balances, once
    /// the wallet shows it (its nonce not past the payment's, no
    /// transaction with its transfers), or at once with `force`.
    NotSent {
        /// Return the amounts without the wallet's evidence (the operator
        /// checked the wallet and the chain by hand).
        #[serde(default)]
        force: bool,
    },
}

impl ResolveRequest {
    /// How the audit log names what was asked.
    fn describe(&self) -> String {
        match self {
            ResolveRequest::Sent { tx_hash } => format!("sent as {tx_hash}"),
            ResolveRequest::NotSent { force: false } => "not_sent".to_owned(),
            ResolveRequest::NotSent { force: true } => "not_sent with force".to_owned(),
        }
    }
}

/// `POST /api/admin/payments/{id}/resolve`: settles a `pending` payment the
/// payer could not reconcile by itself, which lets payouts run again. Every
/// attempt, refused or not, goes to the audit log.
pub async fn resolve(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    Path(id): Path<String>,
    body: Result<Json<ResolveRequest>, JsonRejection>,
) -> Result<Json<PaymentRecord>, ApiError> {
    let Json(request) = body.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "the body must be {{\"resolution\": \"sent\", \"tx_hash\": \"<64 hex digits>\"}} or {{\"resolution\": \"not_sent\"}} (add \"force\": true to skip the wallet's evidence): {rejection}"
        ))
    })?;
    let asked = request.describe();
    let outcome = resolve_as(&state, &id, request).await;
    let entry = match &outcome {
        Ok(record) => AuditEntry::new(
            caller,
            "resolve_payment",
            &id,
            "ok",
            format!(
                "{asked}: now {:?}{}",
                record.status,
                record
                    .error
                    .as_deref()
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default()
            ),
        ),
        Err(error) => AuditEntry::new(
            caller,
            "resolve_payment",
            &id,
            "refused",
            format!("{asked}: {error}"),
        ),
    };
    audit::record(&state, entry).await;
    outcome.map(Json)
}

async fn resolve_as(
    state: &ApiState,
    id: &str,
    request: ResolveRequest,
) -> Result<PaymentRecord, ApiError> {
    let resolution = match request {
        ResolveRequest::Sent { tx_hash } => {
            let tx_hash = tx_hash.trim().trim_start_matches("0x").to_ascii_lowercase();
            if tx_hash.len() != 64 || !tx_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::BadRequest(format!(
                    "tx_hash must be 64 hex digits, got {tx_hash:?}"
                )));
            }
            Resolution::Sent { tx_hash }
        }
        ResolveRequest::NotSent { force } => Resolution::NotSent { force },
    };
    let payouts = state.parts().payouts.clone().ok_or_else(|| {
        ApiError::Unavailable(
            "payouts are not running on this master: set payouts.enabled to resolve payments"
                .to_owned(),
        )
    })?;
    let record = payouts
        .resolve(id, resolution)
        .await
        .map_err(resolve_error)?;
    tracing::info!(payment = %id, status = ?record.status, "payment resolved by an operator");
    Ok(record)
}

/// How a failed resolution is answered.
fn resolve_error(error: PayoutError) -> ApiError {
    match error {
        PayoutError::UnknownPayment { .. } => ApiError::NotFound(error.to_string()),
        PayoutError::NotPending { .. }
        | PayoutError::Busy
        | PayoutError::Raced { .. }
        | PayoutError::WalletSaysSent { .. }
        | PayoutError::NotSentUnproven { .. } => ApiError::Conflict(error.to_string()),
        PayoutError::Ledger(error) => ApiError::Ledger(error),
        other => ApiError::Internal(other.to_string()),
    }
}

/// A window as list indices (a window past `usize` reads nothing).
fn indices(window: PageWindow) -> (usize, usize) {
    (
        usize::try_from(window.offset).unwrap_or(usize::MAX),
        usize::try_from(window.limit).unwrap_or(usize::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_bodies_parse_and_unknown_ones_are_refused() {
        let sent: ResolveRequest =
            serde_json::from_str(r#"{"resolution":"sent","tx_hash":"ab"}"#).expect("sent");
        assert_eq!(
            sent,
            ResolveRequest::Sent {
                tx_hash: "ab".to_owned()
            }
        );
        let not_sent: ResolveRequest =
            serde_json::from_str(r#"{"resolution":"not_sent"}"#).expect("not sent");
        assert_eq!(not_sent, ResolveRequest::NotSent { force: false });
        let forced: ResolveRequest =
            serde_json::from_str(r#"{"resolution":"not_sent","force":true}"#).expect("forced");
        assert_eq!(forced, ResolveRequest::NotSent { force: true });
        assert!(
            serde_json::from_str::<ResolveRequest>(r#"{"resolution":"not_sent","forse":true}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<ResolveRequest>(r#"{"resolution":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<ResolveRequest>(r#"{"resolution":"sent"}"#).is_err());
    }

    #[test]
    fn resolution_failures_have_their_statuses() {
        use axum::http::StatusCode;
        let unknown = resolve_error(PayoutError::UnknownPayment { id: "p1".into() });
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            resolve_error(PayoutError::Busy).status(),
            StatusCode::CONFLICT
        );
        let settled = resolve_error(PayoutError::NotPending {
            id: "p1".into(),
            status: crate::ledger::PaymentStatus::Confirmed,
        });
        assert_eq!(settled.status(), StatusCode::CONFLICT);
        let unproven = resolve_error(PayoutError::NotSentUnproven {
            id: "p1".into(),
            reason: "the nonce moved".into(),
        });
        assert_eq!(unproven.status(), StatusCode::CONFLICT);
        assert!(unproven.to_string().contains("force"));
    }
}
