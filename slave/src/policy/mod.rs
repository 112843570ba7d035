//! Connection and abuse policy (`security.*`): connections per IP, shares per
//! second per connection, bans for an invalid-share ratio and for malformed
//! requests and the request size limit. The first-message and idle deadlines
//! are the session core's clock, and the address black/white lists its
//! [`crate::session::AddressPolicy`].
//!
//! The decisions are pure ([`judge`], [`rate`]); [`Policy`] is
//! the thin shared layer that keeps per-IP tallies, records bans in the link's
//! [`BanList`] (which also holds the bans the master shares) and reports this
//! slave's bans to the master so every slave applies them.

pub mod judge;
pub mod rate;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tos_pool_common::config::SecurityConfig;
use tos_pool_proto::v1::BanReport;

use crate::link::{BanEntry, BanList, LinkHandle};

pub use judge::{BanReason, Refusal, admit_connection, judge_malformed, judge_shares};
pub use rate::ShareRate;

/// The `security` settings the policy applies.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// Open connections allowed per IP (0 = unlimited).
    pub max_connections_per_ip: u32,
    /// Shares per second per connection (0 = unlimited).
    pub max_shares_per_second: u32,
    /// Invalid-share percent that bans (0 = never).
    pub ban_invalid_percent: f64,
    /// Shares judged before the ratio counts.
    pub ban_check_window: u32,
    /// Malformed requests per IP that ban (0 = never).
    pub ban_malformed_requests: u32,
    /// How long a ban lasts.
    pub ban_duration: Duration,
    /// Longest request line or frame, bytes.
    pub max_request_size: usize,
    /// Deadline for the first request.
    pub first_message_timeout: Duration,
    /// Deadline after each request.
    pub idle_timeout: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig::from_security(&SecurityConfig::default())
    }
}

impl PolicyConfig {
    /// From the config's `security` section.
    pub fn from_security(security: &SecurityConfig) -> PolicyConfig {
        PolicyConfig {
            max_connections_per_ip: security.max_connections_per_ip,
            max_shares_per_second: security.max_shares_per_second,
            ban_invalid_percent: security.ban_invalid_percent,
            ban_check_window: security.ban_check_window,
            ban_malformed_requests: security.ban_malformed_requests,
            ban_duration: security.ban_duration,
            max_request_size: security.max_request_size,
            first_message_timeout: security.first_message_timeout,
            idle_timeout: security.idle_timeout,
        }
    }
}

#[derive(Debug, Default)]
struct IpTally {
    connections: u32,
    malformed: u32,
}

/// The slave-wide policy state, shared by every listener and connection.
#[derive(Debug)]
pub struct Policy {
    config: PolicyConfig,
    ips: Mutex<HashMap<IpAddr, IpTally>>,
    bans: Arc<BanList>,
    link: Option<LinkHandle>,
}

impl Policy {
    /// A policy recording bans in `bans` and reporting them through `link`.
    pub fn new(config: PolicyConfig, bans: Arc<BanList>, link: Option<LinkHandle>) -> Policy {
        Policy {
            config,
            ips: Mutex::new(HashMap::new()),
            bans,
            link,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The ban list (local and the master's).
    pub fn bans(&self) -> &Arc<BanList> {
        &self.bans
    }

    /// Admits a new connection from `ip` at `now_ms`, or says why not. The
    /// permit counts the connection until it is dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now_ms: u64) -> Result<ConnectionPermit, Refusal> {
        if let Some(ban) = self.bans.check(ip, now_ms) {
            return Err(Refusal::Banned {
                reason: ban.reason,
                until_ms: ban.until_ms,
            });
        }
        let mut ips = self.ips();
        let tally = ips.entry(ip).or_default();
        admit_connection(tally.connections, &self.config)?;
        tally.connections += 1;
        Ok(ConnectionPermit {
            policy: Arc::clone(self),
            ip,
        })
    }

    /// Counts a malformed request from `ip`; bans it at the limit.
    pub fn malformed(&self, ip: IpAddr, now_ms: u64) -> Option<BanReason> {
        let count = {
            let mut ips = self.ips();
            let tally = ips.entry(ip).or_default();
            tally.malformed = tally.malformed.saturating_add(1);
            tally.malformed
        };
        let reason = judge_malformed(count, &self.config)?;
        self.ban(ip, reason, None, now_ms);
        Some(reason)
    }

    /// Bans `ip` for `security.ban_duration`: recorded here (every connection
    /// from it closes) and reported to the master.
    pub fn ban(&self, ip: IpAddr, reason: BanReason, address: Option<String>, now_ms: u64) {
        let duration_ms = u64::try_from(self.config.ban_duration.as_millis()).unwrap_or(u64::MAX);
        tracing::warn!(%ip, reason = reason.as_str(), duration_ms, "banning IP");
        self.bans.ban(
            ip,
            BanEntry {
                reason: reason.as_str().to_owned(),
                until_ms: now_ms.saturating_add(duration_ms),
            },
        );
        if let Some(link) = &self.link {
            link.report_ban(BanReport {
                ip: ip.to_string(),
                reason: reason.as_str().to_owned(),
                duration_ms,
                address,
            });
        }
        if let Some(tally) = self.ips().get_mut(&ip) {
            tally.malformed = 0;
        }
    }

    /// Open connections from `ip`.
    pub fn connections(&self, ip: IpAddr) -> u32 {
        self.ips().get(&ip).map_or(0, |tally| tally.connections)
    }

    fn release(&self, ip: IpAddr) {
        let mut ips = self.ips();
        if let Some(tally) = ips.get_mut(&ip) {
            tally.connections = tally.connections.saturating_sub(1);
            if tally.connections == 0 {
                ips.remove(&ip);
            }
        }
    }

    fn ips(&self) -> MutexGuard<'_, HashMap<IpAddr, IpTally>> {
        // The map holds plain counters: usable even after a panic elsewhere.
        self.ips
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One admitted connection; releases its slot when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    policy: Arc<Policy>,
    ip: IpAddr,
}

impl ConnectionPermit {
    /// The connection's IP.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.policy.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(config: PolicyConfig) -> Arc<Policy> {
        Arc::new(Policy::new(config, Arc::new(BanList::new()), None))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test IP")
    }

    #[test]
    fn permits_count_connections_until_dropped() {
        let policy = policy(PolicyConfig {
            max_connections_per_ip: 1,
            ..PolicyConfig::default()
        });
        let first = policy.admit(ip("10.0.0.1"), 0).expect("first connection");
        assert_eq!(
            policy.admit(ip("10.0.0.1"), 0).unwrap_err(),
            Refusal::TooManyConnections { limit: 1 }
        );
        assert!(policy.admit(ip("10.0.0.2"), 0).is_ok());
        drop(first);
        assert_eq!(policy.connections(ip("10.0.0.1")), 0);
        assert!(policy.admit(ip("10.0.0.1"), 0).is_ok());
    }

    #[test]
    fn malformed_requests_ban_the_ip_for_the_ban_duration() {
        let policy = policy(PolicyConfig {
            ban_malformed_requests: 2,
            ban_duration: Duration::from_secs(60),
            ..PolicyConfig::default()
        });
        assert_eq!(policy.malformed(ip("10.0.0.1"), 1_000), None);
        assert_eq!(
            policy.malformed(ip("10.0.0.1"), 1_000),
            Some(BanReason::MalformedRequests)
        );
        assert!(matches!(
            policy.admit(ip("10.0.0.1"), 60_999),
            Err(Refusal::Banned {
                until_ms: 61_000,
                ..
            })
        ));
        assert!(policy.admit(ip("10.0.0.1"), 61_000).is_ok());
        assert!(policy.admit(ip("10.0.0.2"), 1_000).is_ok());
    }

    #[test]
    fn a_ban_from_the_master_refuses_connections() {
        let bans = Arc::new(BanList::new());
        let policy = Arc::new(Policy::new(PolicyConfig::default(), bans.clone(), None));
        bans.ban(
            ip("10.0.0.9"),
            BanEntry {
                reason: "shared by the master".into(),
                until_ms: 5_000,
            },
        );
        assert!(matches!(
            policy.admit(ip("10.0.0.9"), 1_000),
            Err(Refusal::Banned { .. })
        ));
    }
}
