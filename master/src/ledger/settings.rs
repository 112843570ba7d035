//! What the ledger needs from the config besides the Redis connection:
//! hashrate windows, the PPLNS window to keep, and the idle expiries.

use std::time::Duration;

use tos_pool_common::config::{Config, PplnsConfig, ValidationConfig};

use crate::pplns::PPM;

/// A high-water mark unused this long expires, so the marks of dead slave
/// boots do not pile up. A slave that reconnects after longer starts again
/// from seq 1 with a new boot id anyway.
pub const HIGH_WATER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A miner or worker with no share for this long loses its stats hash and
/// its place in the miner and worker indexes.
pub const IDLE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The share log keeps this many times the largest PPLNS window, so a
/// window taken while the network difficulty rises is still full.
pub const SHARE_LOG_MARGIN: u64 = 2;

/// Most hashrate buckets kept per miner or worker: small enough that a
/// stats hash stays in Redis's compact encoding (128 fields).
const MAX_RATE_BUCKETS: u64 = 100;

/// Fewest buckets the short hashrate window is cut into.
const MIN_WINDOW_BUCKETS: u64 = 10;

/// Settings of a [`Ledger`](super::Ledger) taken from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerSettings {
    /// `validation.hashrate_window`: the short hashrate estimate.
    pub hashrate_window: Duration,
    /// `validation.hashrate_large_window`: the long hashrate estimate.
    pub hashrate_large_window: Duration,
    /// The largest PPLNS window multiple (`pplns.max_window` when the window
    /// is dynamic, else `pplns.window`), in parts per million.
    pub pplns_max_multiple_ppm: u64,
    /// Expiry of an unused high-water mark.
    pub high_water_ttl: Duration,
    /// Expiry of an idle miner's or worker's stats.
    pub idle_ttl: Duration,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self::new(&ValidationConfig::default(), &PplnsConfig::default())
    }
}

impl LedgerSettings {
    /// The settings of a whole config.
    pub fn from_config(config: &Config) -> Self {
        Self::new(&config.validation, &config.pplns)
    }

    /// The settings from the `validation` and `pplns` sections.
    pub fn new(validation: &ValidationConfig, pplns: &PplnsConfig) -> Self {
        let multiple = if pplns.dynamic_window {
            pplns.max_window
        } else {
            pplns.window
        };
        // Config validation keeps the multiple positive and finite; `as`
        // saturates anything else to a usable bound.
        let pplns_max_multiple_ppm = (multiple * PPM as f64).round().max(1.0) as u64;
        LedgerSettings {
            hashrate_window: validation.hashrate_window,
            hashrate_large_window: validation.hashrate_large_window,
            pplns_max_multiple_ppm,
            high_water_ttl: HIGH_WATER_TTL,
            idle_ttl: IDLE_TTL,
        }
    }

    /// The short hashrate window in whole seconds (at least 1).
    pub fn window_secs(&self) -> u64 {
        self.hashrate_window.as_secs().max(1)
    }

    /// The long hashrate window in whole seconds (at least the short one).
    pub fn large_window_secs(&self) -> u64 {
        self.hashrate_large_window.as_secs().max(self.window_secs())
    }

    /// Width of one hashrate bucket in seconds: a tenth of the short window,
    /// widened when the long window would otherwise need more than 100
    /// buckets (600 s and 3 h give 108 s).
    pub fn rate_bucket_secs(&self) -> u64 {
        let short = self.window_secs().div_ceil(MIN_WINDOW_BUCKETS);
        let long = self.large_window_secs().div_ceil(MAX_RATE_BUCKETS);
        short.max(long).max(1)
    }

    /// The hashrate bucket a time in ms falls in.
    pub fn rate_bucket(&self, at_ms: u64) -> u64 {
        at_ms / 1000 / self.rate_bucket_secs()
    }

    /// Buckets read for a window of `window_secs` (the current one included).
    pub fn buckets_in(&self, window_secs: u64) -> u64 {
        window_secs.div_ceil(self.rate_bucket_secs()).max(1)
    }

    /// The oldest hashrate bucket still kept at `now_ms`: enough for the long
    /// window, plus one.
    pub fn oldest_rate_bucket(&self, now_ms: u64) -> u64 {
        self.rate_bucket(now_ms)
            .saturating_sub(self.buckets_in(self.large_window_secs()))
    }

    /// The share difficulty the share log keeps at a network difficulty:
    /// the largest window times [`SHARE_LOG_MARGIN`].
    pub fn share_log_keep(&self, network_difficulty: u64) -> u128 {
        u128::from(network_difficulty) * u128::from(self.pplns_max_multiple_ppm) / u128::from(PPM)
            * u128::from(SHARE_LOG_MARGIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(window: u64, large: u64) -> LedgerSettings {
        LedgerSettings {
            hashrate_window: Duration::from_secs(window),
            hashrate_large_window: Duration::from_secs(large),
            ..LedgerSettings::default()
        }
    }

    #[test]
    fn default_buckets_fit_the_compact_encoding() {
        let s = LedgerSettings::default();
        assert_eq!(s.rate_bucket_secs(), 108);
        assert_eq!(s.buckets_in(s.window_secs()), 6);
        assert_eq!(s.buckets_in(s.large_window_secs()), 100);
    }

    #[test]
    fn short_windows_get_a_tenth() {
        let s = settings(60, 600);
        assert_eq!(s.rate_bucket_secs(), 6);
        assert_eq!(s.rate_bucket(12_345), 2);
        assert_eq!(s.oldest_rate_bucket(6_000_000), 1_000 - 100);
        assert_eq!(settings(1, 1).rate_bucket_secs(), 1);
        assert_eq!(settings(0, 0).window_secs(), 1);
    }

    #[test]
    fn share_log_keeps_the_largest_window_twice() {
        let fixed = LedgerSettings::new(&ValidationConfig::default(), &PplnsConfig::default());
        assert_eq!(fixed.pplns_max_multiple_ppm, 2_000_000);
        assert_eq!(fixed.share_log_keep(1_000), 4_000);
        let dynamic = PplnsConfig {
            dynamic_window: true,
            window: 600.0,
            min_window: 0.5,
            max_window: 4.0,
        };
        let s = LedgerSettings::new(&ValidationConfig::default(), &dynamic);
        assert_eq!(s.pplns_max_multiple_ppm, 4_000_000);
        assert_eq!(s.share_log_keep(u64::MAX), u128::from(u64::MAX) * 8);
    }
}
