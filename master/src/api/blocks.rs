//! `GET /api/blocks`: found blocks, highest first, paged, each with its
//! confirmations, round shares and effort.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::{ApiError, ApiState, PageQuery, Paged};
use crate::ledger::state_name;
use crate::lifecycle::{BlockRecord, BlockState, BlockType};

/// One found block as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockView {
    /// Block hash (64 hex).
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// When the pool found it, ms since the Unix epoch.
    pub found_at_ms: u64,
    /// Address of the miner whose share was the block.
    pub finder: String,
    /// `submitting`, `candidate`, `immature`, `matured`, `orphaned` or
    /// `refused`.
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
    /// Blocks on top of it (tip height − its height); `None` when refused
    /// or while no job tells the tip.
    pub confirmations: Option<u64>,
    /// Share difficulty the pool did in its round (since the block before);
    /// `None` when refused or found before rounds were counted.
    pub round_shares: Option<u64>,
    /// `round_shares / network_difficulty` (1.0 = as expected).
    pub effort: Option<f64>,
}

impl BlockView {
    /// The view of `record` with its round and, given the chain's tip
    /// height, its confirmations.
    pub fn with_round(record: &BlockRecord, round_shares: Option<u64>, tip: Option<u64>) -> Self {
        let mut view = BlockView::from(record);
        if record.state == BlockState::Refused {
            return view;
        }
        view.confirmations = tip.map(|tip| tip.saturating_sub(record.height));
        view.round_shares = round_shares;
        view.effort = round_shares
            .filter(|_| view.network_difficulty > 0)
            .map(|shares| shares as f64 / view.network_difficulty as f64);
        view
    }
}

impl From<&BlockRecord> for BlockView {
    fn from(record: &BlockRecord) -> Self {
        let reward = match record.state {
            BlockState::Matured => record.final_reward.unwrap_or(record.expected_reward),
            BlockState::Orphaned | BlockState::Refused => 0,
            BlockState::Submitting | BlockState::Candidate | BlockState::Immature => {
                record.expected_reward
            }
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
            confirmations: None,
            round_shares: None,
            effort: None,
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
    let items = state.block_views(&records?).await?;
    Ok(Json(window.paged(items, counts?.total)))
}

impl ApiState {
    /// The views of `records` with their rounds and confirmations (the tip
    /// is the current job's height − 1).
    pub(super) async fn block_views(
        &self,
        records: &[BlockRecord],
    ) -> Result<Vec<BlockView>, ApiError> {
        let hashes: Vec<&str> = records.iter().map(|record| record.hash.as_str()).collect();
        let rounds = self.parts().ledger.round_shares(&hashes).await?;
        let tip = self
            .parts()
            .jobs
            .current()
            .map(|job| job.height.saturating_sub(1));
        Ok(records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let round = rounds.get(index).copied().flatten();
                BlockView::with_round(record, round, tip)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pplns::PplnsSnapshot;

    fn record(state: BlockState, height: u64, difficulty: u64) -> BlockRecord {
        let snapshot = PplnsSnapshot::new(difficulty, 2_000_000, 2 * u128::from(difficulty), [])
            .expect("an empty window");
        let mut record =
            BlockRecord::candidate("ab".repeat(32), height, 1_000, "tst1x".into(), snapshot, 50);
        record.state = state;
        record
    }

    #[test]
    fn a_block_shows_its_round_and_confirmations() {
        let view = BlockView::with_round(
            &record(BlockState::Immature, 100, 400),
            Some(300),
            Some(104),
        );
        assert_eq!(view.confirmations, Some(4));
        assert_eq!(view.round_shares, Some(300));
        assert_eq!(view.effort, Some(0.75));
        let at_tip =
            BlockView::with_round(&record(BlockState::Candidate, 100, 400), None, Some(100));
        assert_eq!(at_tip.confirmations, Some(0));
        assert_eq!((at_tip.round_shares, at_tip.effort), (None, None));
        let no_job = BlockView::with_round(&record(BlockState::Matured, 100, 400), Some(1), None);
        assert_eq!(no_job.confirmations, None);
    }

    #[test]
    fn a_refused_block_has_no_round_or_confirmations() {
        let view =
            BlockView::with_round(&record(BlockState::Refused, 100, 400), Some(300), Some(104));
        assert_eq!(
            (view.confirmations, view.round_shares, view.effort),
            (None, None, None)
        );
        assert_eq!(view.reward, 0);
    }
}
