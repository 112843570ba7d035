//! Job fan-out: when each session received each new job. The spread of a
//! job is the time from the first session receiving it to the last; only
//! pushes count (the job a session gets at login and the pool's periodic
//! re-sends of the same job are left out by the sessions).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::histogram::Histogram;

/// Jobs remembered at once; the oldest are folded into the spread
/// histogram when more arrive (jobs come about once a second).
const OPEN_JOBS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Arrivals {
    first: Instant,
    last: Instant,
    receivers: u64,
}

/// Arrival times of every pushed job, from all sessions.
#[derive(Debug, Default)]
pub struct Fanout {
    open: Mutex<HashMap<String, Arrivals>>,
    closed: Mutex<Vec<JobSpread>>,
}

/// One job's fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobSpread {
    /// Sessions that received it as a push.
    pub receivers: u64,
    /// First to last arrival, microseconds.
    pub spread_us: u64,
}

/// The fan-out of a whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FanoutSummary {
    /// Jobs counted (those received by at least `min_receivers` sessions).
    pub jobs: u64,
    /// Jobs left out for reaching fewer sessions (a job pushed while
    /// sessions were still opening, or at the very end).
    pub jobs_left_out: u64,
    /// Fewest sessions a counted job reached.
    pub min_receivers: u64,
    /// Most sessions a job reached.
    pub max_receivers: u64,
    /// Jobs that reached `max_receivers` sessions: every session open, when
    /// the widest job reached them all.
    pub jobs_to_all: u64,
    /// Jobs between the first and the last that reached `max_receivers`
    /// which reached fewer: with the sessions open throughout, each is a
    /// job some session did not get (0 is "every session got every job").
    pub short_jobs_between: u64,
    /// Spread percentiles over the counted jobs, microseconds.
    pub spread_us: super::histogram::Percentiles,
}

impl Fanout {
    /// Records that a session received pushed job `job_id` at `at`.
    pub fn record(&self, job_id: &str, at: Instant) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(arrivals) = open.get_mut(job_id) {
            arrivals.first = arrivals.first.min(at);
            arrivals.last = arrivals.last.max(at);
            arrivals.receivers += 1;
            return;
        }
        if open.len() >= OPEN_JOBS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, a)| a.first)
                .map(|(id, _)| id.clone())
            && let Some(arrivals) = open.remove(&oldest)
        {
            self.close(arrivals);
        }
        open.insert(
            job_id.to_owned(),
            Arrivals {
                first: at,
                last: at,
                receivers: 1,
            },
        );
    }

    fn close(&self, arrivals: Arrivals) {
        let spread = arrivals.last.saturating_duration_since(arrivals.first);
        self.closed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(JobSpread {
                receivers: arrivals.receivers,
                spread_us: u64::try_from(spread.as_micros()).unwrap_or(u64::MAX),
            });
    }

    /// Every job's spread so far, oldest first for closed ones.
    pub fn spreads(&self) -> Vec<JobSpread> {
        let mut all = self
            .closed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut pending: Vec<_> = open.values().copied().collect();
        pending.sort_by_key(|a| a.first);
        all.extend(pending.into_iter().map(|a| {
            JobSpread {
                receivers: a.receivers,
                spread_us: u64::try_from(a.last.saturating_duration_since(a.first).as_micros())
                    .unwrap_or(u64::MAX),
            }
        }));
        all
    }

    /// The spread over jobs that reached at least `share` (0..=1) of the
    /// most sessions any job reached.
    pub fn summary(&self, share: f64) -> FanoutSummary {
        summarize(&self.spreads(), share)
    }
}

/// The spread percentiles of `spreads`, counting only jobs that reached at
/// least `share` of the widest job's receivers.
pub fn summarize(spreads: &[JobSpread], share: f64) -> FanoutSummary {
    let max_receivers = spreads.iter().map(|s| s.receivers).max().unwrap_or(0);
    let floor = ((max_receivers as f64) * share.clamp(0.0, 1.0)).ceil() as u64;
    let histogram = Histogram::new();
    let mut min_receivers = u64::MAX;
    let mut left_out = 0;
    for spread in spreads {
        if spread.receivers >= floor.max(1) {
            histogram.record(spread.spread_us);
            min_receivers = min_receivers.min(spread.receivers);
        } else {
            left_out += 1;
        }
    }
    let reached_all = |spread: &&JobSpread| spread.receivers == max_receivers;
    let first_full = spreads.iter().position(|s| reached_all(&s));
    let last_full = spreads.iter().rposition(|s| reached_all(&s));
    let (jobs_to_all, short_jobs_between) = match (first_full, last_full) {
        (Some(first), Some(last)) => {
            let between = &spreads[first..=last];
            let full = between.iter().filter(reached_all).count() as u64;
            (full, between.len() as u64 - full)
        }
        _ => (0, 0),
    };
    FanoutSummary {
        jobs: histogram.count(),
        jobs_left_out: left_out,
        jobs_to_all,
        short_jobs_between,
        min_receivers: if histogram.count() == 0 {
            0
        } else {
            min_receivers
        },
        max_receivers,
        spread_us: histogram.percentiles(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn spread_is_first_to_last_arrival_per_job() {
        let fanout = Fanout::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        fanout.record("a", t0 + ms(5));
        fanout.record("a", t0);
        fanout.record("a", t0 + ms(12));
        fanout.record("b", t0 + ms(1000));
        fanout.record("b", t0 + ms(1003));
        fanout.record("b", t0 + ms(1001));
        fanout.record("c", t0 + ms(2000));
        let spreads = fanout.spreads();
        assert_eq!(spreads.len(), 3);
        assert_eq!(
            spreads[0],
            JobSpread {
                receivers: 3,
                spread_us: 12_000
            }
        );
        assert_eq!(spreads[1].spread_us, 3_000);
        let summary = fanout.summary(0.9);
        assert_eq!(summary.jobs, 2, "job c reached one session of three");
        assert_eq!(summary.jobs_left_out, 1);
        assert_eq!(summary.spread_us.max, 12_000);
        assert_eq!(summary.min_receivers, 3);
        assert_eq!(summary.jobs_to_all, 2, "a and b reached all three");
        assert_eq!(
            summary.short_jobs_between, 0,
            "c came after the last full job"
        );
    }

    #[test]
    fn a_short_job_between_full_ones_is_counted() {
        let spread = |receivers| JobSpread {
            receivers,
            spread_us: 1,
        };
        let spreads = [
            spread(2),
            spread(10),
            spread(9),
            spread(10),
            spread(10),
            spread(4),
        ];
        let summary = summarize(&spreads, 0.5);
        assert_eq!(summary.jobs_to_all, 3);
        assert_eq!(summary.short_jobs_between, 1);
    }

    #[test]
    fn old_jobs_are_folded_in_not_lost() {
        let fanout = Fanout::default();
        let t0 = Instant::now();
        for job in 0..(OPEN_JOBS as u64 + 10) {
            let at = t0 + Duration::from_secs(job);
            fanout.record(&job.to_string(), at);
            fanout.record(&job.to_string(), at + Duration::from_micros(job));
        }
        let spreads = fanout.spreads();
        assert_eq!(spreads.len(), OPEN_JOBS + 10);
        assert_eq!(spreads[0].spread_us, 0);
        assert_eq!(spreads[9].spread_us, 9);
        assert!(spreads.iter().all(|s| s.receivers == 2));
    }
}
