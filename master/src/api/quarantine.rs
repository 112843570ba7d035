//! `GET /api/admin/quarantine`: the recipients payouts leave out (refused
//! by the wallet, or invalid per `validate_address`), and
//! `DELETE /api/admin/quarantine/{address}` to release one (audited): its
//! balance is planned again from the next run, after a fresh
//! `validate_address`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::audit::{self, AdminCaller, AuditEntry};
use super::{ApiError, ApiState};
use crate::ledger::QuarantineEntry;

/// `GET /api/admin/quarantine`: every quarantined recipient, by address.
pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<QuarantineEntry>>, ApiError> {
    Ok(Json(state.parts().ledger.quarantined().await?))
}

/// `DELETE /api/admin/quarantine/{address}` (audited): the entry released,
/// or 404 when the address is not quarantined.
pub async fn release(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<QuarantineEntry>, ApiError> {
    let Path(address) = path.map_err(|rejection| {
        ApiError::BadRequest(format!("unreadable address in the path: {rejection}"))
    })?;
    let address = address.trim().to_owned();
    let outcome = state.parts().ledger.release_quarantined(&address).await;
    let entry = match &outcome {
        Ok(Some(released)) => AuditEntry::new(
            caller,
            "release_quarantine",
            &address,
            "ok",
            format!(
                "released; it was quarantined as {:?}: {}",
                released.cause, released.reason
            ),
        ),
        Ok(None) => AuditEntry::new(
            caller,
            "release_quarantine",
            &address,
            "refused",
            "not quarantined",
        ),
        Err(error) => AuditEntry::new(
            caller,
            "release_quarantine",
            &address,
            "refused",
            error.to_string(),
        ),
    };
    audit::record(&state, entry).await;
    match outcome? {
        Some(released) => {
            tracing::info!(%address, "recipient released from the payout quarantine");
            Ok(Json(released))
        }
        None => Err(ApiError::NotFound(format!(
            "{address} is not quarantined: GET /api/admin/quarantine lists those that are"
        ))),
    }
}
