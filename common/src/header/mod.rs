//! The daemon's block header (the `template` hex of `get_block_template`) and
//! the 112-byte MinerWork miners hash, with their byte codecs (TOS.md).
//!
//! Both codecs are pure and total: any input gives a value or a typed error,
//! never a panic.

mod block;
mod miner_work;

pub use block::{BlockHeader, HeaderError, MAX_TIPS, VRF_LENGTH};
pub use miner_work::{MINER_WORK_LENGTH, MinerWork, MinerWorkError};

/// `text` without a leading `0x` or `0X`.
fn strip_hex_prefix(text: &str) -> &str {
    text.strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests;
