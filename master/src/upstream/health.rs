//! The health bookkeeping of one upstream, without I/O: feed it the outcome of
//! each check, it says when the upstream leaves or rejoins the rotation.

/// A change of an upstream's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateChange {
    /// `max_failures` checks in a row failed: out of rotation.
    WentDown,
    /// `recovery_threshold` checks in a row succeeded: back in rotation.
    Recovered,
}

/// Consecutive check outcomes of one upstream and whether it is in rotation.
/// A new upstream is healthy until checks prove otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHealth {
    max_failures: u32,
    recovery_threshold: u32,
    healthy: bool,
    consecutive_failures: u32,
    consecutive_successes: u32,
}

impl UpstreamHealth {
    /// Out after `max_failures` failed checks in a row, back after
    /// `recovery_threshold` good ones (each at least 1).
    pub fn new(max_failures: u32, recovery_threshold: u32) -> UpstreamHealth {
        UpstreamHealth {
            max_failures: max_failures.max(1),
            recovery_threshold: recovery_threshold.max(1),
            healthy: true,
            consecutive_failures: 0,
            consecutive_successes: 0,
        }
    }

    /// Records one check; returns the change of standing it causes, if any.
    pub fn record(&mut self, success: bool) -> Option<StateChange> {
        if success {
            self.consecutive_failures = 0;
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            if !self.healthy && self.consecutive_successes >= self.recovery_threshold {
                self.healthy = true;
                return Some(StateChange::Recovered);
            }
        } else {
            self.consecutive_successes = 0;
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            if self.healthy && self.consecutive_failures >= self.max_failures {
                self.healthy = false;
                return Some(StateChange::WentDown);
            }
        }
        None
    }

    /// Whether the upstream is in rotation.
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// Failed checks in a row (0 after a good one).
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Good checks in a row (0 after a failed one).
    pub fn consecutive_successes(&self) -> u32 {
        self.consecutive_successes
    }
}

/// The order to try upstreams in: healthy ones by weight (highest first, ties
/// by position in the config), then the unhealthy ones in the same order as a
/// last resort. `candidates` are `(healthy, weight)` in config order; the
/// result holds their indices. The first entry, when healthy, is the active
/// upstream, so the heaviest healthy upstream is always used ("failback").
pub fn failover_order(candidates: &[(bool, u32)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&index| {
        let (healthy, weight) = candidates[index];
        (!healthy, std::cmp::Reverse(weight), index)
    });
    order
}

/// The active upstream: the first of [`failover_order`] if it is healthy.
pub fn active_index(candidates: &[(bool, u32)]) -> Option<usize> {
    failover_order(candidates)
        .first()
        .copied()
        .filter(|&index| candidates[index].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_down_after_max_failures_in_a_row() {
        let mut health = UpstreamHealth::new(3, 2);
        assert!(health.is_healthy());
        assert_eq!(health.record(false), None);
        assert_eq!(health.record(false), None);
        assert_eq!(health.record(true), None, "a good check resets the count");
        assert_eq!(health.consecutive_failures(), 0);
        assert_eq!(health.record(false), None);
        assert_eq!(health.record(false), None);
        assert_eq!(health.record(false), Some(StateChange::WentDown));
        assert!(!health.is_healthy());
        assert_eq!(health.record(false), None, "down is reported once");
        assert_eq!(health.consecutive_failures(), 4);
    }

    #[test]
    fn recovers_after_recovery_threshold_good_checks_in_a_row() {
        let mut health = UpstreamHealth::new(1, 3);
        assert_eq!(health.record(false), Some(StateChange::WentDown));
        assert_eq!(health.record(true), None);
        assert_eq!(health.record(true), None);
        assert_eq!(health.record(false), None, "a failure resets the recovery");
        assert_eq!(health.consecutive_successes(), 0);
        assert_eq!(health.record(true), None);
        assert_eq!(health.record(true), None);
        assert!(!health.is_healthy());
        assert_eq!(health.record(true), Some(StateChange::Recovered));
        assert!(health.is_healthy());
        assert_eq!(health.record(true), None, "recovery is reported once");
    }

    #[test]
    fn zero_limits_act_as_one() {
        let mut health = UpstreamHealth::new(0, 0);
        assert_eq!(health.record(false), Some(StateChange::WentDown));
        assert_eq!(health.record(true), Some(StateChange::Recovered));
    }

    #[test]
    fn heaviest_healthy_upstream_is_active_and_ties_go_by_order() {
        assert_eq!(
            failover_order(&[(true, 1), (true, 2), (true, 2)]),
            [1, 2, 0]
        );
        assert_eq!(active_index(&[(true, 1), (true, 2), (true, 2)]), Some(1));
        assert_eq!(
            failover_order(&[(true, 1), (false, 5), (true, 3)]),
            [2, 0, 1]
        );
        assert_eq!(active_index(&[(false, 2), (true, 1)]), Some(1));
        assert_eq!(active_index(&[(false, 2), (false, 1)]), None);
        assert_eq!(failover_order(&[(false, 2), (false, 1)]), [0, 1]);
        assert_eq!(active_index(&[]), None);
    }
}
