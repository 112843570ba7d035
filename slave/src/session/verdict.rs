//! How one submitted share was judged: the single [`Verdict`] that the
//! miner's answer, the session's counters, the slave's metrics and events,
//! the ban rule and the master's ledger record are all read from.

use tos_pool_common::metrics::ShareOutcome;

use super::output::RejectCode;

/// The outcome of one submitted share, from the cheapest check that decided
/// it. The session core gives every verdict but the last three; the
/// connection's driver adds those, which are decided outside the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// A valid share.
    Accepted,
    /// A valid share whose hash also meets the network target.
    Block,
    /// A job that was sent but is older than the backlog (21 "stale share").
    Stale,
    /// A job id never sent to this session (21 "job not found"): counted
    /// invalid toward the ban and never forwarded, since the pool never
    /// issued it.
    UnknownJob,
    /// The same nonce for the same job again (22).
    Duplicate,
    /// The hash misses the share target (23).
    LowDifficulty,
    /// More shares for one job than the session remembers nonces for (20).
    TooManyForJob,
    /// The share came back to a session it does not belong to (20).
    WrongSession,
    /// Not logged in (24).
    Unauthorized,
    /// The session was not opened first: subscribe or handshake (25).
    NotSubscribed,
    /// Over `security.max_shares_per_second` (20); decided by the driver.
    RateLimited,
    /// Valid, but the master link could not take it: not recorded, so the
    /// miner is told "pool busy" (20); decided by the driver.
    PoolBusy,
    /// The validation pool failed and the share could not be checked (20);
    /// decided by the driver.
    Unchecked,
}

impl Verdict {
    /// Whether the share counts (is credited and answered `true`).
    pub fn is_valid(self) -> bool {
        matches!(self, Verdict::Accepted | Verdict::Block)
    }

    /// The error code the miner is answered with; `None` for a valid share.
    pub fn reject_code(self) -> Option<RejectCode> {
        Some(match self {
            Verdict::Accepted | Verdict::Block => return None,
            Verdict::Stale | Verdict::UnknownJob => RejectCode::Stale,
            Verdict::Duplicate => RejectCode::Duplicate,
            Verdict::LowDifficulty => RejectCode::LowDifficulty,
            Verdict::Unauthorized => RejectCode::Unauthorized,
            Verdict::NotSubscribed => RejectCode::NotSubscribed,
            Verdict::TooManyForJob
            | Verdict::WrongSession
            | Verdict::RateLimited
            | Verdict::PoolBusy
            | Verdict::Unchecked => RejectCode::Other,
        })
    }

    /// What the miner is told when the share is refused.
    pub fn message(self) -> &'static str {
        match self {
            Verdict::Accepted | Verdict::Block => "",
            Verdict::UnknownJob => "job not found",
            Verdict::TooManyForJob => {
                "too many shares for this job: raise your difficulty or wait for the next job"
            }
            Verdict::WrongSession => "share belongs to another session",
            Verdict::RateLimited => {
                "too many shares per second (security.max_shares_per_second): raise your difficulty"
            }
            Verdict::PoolBusy => "pool busy, share not recorded",
            Verdict::Unchecked => "the pool cannot check shares right now: try again shortly",
            Verdict::Stale
            | Verdict::Duplicate
            | Verdict::LowDifficulty
            | Verdict::Unauthorized
            | Verdict::NotSubscribed => match self.reject_code() {
                Some(code) => code.message(),
                None => "",
            },
        }
    }

    /// The share counter of the metrics (`Custom/Pool/Shares`) the verdict
    /// goes to; every refusal that is not stale, duplicate or low
    /// difficulty is invalid.
    pub fn outcome(self) -> ShareOutcome {
        match self {
            Verdict::Accepted => ShareOutcome::Accepted,
            Verdict::Block => ShareOutcome::Block,
            Verdict::Stale => ShareOutcome::Stale,
            Verdict::Duplicate => ShareOutcome::Duplicate,
            Verdict::LowDifficulty => ShareOutcome::LowDifficulty,
            Verdict::UnknownJob
            | Verdict::TooManyForJob
            | Verdict::WrongSession
            | Verdict::Unauthorized
            | Verdict::NotSubscribed
            | Verdict::RateLimited
            | Verdict::PoolBusy
            | Verdict::Unchecked => ShareOutcome::Invalid,
        }
    }

    /// The label of the verdict in logs, events and metrics reasons.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Block => "block",
            Verdict::Stale => "stale",
            Verdict::UnknownJob => "job_not_found",
            Verdict::Duplicate => "duplicate",
            Verdict::LowDifficulty => "low_difficulty",
            Verdict::TooManyForJob => "too_many_for_job",
            Verdict::WrongSession => "wrong_session",
            Verdict::Unauthorized => "unauthorized",
            Verdict::NotSubscribed => "not_subscribed",
            Verdict::RateLimited => "rate_limited",
            Verdict::PoolBusy => "pool_busy",
            Verdict::Unchecked => "unchecked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Verdict; 13] = [
        Verdict::Accepted,
        Verdict::Block,
        Verdict::Stale,
        Verdict::UnknownJob,
        Verdict::Duplicate,
        Verdict::LowDifficulty,
        Verdict::TooManyForJob,
        Verdict::WrongSession,
        Verdict::Unauthorized,
        Verdict::NotSubscribed,
        Verdict::RateLimited,
        Verdict::PoolBusy,
        Verdict::Unchecked,
    ];

    #[test]
    fn only_valid_shares_have_no_code_and_no_message() {
        for verdict in ALL {
            assert_eq!(
                verdict.is_valid(),
                verdict.reject_code().is_none(),
                "{verdict:?}"
            );
            assert_eq!(
                verdict.is_valid(),
                verdict.message().is_empty(),
                "{verdict:?}"
            );
        }
    }

    #[test]
    fn codes_and_messages_are_the_documented_ones() {
        let expect = |verdict: Verdict, code: u16, message: &str| {
            assert_eq!(verdict.reject_code().map(RejectCode::code), Some(code));
            assert_eq!(verdict.message(), message);
        };
        expect(Verdict::Stale, 21, "stale share");
        expect(Verdict::UnknownJob, 21, "job not found");
        expect(Verdict::Duplicate, 22, "duplicate share");
        expect(Verdict::LowDifficulty, 23, "low difficulty share");
        expect(Verdict::Unauthorized, 24, "unauthorized worker");
        expect(Verdict::NotSubscribed, 25, "not subscribed");
        expect(Verdict::PoolBusy, 20, "pool busy, share not recorded");
    }

    #[test]
    fn labels_are_distinct() {
        let labels: std::collections::HashSet<_> = ALL.iter().map(|v| v.label()).collect();
        assert_eq!(labels.len(), ALL.len());
    }
}
