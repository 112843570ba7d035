//! The pool fee as an exact rate.

use serde::{Deserialize, Serialize};

use super::{PPM, PplnsError};

/// The pool fee in parts per million of a block reward.
///
/// Built from `pool.fee_percent` by [`FeeRate::from_percent`]: the percent
/// as the operator wrote it in decimal, times 10,000, rounded half to even,
/// so `1.0` is exactly 10,000 ppm and a fee finer than 0.0001% is rounded to
/// the nearest step (`0.00015` → 2 ppm, where binary floats would give 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct FeeRate {
    ppm: u32,
}

impl FeeRate {
    /// No fee.
    pub const ZERO: FeeRate = FeeRate { ppm: 0 };

    /// The rate for `pool.fee_percent` (0 to 100).
    pub fn from_percent(percent: f64) -> Result<Self, PplnsError> {
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return Err(PplnsError::InvalidFeePercent { value: percent });
        }
        Self::from_ppm(percent_to_ppm(percent))
    }

    /// The rate for a fee in parts per million (at most 1,000,000).
    pub fn from_ppm(ppm: u32) -> Result<Self, PplnsError> {
        if u64::from(ppm) > PPM {
            return Err(PplnsError::InvalidFeePpm { ppm });
        }
        Ok(FeeRate { ppm })
    }

    /// The rate in parts per million.
    pub fn ppm(self) -> u32 {
        self.ppm
    }

    /// The fee on `reward`: `floor(reward × ppm / 10^6)`, never above `reward`.
    pub fn fee_of(self, reward: u64) -> u64 {
        let fee = u128::from(reward) * u128::from(self.ppm) / u128::from(PPM);
        // ppm ≤ 10^6, so fee ≤ reward and fits in a u64.
        u64::try_from(fee).unwrap_or(reward)
    }
}

/// `percent × 10^4` rounded half to even, computed on the shortest decimal
/// form of `percent` (what the config said), not on its binary value.
fn percent_to_ppm(percent: f64) -> u32 {
    // Display of an f64 is its shortest round-trip decimal, never with an
    // exponent: "1", "0.00015", "33.333333".
    let text = percent.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digit = |c: char| c.to_digit(10).unwrap_or(0);
    let whole = whole
        .chars()
        .fold(0u32, |n, c| n.saturating_mul(10).saturating_add(digit(c)));
    let kept = fraction.chars().chain("0000".chars()).take(4);
    let mut ppm = kept.fold(whole, |n, c| n.saturating_mul(10).saturating_add(digit(c)));
    let rest = fraction.get(4..).unwrap_or("");
    let mut rest_digits = rest.chars();
    let round_up = match rest_digits.next().map(digit) {
        Some(first) if first > 5 => true,
        Some(5) => rest_digits.any(|c| c != '0') || ppm % 2 == 1,
        _ => false,
    };
    if round_up {
        ppm += 1;
    }
    ppm
}

impl TryFrom<u32> for FeeRate {
    type Error = PplnsError;

    fn try_from(ppm: u32) -> Result<Self, Self::Error> {
        Self::from_ppm(ppm)
    }
}

impl From<FeeRate> for u32 {
    fn from(rate: FeeRate) -> u32 {
        rate.ppm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_becomes_exact_ppm() {
        let cases = [
            (0.0, 0),
            (1.0, 10_000),
            (0.5, 5_000),
            (2.5, 25_000),
            (0.1, 1_000),
            (100.0, 1_000_000),
            (1.23456789, 12_346),
            (0.00005, 0), // half a step: to even
            (0.00015, 2), // half a step: to even, though 1.4999… in binary
            (0.00025, 2),
            (0.000251, 3),
            (0.00004999, 0),
            (99.99995, 1_000_000),
            (99.99985, 999_998),
            (1e-7, 0),
            (33.333333, 333_333),
        ];
        for (percent, ppm) in cases {
            let rate = FeeRate::from_percent(percent).expect("a percent in 0..=100");
            assert_eq!(rate.ppm(), ppm, "{percent}%");
        }
    }

    #[test]
    fn bad_percent_is_refused() {
        for percent in [-0.1, 100.01, f64::NAN, f64::INFINITY] {
            assert!(FeeRate::from_percent(percent).is_err(), "{percent}");
        }
        assert!(FeeRate::from_ppm(1_000_001).is_err());
        assert!(serde_json::from_str::<FeeRate>("1000001").is_err());
        let rate: FeeRate = serde_json::from_str("10000").expect("a valid ppm");
        assert_eq!(rate.ppm(), 10_000);
    }

    #[test]
    fn fee_is_floored() {
        let one_percent = FeeRate::from_ppm(10_000).expect("valid");
        assert_eq!(one_percent.fee_of(97_486_707), 974_867);
        assert_eq!(one_percent.fee_of(99), 0);
        assert_eq!(one_percent.fee_of(100), 1);
        let all = FeeRate::from_ppm(1_000_000).expect("valid");
        assert_eq!(all.fee_of(u64::MAX), u64::MAX);
        assert_eq!(FeeRate::ZERO.fee_of(u64::MAX), 0);
    }
}
