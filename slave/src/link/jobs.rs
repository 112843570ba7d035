//! Jobs from the master: checked and decoded once on arrival into the
//! slave's [`Job`], then shared as `Arc<Job>` with every session.

use tos_pool_common::difficulty::Difficulty;
use tos_pool_common::header::MinerWork;
use tos_pool_proto::v1;

use crate::job::Job;

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
    /// The job id is longer than a share may carry.
    #[error("job at height {height} has a {len}-byte job_id; at most {max} bytes fit a share", max = tos_pool_proto::MAX_JOB_ID_BYTES)]
    LongId {
        /// Height of the job.
        height: u64,
        /// Bytes received.
        len: usize,
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

/// Checks and decodes a `Job` from the master into the slave's [`Job`].
pub fn decode_job(job: v1::Job) -> Result<Job, JobError> {
    if job.job_id.is_empty() {
        return Err(JobError::EmptyId { height: job.height });
    }
    if job.job_id.len() > tos_pool_proto::MAX_JOB_ID_BYTES {
        return Err(JobError::LongId {
            height: job.height,
            len: job.job_id.len(),
        });
    }
    let miner_work = MinerWork::from_bytes(&job.miner_work).map_err(|_| JobError::MinerWork {
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
    Ok(Job {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> v1::Job {
        v1::Job {
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
        let job = decode_job(job("a")).unwrap();
        assert_eq!(job.network_difficulty, Difficulty::from_u64(1000).unwrap());
        assert_eq!(
            job.network_target,
            Difficulty::from_u64(1000).unwrap().target()
        );
        assert_eq!(job.height, 7);
    }

    #[test]
    fn bad_jobs_are_refused_with_the_reason() {
        let mut short = job("a");
        short.miner_work.truncate(100);
        assert!(matches!(
            decode_job(short),
            Err(JobError::MinerWork { len: 100, .. })
        ));
        let mut zero = job("a");
        zero.network_difficulty = "0".to_owned();
        assert!(matches!(decode_job(zero), Err(JobError::Difficulty { .. })));
        let mut text = job("a");
        text.network_difficulty = "lots".to_owned();
        assert!(decode_job(text).is_err());
        assert!(matches!(
            decode_job(job("")),
            Err(JobError::EmptyId { height: 7 })
        ));
        let long = "j".repeat(tos_pool_proto::MAX_JOB_ID_BYTES + 1);
        assert!(matches!(
            decode_job(job(&long)),
            Err(JobError::LongId { height: 7, len: 65 })
        ));
        assert!(decode_job(job(&long[1..])).is_ok());
    }
}
