//! PPLNS: who is paid for a block, and how much.
//!
//! Pure logic over plain data, no Redis and no clock:
//! - [`PplnsWindow`] turns the `pplns` config into a window size in share
//!   difficulty ([`PplnsWindow::size`]);
//! - [`cut`] fills that window from the share log as the ledger stores it
//!   (one bucket per second, newest first), the one place the window is cut;
//!   [`walk`] does the same over single runs of the log;
//! - [`split`] shares a reward among the weights, fee first, to the last
//!   atomic unit;
//! - [`PplnsSnapshot`] keeps the weights of the moment a block was found, so
//!   the block can be split again later with the reward the daemon reports.
//!
//! Amounts are `u64` atomic units (1 TOS = 10^8); weights are `u128` share
//! difficulty; products are computed in 256 bits, so nothing overflows and
//! nothing is lost to floats.

mod fee;
mod snapshot;
mod split;
mod walk;
mod window;

#[cfg(test)]
mod proptests;

pub use fee::FeeRate;
pub use snapshot::PplnsSnapshot;
pub use split::{Split, split};
pub use walk::{LogBucket, ShareLogEntry, cut, walk};
pub use window::{PPM, PplnsWindow};

/// A PPLNS setting or stored snapshot that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PplnsError {
    /// A window multiple is not a positive finite number in range.
    #[error(
        "pplns.{key} = {value} is not usable: set a finite multiple of the network difficulty between 0.000001 and 1000000"
    )]
    InvalidMultiple {
        /// The config key (`window`, `min_window` or `max_window`).
        key: &'static str,
        /// The value found.
        value: f64,
    },
    /// The dynamic window's bounds are the wrong way round.
    #[error(
        "pplns.min_window ({min}) is larger than pplns.max_window ({max}): swap them or widen max_window"
    )]
    InvertedBounds {
        /// `min_window` as found.
        min: f64,
        /// `max_window` as found.
        max: f64,
    },
    /// The fee is not a percentage between 0 and 100.
    #[error("pool.fee_percent = {value} is not usable: set a number from 0 to 100")]
    InvalidFeePercent {
        /// The value found.
        value: f64,
    },
    /// A fee in parts per million above one million.
    #[error("a fee rate of {ppm} ppm exceeds 1000000 ppm (100%): use at most 1000000")]
    InvalidFeePpm {
        /// The value found.
        ppm: u32,
    },
    /// A snapshot's weights add up past what a `u128` holds.
    #[error("the snapshot's weights add up past 2^128: the share log holds corrupt weights")]
    WeightOverflow,
    /// A snapshot holds more weight than its window.
    #[error(
        "the snapshot's weights add up to {total}, more than its window of {window_size}: the snapshot is corrupt, rebuild it from the share log"
    )]
    OverfullWindow {
        /// Sum of the weights.
        total: u128,
        /// The window size recorded with them.
        window_size: u128,
    },
    /// A stored snapshot does not agree with itself or cannot be parsed.
    #[error("the stored PPLNS snapshot is corrupt ({reason}): rebuild it from the share log")]
    CorruptSnapshot {
        /// What did not match.
        reason: String,
    },
}
