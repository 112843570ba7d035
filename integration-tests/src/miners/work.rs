//! What every test miner shares: the job a pool hands out, the nonce search
//! that really hashes, deliberately bad shares, and hex in both spellings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tos_pool_common::difficulty::{Target, meets_target};
use tos_pool_common::pow;

use super::MinerError;

/// Size of a MinerWork, the 112 bytes a miner hashes.
pub const MINER_WORK_SIZE: usize = 112;
/// Where the nonce sits in a MinerWork (8 bytes, big-endian).
pub const NONCE_RANGE: std::ops::Range<usize> = 40..48;
/// Where the extra nonce sits in a MinerWork (the pool's 30 bytes and the
/// miner's 2 thread bytes at 78..80).
pub const EXTRA_NONCE_RANGE: std::ops::Range<usize> = 48..80;

/// A job as a miner received it, whatever the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The pool's job id, echoed back on submit.
    pub job_id: String,
    /// The session's MinerWork, extra nonce already in place.
    pub header: [u8; MINER_WORK_SIZE],
    /// The share target the pool asks for.
    pub target: Target,
    /// Chain height the job builds on.
    pub height: u64,
    /// Share difficulty when the protocol states it (Stratum: the last
    /// `mining.set_difficulty`; WebSocket and Xatum: the job's field).
    pub difficulty: Option<u64>,
    /// Whether older jobs should be dropped.
    pub clean: bool,
    /// When the miner parsed the job.
    pub received_at: Instant,
}

impl Job {
    /// The job's header with `nonce` written big-endian at bytes 40..48.
    pub fn header_with_nonce(&self, nonce: u64) -> [u8; MINER_WORK_SIZE] {
        with_nonce(&self.header, nonce)
    }

    /// The PoW hash of this job's header with `nonce`.
    pub fn pow_hash(&self, nonce: u64) -> [u8; 32] {
        pow_hash_with_nonce(&self.header, nonce)
    }
}

/// `header` with `nonce` written big-endian at bytes 40..48.
pub fn with_nonce(header: &[u8; MINER_WORK_SIZE], nonce: u64) -> [u8; MINER_WORK_SIZE] {
    let mut work = *header;
    work[NONCE_RANGE].copy_from_slice(&nonce.to_be_bytes());
    work
}

/// The PoW hash (TOS Hash V3) of `header` with `nonce` in place.
pub fn pow_hash_with_nonce(header: &[u8; MINER_WORK_SIZE], nonce: u64) -> [u8; 32] {
    pow::hash(&with_nonce(header, nonce))
}

/// Searches nonces `start_nonce, start_nonce + 1, …` (wrapping) for one whose
/// PoW hash meets `target`; gives up after `max_tries` hashes. Returns the
/// nonce and its hash.
pub fn find_share(
    header: &[u8; MINER_WORK_SIZE],
    target: &Target,
    start_nonce: u64,
    max_tries: u64,
) -> Option<(u64, [u8; 32])> {
    search(header, start_nonce, max_tries, |hash| {
        meets_target(hash, target)
    })
}

/// Searches for a nonce whose PoW hash misses `target`: a share the pool must
/// refuse as low difficulty. `None` when every hash tried met the target (a
/// difficulty-1 target accepts every hash, so no bad share exists for it).
pub fn find_bad_share(
    header: &[u8; MINER_WORK_SIZE],
    target: &Target,
    start_nonce: u64,
    max_tries: u64,
) -> Option<(u64, [u8; 32])> {
    search(header, start_nonce, max_tries, |hash| {
        !meets_target(hash, target)
    })
}

fn search(
    header: &[u8; MINER_WORK_SIZE],
    start_nonce: u64,
    max_tries: u64,
    accept: impl Fn(&[u8; 32]) -> bool,
) -> Option<(u64, [u8; 32])> {
    let mut hasher = pow::Hasher::new();
    let mut work = *header;
    let mut nonce = start_nonce;
    for _ in 0..max_tries {
        work[NONCE_RANGE].copy_from_slice(&nonce.to_be_bytes());
        let hash = hasher.hash(&work);
        if accept(&hash) {
            return Some((nonce, hash));
        }
        nonce = nonce.wrapping_add(1);
    }
    None
}

/// A share search on the blocking pool, advancing `next_nonce` past it.
pub(crate) async fn search_share(
    job: &Job,
    next_nonce: &AtomicU64,
    max_tries: u64,
) -> Result<u64, MinerError> {
    let start = next_nonce.load(Ordering::Relaxed);
    let (header, target) = (job.header, job.target);
    let found = tokio::task::spawn_blocking(move || find_share(&header, &target, start, max_tries))
        .await
        .map_err(|e| MinerError::Search(e.to_string()))?;
    let (nonce, _) = found.ok_or(MinerError::NoShareFound { tries: max_tries })?;
    next_nonce.store(nonce.wrapping_add(1), Ordering::Relaxed);
    Ok(nonce)
}

/// A bad-share search on the blocking pool, advancing `next_nonce` past it.
pub(crate) async fn search_bad_share(
    job: &Job,
    next_nonce: &AtomicU64,
    max_tries: u64,
) -> Result<u64, MinerError> {
    let start = next_nonce.load(Ordering::Relaxed);
    let (header, target) = (job.header, job.target);
    let found =
        tokio::task::spawn_blocking(move || find_bad_share(&header, &target, start, max_tries))
            .await
            .map_err(|e| MinerError::Search(e.to_string()))?;
    let (nonce, _) = found.ok_or(MinerError::NoBadShareFound { tries: max_tries })?;
    next_nonce.store(nonce.wrapping_add(1), Ordering::Relaxed);
    Ok(nonce)
}

/// Why a hex field from a pool was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexFieldError {
    /// Not hex at all.
    #[error("{field} is not hex: {value:?}")]
    NotHex {
        /// Which field.
        field: &'static str,
        /// What was received.
        value: String,
    },
    /// Hex of the wrong size.
    #[error("{field} must be {expected} bytes, got {actual}")]
    WrongLength {
        /// Which field.
        field: &'static str,
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
}

/// Decodes hex written with or without a `0x` prefix.
pub fn decode_hex(field: &'static str, text: &str) -> Result<Vec<u8>, HexFieldError> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex::decode(digits).map_err(|_| HexFieldError::NotHex {
        field,
        value: text.to_string(),
    })
}

/// Decodes exactly `N` bytes of hex, with or without `0x`.
pub fn decode_hex_array<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<[u8; N], HexFieldError> {
    let bytes = decode_hex(field, text)?;
    let actual = bytes.len();
    bytes.try_into().map_err(|_| HexFieldError::WrongLength {
        field,
        expected: N,
        actual,
    })
}

/// A nonce as 16 hex characters, big-endian, without `0x` (Stratum).
pub fn nonce_hex(nonce: u64) -> String {
    format!("{nonce:016x}")
}

/// A nonce as `0x` and 16 hex characters, big-endian (WebSocket, Xatum).
pub fn nonce_hex_prefixed(nonce: u64) -> String {
    format!("0x{nonce:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tos_pool_common::difficulty::Difficulty;

    fn header() -> [u8; MINER_WORK_SIZE] {
        let mut header = [0u8; MINER_WORK_SIZE];
        for (i, byte) in header.iter_mut().enumerate() {
            *byte = i as u8;
        }
        header
    }

    fn target_of(difficulty: u64) -> Target {
        Difficulty::from_u64(difficulty).expect("non-zero").target()
    }

    #[test]
    fn found_share_meets_target_when_rehashed() {
        let target = target_of(8);
        let (nonce, hash) = find_share(&header(), &target, 1000, 10_000).expect("share");
        let work = with_nonce(&header(), nonce);
        assert_eq!(&work[NONCE_RANGE], &nonce.to_be_bytes());
        assert_eq!(pow::hash(&work), hash);
        assert!(meets_target(&hash, &target));
        assert!(nonce >= 1000);
    }

    #[test]
    fn difficulty_one_accepts_the_first_nonce() {
        let (nonce, _) = find_share(&header(), &target_of(1), 77, 1).expect("share");
        assert_eq!(nonce, 77);
        assert!(find_bad_share(&header(), &target_of(1), 77, 50).is_none());
    }

    #[test]
    fn bad_share_misses_target() {
        let target = target_of(16);
        let (nonce, hash) = find_bad_share(&header(), &target, 0, 100).expect("bad share");
        assert_eq!(pow_hash_with_nonce(&header(), nonce), hash);
        assert!(!meets_target(&hash, &target));
    }

    #[test]
    fn impossible_target_gives_up() {
        assert!(find_share(&header(), &Target([0; 32]), 0, 20).is_none());
    }

    #[test]
    fn nonce_search_wraps_around() {
        let (nonce, _) = find_share(&header(), &target_of(1), u64::MAX, 1).expect("share");
        assert_eq!(nonce, u64::MAX);
        let target = target_of(4);
        let found = find_share(&header(), &target, u64::MAX - 1, 1000).expect("share");
        let expected = (0..1000u64)
            .map(|i| (u64::MAX - 1).wrapping_add(i))
            .find(|n| meets_target(&pow_hash_with_nonce(&header(), *n), &target));
        assert_eq!(Some(found.0), expected);
    }

    #[test]
    fn hex_with_and_without_prefix() {
        assert_eq!(decode_hex("x", "0x0a0B").expect("hex"), vec![10, 11]);
        assert_eq!(decode_hex("x", "0a0b").expect("hex"), vec![10, 11]);
        assert!(matches!(
            decode_hex("x", "0xzz"),
            Err(HexFieldError::NotHex { .. })
        ));
        assert_eq!(
            decode_hex_array::<2>("x", "0xabcd").expect("hex"),
            [0xab, 0xcd]
        );
        assert_eq!(
            decode_hex_array::<3>("x", "abcd"),
            Err(HexFieldError::WrongLength {
                field: "x",
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(nonce_hex(0x0102), "0000000000000102");
        assert_eq!(nonce_hex_prefixed(0xff), "0x00000000000000ff");
    }
}
