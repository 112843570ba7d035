//! What the block path and the unlocker need from the chain side of the
//! master (the job backlog and the upstream daemons), as a small interface
//! so that both are plain logic around it.

use async_trait::async_trait;
use tos_pool_common::difficulty::Difficulty;

use crate::lifecycle::ObservedBlock;

/// A job as the block path needs it: the template to rebuild and submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockJob {
    /// Cluster-wide job id.
    pub job_id: String,
    /// Height of the block being mined.
    pub height: u64,
    /// The daemon's template (BlockHeader hex) the job was made from.
    pub template_hex: String,
    /// Network difficulty of the template.
    pub network_difficulty: Difficulty,
}

/// A block as the daemon reports it, with what tells who mined it and
/// when: for finding the pool's blocks that have no record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedBlock {
    /// Block hash (64 hex).
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// Block timestamp, ms.
    pub timestamp_ms: u64,
    /// The daemon's `miner` field: the address of the key in the header.
    pub miner: String,
    /// Difficulty the block met (saturated to u64).
    pub difficulty: u64,
    /// Type, topoheight and miner reward.
    pub observed: ObservedBlock,
}

/// Why a daemon call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The daemon answered and refused (its JSON-RPC error message).
    #[error("the daemon refused: {0}")]
    Refused(String),
    /// No daemon gave a usable answer; the outcome is unknown.
    #[error("no daemon answered: {0}")]
    Unreachable(String),
}

/// The chain side of the master.
#[async_trait]
pub trait Chain: Send + Sync {
    /// The job `job_id` while it is still in the backlog.
    fn job(&self, job_id: &str) -> Option<BlockJob>;

    /// `submit_block` with the template and the solved MinerWork (hex),
    /// trying another healthy daemon when one cannot be reached. `Ok(true)`
    /// when accepted.
    async fn submit_block(
        &self,
        template_hex: &str,
        miner_work_hex: &str,
    ) -> Result<bool, ChainError>;

    /// `get_info.miner_reward`: what a block found now pays its miner.
    async fn miner_reward(&self) -> Result<u64, ChainError>;

    /// `get_info.height`: the daemon's tip height.
    async fn tip_height(&self) -> Result<u64, ChainError>;

    /// `get_block_by_hash`: the block as the daemon sees it, `None` when the
    /// daemon does not know the hash.
    async fn block(&self, hash: &str) -> Result<Option<ObservedBlock>, ChainError>;

    /// `get_block_by_hash` with the miner and timestamp; `None` when the
    /// daemon does not know the hash.
    async fn mined_block(&self, hash: &str) -> Result<Option<MinedBlock>, ChainError>;

    /// `get_blocks_at_height`: every block the daemon holds at `height`.
    async fn blocks_at_height(&self, height: u64) -> Result<Vec<MinedBlock>, ChainError>;
}
