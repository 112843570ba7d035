//! A fixed-bucket latency histogram in atomics: `observe` is a few relaxed
//! increments, never a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (the `le` labels); one more
/// bucket, `+Inf`, catches the rest.
pub const BUCKET_BOUNDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const BOUNDS_NANOS: [u64; 14] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// Counts of observations per bucket plus their sum.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    /// Non-cumulative counts; the last one is `+Inf`.
    buckets: [AtomicU64; BUCKET_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A consistent-enough copy of a histogram for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts per bound of [`BUCKET_BOUNDS`] (observations ≤ bound).
    pub cumulative: [u64; BUCKET_BOUNDS.len()],
    /// All observations (the `+Inf` bucket).
    pub count: u64,
    /// Sum of all observations in seconds.
    pub sum_seconds: f64,
}

impl Histogram {
    pub(crate) fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = [0; BUCKET_BOUNDS.len()];
        let mut running = 0u64;
        for (slot, bucket) in self.buckets.iter().enumerate() {
            running = running.saturating_add(bucket.load(Ordering::Relaxed));
            if let Some(out) = cumulative.get_mut(slot) {
                *out = running;
            }
        }
        HistogramSnapshot {
            cumulative,
            count: running,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_tables_agree() {
        for (seconds, nanos) in BUCKET_BOUNDS.iter().zip(BOUNDS_NANOS) {
            assert_eq!((seconds * 1e9).round() as u64, nanos);
        }
    }

    #[test]
    fn observations_land_in_the_first_bucket_they_fit_and_accumulate() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(100)); // exactly on the first bound
        histogram.observe(Duration::from_micros(101)); // just above it
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(10)); // only +Inf
        let snap = histogram.snapshot();
        assert_eq!(snap.count, 4);
        assert_eq!(snap.cumulative[0], 1);
        assert_eq!(snap.cumulative[1], 2);
        assert_eq!(snap.cumulative[4], 2, "2.5 ms bound excludes 3 ms");
        assert_eq!(snap.cumulative[5], 3, "5 ms bound includes 3 ms");
        assert_eq!(snap.cumulative[13], 3, "10 s is above every finite bound");
        let expected = 0.0001 + 0.000101 + 0.003 + 10.0;
        assert!(
            (snap.sum_seconds - expected).abs() < 1e-9,
            "{}",
            snap.sum_seconds
        );
    }
}
