//! Per-session tallies the policy layer reads (ban on invalid-share ratio or
//! malformed requests, trust mode) and the stats add up.

use super::verdict::Verdict;

/// What a session has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Valid shares.
    pub valid: u64,
    /// Shares for a job older than the backlog (21 "stale share").
    pub stale: u64,
    /// Duplicate shares (22).
    pub duplicate: u64,
    /// Shares whose hash missed the share target (23).
    pub low_difficulty: u64,
    /// Shares refused for another reason: a job the pool never issued (21
    /// "job not found"), too many for one job or another session's (20).
    pub other_rejected: u64,
    /// Requests refused as unauthorized or not subscribed (24, 25), failed
    /// logins included.
    pub unauthorized: u64,
    /// Requests the codec could not read (bad JSON, unknown method), counted
    /// by the connection through [`Session::count_malformed`](super::Session::count_malformed).
    pub malformed: u64,
    /// Blocks found.
    pub blocks: u64,
    /// Valid shares since the last refused share (trust mode).
    pub consecutive_valid: u64,
}

impl SessionCounters {
    /// Counts one share the session judged: this is where a verdict is
    /// sorted into the invalid-share ban's count ([`SessionCounters::invalid`]:
    /// jobs the pool never issued, duplicates, low difficulty and the other
    /// refusals; stale shares are latency, not cheating). Verdicts the session does not
    /// give (rate limit, pool busy, unchecked) are the driver's and are not
    /// counted here.
    pub fn count(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Accepted | Verdict::Block => {
                self.valid += 1;
                self.consecutive_valid += 1;
                if verdict == Verdict::Block {
                    self.blocks += 1;
                }
                return;
            }
            Verdict::Stale => {
                // Latency, not the miner's fault: the valid streak goes on.
                self.stale += 1;
                return;
            }
            Verdict::Duplicate => self.duplicate += 1,
            Verdict::LowDifficulty => self.low_difficulty += 1,
            Verdict::UnknownJob | Verdict::TooManyForJob | Verdict::WrongSession => {
                self.other_rejected += 1
            }
            Verdict::Unauthorized | Verdict::NotSubscribed => self.unauthorized += 1,
            Verdict::RateLimited | Verdict::PoolBusy | Verdict::Unchecked => return,
        }
        self.consecutive_valid = 0;
    }

    /// Shares that count against the miner for the invalid-share ban:
    /// duplicate, low difficulty and other refusals. Stale shares are left
    /// out: they come from latency, not from cheating.
    pub fn invalid(&self) -> u64 {
        self.duplicate + self.low_difficulty + self.other_rejected
    }

    /// Every share judged so far, valid or not.
    pub fn shares(&self) -> u64 {
        self.valid + self.stale + self.invalid()
    }
}
