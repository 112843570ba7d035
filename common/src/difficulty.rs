//! Difficulty and targets in full 256-bit arithmetic.
//!
//! `target = (2^256 − 1) / difficulty`; a hash meets a target when its
//! big-endian value is ≤ the target; the difficulty of a hash is
//! `(2^256 − 1) / hash`. A 64-bit approximation misjudges shares near the
//! boundary, so nothing here rounds through floating point.

use std::fmt;
use std::str::FromStr;

use ruint::aliases::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a difficulty value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DifficultyError {
    /// The text was empty.
    #[error("difficulty is empty: expected a decimal integer such as \"1000\"")]
    Empty,
    /// The text held something other than decimal digits.
    #[error("difficulty {0:?} is not a decimal integer")]
    NotDecimal(String),
    /// The value does not fit in 256 bits.
    #[error("difficulty {0:?} does not fit in 256 bits")]
    TooLarge(String),
    /// Zero is not a difficulty: every target is derived by dividing by it.
    #[error("difficulty must be at least 1")]
    Zero,
}

/// A mining difficulty: a non-zero 256-bit integer. The daemon writes it as a
/// decimal string (`"1000"`), and so does this type's serde form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difficulty(U256);

impl Difficulty {
    /// Difficulty 1: its target accepts every hash.
    pub const ONE: Difficulty = Difficulty(U256::from_limbs([1, 0, 0, 0]));

    /// A difficulty from a 64-bit value; `None` for zero.
    pub fn from_u64(value: u64) -> Option<Difficulty> {
        (value != 0).then(|| Difficulty(U256::from(value)))
    }

    /// A difficulty from a 256-bit value; `None` for zero.
    pub fn from_u256(value: U256) -> Option<Difficulty> {
        (!value.is_zero()).then_some(Difficulty(value))
    }

    /// The full 256-bit value.
    pub fn as_u256(&self) -> U256 {
        self.0
    }

    /// The value as `u64`, saturating at `u64::MAX` for larger difficulties.
    pub fn to_u64_saturating(&self) -> u64 {
        u64::try_from(self.0).unwrap_or(u64::MAX)
    }

    /// The value as `f64`, for hashrate estimates and display only.
    pub fn to_f64(&self) -> f64 {
        f64::from(self.0)
    }

    /// The target that shares of this difficulty must meet.
    pub fn target(&self) -> Target {
        target_from_difficulty(self)
    }
}

impl Default for Difficulty {
    fn default() -> Self {
        Difficulty::ONE
    }
}

impl From<std::num::NonZeroU64> for Difficulty {
    fn from(value: std::num::NonZeroU64) -> Self {
        Difficulty(U256::from(value.get()))
    }
}

impl FromStr for Difficulty {
    type Err = DifficultyError;

    /// Parses the daemon's decimal-string form, surrounding whitespace allowed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err(DifficultyError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DifficultyError::NotDecimal(s.to_string()));
        }
        let value =
            U256::from_str_radix(text, 10).map_err(|_| DifficultyError::TooLarge(s.to_string()))?;
        Difficulty::from_u256(value).ok_or(DifficultyError::Zero)
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Difficulty {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Difficulty {
    /// Accepts the daemon's decimal string and, for hand-written configs, a
    /// plain non-negative integer.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Number(u64),
        }
        match Form::deserialize(deserializer)? {
            Form::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Form::Number(n) => Difficulty::from_u64(n)
                .ok_or_else(|| serde::de::Error::custom(DifficultyError::Zero)),
        }
    }
}

/// A 256-bit target, stored big-endian: a hash meets it when the hash,
/// read big-endian, is ≤ this value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target(pub [u8; 32]);

impl Target {
    /// The target as 64 lowercase hex characters, big-endian, without `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The big-endian bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The difficulty this target corresponds to (`(2^256 − 1) / target`).
    pub fn difficulty(&self) -> Difficulty {
        difficulty_of_hash(&self.0)
    }
}

/// `(2^256 − 1) / difficulty`, big-endian.
pub fn target_from_difficulty(difficulty: &Difficulty) -> Target {
    Target((U256::MAX / difficulty.0).to_be_bytes::<32>())
}

/// `(2^256 − 1) / hash` for a hash read big-endian; a zero hash (which no real
/// hash function yields) is given the largest difficulty.
pub fn difficulty_of_hash(hash: &[u8; 32]) -> Difficulty {
    let value = U256::from_be_bytes(*hash);
    if value.is_zero() {
        return Difficulty(U256::MAX);
    }
    Difficulty(U256::MAX / value)
}

/// Whether `hash` (big-endian) is ≤ `target`.
pub fn meets_target(hash: &[u8; 32], target: &Target) -> bool {
    // Lexicographic order of big-endian byte arrays is numeric order.
    hash[..] <= target.0[..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_one_accepts_every_hash() {
        let target = target_from_difficulty(&Difficulty::ONE);
        assert_eq!(target.0, [0xff; 32]);
        assert!(meets_target(&[0xff; 32], &target));
    }

    #[test]
    fn target_of_two_is_half_the_space() {
        let target = target_from_difficulty(&Difficulty::from_u64(2).unwrap());
        let mut expected = [0xff; 32];
        expected[0] = 0x7f;
        assert_eq!(target.0, expected);
        assert!(meets_target(&expected, &target));
        let mut above = [0u8; 32];
        above[0] = 0x80;
        assert!(!meets_target(&above, &target));
    }

    #[test]
    fn boundary_is_exact_in_full_width() {
        let difficulty: Difficulty = "1000000007".parse().unwrap();
        let target = target_from_difficulty(&difficulty);
        let t = U256::from_be_bytes(target.0);
        assert!(meets_target(&t.to_be_bytes::<32>(), &target));
        let one_more = (t + U256::from(1u8)).to_be_bytes::<32>();
        assert!(!meets_target(&one_more, &target));
        // The hash exactly at the target has at least the asked difficulty.
        assert!(difficulty_of_hash(&target.0) >= difficulty);
    }

    #[test]
    fn difficulty_of_hash_matches_definition() {
        let mut hash = [0u8; 32];
        hash[0] = 0x01; // 2^248
        let d = difficulty_of_hash(&hash);
        assert_eq!(d.as_u256(), U256::MAX / (U256::from(1u8) << 248));
        assert_eq!(difficulty_of_hash(&[0u8; 32]).as_u256(), U256::MAX);
    }

    #[test]
    fn parses_daemon_strings_and_refuses_garbage() {
        assert_eq!(
            "1000".parse::<Difficulty>().unwrap().to_u64_saturating(),
            1000
        );
        assert_eq!("0".parse::<Difficulty>(), Err(DifficultyError::Zero));
        assert_eq!("".parse::<Difficulty>(), Err(DifficultyError::Empty));
        assert!(matches!(
            "-5".parse::<Difficulty>(),
            Err(DifficultyError::NotDecimal(_))
        ));
        assert!(matches!(
            "0x10".parse::<Difficulty>(),
            Err(DifficultyError::NotDecimal(_))
        ));
        let huge = "9".repeat(90);
        assert!(matches!(
            huge.parse::<Difficulty>(),
            Err(DifficultyError::TooLarge(_))
        ));
    }

    #[test]
    fn serde_uses_decimal_strings() {
        let d: Difficulty = serde_json::from_str("\"123456789012345678901234567890\"").unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            "\"123456789012345678901234567890\""
        );
        let n: Difficulty = serde_json::from_str("42").unwrap();
        assert_eq!(n.to_u64_saturating(), 42);
        assert!(serde_json::from_str::<Difficulty>("0").is_err());
    }
}
