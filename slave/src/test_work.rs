//! The job the door codecs' unit tests encode (test builds only).

use tos_pool_common::difficulty::Difficulty;
use tos_pool_common::header::MinerWork;

use crate::session::Work;

/// Job `j42` at height 123 456, clean, its header filled with
/// `header_byte`, at share difficulty `difficulty` (non-zero).
pub(crate) fn sample_work(header_byte: u8, difficulty: u64) -> Work {
    Work {
        job_id: "j42".into(),
        header: MinerWork::from([header_byte; 112]),
        target: Difficulty::from_u64(difficulty).expect("non-zero").target(),
        difficulty,
        height: 123_456,
        clean: true,
    }
}
