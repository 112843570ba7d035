//! The unlocker's settings, as the state machine needs them.

use crate::pplns::FeeRate;

/// Depths and fee the block lifecycle works with (from `unlocker` and
/// `pool` config). Depth = tip height − block height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// Depth from which an ordered block's reward is shown as immature
    /// balances (`unlocker.immature_depth`).
    pub immature_depth: u64,
    /// Depth from which an ordered block's reward is credited as real
    /// balances (`unlocker.mature_depth`); at least `immature_depth`, and
    /// should be at least the chain's stable depth (24): here a matured block
    /// is final.
    pub mature_depth: u64,
    /// Depth from which a block the daemon reports as `Orphaned` is given up.
    /// Before it, the chain may still order the block (it can become a side
    /// block), so it only loses its immature credits for the time being.
    /// The chain's `STABLE_LIMIT` (24) is the natural value.
    pub orphan_depth: u64,
    /// Depth from which a block the daemon does not know at all is given up
    /// (another upstream may not have seen it yet).
    pub missing_grace_depth: u64,
    /// The pool fee taken from each block reward.
    pub fee: FeeRate,
    /// Where the fee is credited (`pool.fee_address`).
    pub fee_address: String,
}

/// A lifecycle policy that would mis-handle blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// Blocks would mature before they are immature.
    #[error(
        "unlocker.mature_depth ({mature}) is below unlocker.immature_depth ({immature}): raise mature_depth"
    )]
    MatureBeforeImmature {
        /// `immature_depth` as set.
        immature: u64,
        /// `mature_depth` as set.
        mature: u64,
    },
    /// A depth of zero would decide at the tip, where nothing is settled.
    #[error("{key} is 0: set at least 1 (the chain reorders blocks near the tip)")]
    ZeroDepth {
        /// The setting at zero.
        key: &'static str,
    },
    /// No address to credit the fee to.
    #[error("pool.fee_address is empty: set the pool's own address")]
    NoFeeAddress,
}

impl LifecyclePolicy {
    /// Checks the settings once at start; [`step`](super::step) assumes a
    /// policy that passed.
    pub fn validate(&self) -> Result<(), LifecycleError> {
        for (key, depth) in [
            ("unlocker.mature_depth", self.mature_depth),
            ("orphan_depth", self.orphan_depth),
            ("missing_grace_depth", self.missing_grace_depth),
        ] {
            if depth == 0 {
                return Err(LifecycleError::ZeroDepth { key });
            }
        }
        if self.mature_depth < self.immature_depth {
            return Err(LifecycleError::MatureBeforeImmature {
                immature: self.immature_depth,
                mature: self.mature_depth,
            });
        }
        if self.fee_address.is_empty() {
            return Err(LifecycleError::NoFeeAddress);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LifecyclePolicy {
        LifecyclePolicy {
            immature_depth: 10,
            mature_depth: 100,
            orphan_depth: 24,
            missing_grace_depth: 24,
            fee: FeeRate::ZERO,
            fee_address: "pool".to_owned(),
        }
    }

    #[test]
    fn validate_names_the_bad_setting() {
        assert_eq!(policy().validate(), Ok(()));
        let inverted = LifecyclePolicy {
            mature_depth: 5,
            ..policy()
        };
        assert!(matches!(
            inverted.validate(),
            Err(LifecycleError::MatureBeforeImmature { .. })
        ));
        let zero = LifecyclePolicy {
            orphan_depth: 0,
            ..policy()
        };
        assert_eq!(
            zero.validate(),
            Err(LifecycleError::ZeroDepth {
                key: "orphan_depth"
            })
        );
        let nobody = LifecyclePolicy {
            fee_address: String::new(),
            ..policy()
        };
        assert_eq!(nobody.validate(), Err(LifecycleError::NoFeeAddress));
    }
}
