//! The block path's and unlocker's view of the chain, served by the upstream
//! pool and the job manager.

use std::sync::Arc;

use async_trait::async_trait;

use crate::blocks::{BlockJob, Chain, ChainError, MinedBlock};
use crate::jobs::JobManager;
use crate::lifecycle::ObservedBlock;
use crate::rpc::{Block, RpcError};
use crate::upstream::{UpstreamError, UpstreamPool};

/// The daemon's JSON-RPC error code for an unknown block hash.
const UNKNOWN_HASH: i64 = -32602;

/// [`Chain`] over the upstream daemons and the job backlog.
#[derive(Debug, Clone)]
pub struct DaemonChain {
    upstreams: Arc<UpstreamPool>,
    jobs: Arc<JobManager>,
}

impl DaemonChain {
    /// The chain as `upstreams` and `jobs` see it.
    pub fn new(upstreams: Arc<UpstreamPool>, jobs: Arc<JobManager>) -> Self {
        DaemonChain { upstreams, jobs }
    }
}

/// A daemon's own JSON-RPC error is its answer; anything else leaves the
/// outcome unknown.
fn chain_error(error: UpstreamError) -> ChainError {
    match error {
        UpstreamError::Answered {
            source: RpcError::Rpc { message, .. },
            ..
        } => ChainError::Refused(message),
        other => ChainError::Unreachable(other.to_string()),
    }
}

#[async_trait]
impl Chain for DaemonChain {
    fn job(&self, job_id: &str) -> Option<BlockJob> {
        self.jobs.get(job_id).map(|job| BlockJob {
            job_id: job.id.clone(),
            height: job.height,
            template_hex: job.template_hex.clone(),
            network_difficulty: job.difficulty,
        })
    }

    async fn submit_block(
        &self,
        template_hex: &str,
        miner_work_hex: &str,
    ) -> Result<bool, ChainError> {
        self.upstreams
            .submit_block(template_hex, miner_work_hex)
            .await
            .map(|outcome| outcome.accepted)
            .map_err(chain_error)
    }

    async fn miner_reward(&self) -> Result<u64, ChainError> {
        let info = self.upstreams.get_info().await.map_err(chain_error)?;
        Ok(info.miner_reward)
    }

    async fn tip_height(&self) -> Result<u64, ChainError> {
        let info = self.upstreams.get_info().await.map_err(chain_error)?;
        Ok(info.height)
    }

    async fn block(&self, hash: &str) -> Result<Option<ObservedBlock>, ChainError> {
        match self.upstreams.get_block_by_hash(hash).await {
            Ok(block) => Ok(Some(block.observed())),
            Err(error) if error.rpc_code() == Some(UNKNOWN_HASH) => Ok(None),
            Err(error) => Err(chain_error(error)),
        }
    }

    async fn mined_block(&self, hash: &str) -> Result<Option<MinedBlock>, ChainError> {
        match self.upstreams.get_block_by_hash(hash).await {
            Ok(block) => Ok(Some(mined(&block))),
            Err(error) if error.rpc_code() == Some(UNKNOWN_HASH) => Ok(None),
            Err(error) => Err(chain_error(error)),
        }
    }

    async fn blocks_at_height(&self, height: u64) -> Result<Vec<MinedBlock>, ChainError> {
        let blocks = self
            .upstreams
            .get_blocks_at_height(height)
            .await
            .map_err(chain_error)?;
        Ok(blocks.iter().map(mined).collect())
    }
}

/// What the block path and the unlocker need of a daemon block.
fn mined(block: &Block) -> MinedBlock {
    MinedBlock {
        hash: block.hash.clone(),
        height: block.height,
        timestamp_ms: block.timestamp,
        miner: block.miner.clone(),
        difficulty: block.difficulty.to_u64_saturating(),
        observed: block.observed(),
    }
}
