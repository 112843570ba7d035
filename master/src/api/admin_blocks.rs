//! `/api/admin/blocks…`: the pool's blocks that have no record, and adding
//! one after checking it with the daemon (audited).

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::audit::{self, AdminCaller, AuditEntry};
use super::{ApiError, ApiState};
use crate::blocks::AddBlockError;
use crate::ledger::state_name;
use crate::unlocker::UnrecordedBlock;

/// `GET /api/admin/blocks/unrecorded`: blocks the daemon says the pool
/// mined that have no record, as the unlocker found them, lowest first.
pub async fn unrecorded(
    State(state): State<ApiState>,
) -> Result<Json<Vec<UnrecordedBlock>>, ApiError> {
    let noted = state.parts().ledger.unrecorded_blocks().await?;
    let mut blocks: Vec<UnrecordedBlock> = noted
        .iter()
        .filter_map(|(_, json)| serde_json::from_str(json).ok())
        .collect();
    blocks.sort_by_key(|block| (block.height, block.hash.clone()));
    Ok(Json(blocks))
}

/// The body of `POST /api/admin/blocks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBlockRequest {
    /// The block's hash (64 hex).
    pub hash: String,
    /// Its height, checked against the daemon's when given.
    #[serde(default)]
    pub height: Option<u64>,
}

/// The answer of `POST /api/admin/blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddedBlock {
    /// Block hash.
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// Its state now (`candidate`).
    pub state: &'static str,
    /// The block's timestamp: where its PPLNS window ends.
    pub found_at_ms: u64,
    /// The share difficulty in its PPLNS window.
    pub window_weight: String,
    /// Miners in its window.
    pub window_miners: usize,
}

/// `POST /api/admin/blocks` (audited): records a block of the pool's that
/// has no record, once the daemon confirms it exists and was mined with
/// the pool's key.
pub async fn add(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    body: Result<Json<AddBlockRequest>, JsonRejection>,
) -> Result<Json<AddedBlock>, ApiError> {
    let Json(request) = body.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "the body must be JSON {{\"hash\": \"<64 hex>\", \"height\": 123}} (height optional): {rejection}"
        ))
    })?;
    let target = request.hash.trim().to_ascii_lowercase();
    let outcome = state
        .parts()
        .block_adder
        .add(&request.hash, request.height)
        .await;
    let entry = match &outcome {
        Ok(record) => AuditEntry::new(
            caller,
            "add_block",
            &target,
            "ok",
            format!(
                "height {}, recorded as {}, window weight {}",
                record.height,
                state_name(record.state),
                record.snapshot.total_weight()
            ),
        ),
        Err(error) => AuditEntry::new(caller, "add_block", &target, "refused", error.to_string()),
    };
    audit::record(&state, entry).await;
    let record = outcome.map_err(api_error)?;
    Ok(Json(AddedBlock {
        hash: record.hash.clone(),
        height: record.height,
        state: state_name(record.state),
        found_at_ms: record.found_at_ms,
        window_weight: record.snapshot.total_weight().to_string(),
        window_miners: record.snapshot.weights().len(),
    }))
}

fn api_error(error: AddBlockError) -> ApiError {
    match error {
        AddBlockError::BadHash(_)
        | AddBlockError::WrongHeight { .. }
        | AddBlockError::NotThePools { .. } => ApiError::BadRequest(error.to_string()),
        AddBlockError::Unknown(_) => ApiError::NotFound(error.to_string()),
        AddBlockError::AlreadyRecorded { .. } | AddBlockError::Spooled(_) => {
            ApiError::Conflict(error.to_string())
        }
        AddBlockError::Chain(_) => ApiError::Unavailable(error.to_string()),
        AddBlockError::Ledger(error) => ApiError::Ledger(error),
        AddBlockError::Record(_) => ApiError::Internal(error.to_string()),
    }
}
