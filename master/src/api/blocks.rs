//! `GET /api/blocks`: found blocks, highest first, paged.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::{ApiError, ApiState, PageQuery, Paged};
use crate::ledger::state_name;
use crate::lifecycle::{BlockRecord, BlockState, BlockType};

/// One found block as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockView {
    /// Block hash (64 hex).
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// When the pool found it, ms since the Unix epoch.
    pub found_at_ms: u64,
    /// Address of the miner whose share was the block.
    pub finder: String,
    /// `candidate`, `immature`, `matured`, `orphaned` or `refused`.
    pub state: &'static str,
    /// The reward in atomic units: the chain's final reward once matured,
    /// the expected one before, 0 when orphaned or refused.
    pub reward: u64,
    /// Whether `reward` is final (matured).
    pub reward_final: bool,
    /// The daemon's block type at the last change of state (`Normal`,
    /// `Side`, `Sync`, `Orphaned`), if known.
    pub block_type: Option<BlockType>,
    /// Difficulty of the network when the block was found.
    pub network_difficulty: u64,
}

impl From<&BlockRecord> for BlockView {
    fn from(record: &BlockRecord) -> Self {
        let reward = match record.state {
            BlockState::Matured => record.final_reward.unwrap_or(record.expected_reward),
            BlockState::Orphaned | BlockState::Refused => 0,
            BlockState::Candidate | BlockState::Immature => record.expected_reward,
        };
        BlockView {
            hash: record.hash.clone(),
            height: record.height,
            found_at_ms: record.found_at_ms,
            finder: record.finder.clone(),
            state: state_name(record.state),
            reward,
            reward_final: record.state == BlockState::Matured,
            block_type: record.block_type,
            network_difficulty: record.snapshot.network_difficulty(),
        }
    }
}

/// The handler.
pub async fn handler(
    State(state): State<ApiState>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Paged<BlockView>>, ApiError> {
    let window = state.window(&query)?;
    let ledger = &state.parts().ledger;
    let (records, counts) = tokio::join!(
        ledger.recent_blocks(window.offset, window.limit),
        ledger.block_counts()
    );
    let items = records?.iter().map(BlockView::from).collect();
    Ok(Json(window.paged(items, counts?.total)))
}
