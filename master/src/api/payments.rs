//! `GET /api/payments` (every payment, newest first) and
//! `GET /api/miners/{address}/payments` (one miner's confirmed payments),
//! both paged, and the admin's list of unsettled payments.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};

use super::miners::parse_address;
use super::{ApiError, ApiState, PageQuery, PageWindow, Paged};
use crate::ledger::{MinerPayment, PaymentRecord};

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
    let address = parse_address(path, state.inner.network)?;
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

/// A window as list indices (a window past `usize` reads nothing).
fn indices(window: PageWindow) -> (usize, usize) {
    (
        usize::try_from(window.offset).unwrap_or(usize::MAX),
        usize::try_from(window.limit).unwrap_or(usize::MAX),
    )
}
