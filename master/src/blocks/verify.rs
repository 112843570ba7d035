//! The master's own check of a block candidate, before it reaches a daemon:
//! pure, no I/O.

use tos_pool_common::difficulty::{Target, meets_target};
use tos_pool_common::header::{BlockHeader, MinerWork};
use tos_pool_common::pow;

use super::BlockJob;

/// Why the master refuses a candidate without submitting it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The job is no longer in the backlog (or never was).
    #[error("stale job {0}: the job is no longer current")]
    StaleJob(String),
    /// The MinerWork cannot be read.
    #[error("malformed miner_work: {0}")]
    MalformedWork(String),
    /// The job's template cannot be read (a daemon fault).
    #[error("the job's template cannot be read: {0}")]
    BadTemplate(String),
    /// The MinerWork is not the job's work (another header or miner key).
    #[error("miner_work does not belong to job {0}: work hash or miner key differ")]
    ForeignWork(String),
    /// The PoW hash does not meet the network target.
    #[error("PoW hash {0} does not meet the network target")]
    LowPow(String),
}

/// A candidate rebuilt into its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The solved MinerWork.
    pub work: MinerWork,
    /// The full header: the template with the MinerWork applied.
    pub header: BlockHeader,
    /// Block hash, 64 hex.
    pub hash: String,
}

/// Rebuilds the header of `job` with the candidate's `miner_work`, and checks
/// that the work is the job's (same work hash and miner key).
pub fn rebuild(job: &BlockJob, miner_work: &[u8]) -> Result<Rebuilt, Refusal> {
    let work = MinerWork::from_bytes(miner_work)
        .map_err(|error| Refusal::MalformedWork(error.to_string()))?;
    let mut header = BlockHeader::from_hex(&job.template_hex)
        .map_err(|error| Refusal::BadTemplate(error.to_string()))?;
    let template_miner = header.miner;
    header.apply_miner_work(&work);
    if header.miner_work() != work || header.miner != template_miner {
        return Err(Refusal::ForeignWork(job.job_id.clone()));
    }
    let hash = hex::encode(header.block_hash());
    Ok(Rebuilt { work, header, hash })
}

/// Hashes the work with TOS Hash V3 and checks it against `target`; the PoW
/// hash when it meets it. CPU work: run it off the I/O runtime.
pub fn check_pow(work: &MinerWork, target: &Target) -> Result<[u8; 32], Refusal> {
    let pow_hash = pow::hash(work.as_bytes());
    if meets_target(&pow_hash, target) {
        Ok(pow_hash)
    } else {
        Err(Refusal::LowPow(hex::encode(pow_hash)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tos_pool_common::difficulty::Difficulty;

    /// The daemon's own header test (TOS.md).
    const HEADER: &str = "00000000000000002d0000018f1cbd697000000000000000000eded85557e887b45989a727b6786e1bd250de65042d9381822fa73d01d2c4ff01d3a0154853dbb01dc28c9102e9d94bea355b8ee0d82c3e078ac80841445e86520000d67ad13934337b85c34985491c437386c95de0d97017131088724cfbedebdc5500";

    fn job() -> BlockJob {
        BlockJob {
            job_id: "j1".to_owned(),
            height: 45,
            template_hex: HEADER.to_owned(),
            network_difficulty: Difficulty::ONE,
        }
    }

    #[test]
    fn the_templates_own_work_rebuilds_to_the_known_block_hash() {
        let header = BlockHeader::from_hex(HEADER).expect("known header parses");
        let rebuilt = rebuild(&job(), header.miner_work().as_bytes()).expect("own work fits");
        assert_eq!(
            rebuilt.hash,
            "85426f3980c09efbf60000d162154d5fdc496fe6358e2844ccf4d5bf29e995f3"
        );
    }

    #[test]
    fn a_solved_nonce_and_extra_nonce_are_taken_into_the_header() {
        let header = BlockHeader::from_hex(HEADER).expect("known header parses");
        let mut work = header.miner_work();
        work.set_nonce(0xdead_beef);
        work.set_extra_nonce(&[7; 32]);
        let rebuilt = rebuild(&job(), work.as_bytes()).expect("same job");
        assert_eq!(rebuilt.header.nonce, 0xdead_beef);
        assert_eq!(rebuilt.header.extra_nonce, [7; 32]);
        assert_eq!(rebuilt.hash, hex::encode(work.block_hash()));
    }

    #[test]
    fn work_of_another_header_or_miner_is_refused() {
        let header = BlockHeader::from_hex(HEADER).expect("known header parses");
        let mut other_miner = header.miner_work();
        other_miner.set_miner(&[1; 32]);
        assert_eq!(
            rebuild(&job(), other_miner.as_bytes()),
            Err(Refusal::ForeignWork("j1".to_owned()))
        );
        let mut other_header = *header.miner_work().as_bytes();
        other_header[0] ^= 1;
        assert!(matches!(
            rebuild(&job(), &other_header),
            Err(Refusal::ForeignWork(_))
        ));
        assert!(matches!(
            rebuild(&job(), &other_header[..100]),
            Err(Refusal::MalformedWork(_))
        ));
    }

    #[test]
    fn pow_is_judged_against_the_network_target() {
        let header = BlockHeader::from_hex(HEADER).expect("known header parses");
        let work = header.miner_work();
        let pow_hash = check_pow(&work, &Difficulty::ONE.target()).expect("difficulty 1 takes all");
        assert_eq!(
            hex::encode(pow_hash),
            "2456a601368843841f249c9d1249a0601c6d2488771cfb7bfed3cff13e55e389"
        );
        let hard = Difficulty::from_u64(u64::MAX).expect("not zero");
        assert!(matches!(
            check_pow(&work, &hard.target()),
            Err(Refusal::LowPow(_))
        ));
    }
}
