//! Each miner session's own extra_nonce, so no two sessions in the cluster
//! ever hash the same header for the same job.
//!
//! Layout of the 32-byte extra_nonce (MinerWork bytes 48–79):
//!
//! | extra_nonce bytes | MinerWork bytes | content |
//! |---|---|---|
//! | 0–3 | 48–51 | slave index (u32, big-endian), distinct among live slaves |
//! | 4–11 | 52–59 | session counter (u64, big-endian), distinct within a boot |
//! | 12–29 | 60–77 | per-boot salt, so a restarted slave never repeats a header |
//! | 30–31 | 78–79 | zero: left to the miner's threads |
//!
//! The Stratum `extranonce1` (8 bytes) is what `tosminer` reads, little-endian,
//! as its start nonce. It is a bijection of the session counter mixed with the
//! salt, so it differs between any two sessions of one boot and spreads their
//! start nonces over the whole 64-bit space.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of the per-boot salt in every extra_nonce.
pub const SALT_LENGTH: usize = 18;

/// Bytes of the extra_nonce the pool fills; the rest belong to the miner.
pub const POOL_EXTRA_NONCE_LENGTH: usize = 30;

/// Odd multiplier (2^64 / golden ratio): multiplying by it permutes `u64`.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hands out session ids and extra_nonces; one per slave process, shared by
/// every listener.
#[derive(Debug)]
pub struct ExtraNonceSource {
    salt: [u8; SALT_LENGTH],
    next_session: AtomicU64,
}

/// What a new session gets from [`ExtraNonceSource::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionNonce {
    /// Id of the session, unique within this boot (starts at 1).
    pub session_id: u64,
    /// The 32 bytes written into MinerWork bytes 48–79 of every job the
    /// session gets.
    pub extra_nonce: [u8; 32],
    /// The Stratum `extranonce1`: distinct for every session of this boot.
    pub extranonce1: [u8; 8],
}

impl ExtraNonceSource {
    /// A source with the given per-boot salt (tests pass a fixed one).
    pub fn new(salt: [u8; SALT_LENGTH]) -> ExtraNonceSource {
        ExtraNonceSource {
            salt,
            next_session: AtomicU64::new(1),
        }
    }

    /// A source with a random salt, for a slave process.
    pub fn with_random_salt() -> ExtraNonceSource {
        ExtraNonceSource::new(rand::random())
    }

    /// The extra_nonce of the next session, prefixed with `slave_index` (the
    /// index the master gave this slave in its Welcome).
    pub fn next(&self, slave_index: u32) -> SessionNonce {
        let session_id = self.next_session.fetch_add(1, Ordering::Relaxed);
        session_nonce(slave_index, session_id, &self.salt)
    }
}

/// The extra_nonce and extranonce1 of session `session_id` on slave
/// `slave_index` with `salt`.
pub fn session_nonce(slave_index: u32, session_id: u64, salt: &[u8; SALT_LENGTH]) -> SessionNonce {
    let mut extra_nonce = [0u8; 32];
    extra_nonce[0..4].copy_from_slice(&slave_index.to_be_bytes());
    extra_nonce[4..12].copy_from_slice(&session_id.to_be_bytes());
    extra_nonce[12..POOL_EXTRA_NONCE_LENGTH].copy_from_slice(salt);
    SessionNonce {
        session_id,
        extra_nonce,
        extranonce1: extranonce1(session_id, salt),
    }
}

/// `(counter × SPREAD) xor salt-word`: for a fixed salt a permutation of the
/// counter, so distinct sessions never share an extranonce1.
fn extranonce1(session_id: u64, salt: &[u8; SALT_LENGTH]) -> [u8; 8] {
    let mut salt_word = [0u8; 8];
    salt_word.copy_from_slice(&salt[..8]);
    let mixed = session_id.wrapping_mul(SPREAD) ^ u64::from_le_bytes(salt_word);
    mixed.to_le_bytes()
}

#[cfg(test)]
mod tests;
