//! The decisions the driver makes around the session core, as plain code
//! with no I/O and no clock of its own: the per-connection share rate, trust
//! sampling, what a share the master link could not take becomes, which
//! slave counter a verdict goes to, and whether a session is banned after a
//! share. [`super::driver`] only carries them out.

use crate::policy::{BanReason, PolicyConfig, ShareRate, judge_shares};
use crate::session::{PendingShare, SessionCounters, Verdict};
use crate::validation::{HashDecision, TrustConfig, TrustPolicy};

use super::counters::Counter;

/// One connection's share rate and trust.
#[derive(Debug, Clone)]
pub struct ShareGate {
    rate: ShareRate,
    trust: TrustPolicy,
}

impl ShareGate {
    /// A gate for a connection opened at `now_ms`, allowing
    /// `max_shares_per_second` (0 = unlimited).
    pub fn new(max_shares_per_second: u32, trust: TrustConfig, now_ms: u64) -> ShareGate {
        ShareGate {
            rate: ShareRate::new(max_shares_per_second, now_ms),
            trust: TrustPolicy::new(trust),
        }
    }

    /// A submit arrived at `now_ms`: refused with [`Verdict::RateLimited`]
    /// when the connection is over its rate (the session never sees it).
    pub fn admit(&mut self, now_ms: u64) -> Result<(), Verdict> {
        if self.rate.allow(now_ms) {
            Ok(())
        } else {
            Err(Verdict::RateLimited)
        }
    }

    /// Whether `share` must be hashed, given a uniform random `roll` in
    /// `[0, 1)` for trust sampling.
    pub fn hashing(&self, share: &PendingShare, roll: f64) -> HashDecision {
        self.trust
            .decide(share.difficulty(), share.network_difficulty(), roll)
    }

    /// A hashed share was judged: a valid one builds trust, any other
    /// resets it. Shares credited unhashed are not recorded.
    pub fn hashed(&mut self, verdict: Verdict) {
        self.trust.record(verdict.is_valid());
    }
}

/// The verdict once the master link has answered: a valid share it could not
/// take is not recorded, so the miner is told the pool is busy.
pub fn recorded(verdict: Verdict, taken: bool) -> Verdict {
    if verdict.is_valid() && !taken {
        Verdict::PoolBusy
    } else {
        verdict
    }
}

/// The slave counter a final verdict adds to, if any (refusals before login
/// and unchecked shares are in no share count).
pub fn counter(verdict: Verdict) -> Option<Counter> {
    Some(match verdict {
        Verdict::Accepted | Verdict::Block => Counter::Valid,
        Verdict::Stale => Counter::Stale,
        Verdict::UnknownJob
        | Verdict::Duplicate
        | Verdict::LowDifficulty
        | Verdict::TooManyForJob
        | Verdict::WrongSession => Counter::Invalid,
        Verdict::PoolBusy => Counter::Busy,
        Verdict::RateLimited => Counter::RateLimited,
        Verdict::Unauthorized | Verdict::NotSubscribed | Verdict::Unchecked => return None,
    })
}

/// Whether the session is banned after a share so judged: on its
/// invalid-share ratio, once the session has judged enough shares. A share
/// refused by the rate limit was never judged and bans nothing.
pub fn ban_after(
    verdict: Verdict,
    counters: &SessionCounters,
    policy: &PolicyConfig,
) -> Option<BanReason> {
    if verdict == Verdict::RateLimited {
        return None;
    }
    judge_shares(counters, policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust_off() -> TrustConfig {
        TrustConfig {
            threshold: 0,
            check_percent: 100.0,
            block_reach: TrustConfig::DEFAULT_BLOCK_REACH,
        }
    }

    #[test]
    fn the_rate_refuses_past_its_budget_and_refills() {
        let mut gate = ShareGate::new(2, trust_off(), 1_000);
        assert_eq!(gate.admit(1_000), Ok(()));
        assert_eq!(gate.admit(1_000), Ok(()));
        assert_eq!(gate.admit(1_000), Err(Verdict::RateLimited));
        assert_eq!(gate.admit(1_500), Ok(()));
        let mut unlimited = ShareGate::new(0, trust_off(), 1_000);
        assert!((0..10_000).all(|_| unlimited.admit(1_000).is_ok()));
    }

    #[test]
    fn only_a_valid_share_the_link_refused_turns_busy() {
        assert_eq!(recorded(Verdict::Accepted, false), Verdict::PoolBusy);
        assert_eq!(recorded(Verdict::Block, false), Verdict::PoolBusy);
        assert_eq!(recorded(Verdict::Accepted, true), Verdict::Accepted);
        assert_eq!(recorded(Verdict::Stale, false), Verdict::Stale);
    }

    #[test]
    fn verdicts_go_to_their_counters() {
        assert_eq!(counter(Verdict::Block), Some(Counter::Valid));
        assert_eq!(counter(Verdict::UnknownJob), Some(Counter::Invalid));
        assert_eq!(counter(Verdict::TooManyForJob), Some(Counter::Invalid));
        assert_eq!(counter(Verdict::PoolBusy), Some(Counter::Busy));
        assert_eq!(counter(Verdict::RateLimited), Some(Counter::RateLimited));
        assert_eq!(counter(Verdict::Unauthorized), None);
    }

    #[test]
    fn bans_follow_the_ratio_but_never_the_rate_limit() {
        let policy = PolicyConfig {
            ban_invalid_percent: 50.0,
            ban_check_window: 4,
            ..PolicyConfig::default()
        };
        let bad = SessionCounters {
            valid: 1,
            low_difficulty: 3,
            ..SessionCounters::default()
        };
        assert_eq!(
            ban_after(Verdict::LowDifficulty, &bad, &policy),
            Some(BanReason::InvalidShares)
        );
        assert_eq!(ban_after(Verdict::RateLimited, &bad, &policy), None);
        let good = SessionCounters {
            valid: 3,
            low_difficulty: 1,
            ..SessionCounters::default()
        };
        assert_eq!(ban_after(Verdict::Accepted, &good, &policy), None);
    }

    #[test]
    fn trust_builds_on_hashed_valid_shares_and_resets_on_others() {
        let trust = TrustConfig {
            threshold: 2,
            ..trust_off()
        };
        let mut gate = ShareGate::new(0, trust, 0);
        gate.hashed(Verdict::Accepted);
        gate.hashed(Verdict::Accepted);
        assert!(gate.trust.is_trusted());
        gate.hashed(Verdict::LowDifficulty);
        assert!(!gate.trust.is_trusted());
    }
}
