//! The pool-wide settings the master hands every slave in its Welcome.

use std::time::Duration;

use tos_pool_common::config::Config;
use tos_pool_proto::v1::Settings;

/// Longest interval between two SlaveStats of a slave; shorter when
/// `master.slave_timeout` needs it (a third of it), so a healthy slave is
/// never silent long enough to be taken for gone.
pub const MAX_STATS_INTERVAL: Duration = Duration::from_secs(5);

/// The settings of `config` as sent to slaves.
pub fn settings(config: &Config) -> Settings {
    let mining = &config.mining;
    let stats_interval = MAX_STATS_INTERVAL.min(config.master.slave_timeout / 3);
    Settings {
        initial_difficulty: mining.initial_difficulty,
        min_difficulty: mining.min_difficulty,
        max_difficulty: mining.max_difficulty,
        vardiff_target_time_ms: millis(mining.vardiff_target_time),
        vardiff_retarget_ms: millis(mining.vardiff_retarget),
        vardiff_variance_percent: mining.vardiff_variance.clamp(0.0, 100.0).round() as u32,
        job_backlog: mining.job_backlog,
        pool_address: config.pool.fee_address.clone(),
        share_batch_max: config.slave.share_batch_size,
        share_flush_interval_ms: millis(config.slave.share_flush_interval),
        stats_interval_ms: millis(stats_interval).max(1),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_the_config() {
        let mut config = Config::default();
        config.pool.fee_address = "tst1pool".to_owned();
        config.mining.vardiff_variance = 29.6;
        config.mining.initial_difficulty = 7;
        config.master.slave_timeout = Duration::from_secs(6);
        config.slave.share_flush_interval = Duration::from_millis(25);
        let settings = settings(&config);
        assert_eq!(settings.initial_difficulty, 7);
        assert_eq!(settings.vardiff_variance_percent, 30);
        assert_eq!(settings.vardiff_target_time_ms, 5_000);
        assert_eq!(settings.pool_address, "tst1pool");
        assert_eq!(settings.share_flush_interval_ms, 25);
        assert_eq!(settings.stats_interval_ms, 2_000);
        config.master.slave_timeout = Duration::from_secs(300);
        assert_eq!(super::settings(&config).stats_interval_ms, 5_000);
    }
}
