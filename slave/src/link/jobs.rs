//! Jobs from the master: checked once on arrival, then shared as
//! `Arc<JobInfo>` with the session core, with a bounded backlog of recent
//! jobs so late shares on them still count.

use std::collections::VecDeque;
use std::sync::Arc;

use tos_pool_common::difficulty::{Difficulty, Target};
use tos_pool_common::header::MinerWork;
use tos_pool_proto::v1::Job;

/// Why a job from the master was refused (it is logged and skipped; miners
/// keep the previous job).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The job id was empty.
    #[error("job at height {height} has an empty job_id; the master must name every job")]
    EmptyId {
        /// Height of the job.
        height: u64,
    },
    /// The MinerWork was not 112 bytes.
    #[error("job {job_id} carries a {len}-byte miner_work; expected 112 bytes")]
    MinerWork {
        /// The job.
        job_id: String,
        /// Bytes received.
        len: usize,
    },
    /// The network difficulty was not a non-zero decimal integer.
    #[error("job {job_id} has network_difficulty {text:?}: {reason}")]
    Difficulty {
        /// The job.
        job_id: String,
        /// What was received.
        text: String,
        /// Why it was refused.
        reason: String,
    },
}

/// A job ready for miners: the master's `Job`, checked and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
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
    /// trusted over the difficulty it came with).
    pub network_target: Target,
    /// Miners should drop previous jobs.
    pub clean: bool,
    /// When the master made the job, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// PoW algorithm, e.g. `tos/v3`.
    pub algorithm: String,
}

impl JobInfo {
    /// Checks and decodes a `Job` from the master.
    pub fn from_proto(job: Job) -> Result<JobInfo, JobError> {
        if job.job_id.is_empty() {
            return Err(JobError::EmptyId { height: job.height });
        }
        let miner_work =
            MinerWork::from_bytes(&job.miner_work).map_err(|_| JobError::MinerWork {
                job_id: job.job_id.clone(),
                len: job.miner_work.len(),
            })?;
        let network_difficulty: Difficulty = job.network_difficulty.parse().map_err(
            |error: tos_pool_common::difficulty::DifficultyError| JobError::Difficulty {
                job_id: job.job_id.clone(),
                text: job.network_difficulty.clone(),
                reason: error.to_string(),
            },
        )?;
        Ok(JobInfo {
            network_target: network_difficulty.target(),
            job_id: job.job_id,
            height: job.height,
            topoheight: job.topoheight,
            miner_work,
            network_difficulty,
            clean: job.clean,
            created_at_ms: job.created_at_ms,
            algorithm: job.algorithm,
        })
    }
}

/// The latest jobs, newest last, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct JobBacklog {
    jobs: VecDeque<Arc<JobInfo>>,
    capacity: usize,
}

impl JobBacklog {
    /// An empty backlog keeping `capacity` jobs (at least 1: the current one).
    pub fn new(capacity: usize) -> JobBacklog {
        JobBacklog {
            jobs: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Changes how many jobs are kept (`Settings.job_backlog`), dropping the
    /// oldest if needed.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.trim();
    }

    /// Adds the newest job. A job id seen before replaces the older entry.
    pub fn push(&mut self, job: Arc<JobInfo>) {
        self.jobs.retain(|known| known.job_id != job.job_id);
        self.jobs.push_back(job);
        self.trim();
    }

    /// A job still in the backlog, by id.
    pub fn get(&self, job_id: &str) -> Option<Arc<JobInfo>> {
        self.jobs
            .iter()
            .rev()
            .find(|job| job.job_id == job_id)
            .cloned()
    }

    /// The newest job.
    pub fn latest(&self) -> Option<Arc<JobInfo>> {
        self.jobs.back().cloned()
    }

    /// Every job in the backlog, oldest first.
    pub fn all(&self) -> Vec<Arc<JobInfo>> {
        self.jobs.iter().cloned().collect()
    }

    fn trim(&mut self) {
        while self.jobs.len() > self.capacity {
            self.jobs.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> Job {
        Job {
            job_id: id.to_owned(),
            height: 7,
            topoheight: 9,
            miner_work: vec![0u8; 112],
            network_difficulty: "1000".to_owned(),
            network_target: Vec::new(),
            clean: true,
            created_at_ms: 1,
            algorithm: "tos/v3".to_owned(),
        }
    }

    #[test]
    fn a_good_job_decodes_with_its_target() {
        let info = JobInfo::from_proto(job("a")).unwrap();
        assert_eq!(info.network_difficulty, Difficulty::from_u64(1000).unwrap());
        assert_eq!(
            info.network_target,
            Difficulty::from_u64(1000).unwrap().target()
        );
        assert_eq!(info.height, 7);
    }

    #[test]
    fn bad_jobs_are_refused_with_the_reason() {
        let mut short = job("a");
        short.miner_work.truncate(100);
        assert!(matches!(
            JobInfo::from_proto(short),
            Err(JobError::MinerWork { len: 100, .. })
        ));
        let mut zero = job("a");
        zero.network_difficulty = "0".to_owned();
        assert!(matches!(
            JobInfo::from_proto(zero),
            Err(JobError::Difficulty { .. })
        ));
        let mut text = job("a");
        text.network_difficulty = "lots".to_owned();
        assert!(JobInfo::from_proto(text).is_err());
        assert!(matches!(
            JobInfo::from_proto(job("")),
            Err(JobError::EmptyId { height: 7 })
        ));
    }

    fn info(id: &str) -> Arc<JobInfo> {
        Arc::new(JobInfo::from_proto(job(id)).unwrap())
    }

    #[test]
    fn the_backlog_keeps_only_the_newest_jobs() {
        let mut backlog = JobBacklog::new(2);
        backlog.push(info("a"));
        backlog.push(info("b"));
        backlog.push(info("c"));
        assert!(backlog.get("a").is_none());
        assert_eq!(backlog.get("b").unwrap().job_id, "b");
        assert_eq!(backlog.latest().unwrap().job_id, "c");
        backlog.set_capacity(1);
        assert!(backlog.get("b").is_none());
        assert_eq!(backlog.all().len(), 1);
    }

    #[test]
    fn a_resent_job_moves_to_the_front() {
        let mut backlog = JobBacklog::new(3);
        backlog.push(info("a"));
        backlog.push(info("b"));
        backlog.push(info("a"));
        let ids: Vec<String> = backlog.all().iter().map(|j| j.job_id.clone()).collect();
        assert_eq!(ids, ["b", "a"]);
    }
}
