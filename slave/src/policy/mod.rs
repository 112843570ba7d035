//! Connection and abuse policy (`security.*`): connections per IP, shares per
//! second per connection, bans for an invalid-share ratio and for malformed
//! requests and the request size limit. The first-message and idle deadlines
//! are the session core's clock, and the address black/white lists its
//! [`crate::session::AddressPolicy`].
//!
//! The decisions are pure ([`judge`], [`rate`], [`ip_key`]); [`Policy`] is
//! the thin shared layer that keeps per-IP tallies, records bans in the link's
//! [`BanList`] (which also holds the bans the master shares) and reports this
//! slave's bans to the master so every slave applies them.
//!
//! "Per IP" means per [`ip_key`]: an IPv4 address, or the IPv6 network of
//! `security.ipv6_prefix` bits (a /64 by default), since one host holds a
//! whole /64. A ban reaches only the connections it names: each IP's
//! connections share one [`watch`] of its ban, so a ban wakes those and no
//! other session.

pub mod judge;
pub mod rate;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tos_pool_common::config::SecurityConfig;
use tos_pool_proto::v1::BanReport;

use crate::link::{BanChange, BanEntry, BanList, LinkHandle};

pub use judge::{
    BanReason, Refusal, admit_connection, admit_to_slave, judge_malformed, judge_shares,
};
pub use rate::ShareRate;

/// The `security` settings the policy applies.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// Open connections allowed on the slave (0 = unlimited).
    pub max_connections: u32,
    /// Open connections allowed per IP (0 = unlimited).
    pub max_connections_per_ip: u32,
    /// IPv6 prefix length that counts as one IP.
    pub ipv6_prefix: u8,
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
            max_connections: security.max_connections,
            max_connections_per_ip: security.max_connections_per_ip,
            ipv6_prefix: security.ipv6_prefix,
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

/// The address that stands for `ip` in limits, counts and bans: an IPv4
/// address itself (an IPv4-mapped IPv6 one as IPv4), an IPv6 address's
/// network of `ipv6_prefix` bits (host bits zero).
pub fn ip_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
    }
}

#[derive(Debug)]
struct IpTally {
    connections: u32,
    malformed: u32,
    /// The ban of this IP, for its open connections (`None`: not banned).
    ban: watch::Sender<Option<String>>,
}

impl Default for IpTally {
    fn default() -> Self {
        IpTally {
            connections: 0,
            malformed: 0,
            ban: watch::Sender::new(None),
        }
    }
}

#[derive(Debug, Default)]
struct Tallies {
    /// Open connections, all IPs together.
    open: u32,
    ips: HashMap<IpAddr, IpTally>,
}

/// The slave-wide policy state, shared by every listener and connection.
#[derive(Debug)]
pub struct Policy {
    config: PolicyConfig,
    tallies: Mutex<Tallies>,
    bans: Arc<BanList>,
    link: Option<LinkHandle>,
}

impl Policy {
    /// A policy recording bans in `bans` and reporting them through `link`.
    pub fn new(config: PolicyConfig, bans: Arc<BanList>, link: Option<LinkHandle>) -> Policy {
        Policy {
            config,
            tallies: Mutex::new(Tallies::default()),
            bans,
            link,
        }
    }

    /// The address `ip` counts as (see [`ip_key`]).
    pub fn key(&self, ip: IpAddr) -> IpAddr {
        ip_key(ip, self.config.ipv6_prefix)
    }

    /// Whether `ip` is banned at `now_ms`, and how.
    pub fn banned(&self, ip: IpAddr, now_ms: u64) -> Option<BanEntry> {
        self.bans.check(self.key(ip), now_ms)
    }

    /// Starts the task that hands each ban in the list (this slave's or the
    /// master's) to the open connections of the IP it names, and to no
    /// other; it ends with the ban list's last sender.
    pub fn route_bans(self: &Arc<Self>) {
        let policy = Arc::downgrade(self);
        let mut changes = self.bans.subscribe();
        tokio::spawn(async move {
            loop {
                let change = changes.recv().await;
                let Some(policy) = policy.upgrade() else {
                    return;
                };
                match change {
                    Ok(BanChange::Banned { ip, entry }) => {
                        // A ban of one IPv6 address (from an operator, say)
                        // holds for its whole network, like this slave's own.
                        let key = policy.key(ip);
                        if key != ip {
                            policy.bans.ban(key, entry.clone());
                        }
                        policy.tell(key, &entry);
                    }
                    Ok(BanChange::Lifted { .. }) => {}
                    // Missed some: check every open IP against the list.
                    Err(RecvError::Lagged(_)) => policy.recheck(tos_pool_common::clock::unix_ms()),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// Tells the open connections of `key` that it is banned.
    fn tell(&self, key: IpAddr, entry: &BanEntry) {
        if let Some(tally) = self.tallies().ips.get(&key) {
            tally.ban.send_replace(Some(entry.reason.clone()));
        }
    }

    fn recheck(&self, now_ms: u64) {
        let tallies = self.tallies();
        for (ip, tally) in &tallies.ips {
            if let Some(ban) = self.bans.check(*ip, now_ms) {
                tally.ban.send_replace(Some(ban.reason));
            }
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
        let key = self.key(ip);
        let mut tallies = self.tallies();
        // Checked under the lock the ban router takes too: a ban either is
        // in the list here or reaches the permit's watch.
        if let Some(ban) = self.bans.check(key, now_ms) {
            return Err(Refusal::Banned {
                reason: ban.reason,
                until_ms: ban.until_ms,
            });
        }
        admit_to_slave(tallies.open, &self.config)?;
        let tally = tallies.ips.entry(key).or_default();
        if let Err(refusal) = admit_connection(tally.connections, &self.config) {
            if tally.connections == 0 {
                tallies.ips.remove(&key);
            }
            return Err(refusal);
        }
        tally.connections += 1;
        let ban = tally.ban.subscribe();
        tallies.open += 1;
        Ok(ConnectionPermit {
            policy: Arc::clone(self),
            ip,
            key,
            ban,
        })
    }

    /// Counts a malformed request from `ip`; bans it at the limit.
    pub fn malformed(&self, ip: IpAddr, now_ms: u64) -> Option<BanReason> {
        let count = {
            let mut tallies = self.tallies();
            let tally = tallies.ips.entry(self.key(ip)).or_default();
            tally.malformed = tally.malformed.saturating_add(1);
            tally.malformed
        };
        let reason = judge_malformed(count, &self.config)?;
        if self.bans.is_whitelisted(ip) {
            return None;
        }
        self.ban(ip, reason, None, now_ms);
        Some(reason)
    }

    /// Bans `ip` (its [`ip_key`]) for `security.ban_duration`: recorded
    /// here (every connection from it closes) and reported to the master.
    pub fn ban(&self, ip: IpAddr, reason: BanReason, address: Option<String>, now_ms: u64) {
        // The operator's whitelist: such an IP is never banned, here or
        // through the master.
        if self.bans.is_whitelisted(ip) {
            tracing::debug!(%ip, reason = reason.as_str(), "not banning a whitelisted IP");
            return;
        }
        let ip = self.key(ip);
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
        if let Some(tally) = self.tallies().ips.get_mut(&ip) {
            tally.malformed = 0;
        }
    }

    /// Open connections from `ip` (its [`ip_key`]).
    pub fn connections(&self, ip: IpAddr) -> u32 {
        self.tallies()
            .ips
            .get(&self.key(ip))
            .map_or(0, |tally| tally.connections)
    }

    /// Open connections on the slave.
    pub fn open_connections(&self) -> u32 {
        self.tallies().open
    }

    fn release(&self, key: IpAddr) {
        let mut tallies = self.tallies();
        tallies.open = tallies.open.saturating_sub(1);
        if let Some(tally) = tallies.ips.get_mut(&key) {
            tally.connections = tally.connections.saturating_sub(1);
            if tally.connections == 0 {
                tallies.ips.remove(&key);
            }
        }
    }

    fn tallies(&self) -> MutexGuard<'_, Tallies> {
        // The map holds plain counters: usable even after a panic elsewhere.
        self.tallies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One admitted connection; releases its slot when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    policy: Arc<Policy>,
    ip: IpAddr,
    key: IpAddr,
    ban: watch::Receiver<Option<String>>,
}

impl ConnectionPermit {
    /// The connection's IP.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The ban of this connection's IP: changes to `Some(reason)` when it is
    /// banned, and for no other IP's ban.
    pub fn ban(&self) -> watch::Receiver<Option<String>> {
        self.ban.clone()
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.policy.release(self.key);
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

    #[test]
    fn ipv6_addresses_count_per_prefix_and_ipv4_one_by_one() {
        let v6 = ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
        assert_eq!(ip_key(v6, 64), ip("2001:db8:1:2::"));
        assert_eq!(ip_key(v6, 48), ip("2001:db8:1::"));
        assert_eq!(ip_key(v6, 128), v6);
        assert_eq!(ip_key(ip("10.1.2.3"), 64), ip("10.1.2.3"));
        assert_eq!(ip_key(ip("::ffff:10.1.2.3"), 64), ip("10.1.2.3"));
        assert_eq!(ip_key(v6, 0), ip("::"));
    }

    #[test]
    fn one_ipv6_network_shares_one_limit_and_one_ban() {
        let policy = policy(PolicyConfig {
            max_connections_per_ip: 2,
            ipv6_prefix: 64,
            ..PolicyConfig::default()
        });
        let _a = policy.admit(ip("2001:db8::1"), 0).expect("first");
        let _b = policy.admit(ip("2001:db8::2"), 0).expect("second");
        assert_eq!(
            policy.admit(ip("2001:db8::3"), 0).unwrap_err(),
            Refusal::TooManyConnections { limit: 2 }
        );
        assert!(
            policy.admit(ip("2001:db8:0:1::1"), 0).is_ok(),
            "another /64"
        );
        policy.ban(ip("2001:db8::99"), BanReason::InvalidShares, None, 0);
        assert!(matches!(
            policy.admit(ip("2001:db8::4"), 0),
            Err(Refusal::Banned { .. })
        ));
        assert!(policy.banned(ip("2001:db8::ffff"), 0).is_some());
        assert!(policy.banned(ip("2001:db8:0:1::1"), 0).is_none());
    }

    #[test]
    fn the_slave_wide_limit_counts_every_ip() {
        let policy = policy(PolicyConfig {
            max_connections: 2,
            max_connections_per_ip: 0,
            ..PolicyConfig::default()
        });
        let first = policy.admit(ip("10.0.0.1"), 0).expect("first");
        let _second = policy.admit(ip("10.0.0.2"), 0).expect("second");
        assert_eq!(
            policy.admit(ip("10.0.0.3"), 0).unwrap_err(),
            Refusal::SlaveFull { limit: 2 }
        );
        assert_eq!(policy.open_connections(), 2);
        drop(first);
        assert!(policy.admit(ip("10.0.0.3"), 0).is_ok());
    }

    #[tokio::test]
    async fn a_ban_reaches_only_the_connections_of_its_ip() {
        let bans = Arc::new(BanList::new());
        let policy = Arc::new(Policy::new(PolicyConfig::default(), bans.clone(), None));
        policy.route_bans();
        let banned = policy.admit(ip("10.0.0.1"), 0).expect("admitted");
        let neighbour = policy.admit(ip("10.0.0.2"), 0).expect("admitted");
        let (mut banned_watch, mut neighbour_watch) = (banned.ban(), neighbour.ban());
        // From the master, through the list; and one from this slave.
        bans.ban(
            ip("10.0.0.1"),
            BanEntry {
                reason: "shared by the master".into(),
                until_ms: u64::MAX,
            },
        );
        tokio::time::timeout(Duration::from_secs(10), banned_watch.changed())
            .await
            .expect("the ban arrives")
            .expect("the policy lives");
        assert_eq!(
            banned_watch.borrow().as_deref(),
            Some("shared by the master")
        );
        assert!(!neighbour_watch.has_changed().expect("open"));
        // One IPv6 address banned by an operator bans its /64.
        bans.ban(
            ip("2001:db8::5"),
            BanEntry {
                reason: "operator".into(),
                until_ms: u64::MAX,
            },
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while policy.admit(ip("2001:db8::6"), 0).is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the /64 is never banned"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        policy.ban(ip("10.0.0.2"), BanReason::MalformedRequests, None, 0);
        tokio::time::timeout(Duration::from_secs(10), neighbour_watch.changed())
            .await
            .expect("the ban arrives")
            .expect("the policy lives");
        assert_eq!(
            neighbour_watch.borrow().as_deref(),
            Some("malformed requests")
        );
    }
}
