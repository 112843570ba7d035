//! A share on its way through the session: a [`PendingShare`] waiting for its
//! hash, then a [`Judged`] share: its [`Verdict`], the [`ShareRecord`] for the
//! master's ledger and, when it found a block, the [`BlockCandidate`]. These
//! are the slave's own types; the link turns them into the wire form.

use std::sync::Arc;

use crate::job::Job;
use tos_pool_common::address::MinerLogin;
use tos_pool_common::difficulty::Target;
use tos_pool_common::header::MinerWork;

use super::verdict::Verdict;

/// A submitted share that passed the cheap checks and needs its PoW hash.
///
/// Made only by [`Session::handle`](super::Session::handle); the connection
/// hashes [`PendingShare::header`] with TOS Hash V3 on the validation pool and
/// gives the result to [`Session::complete_submit`](super::Session::complete_submit).
/// It carries everything the verdict needs, so a job that leaves the backlog
/// meanwhile does not turn the share stale.
#[derive(Debug, Clone)]
pub struct PendingShare {
    pub(super) session_id: u64,
    pub(super) job: Arc<Job>,
    pub(super) header: MinerWork,
    pub(super) difficulty: u64,
    pub(super) share_target: Target,
    pub(super) login: MinerLogin,
    pub(super) received_at_ms: u64,
}

impl PendingShare {
    /// The 112 bytes to hash: the session's MinerWork with the nonce in place.
    pub fn header(&self) -> &MinerWork {
        &self.header
    }

    /// The nonce submitted.
    pub fn nonce(&self) -> u64 {
        self.header.nonce()
    }

    /// Cluster-wide id of the share's job.
    pub fn job_id(&self) -> &str {
        &self.job.job_id
    }

    /// The share difficulty the share is judged against.
    pub fn difficulty(&self) -> u64 {
        self.difficulty
    }

    /// The share target (from the difficulty in force when the job was sent).
    pub fn share_target(&self) -> &Target {
        &self.share_target
    }

    /// The job's network target: a hash meeting it is a block.
    pub fn network_target(&self) -> &Target {
        &self.job.network_target
    }

    /// The job's network difficulty (trust mode samples by it).
    pub fn network_difficulty(&self) -> f64 {
        self.job.network_difficulty.to_f64()
    }

    /// Who submitted it.
    pub fn login(&self) -> &MinerLogin {
        &self.login
    }

    /// When the share arrived, ms since the Unix epoch.
    pub fn received_at_ms(&self) -> u64 {
        self.received_at_ms
    }
}

/// A submitted share, judged: what the connection answers and forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// How it was judged.
    pub verdict: Verdict,
    /// The share difficulty the share was judged at (0 when it never was).
    pub difficulty: u64,
    /// The record for the master's ledger: every valid share (credited),
    /// and refused shares of a logged-in miner (counted, never credited).
    pub record: Option<ShareRecord>,
    /// Set when the share meets the network target: submit it at once.
    pub block: Option<BlockCandidate>,
}

impl Judged {
    /// A share refused before it was hashed, with nothing to forward.
    pub fn refused(verdict: Verdict) -> Judged {
        Judged {
            verdict,
            difficulty: 0,
            record: None,
            block: None,
        }
    }
}

/// A judged share for the master's share ledger (the link gives it its `seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRecord {
    /// Cluster-wide id of the job.
    pub job_id: String,
    /// Height of that job.
    pub height: u64,
    /// Miner address (bech32) credited.
    pub address: String,
    /// Worker name.
    pub worker: String,
    /// The share difficulty it was judged against: what PPLNS credits.
    pub difficulty: u64,
    /// Difficulty of the hash itself, saturated at `u64::MAX`.
    pub actual_difficulty: u64,
    /// When the share arrived, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Session that sent it.
    pub session_id: u64,
    /// How it was judged: only valid shares are credited.
    pub verdict: Verdict,
}

/// A share whose hash meets the job's network target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCandidate {
    /// Cluster-wide id of the job.
    pub job_id: String,
    /// Height of the block.
    pub height: u64,
    /// The MinerWork hashed (session extra_nonce and nonce in place).
    pub miner_work: MinerWork,
    /// Its TOS Hash V3, big-endian.
    pub pow_hash: [u8; 32],
    /// Miner address (bech32) that found it.
    pub address: String,
    /// Worker that found it.
    pub worker: String,
    /// Share difficulty the finding share was judged against.
    pub share_difficulty: u64,
    /// When the share arrived, ms since the Unix epoch.
    pub found_at_ms: u64,
}
