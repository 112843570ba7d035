//! The pool's metrics: one registry of atomics, read by two outlets, the
//! Prometheus text on `/metrics` ([`Metrics::render_prometheus`]) and the
//! OTLP export to New Relic (observable instruments over the same atomics), so
//! both always show the same numbers. [`names`] is the table of names.
//!
//! Recording is a relaxed atomic store or add: no lock, no allocation.

mod histogram;
pub mod names;
pub(crate) mod otlp;
mod prometheus;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use histogram::{BUCKET_BOUNDS, HistogramSnapshot};
pub use names::{EventDrop, Gauge, ShareOutcome, Signal};

use histogram::Histogram;

/// Handle to the pool's metrics; clones share the same numbers.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    registry: Arc<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    /// f64 bits, indexed by [`Gauge::index`].
    gauges: [AtomicU64; Gauge::ALL.len()],
    shares: [AtomicU64; ShareOutcome::ALL.len()],
    events_dropped: [AtomicU64; EventDrop::ALL.len()],
    export_failures: [AtomicU64; Signal::ALL.len()],
    share_validation: Histogram,
    job_fanout: Histogram,
    block_path: Histogram,
}

impl Metrics {
    /// A fresh registry with every number at zero.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Sets a gauge.
    pub fn set_gauge(&self, gauge: Gauge, value: f64) {
        self.registry.gauges[gauge.index()].store(value.to_bits(), Ordering::Relaxed);
    }

    /// A gauge's current value.
    pub fn gauge(&self, gauge: Gauge) -> f64 {
        f64::from_bits(self.registry.gauges[gauge.index()].load(Ordering::Relaxed))
    }

    /// Sets `Custom/Pool/Hashrate` (hashes per second).
    pub fn set_pool_hashrate(&self, hashes_per_second: f64) {
        self.set_gauge(Gauge::PoolHashrate, hashes_per_second);
    }

    /// Sets `Custom/Pool/Miners`.
    pub fn set_pool_miners(&self, miners: u64) {
        self.set_gauge(Gauge::PoolMiners, miners as f64);
    }

    /// Sets `Custom/Pool/Workers`.
    pub fn set_pool_workers(&self, workers: u64) {
        self.set_gauge(Gauge::PoolWorkers, workers as f64);
    }

    /// Sets `Custom/Network/Height`.
    pub fn set_network_height(&self, height: u64) {
        self.set_gauge(Gauge::NetworkHeight, height as f64);
    }

    /// Sets `Custom/Network/Difficulty`.
    pub fn set_network_difficulty(&self, difficulty: f64) {
        self.set_gauge(Gauge::NetworkDifficulty, difficulty);
    }

    /// Sets `Custom/Network/Hashrate` (hashes per second).
    pub fn set_network_hashrate(&self, hashes_per_second: f64) {
        self.set_gauge(Gauge::NetworkHashrate, hashes_per_second);
    }

    /// Counts one share with its outcome.
    pub fn share(&self, outcome: ShareOutcome) {
        self.registry.shares[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Shares counted with `outcome` so far.
    pub fn shares(&self, outcome: ShareOutcome) -> u64 {
        self.registry.shares[outcome.index()].load(Ordering::Relaxed)
    }

    /// Records how long one share took to validate.
    pub fn observe_validation(&self, elapsed: Duration) {
        self.registry.share_validation.observe(elapsed);
    }

    /// Records how long one job took to reach every session.
    pub fn observe_fanout(&self, elapsed: Duration) {
        self.registry.job_fanout.observe(elapsed);
    }

    /// Records one block candidate's path, from the slave reading the share
    /// to the master's `submit_block` request leaving.
    pub fn observe_block_path(&self, elapsed: Duration) {
        self.registry.block_path.observe(elapsed);
    }

    /// The share validation histogram as it is now.
    pub fn validation_snapshot(&self) -> HistogramSnapshot {
        self.registry.share_validation.snapshot()
    }

    /// The job fan-out histogram as it is now.
    pub fn fanout_snapshot(&self) -> HistogramSnapshot {
        self.registry.job_fanout.snapshot()
    }

    /// The block path histogram as it is now.
    pub fn block_path_snapshot(&self) -> HistogramSnapshot {
        self.registry.block_path.snapshot()
    }

    /// Counts one custom event that was not sent.
    pub fn event_dropped(&self, reason: EventDrop) {
        self.registry.events_dropped[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Events dropped for `reason` so far.
    pub fn events_dropped(&self, reason: EventDrop) -> u64 {
        self.registry.events_dropped[reason.index()].load(Ordering::Relaxed)
    }

    /// Counts one failed OTLP export.
    pub fn export_failed(&self, signal: Signal) {
        self.registry.export_failures[signal.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Failed exports of `signal` so far.
    pub fn export_failures(&self, signal: Signal) -> u64 {
        self.registry.export_failures[signal.index()].load(Ordering::Relaxed)
    }

    /// Everything in the Prometheus text exposition format 0.0.4, for
    /// `/metrics` (serve it as `text/plain; version=0.0.4`).
    pub fn render_prometheus(&self) -> String {
        prometheus::render(self)
    }
}

/// The `Content-Type` of [`Metrics::render_prometheus`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_numbers() {
        let metrics = Metrics::new();
        let clone = metrics.clone();
        clone.set_pool_hashrate(1.5e9);
        clone.set_pool_miners(7);
        clone.share(ShareOutcome::Stale);
        clone.share(ShareOutcome::Stale);
        clone.event_dropped(EventDrop::QueueFull);
        clone.export_failed(Signal::Logs);
        assert_eq!(metrics.gauge(Gauge::PoolHashrate), 1.5e9);
        assert_eq!(metrics.gauge(Gauge::PoolMiners), 7.0);
        assert_eq!(metrics.gauge(Gauge::PoolWorkers), 0.0);
        assert_eq!(metrics.shares(ShareOutcome::Stale), 2);
        assert_eq!(metrics.shares(ShareOutcome::Accepted), 0);
        assert_eq!(metrics.events_dropped(EventDrop::QueueFull), 1);
        assert_eq!(metrics.export_failures(Signal::Logs), 1);
        assert_eq!(metrics.export_failures(Signal::Traces), 0);
    }

    #[test]
    fn indices_follow_the_all_tables() {
        for (i, gauge) in Gauge::ALL.iter().enumerate() {
            assert_eq!(gauge.index(), i);
        }
        for (i, outcome) in ShareOutcome::ALL.iter().enumerate() {
            assert_eq!(outcome.index(), i);
        }
        for (i, reason) in EventDrop::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        for (i, signal) in Signal::ALL.iter().enumerate() {
            assert_eq!(signal.index(), i);
        }
    }
}
