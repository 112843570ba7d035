//! A job as the slave's miners are given it: the master's template, checked
//! and decoded once by the link ([`crate::link`]) and shared by every session
//! behind an `Arc`. The one job type of the slave.

use tos_pool_common::difficulty::{Difficulty, Target};
use tos_pool_common::header::MinerWork;

/// A job ready for miners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Cluster-wide job id.
    pub job_id: String,
    /// Height of the block being mined.
    pub height: u64,
    /// Topoheight of the template.
    pub topoheight: u64,
    /// The MinerWork with extra_nonce zeroed; sessions fill in their own.
    pub miner_work: MinerWork,
    /// Network difficulty (full 256 bits).
    pub network_difficulty: Difficulty,
    /// Network target derived from the difficulty (the master's copy is not
    /// trusted over the difficulty it came with): a hash meeting it is a block.
    pub network_target: Target,
    /// Miners should drop previous jobs (new height).
    pub clean: bool,
    /// When the master made the job, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// PoW algorithm, e.g. `tos/v3`.
    pub algorithm: String,
}

impl Job {
    /// Whether `other` is this job: the same copy, or another copy of it
    /// (each writer thread pushes a copy of its own, see
    /// [`crate::server::push`]), told by the job id, which is unique.
    pub fn is(&self, other: &Job) -> bool {
        std::ptr::eq(self, other) || self.job_id == other.job_id
    }

    /// A job of `height` mining `miner_work` at `network_difficulty`, with
    /// the target derived from the difficulty (tests and tools; the link
    /// decodes the master's jobs).
    pub fn new(
        job_id: impl Into<String>,
        height: u64,
        miner_work: MinerWork,
        network_difficulty: Difficulty,
    ) -> Job {
        Job {
            job_id: job_id.into(),
            height,
            topoheight: height,
            miner_work,
            network_target: network_difficulty.target(),
            network_difficulty,
            clean: true,
            created_at_ms: 0,
            algorithm: String::new(),
        }
    }
}
