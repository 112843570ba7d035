//! A job: one daemon template made ready for miners, without I/O.

use tos_pool_common::difficulty::{Difficulty, Target, target_from_difficulty};
use tos_pool_common::header::{BlockHeader, HeaderError, MinerWork};
use tos_pool_proto::v1;

use crate::rpc::BlockTemplate;

/// The only PoW algorithm the pool mines.
pub const ALGORITHM: &str = "tos/v3";

/// Work handed to every slave: the template's MinerWork with the pool's key in
/// the miner field and the extra_nonce zeroed for the slaves to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Cluster-wide id, unique across master restarts.
    pub id: String,
    /// Height of the block being mined.
    pub height: u64,
    /// Topoheight of the template.
    pub topoheight: u64,
    /// MinerWork: work hash and timestamp of the template, nonce 0,
    /// extra_nonce zeroed, the pool's public key as miner.
    pub miner_work: MinerWork,
    /// Network difficulty the block must meet.
    pub difficulty: Difficulty,
    /// `(2^256 − 1) / difficulty`.
    pub target: Target,
    /// Miners should drop older jobs (the height changed).
    pub clean: bool,
    /// When the job was made, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// PoW algorithm (`tos/v3`).
    pub algorithm: String,
    /// The daemon's template hex, kept for `submit_block`.
    pub template_hex: String,
    /// Name of the upstream the template came from.
    pub upstream: String,
}

/// Why a template cannot become a job.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// The daemon mines another algorithm than the pool's.
    #[error(
        "the daemon's template uses algorithm {0:?} but the pool mines only tos/v3; upgrade the pool or point it at a matching daemon"
    )]
    UnsupportedAlgorithm(String),
    /// The template hex is not a block header.
    #[error("the daemon's template cannot be read: {0}")]
    BadHeader(#[from] HeaderError),
    /// The header and the reply disagree on the height.
    #[error("the template header is for height {header} but the daemon said {reply}")]
    HeightMismatch {
        /// Height in the header.
        header: u64,
        /// Height in the reply.
        reply: u64,
    },
}

/// What the job is made of besides the template.
#[derive(Debug, Clone, Copy)]
pub struct JobParts<'a> {
    /// The job id.
    pub id: &'a str,
    /// Public key for the miner field.
    pub miner_key: &'a [u8; 32],
    /// Whether miners should drop older jobs.
    pub clean: bool,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// Name of the upstream the template came from.
    pub upstream: &'a str,
}

impl Job {
    /// Makes a job of `template`.
    pub fn from_template(
        template: &BlockTemplate,
        parts: JobParts<'_>,
    ) -> Result<Job, TemplateError> {
        if template.algorithm != ALGORITHM {
            return Err(TemplateError::UnsupportedAlgorithm(
                template.algorithm.clone(),
            ));
        }
        let header = template_header(template)?;
        let mut work = header.miner_work();
        work.set_miner(parts.miner_key);
        work.set_extra_nonce(&[0; 32]);
        Ok(Job {
            id: parts.id.to_string(),
            height: template.height,
            topoheight: template.topoheight,
            miner_work: work,
            difficulty: template.difficulty,
            target: target_from_difficulty(&template.difficulty),
            clean: parts.clean,
            created_at_ms: parts.created_at_ms,
            algorithm: template.algorithm.clone(),
            template_hex: template.template.clone(),
            upstream: parts.upstream.to_string(),
        })
    }

    /// The job as it travels to slaves.
    pub fn to_proto(&self) -> v1::Job {
        v1::Job {
            job_id: self.id.clone(),
            height: self.height,
            topoheight: self.topoheight,
            miner_work: self.miner_work.as_bytes().to_vec(),
            network_difficulty: self.difficulty.to_string(),
            network_target: self.target.as_bytes().to_vec(),
            clean: self.clean,
            created_at_ms: self.created_at_ms,
            algorithm: self.algorithm.clone(),
        }
    }
}

/// The template's header, checked against the reply's height.
pub fn template_header(template: &BlockTemplate) -> Result<BlockHeader, TemplateError> {
    let header = BlockHeader::from_hex(&template.template)?;
    if header.height != template.height {
        return Err(TemplateError::HeightMismatch {
            header: header.height,
            reply: template.height,
        });
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use tos_pool_common::difficulty::meets_target;

    use super::*;

    const POOL_KEY: [u8; 32] = [0x8c; 32];

    fn header(height: u64) -> BlockHeader {
        BlockHeader {
            version: 0,
            height,
            timestamp: 1_700_000_000_123,
            nonce: 77,
            extra_nonce: [0xee; 32],
            tips: vec![[1; 32], [2; 32]],
            txs_hashes: vec![[3; 32]],
            miner: [0x11; 32],
            vrf: None,
        }
    }

    fn template(height: u64, difficulty: u64) -> BlockTemplate {
        BlockTemplate {
            template: header(height).to_hex(),
            algorithm: ALGORITHM.to_string(),
            height,
            topoheight: height + 3,
            difficulty: Difficulty::from_u64(difficulty).expect("nonzero"),
        }
    }

    fn parts() -> JobParts<'static> {
        JobParts {
            id: "abcd1",
            miner_key: &POOL_KEY,
            clean: true,
            created_at_ms: 5,
            upstream: "primary",
        }
    }

    #[test]
    fn a_job_carries_the_pool_key_and_zeroed_extra_nonce() {
        let job = Job::from_template(&template(42, 1000), parts()).expect("valid template");
        let original = header(42);
        assert_eq!(job.miner_work.miner(), POOL_KEY);
        assert_eq!(job.miner_work.extra_nonce(), [0; 32]);
        assert_eq!(job.miner_work.work_hash(), original.work_hash());
        assert_eq!(job.miner_work.timestamp(), original.timestamp);
        assert_eq!((job.height, job.topoheight), (42, 45));
        assert_eq!(job.template_hex, original.to_hex());
        assert_eq!(job.difficulty.to_string(), "1000");
    }

    #[test]
    fn the_target_is_the_difficulty_target() {
        let job = Job::from_template(&template(1, 1000), parts()).expect("valid template");
        assert_eq!(job.target, target_from_difficulty(&job.difficulty));
        let mut just_above = job.target.0;
        // The target of difficulty 1000 is not all ones, so adding one to its
        // last byte that is not 0xff gives a hash just above it.
        let position = just_above
            .iter()
            .rposition(|&b| b != 0xff)
            .expect("target < 2^256-1");
        just_above[position] += 1;
        assert!(meets_target(&job.target.0, &job.target));
        assert!(!meets_target(&just_above, &job.target));
    }

    #[test]
    fn proto_form_matches_the_job() {
        let job = Job::from_template(&template(9, 123456), parts()).expect("valid template");
        let proto = job.to_proto();
        assert_eq!(proto.job_id, "abcd1");
        assert_eq!(proto.miner_work, job.miner_work.as_bytes().to_vec());
        assert_eq!(proto.network_difficulty, "123456");
        assert_eq!(proto.network_target, job.target.0.to_vec());
        assert!(proto.clean);
        assert_eq!(proto.algorithm, "tos/v3");
        assert_eq!(
            (proto.height, proto.topoheight, proto.created_at_ms),
            (9, 12, 5)
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        let mut other = template(1, 1000);
        other.algorithm = "tos/v2".into();
        assert!(matches!(
            Job::from_template(&other, parts()),
            Err(TemplateError::UnsupportedAlgorithm(_))
        ));
        let mut cut = template(1, 1000);
        cut.template.truncate(40);
        assert!(matches!(
            Job::from_template(&cut, parts()),
            Err(TemplateError::BadHeader(_))
        ));
        let mut lying = template(1, 1000);
        lying.height = 2;
        assert_eq!(
            Job::from_template(&lying, parts()),
            Err(TemplateError::HeightMismatch {
                header: 1,
                reply: 2
            })
        );
    }
}
