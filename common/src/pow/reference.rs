//! TOS Hash V3 written the plain way, stage by stage as TOS.md states it.
//!
//! This is the readable specification and the benchmark baseline. It allocates
//! a fresh scratchpad and indexes with `%`; [`super::hash`] computes the same
//! function faster.

#![allow(
    clippy::needless_range_loop,
    reason = "the loops index the pad exactly as the spec writes them"
)]

use super::{SCRATCHPAD_WORDS, mix};

const N: usize = SCRATCHPAD_WORDS;

/// TOS Hash V3 of `input`, computed stage by stage as the spec reads.
pub fn hash(input: &[u8]) -> [u8; 32] {
    let mut pad = vec![0u64; N];
    seed(input, &mut pad);
    passes(&mut pad);
    rounds(&mut pad);
    fold(&pad)
}

/// Stage 1: four interleaved chains seeded by `blake3(input)` fill the pad.
pub(super) fn seed(input: &[u8], pad: &mut [u64]) {
    let digest = blake3::hash(input);
    let mut st = [0u64; 4];
    for (k, bytes) in digest.as_bytes().chunks_exact(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        st[k] = u64::from_le_bytes(word);
    }
    for i in 0..N {
        let k = i % 4;
        st[k] = mix(st[k], st[(k + 1) % 4], i as u64);
        pad[i] = st[k];
    }
}

/// Stage 2: four passes over the pad, forward on even `p`, backward on odd.
pub(super) fn passes(pad: &mut [u64]) {
    for p in 0..4usize {
        if p % 2 == 0 {
            let mut carry = pad[N - 1];
            for i in 0..N {
                let prev = if i == 0 { pad[N - 1] } else { pad[i - 1] };
                pad[i] = mix(pad[i], prev ^ carry, p as u64);
                carry = pad[i];
            }
        } else {
            let mut carry = pad[0];
            for i in (0..N).rev() {
                let next = if i == N - 1 { pad[0] } else { pad[i + 1] };
                pad[i] = mix(pad[i], next ^ carry, p as u64);
                carry = pad[i];
            }
        }
    }
}

/// Stage 3: eight in-place rounds mixing each word with two words ahead.
pub(super) fn rounds(pad: &mut [u64]) {
    for r in 0..8usize {
        let d = [1, 64, 256, 1024][r % 4];
        for i in 0..N {
            pad[i] = mix(pad[i], pad[(i + d) % N] ^ pad[(i + 2 * d) % N], r as u64);
        }
    }
}

/// Stage 4: XOR-fold the pad into four words and hash them.
pub(super) fn fold(pad: &[u64]) -> [u8; 32] {
    let mut f = [0u64; 4];
    for i in 0..N {
        f[i % 4] ^= pad[i];
    }
    let mut bytes = [0u8; 32];
    for (k, word) in f.iter().enumerate() {
        bytes[k * 8..k * 8 + 8].copy_from_slice(&word.to_le_bytes());
    }
    *blake3::hash(&bytes).as_bytes()
}
