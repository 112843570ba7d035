//! TOS Hash V3 (`tos/v3`), the proof-of-work hash of a MinerWork.
//!
//! [`hash`] is the entry point; [`Hasher`] keeps its 64 KiB scratchpad between
//! calls for threads that hash many shares; [`reference`](mod@reference) is the plain
//! stage-by-stage reading of the algorithm, kept as the specification and as
//! the baseline of the benchmark.

mod hasher;
pub mod reference;
#[cfg(test)]
mod tests;

use std::cell::RefCell;

pub use hasher::Hasher;

/// Words (u64) in the scratchpad: 8192, so 64 KiB.
pub const SCRATCHPAD_WORDS: usize = 8192;

/// The odd constant `mix` multiplies by.
pub const MIX_MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

/// The mixing step every stage is built from: `mix(a, b, r)` of the spec.
#[inline(always)]
pub fn mix(a: u64, b: u64, r: u64) -> u64 {
    // `% 64` of the wrapped product equals `% 64` of the true product.
    let rot = (r.wrapping_mul(7) % 64) as u32;
    let x = a.wrapping_add(b);
    let y = a ^ b.rotate_left(rot);
    let z = x.wrapping_mul(MIX_MULTIPLIER);
    z ^ y.rotate_right(rot / 2)
}

thread_local! {
    static THREAD_HASHER: RefCell<Hasher> = RefCell::new(Hasher::new());
}

/// TOS Hash V3 of `input` (112 bytes for a MinerWork, but any length works).
///
/// Uses a scratchpad kept per thread, so repeated calls do not allocate.
pub fn hash(input: &[u8]) -> [u8; 32] {
    // `Hasher::hash` never calls back into this function, so the borrow is
    // never held twice.
    THREAD_HASHER.with_borrow_mut(|hasher| hasher.hash(input))
}
