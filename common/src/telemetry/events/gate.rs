//! Which share events go out: a random sample (`share_event_sample_rate`),
//! then a token bucket capping them at `max_share_events_per_second`. Pure:
//! the caller passes the random roll and the time.

use std::sync::Mutex;
use std::time::Duration;

/// A token bucket refilled continuously at `per_second`, holding at most one
/// second's worth. Time is a [`Duration`] since an origin the caller keeps.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    per_second: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket allowing `per_second` takes per second (0 allows none).
    pub(crate) fn new(per_second: u32, now: Duration) -> TokenBucket {
        TokenBucket {
            per_second: f64::from(per_second),
            tokens: f64::from(per_second),
            last: now,
        }
    }

    /// Takes one token if there is one at `now`.
    pub(crate) fn try_take(&mut self, now: Duration) -> bool {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.per_second);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the gate decided for one share event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Send it.
    Admitted,
    /// Not in the sample: skipped silently, by design.
    SampledOut,
    /// In the sample but over the per-second cap: counted as dropped.
    RateLimited,
}

/// Sampling then capping, shared by every clone of an event sink.
#[derive(Debug)]
pub(crate) struct ShareGate {
    sample_rate: f64,
    bucket: Mutex<TokenBucket>,
}

impl ShareGate {
    pub(crate) fn new(sample_rate: f64, per_second: u32, now: Duration) -> ShareGate {
        ShareGate {
            sample_rate,
            bucket: Mutex::new(TokenBucket::new(per_second, now)),
        }
    }

    /// Decides for one share, given a uniform `roll` in `[0, 1)`.
    pub(crate) fn admit(&self, roll: f64, now: Duration) -> Admission {
        if roll >= self.sample_rate {
            return Admission::SampledOut;
        }
        // Only sampled shares reach the lock; a poisoned lock still holds a
        // usable bucket (its update cannot be left half-done).
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if bucket.try_take(now) {
            Admission::Admitted
        } else {
            Admission::RateLimited
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn bucket_allows_a_burst_of_one_second_then_the_refill_rate() {
        let mut bucket = TokenBucket::new(10, ms(0));
        let burst = (0..25).filter(|_| bucket.try_take(ms(0))).count();
        assert_eq!(burst, 10);
        assert!(!bucket.try_take(ms(50)), "half a token is not a token");
        assert!(bucket.try_take(ms(100)));
        assert!(!bucket.try_take(ms(100)));
        // Over ten seconds at most 10/s get through, however hard it is asked.
        let taken = (1..=10_000)
            .filter(|step| bucket.try_take(ms(100 + step)))
            .count();
        // 10 s × 10/s; one token may be lost to float rounding of the refills.
        assert!((99..=100).contains(&taken), "{taken}");
        // A long pause refills to one second's worth, not more.
        let after_pause = (0..50).filter(|_| bucket.try_take(ms(60_000))).count();
        assert_eq!(after_pause, 10);
    }

    #[test]
    fn zero_rate_admits_nothing_and_a_backwards_clock_adds_nothing() {
        let mut none = TokenBucket::new(0, ms(0));
        assert!(!none.try_take(ms(0)));
        assert!(!none.try_take(ms(100_000)));
        let mut bucket = TokenBucket::new(1, ms(5_000));
        assert!(bucket.try_take(ms(5_000)));
        assert!(!bucket.try_take(ms(1_000)));
        assert!(!bucket.try_take(ms(5_500)));
        assert!(bucket.try_take(ms(6_000)));
    }

    #[test]
    fn gate_samples_by_roll_then_caps() {
        let gate = ShareGate::new(0.25, 2, ms(0));
        assert_eq!(gate.admit(0.25, ms(0)), Admission::SampledOut);
        assert_eq!(gate.admit(0.9, ms(0)), Admission::SampledOut);
        assert_eq!(gate.admit(0.1, ms(0)), Admission::Admitted);
        assert_eq!(gate.admit(0.0, ms(0)), Admission::Admitted);
        assert_eq!(gate.admit(0.2, ms(0)), Admission::RateLimited);
        assert_eq!(gate.admit(0.2, ms(500)), Admission::Admitted);

        // An even spread of rolls keeps about the sample rate.
        let gate = ShareGate::new(0.25, 1_000_000, ms(0));
        let kept = (0..1000)
            .filter(|i| gate.admit(f64::from(*i) / 1000.0, ms(0)) == Admission::Admitted)
            .count();
        assert_eq!(kept, 250);

        let everything = ShareGate::new(1.0, 10, ms(0));
        assert_eq!(everything.admit(0.999_999, ms(0)), Admission::Admitted);
        let nothing = ShareGate::new(0.0, 10, ms(0));
        assert_eq!(nothing.admit(0.0, ms(0)), Admission::SampledOut);
    }
}
