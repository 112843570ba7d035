//! Bans the master shares with every slave. The link writes them; the policy
//! layer reads them when a miner connects (and may watch for new ones to
//! close open connections).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::RwLock;

use tokio::sync::broadcast;

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

/// The bans received from the master, keyed by IP.
#[derive(Debug)]
pub struct BanList {
    bans: RwLock<HashMap<IpAddr, BanEntry>>,
    changes: broadcast::Sender<BanChange>,
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
        }
    }

    /// Records a ban (replacing an older one on the same IP).
    pub fn ban(&self, ip: IpAddr, entry: BanEntry) {
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

    /// The ban on `ip` still in force at `now_ms`, if any.
    pub fn check(&self, ip: IpAddr, now_ms: u64) -> Option<BanEntry> {
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
