//! What a run reports: the live line every second and the summary at the
//! end (text for people, JSON for scripts).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::fanout::{FanoutSummary, JobSpread};
use super::histogram::Percentiles;
use super::mix::KindCounts;
use super::readback::Verification;
use super::tally::{Tally, read};

/// Refusals by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rejections {
    /// Stale or unknown job (21).
    pub stale: u64,
    /// Duplicate (22).
    pub duplicate: u64,
    /// Low difficulty (23).
    pub low_difficulty: u64,
    /// Any other code.
    pub other: u64,
}

/// The end of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Sessions asked for.
    pub sessions_requested: u64,
    /// Sessions that opened and logged in.
    pub sessions_opened: u64,
    /// Sessions that could not open or log in.
    pub sessions_failed: u64,
    /// Sessions the pool closed during the run.
    pub sessions_closed_by_pool: u64,
    /// The first few reasons sessions failed to open, with counts.
    pub open_errors: Vec<(String, u64)>,
    /// Seconds from the first connect to the last session opened.
    pub ramp_seconds: f64,
    /// Sessions opened per second during the ramp.
    pub connect_rate: f64,
    /// Seconds the whole run took (ramp included).
    pub elapsed_seconds: f64,
    /// Shares sent, by kind.
    pub sent: KindCounts,
    /// Shares answered `true`.
    pub accepted: u64,
    /// Shares refused, by reason.
    pub rejected: Rejections,
    /// Shares sent but never answered.
    pub unanswered: u64,
    /// Invalid shares asked for but impossible (share difficulty 1 accepts
    /// every hash) and sent valid instead.
    pub invalid_impossible: u64,
    /// Accepted shares per second over the share phase.
    pub accepted_per_second: f64,
    /// Seconds over which shares were sent (from the last session opened).
    pub share_seconds: f64,
    /// Submit-to-answer latency, microseconds.
    pub latency_us: Percentiles,
    /// Job fan-out spread.
    pub fanout: FanoutSummary,
    /// Every pushed job's receivers and spread, oldest first: where the
    /// slow jobs of a run fall (every tenth, every thirtieth, …).
    pub fanout_jobs: Vec<JobSpread>,
    /// The pool's counts read back, when a source was given.
    pub verification: Option<Verification>,
}

/// The live line: elapsed time, sessions, connect rate and the shares
/// answered since the last line (per second).
pub(crate) struct LiveLine {
    last_opened: u64,
    last_accepted: u64,
    last_rejected: u64,
}

impl LiveLine {
    pub(crate) fn new() -> LiveLine {
        LiveLine {
            last_opened: 0,
            last_accepted: 0,
            last_rejected: 0,
        }
    }

    /// The line for `tally` after `elapsed`, `since_last` after the previous one.
    pub(crate) fn line(
        &mut self,
        tally: &Tally,
        elapsed: Duration,
        since_last: Duration,
    ) -> String {
        let secs = since_last.as_secs_f64().max(1e-3);
        let opened = read(&tally.opened);
        let accepted = read(&tally.accepted);
        let (stale, duplicate, low, other) = (
            read(&tally.stale),
            read(&tally.duplicate),
            read(&tally.low_difficulty),
            read(&tally.other),
        );
        let rejected = stale + duplicate + low + other;
        let line = format!(
            "[{:>6.1}s] open {} (failed {}, closed {}) | connect {:.0}/s | accepted {:.0}/s (total {}) | rejected {:.0}/s: stale {} dup {} low {} other {} | unanswered {}",
            elapsed.as_secs_f64(),
            read(&tally.open),
            read(&tally.failed),
            read(&tally.closed_by_pool),
            (opened - self.last_opened) as f64 / secs,
            (accepted - self.last_accepted) as f64 / secs,
            accepted,
            (rejected - self.last_rejected) as f64 / secs,
            stale,
            duplicate,
            low,
            other,
            read(&tally.errors),
        );
        self.last_opened = opened;
        self.last_accepted = accepted;
        self.last_rejected = rejected;
        line
    }
}

fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

impl Summary {
    /// The summary as text for people.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "sessions: {} requested, {} opened, {} failed, {} closed by the pool; ramp {:.1} s ({:.0}/s)",
            self.sessions_requested,
            self.sessions_opened,
            self.sessions_failed,
            self.sessions_closed_by_pool,
            self.ramp_seconds,
            self.connect_rate
        );
        for (error, count) in &self.open_errors {
            let _ = writeln!(text, "  open error ×{count}: {error}");
        }
        let s = &self.sent;
        let r = &self.rejected;
        let _ = writeln!(
            text,
            "shares sent: {} (valid {}, invalid {}, duplicate {}, stale {}); accepted {} ({:.0}/s over {:.1} s); rejected stale {}, duplicate {}, low difficulty {}, other {}; unanswered {}",
            s.total(),
            s.valid,
            s.invalid,
            s.duplicate,
            s.stale,
            self.accepted,
            self.accepted_per_second,
            self.share_seconds,
            r.stale,
            r.duplicate,
            r.low_difficulty,
            r.other,
            self.unanswered
        );
        if self.invalid_impossible > 0 {
            let _ = writeln!(
                text,
                "  {} invalid shares were impossible (share difficulty 1 accepts every hash) and went out valid: run the pool at difficulty ≥ 2 for invalid shares",
                self.invalid_impossible
            );
        }
        let l = &self.latency_us;
        let _ = writeln!(
            text,
            "answer latency ({} answers): p50 {} p90 {} p99 {} max {}",
            l.count,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max)
        );
        let f = &self.fanout;
        let _ = writeln!(
            text,
            "job fan-out ({} jobs reaching {}..{} sessions; {} left out; {} reached all {}, {} fell short between): spread p50 {} p90 {} p99 {} max {}",
            f.jobs,
            f.min_receivers,
            f.max_receivers,
            f.jobs_left_out,
            f.jobs_to_all,
            f.max_receivers,
            f.short_jobs_between,
            ms(f.spread_us.p50),
            ms(f.spread_us.p90),
            ms(f.spread_us.p99),
            ms(f.spread_us.max)
        );
        match &self.verification {
            None => {
                let _ = writeln!(
                    text,
                    "pool counts: not read (give --api with the master's API URL)"
                );
            }
            Some(v) => {
                let _ = writeln!(
                    text,
                    "pool counts (read from {}): expected valid {} invalid {} stale {}; the pool counted valid {} invalid {} stale {} ({}); {} miners checked, {} differ{}",
                    v.source,
                    v.expected.valid,
                    v.expected.invalid,
                    v.expected.stale,
                    v.pool_delta.valid,
                    v.pool_delta.invalid,
                    v.pool_delta.stale,
                    if v.pool_matches { "match" } else { "MISMATCH" },
                    v.miners_checked,
                    v.miners_mismatched,
                    if v.all_match() { "" } else { " (MISMATCH)" }
                );
                for m in &v.mismatches {
                    let _ = writeln!(
                        text,
                        "  {}: expected {:?}, counted {:?}",
                        m.login, m.expected, m.counted
                    );
                }
            }
        }
        text
    }
}
