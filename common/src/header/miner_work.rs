//! The 112-byte MinerWork: what miners hash, and what comes back on a share.

use std::fmt;

use super::strip_hex_prefix;

/// Size of a MinerWork in bytes.
pub const MINER_WORK_LENGTH: usize = 112;

const WORK_HASH: usize = 0;
const TIMESTAMP: usize = 32;
const NONCE: usize = 40;
const EXTRA_NONCE: usize = 48;
const MINER: usize = 80;

/// The 112 bytes miners hash: `[0..32]` work hash, `[32..40]` timestamp (ms, BE),
/// `[40..48]` nonce (BE), `[48..80]` extra nonce, `[80..112]` miner public key.
///
/// A plain byte array: `Copy`, and every getter and setter is a fixed-offset copy.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MinerWork([u8; MINER_WORK_LENGTH]);

/// Why bytes or hex could not be read as a MinerWork.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MinerWorkError {
    /// Not exactly 112 bytes.
    #[error("miner work is {length} bytes; it must be exactly {MINER_WORK_LENGTH}")]
    WrongLength {
        /// Number of bytes given.
        length: usize,
    },
    /// Hex text of the wrong length.
    #[error(
        "miner work hex is {length} characters; it must be {} hex digits ({MINER_WORK_LENGTH} bytes), with or without 0x",
        2 * MINER_WORK_LENGTH
    )]
    WrongHexLength {
        /// Number of characters after any `0x`.
        length: usize,
    },
    /// Text that is not hex.
    #[error("miner work hex is invalid ({0}): use only 0-9 and a-f")]
    InvalidHex(hex::FromHexError),
}

impl MinerWork {
    /// Assembles a MinerWork from its fields.
    pub fn new(
        work_hash: &[u8; 32],
        timestamp: u64,
        nonce: u64,
        extra_nonce: &[u8; 32],
        miner: &[u8; 32],
    ) -> MinerWork {
        let mut work = MinerWork([0; MINER_WORK_LENGTH]);
        work.0[WORK_HASH..WORK_HASH + 32].copy_from_slice(work_hash);
        work.set_timestamp(timestamp);
        work.set_nonce(nonce);
        work.set_extra_nonce(extra_nonce);
        work.set_miner(miner);
        work
    }

    /// Reads exactly 112 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<MinerWork, MinerWorkError> {
        let array = <[u8; MINER_WORK_LENGTH]>::try_from(bytes).map_err(|_| {
            MinerWorkError::WrongLength {
                length: bytes.len(),
            }
        })?;
        Ok(MinerWork(array))
    }

    /// Reads 224 hex digits, with or without a leading `0x`.
    pub fn from_hex(text: &str) -> Result<MinerWork, MinerWorkError> {
        let digits = strip_hex_prefix(text);
        if digits.len() != 2 * MINER_WORK_LENGTH {
            return Err(MinerWorkError::WrongHexLength {
                length: digits.chars().count(),
            });
        }
        let mut bytes = [0u8; MINER_WORK_LENGTH];
        hex::decode_to_slice(digits, &mut bytes).map_err(MinerWorkError::InvalidHex)?;
        Ok(MinerWork(bytes))
    }

    /// The 224 lower-case hex digits, without `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The 112 bytes.
    pub fn as_bytes(&self) -> &[u8; MINER_WORK_LENGTH] {
        &self.0
    }

    /// Hash of the header fields that are not in the MinerWork (version, height,
    /// tips, transactions).
    pub fn work_hash(&self) -> [u8; 32] {
        self.bytes32(WORK_HASH)
    }

    /// Block timestamp in milliseconds.
    pub fn timestamp(&self) -> u64 {
        self.u64_at(TIMESTAMP)
    }

    /// Sets the block timestamp in milliseconds.
    pub fn set_timestamp(&mut self, timestamp: u64) {
        self.0[TIMESTAMP..TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
    }

    /// The nonce the miner searched.
    pub fn nonce(&self) -> u64 {
        self.u64_at(NONCE)
    }

    /// Sets the nonce.
    pub fn set_nonce(&mut self, nonce: u64) {
        self.0[NONCE..NONCE + 8].copy_from_slice(&nonce.to_be_bytes());
    }

    /// The extra nonce (the pool gives each session its own).
    pub fn extra_nonce(&self) -> [u8; 32] {
        self.bytes32(EXTRA_NONCE)
    }

    /// Where the extra nonce's 32 bytes start in the 112.
    pub const EXTRA_NONCE_OFFSET: usize = EXTRA_NONCE;

    /// Sets the extra nonce.
    pub fn set_extra_nonce(&mut self, extra_nonce: &[u8; 32]) {
        self.0[EXTRA_NONCE..EXTRA_NONCE + 32].copy_from_slice(extra_nonce);
    }

    /// The public key the block pays (the pool's own key in every job).
    pub fn miner(&self) -> [u8; 32] {
        self.bytes32(MINER)
    }

    /// Sets the miner public key.
    pub fn set_miner(&mut self, miner: &[u8; 32]) {
        self.0[MINER..MINER + 32].copy_from_slice(miner);
    }

    /// The block hash: blake3 of the 112 bytes.
    pub fn block_hash(&self) -> [u8; 32] {
        *blake3::hash(&self.0).as_bytes()
    }

    /// The proof-of-work hash (TOS Hash V3) of the 112 bytes.
    pub fn pow_hash(&self) -> [u8; 32] {
        crate::pow::hash(&self.0)
    }

    fn bytes32(&self, offset: usize) -> [u8; 32] {
        let mut field = [0u8; 32];
        field.copy_from_slice(&self.0[offset..offset + 32]);
        field
    }

    fn u64_at(&self, offset: usize) -> u64 {
        let mut field = [0u8; 8];
        field.copy_from_slice(&self.0[offset..offset + 8]);
        u64::from_be_bytes(field)
    }
}

impl From<[u8; MINER_WORK_LENGTH]> for MinerWork {
    fn from(bytes: [u8; MINER_WORK_LENGTH]) -> MinerWork {
        MinerWork(bytes)
    }
}

impl fmt::Debug for MinerWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MinerWork({})", self.to_hex())
    }
}
