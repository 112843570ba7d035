//! Jobs: the template every session shares ([`JobTemplate`]) and each
//! session's own copy of the jobs it was sent, with their difficulty and the
//! nonces already submitted (the backlog).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tos_pool_common::difficulty::{Difficulty, DifficultyError, Target};
use tos_pool_common::header::{MinerWork, MinerWorkError};
use tos_pool_proto::v1;

/// Job ids remembered after they leave the backlog, to tell "stale share"
/// from "job not found".
const EXPIRED_MEMORY: usize = 64;

/// A job as the master sent it: shared by every session (behind an `Arc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTemplate {
    /// Cluster-wide job id.
    pub job_id: String,
    /// Height of the block being mined.
    pub height: u64,
    /// The MinerWork with a zero extra_nonce; each session fills in its own.
    pub miner_work: MinerWork,
    /// The network difficulty.
    pub network_difficulty: Difficulty,
    /// The network target: a hash meeting it is a block.
    pub network_target: Target,
    /// Whether miners should drop previous jobs (new height).
    pub clean: bool,
}

/// Why a job from the master could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// The MinerWork is not 112 bytes.
    #[error("job {job_id}: bad miner_work ({source}); the master must send the 112-byte MinerWork")]
    MinerWork {
        /// The job's id.
        job_id: String,
        /// What was wrong.
        source: MinerWorkError,
    },
    /// The network difficulty is not a positive decimal.
    #[error("job {job_id}: bad network_difficulty ({source})")]
    Difficulty {
        /// The job's id.
        job_id: String,
        /// What was wrong.
        source: DifficultyError,
    },
    /// The network target is neither empty nor 32 bytes.
    #[error("job {job_id}: network_target is {length} bytes; it must be 32 (or empty)")]
    Target {
        /// The job's id.
        job_id: String,
        /// Bytes given.
        length: usize,
    },
    /// No job id.
    #[error("job without a job_id: the master must name every job")]
    MissingId,
}

impl JobTemplate {
    /// Reads a job from the master. An empty `network_target` is derived from
    /// the difficulty.
    pub fn from_proto(job: &v1::Job) -> Result<JobTemplate, JobError> {
        if job.job_id.is_empty() {
            return Err(JobError::MissingId);
        }
        let job_id = job.job_id.clone();
        let miner_work =
            MinerWork::from_bytes(&job.miner_work).map_err(|source| JobError::MinerWork {
                job_id: job_id.clone(),
                source,
            })?;
        let network_difficulty: Difficulty =
            job.network_difficulty
                .parse()
                .map_err(|source| JobError::Difficulty {
                    job_id: job_id.clone(),
                    source,
                })?;
        let network_target = match job.network_target.len() {
            0 => network_difficulty.target(),
            32 => {
                let mut target = [0u8; 32];
                target.copy_from_slice(&job.network_target);
                Target(target)
            }
            length => return Err(JobError::Target { job_id, length }),
        };
        Ok(JobTemplate {
            job_id,
            height: job.height,
            miner_work,
            network_difficulty,
            network_target,
            clean: job.clean,
        })
    }
}

/// A job as one session was sent it.
#[derive(Debug, Clone)]
pub(super) struct SessionJob {
    pub(super) template: Arc<JobTemplate>,
    /// Share difficulty in force when the job was sent. The session's
    /// header and the share target are derived from it and the template
    /// when needed, not kept: every idle session holds a backlog of these.
    pub(super) difficulty: u64,
    /// Nonces already submitted for this job (bounded).
    pub(super) nonces: HashSet<u64>,
}

impl SessionJob {
    /// The template's MinerWork with the session's `extra_nonce`.
    pub(super) fn header(&self, extra_nonce: &[u8; 32]) -> MinerWork {
        let mut header = self.template.miner_work;
        header.set_extra_nonce(extra_nonce);
        header
    }

    /// The target a share for this job must meet.
    pub(super) fn target(&self) -> Target {
        Difficulty::from_u64(self.difficulty)
            .unwrap_or(Difficulty::ONE)
            .target()
    }
}

/// What the backlog knows about a job id.
pub(super) enum Lookup<'a> {
    /// Sent and still accepting shares.
    Live(&'a mut SessionJob),
    /// Sent, but older than the backlog.
    Expired,
    /// Never sent to this session.
    Unknown,
}

/// The last `capacity` jobs sent to a session, newest last.
#[derive(Debug, Clone)]
pub(super) struct JobBacklog {
    jobs: VecDeque<SessionJob>,
    /// Shared templates, not copies of their ids: every session of a slave
    /// remembers the same jobs, so this costs each session only pointers.
    expired: VecDeque<Arc<JobTemplate>>,
    capacity: usize,
}

impl JobBacklog {
    pub(super) fn new(capacity: usize) -> JobBacklog {
        JobBacklog {
            jobs: VecDeque::new(),
            expired: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.trim();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub(super) fn get(&self, job_id: &str) -> Option<&SessionJob> {
        self.jobs.iter().find(|job| job.template.job_id == job_id)
    }

    pub(super) fn lookup(&mut self, job_id: &str) -> Lookup<'_> {
        if let Some(job) = self
            .jobs
            .iter_mut()
            .find(|job| job.template.job_id == job_id)
        {
            return Lookup::Live(job);
        }
        if self.expired.iter().any(|job| job.job_id == job_id) {
            Lookup::Expired
        } else {
            Lookup::Unknown
        }
    }

    /// Adds a newly sent job, dropping the oldest (and its nonces) beyond capacity.
    pub(super) fn push(&mut self, job: SessionJob) {
        // Make room first: pushing past capacity would double the queue's
        // allocation (8 jobs kept in room for 16) in every session.
        self.trim_to(self.capacity - 1);
        if self.jobs.capacity() == 0 {
            self.jobs.reserve_exact(self.capacity);
        }
        self.jobs.push_back(job);
    }

    fn trim(&mut self) {
        self.trim_to(self.capacity);
    }

    fn trim_to(&mut self, keep: usize) {
        while self.jobs.len() > keep {
            if let Some(old) = self.jobs.pop_front() {
                if self.expired.len() == EXPIRED_MEMORY {
                    self.expired.pop_front();
                }
                self.expired.push_back(old.template);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u32) -> SessionJob {
        let work = MinerWork::from_bytes(&[0u8; 112]).expect("112 bytes is a MinerWork");
        let difficulty = Difficulty::default();
        let template = Arc::new(JobTemplate {
            job_id: id.to_string(),
            height: u64::from(id),
            miner_work: work,
            network_target: difficulty.target(),
            network_difficulty: difficulty,
            clean: false,
        });
        SessionJob {
            template,
            difficulty: 1,
            nonces: HashSet::new(),
        }
    }

    #[test]
    fn the_backlog_keeps_its_capacity_and_no_more_room() {
        let mut backlog = JobBacklog::new(8);
        for id in 0..20 {
            backlog.push(job(id));
        }
        assert_eq!(backlog.jobs.len(), 8);
        assert_eq!(backlog.jobs.capacity(), 8);
        assert!(matches!(backlog.lookup("19"), Lookup::Live(_)));
        assert!(matches!(backlog.lookup("12"), Lookup::Live(_)));
        assert!(matches!(backlog.lookup("11"), Lookup::Expired));
        assert!(matches!(backlog.lookup("20"), Lookup::Unknown));
    }

    #[test]
    fn a_smaller_capacity_expires_the_oldest_jobs() {
        let mut backlog = JobBacklog::new(4);
        for id in 0..4 {
            backlog.push(job(id));
        }
        backlog.set_capacity(2);
        assert!(matches!(backlog.lookup("1"), Lookup::Expired));
        assert!(matches!(backlog.lookup("2"), Lookup::Live(_)));
        backlog.push(job(4));
        assert!(matches!(backlog.lookup("2"), Lookup::Expired));
        assert_eq!(backlog.jobs.len(), 2);
    }
}
