//! The reconnect schedule: capped exponential backoff with jitter.
//!
//! Pure: the caller supplies the attempt number and a jitter value in
//! `[0, 1)`, so the schedule is tested without clocks or randomness.

use std::time::Duration;

/// Capped exponential backoff with "equal jitter": attempt `n` (0-based)
/// waits between half and all of `min(initial × 2^n, max)`.
///
/// Half of the delay is fixed so a fleet of slaves never hammers a
/// restarting master in lock-step, yet no slave retries sooner than half the
/// nominal delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Nominal delay of the first retry.
    pub initial: Duration,
    /// Largest nominal delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// Nominal (jitter-free) delay before retry number `attempt` (0-based).
    pub fn nominal(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// Delay before retry number `attempt` with `jitter` in `[0, 1)`
    /// (values outside are clamped): between half and all of the nominal
    /// delay.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let nominal = self.nominal(attempt);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let half = nominal / 2;
        half + (nominal - half).mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }

    #[test]
    fn nominal_doubles_until_the_cap() {
        let b = backoff();
        let delays: Vec<u128> = (0..10).map(|n| b.nominal(n).as_millis()).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]
        );
    }

    #[test]
    fn huge_attempts_stay_at_the_cap() {
        let b = backoff();
        assert_eq!(b.nominal(31), b.max);
        assert_eq!(b.nominal(u32::MAX), b.max);
        assert_eq!(b.delay(u32::MAX, 0.999), b.max.mul_f64(0.5 + 0.5 * 0.999));
    }

    #[test]
    fn jitter_spans_half_to_full_nominal() {
        let b = backoff();
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay(2, 0.5), Duration::from_millis(300));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(400));
    }

    #[test]
    fn bad_jitter_is_clamped() {
        let b = backoff();
        assert_eq!(b.delay(0, -3.0), Duration::from_millis(50));
        assert_eq!(b.delay(0, 7.0), Duration::from_millis(100));
        assert_eq!(b.delay(0, f64::NAN), Duration::from_millis(50));
    }

    #[test]
    fn delays_never_shrink_as_attempts_grow() {
        let b = backoff();
        for n in 0..40 {
            assert!(b.delay(n + 1, 0.0) >= b.delay(n, 0.0));
        }
    }
}
