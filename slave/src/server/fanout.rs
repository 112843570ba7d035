//! How long a new job takes to reach every session of this slave: from the
//! moment the feed publishes it to the moment the last session's notify was
//! written to its socket. Measured inside the slave, so a load generator on
//! the same machine does not blur it. Each job's tally is logged at debug
//! level (`tos_pool_slave::server::feed`) when the next job arrives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one job's fan-out came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutTally {
    /// Sessions that wrote the job's notify.
    pub sessions: u64,
    /// From the job being published to the last of those writes.
    pub last_write: Duration,
}

/// Shared by the feed (which publishes jobs) and every connection task
/// (which reports its write); lock-free, two atomic updates per session.
#[derive(Debug)]
pub struct FanoutProbe {
    epoch: Instant,
    /// Nanoseconds after `epoch` when the current job was published.
    published_ns: AtomicU64,
    /// Sessions that wrote the current job.
    written: AtomicU64,
    /// Nanoseconds after `epoch` of the latest write of the current job.
    last_ns: AtomicU64,
}

impl FanoutProbe {
    /// A probe whose clock starts at `now`.
    pub fn new(now: Instant) -> FanoutProbe {
        FanoutProbe {
            epoch: now,
            published_ns: AtomicU64::new(0),
            written: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
        }
    }

    /// A new job is published at `now`: starts its tally and returns the
    /// previous job's (`None` when no session wrote it).
    pub fn publish(&self, now: Instant) -> Option<FanoutTally> {
        let now_ns = self.nanos(now);
        let sessions = self.written.swap(0, Ordering::AcqRel);
        let last_ns = self.last_ns.swap(0, Ordering::AcqRel);
        let published_ns = self.published_ns.swap(now_ns, Ordering::AcqRel);
        (sessions > 0).then(|| FanoutTally {
            sessions,
            last_write: Duration::from_nanos(last_ns.saturating_sub(published_ns)),
        })
    }

    /// A session wrote the current job's notify at `now`.
    pub fn written(&self, now: Instant) {
        self.written_many(1, now);
    }

    /// `sessions` sessions wrote the current job's notify, the last at
    /// `now` (a writer thread reports a shard at once).
    pub fn written_many(&self, sessions: u64, now: Instant) {
        if sessions == 0 {
            return;
        }
        self.written.fetch_add(sessions, Ordering::AcqRel);
        self.last_ns.fetch_max(self.nanos(now), Ordering::AcqRel);
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_runs_from_publishing_to_the_last_write() {
        let start = Instant::now();
        let probe = FanoutProbe::new(start);
        assert_eq!(probe.publish(start + Duration::from_millis(10)), None);
        probe.written(start + Duration::from_millis(12));
        probe.written(start + Duration::from_millis(40));
        probe.written(start + Duration::from_millis(15));
        probe.written_many(0, start + Duration::from_millis(900));
        let tally = probe.publish(start + Duration::from_millis(1_000));
        assert_eq!(
            tally,
            Some(FanoutTally {
                sessions: 3,
                last_write: Duration::from_millis(30),
            })
        );
        // The next job starts from zero.
        probe.written(start + Duration::from_millis(1_005));
        let tally = probe.publish(start + Duration::from_millis(2_000));
        assert_eq!(
            tally,
            Some(FanoutTally {
                sessions: 1,
                last_write: Duration::from_millis(5),
            })
        );
    }

    #[test]
    fn a_job_nobody_wrote_has_no_tally() {
        let start = Instant::now();
        let probe = FanoutProbe::new(start);
        probe.publish(start);
        assert_eq!(probe.publish(start + Duration::from_secs(1)), None);
    }
}
