//! The history behind the web page's charts: a task on the master samples,
//! every `web.sample_interval` (1 minute by default), the pool's hashrate,
//! workers, online miners and the network's hashrate (kept 7 days), and at
//! least every 5 minutes each online miner's hashrate (kept 24 hours), into
//! Redis lists trimmed by count. `series` is the plain logic of samples and
//! charts, `luck` that of rounds and luck windows.

pub mod luck;
pub mod series;

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tos_pool_common::clock::unix_ms;
use tos_pool_common::shutdown::Shutdown;

use crate::gateway::Gateway;
use crate::jobs::JobManager;
use crate::ledger::{Ledger, LedgerError};
use crate::monitor::network_gauges;
use series::{MINER_RETENTION, POOL_RETENTION, Sample, capacity, miner_every, miner_interval};

/// Miners whose stats are read at once while sampling.
const MINER_READS_IN_FLIGHT: usize = 8;

/// What one sampling round wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleReport {
    /// The pool sample.
    pub pool: Sample,
    /// Miners sampled (those with a share within the hashrate window).
    pub miners: usize,
}

/// Samples the pool and its online miners into the ledger.
#[derive(Debug, Clone)]
pub struct Sampler {
    ledger: Arc<Ledger>,
    gateway: Gateway,
    jobs: Arc<JobManager>,
    interval: Duration,
}

impl Sampler {
    /// A sampler writing every `interval` (`web.sample_interval`).
    pub fn new(
        ledger: Arc<Ledger>,
        gateway: Gateway,
        jobs: Arc<JobManager>,
        interval: Duration,
    ) -> Sampler {
        Sampler {
            ledger,
            gateway,
            jobs,
            interval: interval.max(Duration::from_secs(1)),
        }
    }

    /// The time between samples.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Samples kept of the pool's history.
    pub fn pool_capacity(&self) -> u64 {
        capacity(POOL_RETENTION, self.interval)
    }

    /// Samples kept of each miner's history (one every
    /// [`miner_interval`]).
    pub fn miner_capacity(&self) -> u64 {
        capacity(MINER_RETENTION, miner_interval(self.interval))
    }

    /// Takes one sample of the pool (hashrate, workers, online miners, and
    /// the network's hashrate from the current job) and of every online
    /// miner (hashrate) at `now_ms`.
    pub async fn sample(&self, now_ms: u64) -> Result<SampleReport, LedgerError> {
        let pool = self.sample_pool(now_ms).await?;
        let miners = self.sample_miners(now_ms).await?;
        Ok(SampleReport { pool, miners })
    }

    /// Takes one sample of the pool at `now_ms`.
    pub async fn sample_pool(&self, now_ms: u64) -> Result<Sample, LedgerError> {
        let ledger = &self.ledger;
        let stats = ledger.pool_stats(now_ms).await?;
        let workers: u64 = self
            .gateway
            .connected_slaves()
            .iter()
            .map(|slave| slave.workers)
            .sum();
        let network_hashrate = self
            .jobs
            .current()
            .map_or(0.0, |job| network_gauges(&job).2);
        let pool = Sample {
            at_ms: now_ms,
            values: vec![
                stats.activity.hashrate,
                workers as f64,
                stats.miners_online as f64,
                network_hashrate,
            ],
        };
        ledger.push_pool_sample(&pool, self.pool_capacity()).await?;
        Ok(pool)
    }

    /// Takes one sample of every online miner at `now_ms`; answers how many.
    pub async fn sample_miners(&self, now_ms: u64) -> Result<usize, LedgerError> {
        let ledger = &self.ledger;
        let online_from = now_ms.saturating_sub(ledger.settings().window_secs() * 1000);
        let addresses = ledger.miners_since(online_from).await?;
        let reads = stream::iter(addresses)
            .map(|address| async move {
                let stats = ledger.miner_stats(&address, now_ms).await?;
                Ok::<_, LedgerError>(stats.map(|stats| {
                    let sample = Sample {
                        at_ms: now_ms,
                        values: vec![stats.activity.hashrate],
                    };
                    (address, sample)
                }))
            })
            .buffer_unordered(MINER_READS_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        let mut samples = Vec::with_capacity(reads.len());
        for read in reads {
            if let Some(sample) = read? {
                samples.push(sample);
            }
        }
        ledger
            .push_miner_samples(&samples, self.miner_capacity(), MINER_RETENTION)
            .await?;
        Ok(samples.len())
    }

    /// Samples the pool every interval and the miners every
    /// [`miner_every`] intervals until `stop` fires; a sample that fails is
    /// logged and the next one runs on time.
    pub async fn run(self, stop: Shutdown) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = miner_every(self.interval);
        let mut tick: u32 = 0;
        loop {
            tokio::select! {
                () = stop.stopped() => return,
                _ = ticker.tick() => {}
            }
            let now_ms = unix_ms();
            if let Err(error) = self.sample_pool(now_ms).await {
                tracing::warn!(%error, "the pool's history sample was not written");
            }
            if tick == 0 {
                match self.sample_miners(now_ms).await {
                    Ok(miners) => tracing::debug!(miners, "miners' history sampled"),
                    Err(error) => {
                        tracing::warn!(%error, "the miners' history samples were not written")
                    }
                }
            }
            tick = (tick + 1) % every;
        }
    }
}
