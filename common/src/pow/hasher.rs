//! The fast TOS Hash V3: same function as [`super::reference`], reorganised so
//! the CPU can overlap independent work.
//!
//! - Stage 2 is an element-wise map: in every pass `prev ^ carry` is 0, since
//!   `carry` is the value just written to the word `prev` reads. The four
//!   passes fuse into one function of each word, applied as stage 1 writes it.
//! - Stage 3 reads, in each round, only words not yet written in that round,
//!   except in the last `2d` words where the index wraps and reads words
//!   already written. Each round runs as three straight segments with
//!   constant offsets, so no `%` and no bounds checks remain, and no
//!   iteration waits for the one before it; the compiler also vectorises
//!   these segments (two words per SSE2 register on baseline x86-64).
//! - Stage 1 keeps its four chains in registers, unrolled by four, and by 64
//!   steps so every rotation is a constant.

use super::{SCRATCHPAD_WORDS, mix};

const N: usize = SCRATCHPAD_WORDS;

/// Computes TOS Hash V3 with a scratchpad allocated once and reused, for a
/// thread that hashes many shares.
pub struct Hasher {
    pad: Box<[u64; N]>,
}

impl Hasher {
    /// A hasher with its own 64 KiB scratchpad on the heap.
    pub fn new() -> Self {
        let pad: Box<[u64; N]> = vec![0u64; N]
            .into_boxed_slice()
            .try_into()
            .expect("a boxed slice of SCRATCHPAD_WORDS words is a [u64; SCRATCHPAD_WORDS]");
        Self { pad }
    }

    /// TOS Hash V3 of `input`; equal to [`super::reference::hash`].
    pub fn hash(&mut self, input: &[u8]) -> [u8; 32] {
        seed_and_pass(input, &mut self.pad);
        rounds(&mut self.pad);
        fold(&self.pad)
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").finish_non_exhaustive()
    }
}

/// `mix(a, 0, p)`: what one stage-2 pass does to a word.
#[inline(always)]
fn pass_word<const P: u64>(a: u64) -> u64 {
    mix(a, 0, P)
}

/// All four stage-2 passes applied to one word.
#[inline(always)]
pub(super) fn passes_word(a: u64) -> u64 {
    pass_word::<3>(pass_word::<2>(pass_word::<1>(pass_word::<0>(a))))
}

/// Stages 1 and 2: fill the pad from the four seed chains, each word going
/// through the four stage-2 passes as it is written.
pub(super) fn seed_and_pass(input: &[u8], pad: &mut [u64; N]) {
    const {
        assert!(
            N.is_multiple_of(64),
            "the pad splits into blocks of 64 steps"
        )
    };
    let digest = blake3::hash(input);
    let mut st = seed_words(digest.as_bytes());
    let (blocks, _) = pad.as_chunks_mut::<64>();
    for block in blocks {
        let (quads, _) = block.as_chunks_mut::<4>();
        seed_quad::<0>(&mut quads[0], &mut st);
        seed_quad::<1>(&mut quads[1], &mut st);
        seed_quad::<2>(&mut quads[2], &mut st);
        seed_quad::<3>(&mut quads[3], &mut st);
        seed_quad::<4>(&mut quads[4], &mut st);
        seed_quad::<5>(&mut quads[5], &mut st);
        seed_quad::<6>(&mut quads[6], &mut st);
        seed_quad::<7>(&mut quads[7], &mut st);
        seed_quad::<8>(&mut quads[8], &mut st);
        seed_quad::<9>(&mut quads[9], &mut st);
        seed_quad::<10>(&mut quads[10], &mut st);
        seed_quad::<11>(&mut quads[11], &mut st);
        seed_quad::<12>(&mut quads[12], &mut st);
        seed_quad::<13>(&mut quads[13], &mut st);
        seed_quad::<14>(&mut quads[14], &mut st);
        seed_quad::<15>(&mut quads[15], &mut st);
    }
}

/// Stage-1 steps `4J..4J + 4` of a block of 64 (one step per chain). The
/// rotation of step `i` depends only on `i % 64`, so `J` makes it a constant.
#[inline(always)]
fn seed_quad<const J: u64>(quad: &mut [u64; 4], st: &mut [u64; 4]) {
    st[0] = mix(st[0], st[1], 4 * J);
    st[1] = mix(st[1], st[2], 4 * J + 1);
    st[2] = mix(st[2], st[3], 4 * J + 2);
    st[3] = mix(st[3], st[0], 4 * J + 3);
    for (word, state) in quad.iter_mut().zip(st.iter()) {
        *word = passes_word(*state);
    }
}

/// The blake3 digest read as four little-endian words.
fn seed_words(digest: &[u8; 32]) -> [u64; 4] {
    let mut words = [0u64; 4];
    for (word, bytes) in words.iter_mut().zip(digest.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        *word = u64::from_le_bytes(le);
    }
    words
}

/// Stage 3: the eight rounds, each with its distance and round number fixed at
/// compile time.
pub(super) fn rounds(pad: &mut [u64; N]) {
    round::<1, 0>(pad);
    round::<64, 1>(pad);
    round::<256, 2>(pad);
    round::<1024, 3>(pad);
    round::<1, 4>(pad);
    round::<64, 5>(pad);
    round::<256, 6>(pad);
    round::<1024, 7>(pad);
}

/// One stage-3 round: `pad[i] = mix(pad[i], pad[i+D] ^ pad[i+2D], R)`, indices
/// modulo N, in order. Needs `4 * D <= N` so the words read after the wrap
/// (below `2D`) were all written before it.
#[inline(always)]
fn round<const D: usize, const R: u64>(pad: &mut [u64; N]) {
    const {
        assert!(
            4 * D <= N,
            "the words read after the wrap must be rewritten already"
        )
    };
    // Before the wrap both words read lie ahead, still unwritten this round.
    if D == 1 {
        // Carry the word one ahead in a register instead of loading it twice.
        let mut ahead1 = pad[1];
        for i in 0..N - 2 {
            let ahead2 = pad[i + 2];
            pad[i] = mix(pad[i], ahead1 ^ ahead2, R);
            ahead1 = ahead2;
        }
    } else {
        for i in 0..N - 2 * D {
            pad[i] = mix(pad[i], pad[i + D] ^ pad[i + 2 * D], R);
        }
    }
    // The second word read wraps to the start, already rewritten.
    for i in N - 2 * D..N - D {
        pad[i] = mix(pad[i], pad[i + D] ^ pad[i + 2 * D - N], R);
    }
    // Both words read wrap to the start.
    for i in N - D..N {
        pad[i] = mix(pad[i], pad[i + D - N] ^ pad[i + 2 * D - N], R);
    }
}

/// Stage 4: XOR-fold the pad into four words and hash them.
pub(super) fn fold(pad: &[u64; N]) -> [u8; 32] {
    let mut f = [0u64; 4];
    for quad in pad.chunks_exact(4) {
        for (acc, word) in f.iter_mut().zip(quad) {
            *acc ^= word;
        }
    }
    let mut bytes = [0u8; 32];
    for (out, word) in bytes.chunks_exact_mut(8).zip(f) {
        out.copy_from_slice(&word.to_le_bytes());
    }
    *blake3::hash(&bytes).as_bytes()
}
