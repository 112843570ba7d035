//! Adding a block the pool mined but never recorded (an operator's
//! `POST /api/admin/blocks`): the daemon must know the block and name the
//! pool's key as its miner; then the block is recorded as a candidate and
//! the unlocker takes it from there.
//!
//! Its PPLNS window is cut as the block path would have cut it: the
//! configured window at the block's own difficulty (the network difficulty
//! it met), ending at the share-log second of the block's timestamp
//! ([`WindowCut`]). The finder is the block's `miner` (the pool), as the
//! finding miner is not known; the finder gets no share of its own beyond
//! its weight in the window. A block added after the share log was trimmed
//! past its window gets what the log still holds of it.

use std::sync::Arc;

use tos_pool_common::network::Network;

use super::plan::{SpooledBlock, WindowCut};
use super::replay::{RecordError, store};
use super::{BlockSpool, Chain, ChainError};
use crate::ledger::{Ledger, LedgerError, state_name};
use crate::lifecycle::{BlockRecord, BlockState};
use crate::pplns::PplnsWindow;
use crate::unlocker::is_pool_miner;

/// Why a block was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddBlockError {
    /// The hash is not 64 hex characters.
    #[error("{0:?} is not a block hash: give the 64 hex characters of the block's hash")]
    BadHash(String),
    /// The daemon does not know the block.
    #[error("the daemon does not know block {0}")]
    Unknown(String),
    /// The block is not at the height the operator gave.
    #[error("block {hash} is at height {actual}, not {given}")]
    WrongHeight {
        /// The hash.
        hash: String,
        /// The height given.
        given: u64,
        /// The daemon's height.
        actual: u64,
    },
    /// The block was not mined by the pool.
    #[error("block {hash} was mined by {miner}, not by the pool: refused")]
    NotThePools {
        /// The hash.
        hash: String,
        /// The daemon's `miner` field.
        miner: String,
    },
    /// The ledger already holds the block.
    #[error("block {hash} is already recorded ({state})")]
    AlreadyRecorded {
        /// The hash.
        hash: String,
        /// Its stored state.
        state: &'static str,
    },
    /// The block is in the spool, waiting for its replay.
    #[error("block {0} is in the block spool and is written to Redis by its replay")]
    Spooled(String),
    /// No daemon answered.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Redis failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The record could not be written.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Adds unrecorded pool blocks after checking them with the daemon.
pub struct BlockAdder {
    chain: Arc<dyn Chain>,
    ledger: Arc<Ledger>,
    window: PplnsWindow,
    pool_key: [u8; 32],
    network: Network,
    spool: Option<BlockSpool>,
}

impl std::fmt::Debug for BlockAdder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockAdder")
            .field("window", &self.window)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl BlockAdder {
    /// An adder checking with `chain` that blocks carry `pool_key` (on
    /// `network`), recording them in `ledger` with `window`; a block in
    /// `spool` is left to its replay.
    pub fn new(
        chain: Arc<dyn Chain>,
        ledger: Arc<Ledger>,
        window: PplnsWindow,
        pool_key: [u8; 32],
        network: Network,
        spool: Option<BlockSpool>,
    ) -> Self {
        BlockAdder {
            chain,
            ledger,
            window,
            pool_key,
            network,
            spool,
        }
    }

    /// Checks block `hash` (at `height`, when given) with the daemon and
    /// records it as a candidate; the stored record.
    pub async fn add(&self, hash: &str, height: Option<u64>) -> Result<BlockRecord, AddBlockError> {
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(AddBlockError::BadHash(hash));
        }
        let block = self
            .chain
            .mined_block(&hash)
            .await?
            .ok_or_else(|| AddBlockError::Unknown(hash.clone()))?;
        if let Some(given) = height.filter(|given| *given != block.height) {
            return Err(AddBlockError::WrongHeight {
                hash,
                given,
                actual: block.height,
            });
        }
        if !is_pool_miner(&block.miner, &self.pool_key, self.network) {
            return Err(AddBlockError::NotThePools {
                hash,
                miner: block.miner,
            });
        }
        if let Some(stored) = self.ledger.block(&hash).await? {
            return Err(AddBlockError::AlreadyRecorded {
                hash,
                state: state_name(stored.state),
            });
        }
        if self
            .spool
            .as_ref()
            .is_some_and(|spool| spool.contains(&hash))
        {
            return Err(AddBlockError::Spooled(hash));
        }
        let entry = SpooledBlock {
            hash: hash.clone(),
            height: block.height,
            found_at_ms: block.timestamp_ms,
            finder: block.miner.clone(),
            state: BlockState::Candidate,
            expected_reward: block.observed.miner_reward,
            cut: WindowCut::new(&self.window, block.difficulty.max(1), block.timestamp_ms),
        };
        store(&self.ledger, &entry).await?;
        let record = self
            .ledger
            .block(&hash)
            .await?
            .ok_or_else(|| AddBlockError::Unknown(hash.clone()))?;
        self.ledger.forget_unrecorded_block(&hash).await?;
        tracing::info!(
            hash = %hash,
            height = record.height,
            state = state_name(record.state),
            window_weight = %record.snapshot.total_weight(),
            "unrecorded pool block added"
        );
        Ok(record)
    }
}
