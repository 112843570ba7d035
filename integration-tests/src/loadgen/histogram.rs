//! A log-linear latency histogram in the manner of HDR histograms: exact
//! below 32, then 32 sub-buckets per power of two (values within about 3%),
//! over the whole `u64` range in 1,920 counters. Recording is one atomic
//! add, so every session task records into one shared histogram.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Sub-buckets per power of two (and the exact range below it).
const SUB: u64 = 32;
/// log2(SUB).
const SUB_BITS: u32 = 5;
/// Counters needed for every `u64`.
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * SUB) as usize;

/// A concurrent histogram of `u64` values (microseconds, for the load
/// generator).
#[derive(Debug)]
pub struct Histogram {
    counts: Vec<AtomicU64>,
    total: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// Percentiles read from a [`Histogram`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest value recorded (exact).
    pub max: u64,
}

fn index_of(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros();
    let shift = exponent - SUB_BITS;
    let sub = (value >> shift) & (SUB - 1);
    (SUB + u64::from(shift) * SUB + sub) as usize
}

/// The largest value that lands in bucket `index`.
fn highest_in(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let shift = (index - SUB) / SUB;
    let sub = (index - SUB) % SUB;
    let low = (SUB + sub) << shift;
    low.saturating_add((1u64 << shift) - 1)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub fn record(&self, value: u64) {
        self.counts[index_of(value)].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
    }

    /// Values recorded so far.
    pub fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The smallest recorded-bucket bound at or above `quantile` (0..=1) of
    /// the values, never above the exact maximum; 0 when empty.
    pub fn value_at(&self, quantile: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let max = self.max.load(Ordering::Relaxed);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                return highest_in(index).min(max);
            }
        }
        max
    }

    /// p50, p90, p99 and max.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            count: self.count(),
            p50: self.value_at(0.50),
            p90: self.value_at(0.90),
            p99: self.value_at(0.99),
            max: self.max.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_u64_and_bound_their_values() {
        for value in [0, 1, 31, 32, 33, 63, 64, 65, 1000, 123_456_789, u64::MAX] {
            let index = index_of(value);
            assert!(index < BUCKETS, "{value}");
            assert!(highest_in(index) >= value, "{value}");
            if index > 0 {
                assert!(highest_in(index - 1) < value, "{value}");
            }
        }
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_within_three_percent() {
        let histogram = Histogram::new();
        for value in 1..=10_000u64 {
            histogram.record(value);
        }
        let p = histogram.percentiles();
        assert_eq!(p.count, 10_000);
        assert_eq!(p.max, 10_000);
        for (got, exact) in [(p.p50, 5_000.0), (p.p90, 9_000.0), (p.p99, 9_900.0)] {
            let error = (got as f64 - exact).abs() / exact;
            assert!(error <= 0.035, "{got} vs {exact}");
            assert!(
                got as f64 >= exact,
                "reports the bucket's top: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn small_values_are_exact_and_empty_is_zero() {
        let histogram = Histogram::new();
        assert_eq!(histogram.percentiles(), Percentiles::default());
        for value in [3, 3, 3, 7] {
            histogram.record(value);
        }
        assert_eq!(histogram.value_at(0.5), 3);
        assert_eq!(histogram.value_at(0.99), 7);
    }
}
