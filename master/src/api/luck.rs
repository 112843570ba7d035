//! `GET /api/luck`: the pool's effort over the last 24 hours, 7 days, 30
//! days and all time (round shares over network difficulty of the blocks
//! found in each).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tos_pool_common::clock::unix_ms;

use super::{ApiError, ApiState};
use crate::history::luck::{LuckWindow, windows};

/// The answer of `/api/luck`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LuckView {
    /// `24h`, `7d`, `30d`, `all`, in that order.
    pub windows: Vec<LuckWindow>,
    /// Share difficulty counted since the last found block.
    pub current_round_shares: u64,
}

/// The handler.
pub async fn handler(State(state): State<ApiState>) -> Result<Json<LuckView>, ApiError> {
    let ledger = &state.parts().ledger;
    let (sums, current) = tokio::join!(ledger.luck_sums(), ledger.current_round_shares());
    let (hourly, all_time) = sums?;
    Ok(Json(LuckView {
        windows: windows(&hourly, all_time, unix_ms()),
        current_round_shares: current?,
    }))
}
