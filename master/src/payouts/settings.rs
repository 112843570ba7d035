//! The payout settings, read once from `payouts.*`.

use std::time::Duration;

use tos_pool_common::config::PayoutsConfig;

use super::plan::PlanRules;

/// How long one wallet request may take by default. A `build_transaction`
/// that gets no answer in time is ambiguous and reconciled.
pub const WALLET_TIMEOUT: Duration = Duration::from_secs(30);

/// What payouts run with.
#[derive(Debug, Clone, PartialEq)]
pub struct PayoutSettings {
    /// Time between runs (`payouts.interval`).
    pub interval: Duration,
    /// Threshold, fees and batch size.
    pub rules: PlanRules,
    /// Fewest daemon peers to pay with (`payouts.min_peers`, 0 = no check).
    pub min_peers: u64,
    /// Lifetime of the payout lock, renewed every third of it
    /// (`payouts.lock_ttl`).
    pub lock_ttl: Duration,
    /// Blocks on top of a payout transaction before it is confirmed
    /// (`payouts.confirmations`).
    pub confirmations: u64,
    /// Plan and log only (`payouts.dry_run`).
    pub dry_run: bool,
    /// Deadline of one wallet request.
    pub wallet_timeout: Duration,
}

impl PayoutSettings {
    /// The settings of a validated `payouts` section, with [`WALLET_TIMEOUT`].
    pub fn from_config(config: &PayoutsConfig) -> PayoutSettings {
        PayoutSettings {
            interval: config.interval,
            rules: PlanRules {
                threshold: config.threshold,
                withdrawal_fee: config.withdrawal_fee,
                fee_rate_ppb: PlanRules::rate_ppb(config.withdrawal_fee_rate),
                max_per_tx: usize::try_from(config.max_addresses_per_tx)
                    .unwrap_or(1)
                    .clamp(1, 500),
            },
            min_peers: u64::from(config.min_peers),
            lock_ttl: config.lock_ttl,
            confirmations: config.confirmations,
            dry_run: config.dry_run,
            wallet_timeout: WALLET_TIMEOUT,
        }
    }

    /// How long after its last update a `pending` record may still have a
    /// request in the wallet's hands: twice the wallet timeout.
    pub fn grace(&self) -> Duration {
        self.wallet_timeout.saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_config() {
        let config = PayoutsConfig {
            withdrawal_fee_rate: 0.5,
            max_addresses_per_tx: 800,
            ..PayoutsConfig::default()
        };
        let settings = PayoutSettings::from_config(&config);
        assert_eq!(settings.rules.fee_rate_ppb, 5_000_000);
        assert_eq!(settings.rules.max_per_tx, 500);
        assert_eq!(settings.rules.threshold, config.threshold);
        assert_eq!(settings.grace(), WALLET_TIMEOUT * 2);
    }
}
