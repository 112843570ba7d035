//! Rate limiting for repeated warnings (export failures, dropped events): at
//! most one line per interval, saying how many were held back meanwhile.

use std::time::Duration;

/// Decides whether a repeated warning may be logged now. Time is a
/// [`Duration`] since an origin the caller keeps, so tests drive it.
#[derive(Debug, Clone)]
pub(crate) struct LogThrottle {
    interval: Duration,
    last: Option<Duration>,
    suppressed: u64,
}

impl LogThrottle {
    /// At most one line per `interval`.
    pub(crate) fn new(interval: Duration) -> LogThrottle {
        LogThrottle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(held back since the last line)` when a line may be logged at
    /// `now`, else `None` (and the occurrence is counted as held back).
    pub(crate) fn allow(&mut self, now: Duration) -> Option<u64> {
        let due = self
            .last
            .is_none_or(|last| now.saturating_sub(last) >= self.interval);
        if due {
            self.last = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_interval_and_reports_what_it_held_back() {
        let mut throttle = LogThrottle::new(Duration::from_secs(10));
        let at = Duration::from_secs;
        assert_eq!(throttle.allow(at(100)), Some(0));
        assert_eq!(throttle.allow(at(101)), None);
        assert_eq!(throttle.allow(at(109)), None);
        assert_eq!(throttle.allow(at(110)), Some(2));
        assert_eq!(throttle.allow(at(115)), None);
        assert_eq!(throttle.allow(at(200)), Some(1));
        // A clock that steps back never panics and waits out the interval.
        assert_eq!(throttle.allow(at(50)), None);
    }
}
