//! The block header the daemon hands out as `template` and takes back on
//! `submit_block`.

use super::{MinerWork, strip_hex_prefix};

/// Most tips (parent blocks) a header may name.
pub const MAX_TIPS: usize = 3;

/// Size of the VRF data that follows a vrf flag of 1.
pub const VRF_LENGTH: usize = 192;

/// Bytes of a header with no tips, no transactions and no VRF data.
const FIXED_LENGTH: usize = 93;

/// A TOS block header. Layout, all integers big-endian:
/// `version u8 | height u64 | timestamp u64 | nonce u64 | extra_nonce [32] |
/// tips_count u8 (≤ 3) | tips | txs_count u16 | tx hashes | miner [32] |
/// vrf flag u8 (1 ⇒ 192 bytes follow)`.
///
/// Fields are public so tests and the daemon emulator can build headers. A header
/// from [`BlockHeader::from_bytes`] always keeps the limits (≤ 3 tips, ≤ 65,535
/// transactions); one built by hand past them is written with only the first
/// tips and transactions that fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    /// Block version.
    pub version: u8,
    /// Block height.
    pub height: u64,
    /// Timestamp in milliseconds.
    pub timestamp: u64,
    /// Nonce.
    pub nonce: u64,
    /// Extra nonce (the pool gives each session its own).
    pub extra_nonce: [u8; 32],
    /// Hashes of the parent blocks (at most 3).
    pub tips: Vec<[u8; 32]>,
    /// Hashes of the included transactions.
    pub txs_hashes: Vec<[u8; 32]>,
    /// Public key the block reward goes to.
    pub miner: [u8; 32],
    /// VRF data the daemon attaches on submission; `None` in templates.
    pub vrf: Option<Box<[u8; VRF_LENGTH]>>,
}

/// Why bytes or hex could not be read as a block header.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeaderError {
    /// Text that is not an even number of hex digits.
    #[error("block header hex is invalid ({0}): expected hex digits, with or without 0x")]
    InvalidHex(hex::FromHexError),
    /// The bytes end inside a field.
    #[error(
        "block header is cut short: {field} needs {needed} bytes at offset {offset} but only {available} remain; the template is truncated"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A tips count above 3.
    #[error("block header names {count} tips; at most {MAX_TIPS} are allowed: not a TOS template")]
    TooManyTips {
        /// The count read.
        count: u8,
    },
    /// A vrf flag other than 0 or 1.
    #[error("block header has vrf flag {0}; expected 0 (no VRF data) or 1 (192 bytes follow)")]
    InvalidVrfFlag(u8),
    /// Bytes after the end of the header.
    #[error(
        "block header has {count} extra bytes after its end: not a TOS template, or two joined together"
    )]
    TrailingBytes {
        /// How many bytes are left over.
        count: usize,
    },
}

impl BlockHeader {
    /// Reads a header; every byte must belong to it.
    pub fn from_bytes(bytes: &[u8]) -> Result<BlockHeader, HeaderError> {
        let mut reader = Reader { bytes, offset: 0 };
        let version = reader.u8("version")?;
        let height = reader.u64("height")?;
        let timestamp = reader.u64("timestamp")?;
        let nonce = reader.u64("nonce")?;
        let extra_nonce = reader.hash("extra_nonce")?;
        let tips_count = reader.u8("tips_count")?;
        if usize::from(tips_count) > MAX_TIPS {
            return Err(HeaderError::TooManyTips { count: tips_count });
        }
        let tips = reader.hashes(usize::from(tips_count), "tips")?;
        let txs_count = reader.u16("txs_count")?;
        let txs_hashes = reader.hashes(usize::from(txs_count), "tx hashes")?;
        let miner = reader.hash("miner")?;
        let vrf = match reader.u8("vrf flag")? {
            0 => None,
            1 => {
                let mut vrf = Box::new([0u8; VRF_LENGTH]);
                vrf.copy_from_slice(reader.take(VRF_LENGTH, "vrf data")?);
                Some(vrf)
            }
            flag => return Err(HeaderError::InvalidVrfFlag(flag)),
        };
        let count = bytes.len() - reader.offset;
        if count > 0 {
            return Err(HeaderError::TrailingBytes { count });
        }
        Ok(BlockHeader {
            version,
            height,
            timestamp,
            nonce,
            extra_nonce,
            tips,
            txs_hashes,
            miner,
            vrf,
        })
    }

    /// Reads a header from hex, with or without a leading `0x`.
    pub fn from_hex(text: &str) -> Result<BlockHeader, HeaderError> {
        let bytes = hex::decode(strip_hex_prefix(text)).map_err(HeaderError::InvalidHex)?;
        BlockHeader::from_bytes(&bytes)
    }

    /// The header's bytes (what `submit_block` takes as hex).
    pub fn to_bytes(&self) -> Vec<u8> {
        let tips = &self.tips[..self.tips.len().min(MAX_TIPS)];
        let txs = &self.txs_hashes[..self.txs_hashes.len().min(usize::from(u16::MAX))];
        let vrf_length = self.vrf.as_ref().map_or(0, |_| VRF_LENGTH);
        let mut bytes =
            Vec::with_capacity(FIXED_LENGTH + 32 * (tips.len() + txs.len()) + vrf_length);
        bytes.push(self.version);
        bytes.extend_from_slice(&self.height.to_be_bytes());
        bytes.extend_from_slice(&self.timestamp.to_be_bytes());
        bytes.extend_from_slice(&self.nonce.to_be_bytes());
        bytes.extend_from_slice(&self.extra_nonce);
        // Both counts were capped above, so the casts keep every bit.
        bytes.push(tips.len() as u8);
        tips.iter().for_each(|tip| bytes.extend_from_slice(tip));
        bytes.extend_from_slice(&(txs.len() as u16).to_be_bytes());
        txs.iter().for_each(|tx| bytes.extend_from_slice(tx));
        bytes.extend_from_slice(&self.miner);
        match &self.vrf {
            None => bytes.push(0),
            Some(vrf) => {
                bytes.push(1);
                bytes.extend_from_slice(vrf.as_slice());
            }
        }
        bytes
    }

    /// The header as lower-case hex, without `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// blake3(version ‖ height ‖ blake3(tips) ‖ blake3(tx hashes)): the part of
    /// the header a miner cannot change, as it appears in the MinerWork.
    pub fn work_hash(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&[self.version]);
        hasher.update(&self.height.to_be_bytes());
        hasher.update(concatenated_hash(&self.tips).as_bytes());
        hasher.update(concatenated_hash(&self.txs_hashes).as_bytes());
        *hasher.finalize().as_bytes()
    }

    /// The 112-byte MinerWork of this header.
    pub fn miner_work(&self) -> MinerWork {
        MinerWork::new(
            &self.work_hash(),
            self.timestamp,
            self.nonce,
            &self.extra_nonce,
            &self.miner,
        )
    }

    /// The block hash: blake3 of the MinerWork.
    pub fn block_hash(&self) -> [u8; 32] {
        self.miner_work().block_hash()
    }

    /// Copies timestamp, nonce, extra nonce and miner key from `work` into the
    /// header, as the daemon does on `submit_block`. The work hash is not
    /// compared: the caller matches work to its job.
    pub fn apply_miner_work(&mut self, work: &MinerWork) {
        self.timestamp = work.timestamp();
        self.nonce = work.nonce();
        self.extra_nonce = work.extra_nonce();
        self.miner = work.miner();
    }
}

/// blake3 of the 32-byte hashes one after another.
fn concatenated_hash(hashes: &[[u8; 32]]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hashes.iter().for_each(|hash| {
        hasher.update(hash);
    });
    hasher.finalize()
}

/// Reads fields front to back, turning a short read into `Truncated`.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, needed: usize, field: &'static str) -> Result<&'a [u8], HeaderError> {
        let available = self.bytes.len() - self.offset;
        if needed > available {
            return Err(HeaderError::Truncated {
                field,
                offset: self.offset,
                needed,
                available,
            });
        }
        let taken = &self.bytes[self.offset..self.offset + needed];
        self.offset += needed;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], HeaderError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, field)?);
        Ok(array)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, HeaderError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, HeaderError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, HeaderError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn hash(&mut self, field: &'static str) -> Result<[u8; 32], HeaderError> {
        self.array(field)
    }

    /// `count` hashes; the length is checked before anything is allocated.
    fn hashes(&mut self, count: usize, field: &'static str) -> Result<Vec<[u8; 32]>, HeaderError> {
        let bytes = self.take(32 * count, field)?;
        Ok(bytes
            .chunks_exact(32)
            .map(|chunk| {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(chunk);
                hash
            })
            .collect())
    }
}
