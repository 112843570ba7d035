//! The master's gauges for New Relic and `/metrics`, refreshed on a timer:
//! `Custom/Pool/Hashrate` and `Custom/Pool/Miners` from the ledger's pool
//! stats, `Custom/Pool/Workers` from the slaves' reports, and the
//! `Custom/Network/*` gauges from the current job.
//!
//! Network hashrate is estimated as difficulty / block time: TOS retargets
//! so that a block takes [`NETWORK_BLOCK_TIME`] on average, so the network
//! does about `difficulty` hashes per block time.

use std::sync::Arc;
use std::time::Duration;

use tos_pool_common::clock::unix_ms;
use tos_pool_common::metrics::Metrics;
use tos_pool_common::shutdown::Shutdown;

use crate::gateway::{Gateway, SlaveInfo};
use crate::jobs::{Job, JobManager};
use crate::ledger::{Ledger, PoolStats};

/// TOS's block time target (TOS.md: 1 s), the divisor of the network
/// hashrate estimate.
pub const NETWORK_BLOCK_TIME: Duration = Duration::from_secs(1);

/// Shortest refresh period, whatever the config says.
const MIN_REFRESH: Duration = Duration::from_millis(100);

/// The `Custom/Network/*` gauges of one job: height, difficulty, and the
/// hashrate estimate (difficulty / [`NETWORK_BLOCK_TIME`]).
pub fn network_gauges(job: &Job) -> (u64, f64, f64) {
    let difficulty = job.difficulty.to_f64();
    (
        job.height,
        difficulty,
        difficulty / NETWORK_BLOCK_TIME.as_secs_f64(),
    )
}

/// Writes the network gauges of `job` into `metrics`.
pub fn record_job(metrics: &Metrics, job: &Job) {
    let (height, difficulty, hashrate) = network_gauges(job);
    metrics.set_network_height(height);
    metrics.set_network_difficulty(difficulty);
    metrics.set_network_hashrate(hashrate);
}

/// Writes the pool gauges: hashrate and online miners from the ledger,
/// workers summed over the slaves' latest reports (a worker connected to two
/// slaves counts twice).
pub fn record_pool(metrics: &Metrics, stats: &PoolStats, slaves: &[SlaveInfo]) {
    metrics.set_pool_hashrate(stats.activity.hashrate);
    metrics.set_pool_miners(stats.miners_online);
    metrics.set_pool_workers(slaves.iter().map(|slave| slave.workers).sum());
}

/// Refreshes every gauge each `every` until `stop` fires. A ledger
/// that cannot be read leaves the pool gauges as they were (logged).
pub async fn run(
    metrics: Metrics,
    ledger: Arc<Ledger>,
    jobs: Arc<JobManager>,
    gateway: Gateway,
    every: Duration,
    stop: Shutdown,
) {
    let mut ticker = tokio::time::interval(every.max(MIN_REFRESH));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.stopped() => return,
            _ = ticker.tick() => {}
        }
        if let Some(job) = jobs.current() {
            record_job(&metrics, &job);
        }
        match ledger.pool_stats(unix_ms()).await {
            Ok(stats) => record_pool(&metrics, &stats, &gateway.connected_slaves()),
            Err(error) => tracing::warn!(%error, "cannot read pool stats for the gauges"),
        }
    }
}

#[cfg(test)]
mod tests {
    use tos_pool_common::difficulty::{Difficulty, target_from_difficulty};
    use tos_pool_common::header::MinerWork;
    use tos_pool_common::metrics::Gauge;

    use super::*;
    use crate::ledger::Activity;

    fn slave(workers: u64) -> SlaveInfo {
        SlaveInfo {
            workers,
            ..SlaveInfo::new("s".into(), "b".into(), "eu".into(), "1".into(), 0)
        }
    }

    #[test]
    fn network_hashrate_is_difficulty_per_block_time() {
        let difficulty = Difficulty::from_u64(3_000_000).expect("non-zero");
        let job = Job {
            id: "j".into(),
            height: 77,
            topoheight: 80,
            miner_work: MinerWork::from([0; 112]),
            difficulty,
            target: target_from_difficulty(&difficulty),
            clean: false,
            created_at_ms: 0,
            algorithm: "tos/v3".into(),
            template_hex: String::new(),
            upstream: "u".into(),
        };
        let metrics = Metrics::new();
        record_job(&metrics, &job);
        assert_eq!(metrics.gauge(Gauge::NetworkHeight), 77.0);
        assert_eq!(metrics.gauge(Gauge::NetworkDifficulty), 3e6);
        assert_eq!(
            metrics.gauge(Gauge::NetworkHashrate),
            3e6 / NETWORK_BLOCK_TIME.as_secs_f64()
        );
    }

    #[test]
    fn pool_gauges_come_from_the_ledger_and_the_slaves() {
        let metrics = Metrics::new();
        let stats = PoolStats {
            activity: Activity {
                hashrate: 1234.5,
                ..Activity::default()
            },
            miners_online: 3,
            miners_total: 9,
        };
        record_pool(&metrics, &stats, &[slave(4), slave(2)]);
        assert_eq!(metrics.gauge(Gauge::PoolHashrate), 1234.5);
        assert_eq!(metrics.gauge(Gauge::PoolMiners), 3.0);
        assert_eq!(metrics.gauge(Gauge::PoolWorkers), 6.0);
        record_pool(&metrics, &stats, &[]);
        assert_eq!(metrics.gauge(Gauge::PoolWorkers), 0.0);
    }
}
