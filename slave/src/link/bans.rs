//! Bans the master shares with every slave, and the operator's runtime
//! access lists (the admin API's blacklist of addresses and whitelist of
//! IPs). The link writes them; the policy layer reads them when a miner
//! connects (and may watch for new ones to close open connections), the
//! session driver when a miner logs in or submits.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::RwLock;

use tokio::sync::broadcast;
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;

use crate::server::proxy::TrustedProxies;

/// One ban in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanEntry {
    /// Why, for logs and the miner's error message.
    pub reason: String,
    /// When the ban ends, ms since the Unix epoch.
    pub until_ms: u64,
}

/// A change to the ban list, for listeners that close banned connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanChange {
    /// `ip` is banned until `entry.until_ms`.
    Banned {
        /// The banned address.
        ip: IpAddr,
        /// The ban.
        entry: BanEntry,
    },
    /// The ban on `ip` was lifted.
    Lifted {
        /// The address.
        ip: IpAddr,
    },
}

/// The operator's runtime access lists as the slave applies them.
#[derive(Debug, Default)]
struct AccessLists {
    /// Public keys of the blacklisted addresses.
    blacklist: HashSet<[u8; 32]>,
    /// IPs and networks never banned.
    whitelist: TrustedProxies,
    /// Whether the whitelist has any entry.
    whitelist_in_use: bool,
}

/// The bans received from the master, keyed by IP, and the runtime access
/// lists.
#[derive(Debug)]
pub struct BanList {
    bans: RwLock<HashMap<IpAddr, BanEntry>>,
    changes: broadcast::Sender<BanChange>,
    access: RwLock<AccessLists>,
}

impl Default for BanList {
    fn default() -> Self {
        BanList::new()
    }
}

impl BanList {
    /// An empty list.
    pub fn new() -> BanList {
        let (changes, _) = broadcast::channel(256);
        BanList {
            bans: RwLock::new(HashMap::new()),
            changes,
            access: RwLock::new(AccessLists::default()),
        }
    }

    /// Replaces the runtime access lists with the master's: `blacklist`
    /// of addresses (compared by public key; the master checked their
    /// network, unreadable ones are skipped with a warning), `whitelist` of
    /// IPs and CIDRs. Bans already recorded on a whitelisted IP are lifted.
    pub fn set_access(&self, blacklist: &[String], whitelist: &[String]) {
        let keys = blacklist
            .iter()
            .filter_map(|text| {
                let text = text.trim();
                match Address::parse(text, Network::Mainnet)
                    .or_else(|_| Address::parse(text, Network::Testnet))
                {
                    Ok(address) => Some(address.public_key()),
                    Err(error) => {
                        tracing::warn!(address = %text, %error, "unreadable blacklisted address; ignored");
                        None
                    }
                }
            })
            .collect();
        let lists = AccessLists {
            blacklist: keys,
            whitelist: TrustedProxies::new(whitelist),
            whitelist_in_use: !whitelist.is_empty(),
        };
        *self
            .access
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = lists;
        let lifted: Vec<IpAddr> = self
            .write()
            .keys()
            .copied()
            .filter(|ip| self.is_whitelisted(*ip))
            .collect();
        for ip in lifted {
            self.lift(ip);
        }
        tracing::info!(
            blacklist = blacklist.len(),
            whitelist = whitelist.len(),
            "runtime access lists from the master"
        );
    }

    /// Whether `address` is on the runtime blacklist.
    pub fn is_blacklisted(&self, address: &Address) -> bool {
        self.access
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .blacklist
            .contains(&address.public_key())
    }

    /// Whether `ip` is on the runtime whitelist (never banned).
    pub fn is_whitelisted(&self, ip: IpAddr) -> bool {
        let access = self
            .access
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        access.whitelist_in_use && access.whitelist.contains(ip)
    }

    /// Records a ban (replacing an older one on the same IP); a ban on a
    /// whitelisted IP is not recorded.
    pub fn ban(&self, ip: IpAddr, entry: BanEntry) {
        if self.is_whitelisted(ip) {
            tracing::debug!(%ip, reason = %entry.reason, "ban of a whitelisted IP ignored");
            return;
        }
        self.write().insert(ip, entry.clone());
        // Nobody listening is fine: the list itself is the record.
        let _ = self.changes.send(BanChange::Banned { ip, entry });
    }

    /// Lifts the ban on `ip`; true when there was one.
    pub fn lift(&self, ip: IpAddr) -> bool {
        let removed = self.write().remove(&ip).is_some();
        let _ = self.changes.send(BanChange::Lifted { ip });
        removed
    }

    /// The ban on `ip` still in force at `now_ms`, if any (never on a
    /// whitelisted IP).
    pub fn check(&self, ip: IpAddr, now_ms: u64) -> Option<BanEntry> {
        if self.is_whitelisted(ip) {
            return None;
        }
        let bans = self
            .bans
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        bans.get(&ip)
            .filter(|entry| entry.until_ms > now_ms)
            .cloned()
    }

    /// Forgets bans that ended before `now_ms`; returns how many.
    pub fn prune(&self, now_ms: u64) -> usize {
        let mut bans = self.write();
        let before = bans.len();
        bans.retain(|_, entry| entry.until_ms > now_ms);
        before - bans.len()
    }

    /// Bans on the list (some may have ended but not been pruned yet).
    pub fn len(&self) -> usize {
        self.bans
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// True when no ban is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// New bans and lifted bans from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BanChange> {
        self.changes.subscribe()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<IpAddr, BanEntry>> {
        // A panic elsewhere while holding the lock leaves a plain map behind;
        // its content is still usable.
        self.bans
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn entry(until_ms: u64) -> BanEntry {
        BanEntry {
            reason: "invalid share ratio".to_owned(),
            until_ms,
        }
    }

    #[test]
    fn a_ban_holds_until_it_ends() {
        let list = BanList::new();
        list.ban(ip("10.0.0.1"), entry(1_000));
        assert_eq!(list.check(ip("10.0.0.1"), 999), Some(entry(1_000)));
        assert_eq!(list.check(ip("10.0.0.1"), 1_000), None);
        assert_eq!(list.check(ip("10.0.0.2"), 0), None);
    }

    #[test]
    fn lifting_and_pruning_remove_bans() {
        let list = BanList::new();
        list.ban(ip("10.0.0.1"), entry(1_000));
        list.ban(ip("::1"), entry(5_000));
        assert_eq!(list.prune(2_000), 1);
        assert_eq!(list.len(), 1);
        assert!(list.lift(ip("::1")));
        assert!(!list.lift(ip("::1")));
        assert!(list.is_empty());
    }

    #[test]
    fn the_runtime_lists_block_addresses_and_spare_ips() {
        let list = BanList::new();
        list.ban(ip("10.0.0.7"), entry(5_000));
        let blocked = Address::new([3; 32], Network::Devnet);
        let other = Address::new([4; 32], Network::Devnet);
        list.set_access(
            &[blocked.to_string(), "tos1bogus".to_owned()],
            &["10.0.0.0/24".to_owned()],
        );
        assert!(list.is_blacklisted(&blocked));
        assert!(!list.is_blacklisted(&other));
        // The ban in force on a whitelisted IP is lifted; new ones are not kept.
        assert_eq!(list.check(ip("10.0.0.7"), 0), None);
        list.ban(ip("10.0.0.8"), entry(5_000));
        assert_eq!(list.check(ip("10.0.0.8"), 0), None);
        list.ban(ip("10.0.1.1"), entry(5_000));
        assert_eq!(list.check(ip("10.0.1.1"), 0), Some(entry(5_000)));
        // A new list replaces the old one whole.
        list.set_access(&[], &[]);
        assert!(!list.is_blacklisted(&blocked));
        list.ban(ip("10.0.0.8"), entry(5_000));
        assert_eq!(list.check(ip("10.0.0.8"), 0), Some(entry(5_000)));
    }

    #[test]
    fn changes_are_announced() {
        let list = BanList::new();
        let mut changes = list.subscribe();
        list.ban(ip("10.0.0.1"), entry(1_000));
        list.lift(ip("10.0.0.1"));
        assert_eq!(
            changes.try_recv().unwrap(),
            BanChange::Banned {
                ip: ip("10.0.0.1"),
                entry: entry(1_000)
            }
        );
        assert_eq!(
            changes.try_recv().unwrap(),
            BanChange::Lifted { ip: ip("10.0.0.1") }
        );
    }
}
