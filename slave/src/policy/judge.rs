//! Pure ban and admission decisions: plain numbers in, a verdict out.

use crate::session::SessionCounters;

use super::PolicyConfig;

/// Why an IP is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanReason {
    /// Too many of its shares were invalid (`security.ban_invalid_percent`).
    InvalidShares,
    /// It sent too many malformed requests (`security.ban_malformed_requests`).
    MalformedRequests,
}

impl BanReason {
    /// The reason as reported to the master and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            BanReason::InvalidShares => "invalid share ratio",
            BanReason::MalformedRequests => "malformed requests",
        }
    }
}

/// Why a new connection is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The IP is banned (locally or by the master) until `until_ms`.
    Banned {
        /// Why.
        reason: String,
        /// End of the ban, ms since the Unix epoch.
        until_ms: u64,
    },
    /// The IP already has `security.max_connections_per_ip` connections.
    TooManyConnections {
        /// The limit.
        limit: u32,
    },
    /// The slave already has `security.max_connections` connections.
    SlaveFull {
        /// The limit.
        limit: u32,
    },
}

/// Whether one more connection is allowed on a slave with `open` connections.
pub fn admit_to_slave(open: u32, config: &PolicyConfig) -> Result<(), Refusal> {
    let limit = config.max_connections;
    if limit > 0 && open >= limit {
        return Err(Refusal::SlaveFull { limit });
    }
    Ok(())
}

/// Whether one more connection from an IP with `open` connections is allowed.
pub fn admit_connection(open: u32, config: &PolicyConfig) -> Result<(), Refusal> {
    let limit = config.max_connections_per_ip;
    if limit > 0 && open >= limit {
        return Err(Refusal::TooManyConnections { limit });
    }
    Ok(())
}

/// Whether a session's share record earns its IP a ban: judged once at least
/// `ban_check_window` shares were counted; stale shares are not held against
/// the miner (they come from latency).
pub fn judge_shares(counters: &SessionCounters, config: &PolicyConfig) -> Option<BanReason> {
    if config.ban_invalid_percent <= 0.0 {
        return None;
    }
    let judged = counters.valid + counters.invalid();
    if judged == 0 || judged < u64::from(config.ban_check_window.max(1)) {
        return None;
    }
    let percent = counters.invalid() as f64 * 100.0 / judged as f64;
    (percent >= config.ban_invalid_percent).then_some(BanReason::InvalidShares)
}

/// Whether `malformed` malformed requests from one IP earn it a ban.
pub fn judge_malformed(malformed: u32, config: &PolicyConfig) -> Option<BanReason> {
    let limit = config.ban_malformed_requests;
    (limit > 0 && malformed >= limit).then_some(BanReason::MalformedRequests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PolicyConfig {
        PolicyConfig {
            max_connections_per_ip: 2,
            ban_invalid_percent: 50.0,
            ban_check_window: 10,
            ban_malformed_requests: 3,
            ..PolicyConfig::default()
        }
    }

    #[test]
    fn connections_are_limited_per_ip() {
        assert_eq!(admit_connection(1, &config()), Ok(()));
        assert_eq!(
            admit_connection(2, &config()),
            Err(Refusal::TooManyConnections { limit: 2 })
        );
        let unlimited = PolicyConfig {
            max_connections_per_ip: 0,
            ..config()
        };
        assert_eq!(admit_connection(10_000, &unlimited), Ok(()));
    }

    fn counters(valid: u64, low: u64, stale: u64) -> SessionCounters {
        SessionCounters {
            valid,
            low_difficulty: low,
            stale,
            ..SessionCounters::default()
        }
    }

    #[test]
    fn the_invalid_ratio_is_judged_after_the_window() {
        // 9 shares, all invalid: not judged yet.
        assert_eq!(judge_shares(&counters(0, 9, 0), &config()), None);
        assert_eq!(
            judge_shares(&counters(5, 5, 0), &config()),
            Some(BanReason::InvalidShares)
        );
        assert_eq!(judge_shares(&counters(6, 4, 0), &config()), None);
        // Stale shares neither count for nor against the miner.
        assert_eq!(judge_shares(&counters(6, 4, 100), &config()), None);
        let off = PolicyConfig {
            ban_invalid_percent: 0.0,
            ..config()
        };
        assert_eq!(judge_shares(&counters(0, 100, 0), &off), None);
    }

    #[test]
    fn malformed_requests_ban_at_the_limit() {
        assert_eq!(judge_malformed(2, &config()), None);
        assert_eq!(
            judge_malformed(3, &config()),
            Some(BanReason::MalformedRequests)
        );
        let off = PolicyConfig {
            ban_malformed_requests: 0,
            ..config()
        };
        assert_eq!(judge_malformed(1_000, &off), None);
    }
}
