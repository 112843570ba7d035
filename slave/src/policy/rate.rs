//! Shares per second per connection (`security.max_shares_per_second`): a
//! token bucket, pure, driven with the time of each share.

/// A token bucket holding up to one second's worth of shares.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareRate {
    per_second: u32,
    tokens: f64,
    last_ms: u64,
}

impl ShareRate {
    /// A full bucket for `per_second` shares a second (0 = unlimited), at `now_ms`.
    pub fn new(per_second: u32, now_ms: u64) -> ShareRate {
        ShareRate {
            per_second,
            tokens: f64::from(per_second),
            last_ms: now_ms,
        }
    }

    /// Takes a token for a share at `now_ms`; false when the connection is
    /// over its rate (the share is refused, not hashed).
    pub fn allow(&mut self, now_ms: u64) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let rate = f64::from(self.per_second);
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_over_the_rate_is_refused_then_refills() {
        let mut rate = ShareRate::new(3, 1_000);
        assert!(rate.allow(1_000));
        assert!(rate.allow(1_000));
        assert!(rate.allow(1_000));
        assert!(!rate.allow(1_000));
        // A third of a second later one token is back.
        assert!(rate.allow(1_334));
        assert!(!rate.allow(1_334));
        // Long idle refills only up to one second's worth.
        for _ in 0..3 {
            assert!(rate.allow(100_000));
        }
        assert!(!rate.allow(100_000));
    }

    #[test]
    fn zero_means_unlimited() {
        let mut rate = ShareRate::new(0, 0);
        assert!((0..10_000).all(|_| rate.allow(0)));
    }

    #[test]
    fn a_clock_going_back_does_not_add_tokens() {
        let mut rate = ShareRate::new(1, 5_000);
        assert!(rate.allow(5_000));
        assert!(!rate.allow(4_000));
        assert!(!rate.allow(5_500));
        assert!(rate.allow(6_000));
    }
}
