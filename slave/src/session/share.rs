//! A share on its way through the session: a [`PendingShare`] waiting for its
//! hash, then a [`ShareRecord`] for the master (and a [`BlockCandidate`] when
//! it found a block).

use std::sync::Arc;

use tos_pool_common::address::MinerLogin;
use tos_pool_common::difficulty::Target;
use tos_pool_common::header::MinerWork;
use tos_pool_proto::v1;

use super::job::JobTemplate;

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
    pub(super) job: Arc<JobTemplate>,
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

    /// Who submitted it.
    pub fn login(&self) -> &MinerLogin {
        &self.login
    }

    /// When the share arrived, ms since the Unix epoch.
    pub fn received_at_ms(&self) -> u64 {
        self.received_at_ms
    }
}

/// A judged share, ready for a share batch (the link gives it its `seq`).
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
    /// How it was judged: only `Valid` shares are credited.
    pub outcome: v1::ShareOutcome,
}

impl ShareRecord {
    /// The wire form, numbered `seq` in this slave's share stream.
    pub fn to_proto(&self, seq: u64) -> v1::Share {
        v1::Share {
            seq,
            job_id: self.job_id.clone(),
            height: self.height,
            address: self.address.clone(),
            worker: self.worker.clone(),
            difficulty: self.difficulty,
            actual_difficulty: self.actual_difficulty,
            outcome: self.outcome as i32,
            timestamp_ms: self.timestamp_ms,
            session_id: self.session_id,
        }
    }
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

impl BlockCandidate {
    /// The wire form: `request_id` chosen by the link, `share_seq` the seq the
    /// same share got in the share stream.
    pub fn to_proto(&self, request_id: u64, share_seq: u64) -> v1::BlockCandidate {
        v1::BlockCandidate {
            request_id,
            job_id: self.job_id.clone(),
            height: self.height,
            miner_work: self.miner_work.as_bytes().to_vec(),
            pow_hash: self.pow_hash.to_vec(),
            address: self.address.clone(),
            worker: self.worker.clone(),
            share_difficulty: self.share_difficulty,
            found_at_ms: self.found_at_ms,
            share_seq,
            // Stamped by the connection (read) and the link (sent).
            read_at_us: 0,
            sent_at_us: 0,
        }
    }
}
