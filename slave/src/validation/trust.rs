//! Trust mode (`validation.trust_threshold`, `validation.trust_check_percent`):
//! after enough consecutive valid shares a miner's shares are only sampled.
//!
//! # Blocks in unhashed shares
//! No miner protocol carries the miner's own hash, so a share nobody hashed
//! cannot be known to be a block. Every block is a share, so skipping a
//! share's hash also gives up its chance of being a block: skipping a fraction
//! of a miner's share work loses that same fraction of its blocks, whatever
//! the rule. No threshold on difficulty can change that expectation; this
//! module therefore limits the loss in three ways:
//! 1. A share whose job is within reach of a block (network difficulty
//!    ≤ `block_reach` × share difficulty, i.e. a chance of at least
//!    1/`block_reach` of being a block) is always hashed.
//! 2. Skipping is only ever *optional*: [`HashDecision::Optional`] means "hash
//!    if the pool has spare capacity" (`ValidationPool::try_hash`) and credit
//!    the share unhashed only when the workers are saturated. Trust mode thus
//!    sheds load under a flood instead of skipping work the CPU could do.
//! 3. An unhashed share is credited as a share but never as a block: only a
//!    hash that meets the network target becomes a block candidate.
//!
//! Trust mode stays off by default (`trust_threshold: 0`); it is meant for a
//! CPU-starved slave, and the operator accepts point 2's trade-off by
//! turning it on.

/// Why a share must be hashed before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Trust mode is off.
    TrustOff,
    /// The miner has not earned trust yet (or lost it).
    Untrusted,
    /// The share fell in the sampled `trust_check_percent`.
    Sampled,
    /// The share has a real chance of being a block.
    BlockReach,
}

/// What to do with one share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashDecision {
    /// Hash it before answering.
    Hash(Required),
    /// Hash it only with spare capacity (`try_hash`); if the pool is busy,
    /// credit it unhashed, never as a block.
    Optional,
}

/// The trust-mode settings, shared by every session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrustConfig {
    /// Consecutive valid shares before a miner is trusted; 0 = trust off.
    pub threshold: u64,
    /// Percent of a trusted miner's shares still hashed (0..=100).
    pub check_percent: f64,
    /// A share whose network difficulty is at most this many times its share
    /// difficulty is always hashed.
    pub block_reach: u64,
}

impl TrustConfig {
    /// Default for [`TrustConfig::block_reach`]: shares with at least a 1 in
    /// 1000 chance of being a block are always hashed.
    pub const DEFAULT_BLOCK_REACH: u64 = 1000;

    /// From `validation.trust_threshold` and `validation.trust_check_percent`.
    pub fn from_config(config: &tos_pool_common::config::ValidationConfig) -> TrustConfig {
        TrustConfig {
            threshold: config.trust_threshold,
            check_percent: config.trust_check_percent,
            block_reach: TrustConfig::DEFAULT_BLOCK_REACH,
        }
    }
}

/// One miner session's trust: pure, driven by the session core.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    config: TrustConfig,
    consecutive_valid: u64,
}

impl TrustPolicy {
    /// A new, untrusted session.
    pub fn new(config: TrustConfig) -> TrustPolicy {
        TrustPolicy {
            config,
            consecutive_valid: 0,
        }
    }

    /// True when the session's shares are only sampled.
    pub fn is_trusted(&self) -> bool {
        self.config.threshold > 0 && self.consecutive_valid >= self.config.threshold
    }

    /// Decides for a share of `share_difficulty` on a job of
    /// `network_difficulty`; `roll` is a uniform random number in `[0, 1)`.
    pub fn decide(
        &self,
        share_difficulty: u64,
        network_difficulty: f64,
        roll: f64,
    ) -> HashDecision {
        if self.config.threshold == 0 {
            return HashDecision::Hash(Required::TrustOff);
        }
        if !self.is_trusted() {
            return HashDecision::Hash(Required::Untrusted);
        }
        // f64 is exact enough for a sampling threshold; the share itself is
        // judged in 256-bit arithmetic when it is hashed.
        let reach = self.config.block_reach as f64 * share_difficulty.max(1) as f64;
        if !network_difficulty.is_finite() || network_difficulty <= reach {
            return HashDecision::Hash(Required::BlockReach);
        }
        let check = (self.config.check_percent / 100.0).clamp(0.0, 1.0);
        if roll < check || check.is_nan() {
            return HashDecision::Hash(Required::Sampled);
        }
        HashDecision::Optional
    }

    /// Records the outcome of a hashed share: a valid one builds trust, an
    /// invalid one (bad PoW, low difficulty) resets it. Unhashed shares are
    /// not recorded.
    pub fn record(&mut self, valid: bool) {
        if valid {
            self.consecutive_valid = self.consecutive_valid.saturating_add(1);
        } else {
            self.consecutive_valid = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAR: f64 = 1e12;

    fn policy(threshold: u64, check_percent: f64) -> TrustPolicy {
        TrustPolicy::new(TrustConfig {
            threshold,
            check_percent,
            block_reach: 1000,
        })
    }

    fn trusted(check_percent: f64) -> TrustPolicy {
        let mut policy = policy(3, check_percent);
        for _ in 0..3 {
            policy.record(true);
        }
        policy
    }

    #[test]
    fn trust_off_hashes_everything() {
        let mut policy = policy(0, 0.0);
        for _ in 0..100 {
            policy.record(true);
        }
        assert!(!policy.is_trusted());
        assert_eq!(
            policy.decide(1, FAR, 0.99),
            HashDecision::Hash(Required::TrustOff)
        );
    }

    #[test]
    fn trust_comes_after_the_threshold_of_valid_shares() {
        let mut policy = policy(3, 0.0);
        for _ in 0..2 {
            policy.record(true);
            assert_eq!(
                policy.decide(1, FAR, 0.5),
                HashDecision::Hash(Required::Untrusted)
            );
        }
        policy.record(true);
        assert!(policy.is_trusted());
        assert_eq!(policy.decide(1, FAR, 0.5), HashDecision::Optional);
    }

    #[test]
    fn one_invalid_share_resets_trust() {
        let mut policy = trusted(0.0);
        policy.record(false);
        assert!(!policy.is_trusted());
        assert_eq!(
            policy.decide(1, FAR, 0.5),
            HashDecision::Hash(Required::Untrusted)
        );
        policy.record(true);
        policy.record(true);
        assert!(!policy.is_trusted(), "trust is rebuilt from zero");
    }

    #[test]
    fn the_check_percent_is_sampled_by_the_roll() {
        let policy = trusted(25.0);
        assert_eq!(
            policy.decide(1, FAR, 0.0),
            HashDecision::Hash(Required::Sampled)
        );
        assert_eq!(
            policy.decide(1, FAR, 0.249),
            HashDecision::Hash(Required::Sampled)
        );
        assert_eq!(policy.decide(1, FAR, 0.25), HashDecision::Optional);
        assert_eq!(policy.decide(1, FAR, 0.9), HashDecision::Optional);
        let checked = (0..1000)
            .filter(|i| {
                matches!(
                    policy.decide(1, FAR, f64::from(*i) / 1000.0),
                    HashDecision::Hash(_)
                )
            })
            .count();
        assert_eq!(checked, 250);
    }

    #[test]
    fn shares_within_reach_of_a_block_are_always_hashed() {
        let policy = trusted(0.0);
        // Network difficulty 1,000,000; share difficulty 1,000: 1 in 1000.
        assert_eq!(
            policy.decide(1_000, 1_000_000.0, 0.99),
            HashDecision::Hash(Required::BlockReach)
        );
        assert_eq!(
            policy.decide(999, 1_000_000.0, 0.99),
            HashDecision::Optional
        );
        assert_eq!(
            policy.decide(1, f64::INFINITY, 0.99),
            HashDecision::Hash(Required::BlockReach),
            "an unreadable network difficulty is treated as near"
        );
    }

    #[test]
    fn full_check_percent_hashes_every_share() {
        let policy = trusted(100.0);
        assert_eq!(
            policy.decide(1, FAR, 0.999_999),
            HashDecision::Hash(Required::Sampled)
        );
    }
}
