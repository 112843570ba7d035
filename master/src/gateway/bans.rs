//! The IP bans in force across the cluster: plain data, no I/O.
//!
//! A ban reported by one slave (or set by an operator) is shared with every
//! slave, and remembered until it ends so that a slave connecting later gets
//! it right after its Welcome. Every change (a ban, or the lifting of one)
//! takes the next revision number; a slave's stream keeps the revision it
//! has sent up to and asks for [`BanList::changes_after`] it, so a slave
//! that connects, or falls behind during a burst, catches up from the list
//! itself rather than from a queue that could overflow.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tos_pool_proto::v1::{Ban, BanReport, Unban};

/// Most IPs remembered (bans and lifted bans together); when full, the one
/// that ends first is forgotten to make room (slaves that already have it
/// keep enforcing it until it ends).
pub const MAX_BANS: usize = 100_000;

/// How long the lifting of a ban the master did not know (a slave's own, or
/// one from before a master restart) is remembered for slaves that connect
/// later, ms. Ban durations are far shorter than this by default.
pub const UNKNOWN_UNBAN_KEEP_MS: u64 = 24 * 60 * 60 * 1_000;

/// A change every slave must learn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanChange {
    /// Ban this IP until `until_ms`.
    Ban(Ban),
    /// Lift the ban on this IP.
    Unban(Unban),
}

/// One IP's latest change, its revision and when it stops mattering.
#[derive(Debug, Clone)]
struct Entry {
    change: BanChange,
    /// The ban's end; for a lifted ban, the end of the ban it lifted (after
    /// it a slave has forgotten the ban anyway).
    until_ms: u64,
    revision: u64,
}

/// Bans in force and recently lifted, keyed by IP, with two indices: by
/// revision (what changed after a point) and by end (what to forget).
#[derive(Debug, Default)]
pub struct BanList {
    entries: HashMap<String, Entry>,
    by_revision: BTreeMap<u64, String>,
    by_end: BTreeSet<(u64, String)>,
    revision: u64,
}

impl BanList {
    /// Records a slave's report; returns the ban to send to every slave, or
    /// `None` when the report is empty or adds nothing to a longer ban on the
    /// same IP.
    pub fn report(&mut self, report: &BanReport, now_ms: u64) -> Option<Ban> {
        let ip = report.ip.trim();
        if ip.is_empty() || report.duration_ms == 0 {
            return None;
        }
        self.prune(now_ms);
        let ban = Ban {
            ip: ip.to_owned(),
            reason: report.reason.clone(),
            until_ms: now_ms.saturating_add(report.duration_ms),
        };
        if let Some(Entry {
            change: BanChange::Ban(known),
            ..
        }) = self.entries.get(ip)
            && known.until_ms >= ban.until_ms
        {
            return None;
        }
        let until_ms = ban.until_ms;
        self.set(ip, BanChange::Ban(ban.clone()), until_ms);
        Some(ban)
    }

    /// Lifts the ban on `ip` (an operator did); returns whether there was
    /// one in force. Lifting a lifted ban again changes nothing. The lifting is remembered until the ban would have
    /// ended (or [`UNKNOWN_UNBAN_KEEP_MS`] for a ban the master did not know),
    /// so slaves that connect later lift it too.
    pub fn remove(&mut self, ip: &str, now_ms: u64) -> bool {
        let ip = ip.trim();
        if ip.is_empty() {
            return false;
        }
        self.prune(now_ms);
        let known = match self.entries.get(ip) {
            Some(Entry {
                change: BanChange::Ban(ban),
                ..
            }) => Some(ban.until_ms),
            // Already lifted, and remembered: slaves have it or will get it.
            Some(_) => return false,
            None => None,
        };
        let until_ms = known.unwrap_or_else(|| now_ms.saturating_add(UNKNOWN_UNBAN_KEEP_MS));
        let unban = Unban { ip: ip.to_owned() };
        self.set(ip, BanChange::Unban(unban), until_ms);
        known.is_some()
    }

    /// The bans still in force at `now_ms`, by IP, forgetting those that
    /// ended.
    pub fn active(&mut self, now_ms: u64) -> Vec<Ban> {
        self.prune(now_ms);
        let mut bans: Vec<Ban> = self
            .entries
            .values()
            .filter_map(|entry| match &entry.change {
                BanChange::Ban(ban) => Some(ban.clone()),
                BanChange::Unban(_) => None,
            })
            .collect();
        bans.sort_by(|a, b| a.ip.cmp(&b.ip));
        bans
    }

    /// The revision of the latest change (0 before any).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Up to `max` changes made after revision `after` that still matter at
    /// `now_ms`, oldest first, with the revision to ask after next time. A
    /// stream that starts from 0 gets every ban in force and every lifting
    /// still remembered; an IP changed twice is sent once, as it is now.
    pub fn changes_after(&mut self, after: u64, now_ms: u64, max: usize) -> (Vec<BanChange>, u64) {
        self.prune(now_ms);
        let mut changes = Vec::new();
        let mut next = after;
        for (revision, ip) in self.by_revision.range(after.saturating_add(1)..) {
            if changes.len() == max {
                return (changes, next);
            }
            if let Some(entry) = self.entries.get(ip) {
                changes.push(entry.change.clone());
            }
            next = *revision;
        }
        (changes, next.max(self.revision))
    }

    /// IPs remembered (bans and lifted bans).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn set(&mut self, ip: &str, change: BanChange, until_ms: u64) {
        if self.entries.len() >= MAX_BANS && !self.entries.contains_key(ip) {
            let first_to_end = self.by_end.first().map(|(_, ip)| ip.clone());
            if let Some(first) = first_to_end {
                self.forget(&first);
            }
        }
        self.forget(ip);
        self.revision += 1;
        let revision = self.revision;
        self.by_revision.insert(revision, ip.to_owned());
        self.by_end.insert((until_ms, ip.to_owned()));
        self.entries.insert(
            ip.to_owned(),
            Entry {
                change,
                until_ms,
                revision,
            },
        );
    }

    fn forget(&mut self, ip: &str) {
        if let Some(entry) = self.entries.remove(ip) {
            self.by_revision.remove(&entry.revision);
            self.by_end.remove(&(entry.until_ms, ip.to_owned()));
        }
    }

    /// Forgets what ended at or before `now_ms`: a slave's own list drops
    /// an ended ban by itself, so nothing needs to be sent for it.
    fn prune(&mut self, now_ms: u64) {
        while let Some((until_ms, ip)) = self.by_end.first().cloned() {
            if until_ms > now_ms {
                break;
            }
            self.forget(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ip: &str, duration_ms: u64) -> BanReport {
        BanReport {
            ip: ip.to_owned(),
            reason: "invalid share ratio".to_owned(),
            duration_ms,
            address: None,
        }
    }

    fn ips(changes: &[BanChange]) -> Vec<String> {
        changes
            .iter()
            .map(|change| match change {
                BanChange::Ban(ban) => format!("+{}", ban.ip),
                BanChange::Unban(unban) => format!("-{}", unban.ip),
            })
            .collect()
    }

    #[test]
    fn a_report_becomes_a_ban_until_it_ends() {
        let mut bans = BanList::default();
        let ban = bans
            .report(&report("10.0.0.1", 60_000), 1_000)
            .expect("new ban");
        assert_eq!(ban.until_ms, 61_000);
        assert_eq!(bans.active(60_999), vec![ban]);
        assert!(bans.active(61_000).is_empty());
        assert!(bans.is_empty(), "an ended ban is forgotten");
    }

    #[test]
    fn a_shorter_or_empty_report_adds_nothing() {
        let mut bans = BanList::default();
        assert!(bans.report(&report("10.0.0.1", 60_000), 0).is_some());
        assert!(bans.report(&report("10.0.0.1", 30_000), 0).is_none());
        assert!(bans.report(&report("10.0.0.1", 90_000), 0).is_some());
        assert!(bans.report(&report(" ", 90_000), 0).is_none());
        assert!(bans.report(&report("10.0.0.2", 0), 0).is_none());
        assert_eq!(bans.active(0).len(), 1);
        assert_eq!(bans.revision(), 2);
    }

    #[test]
    fn a_removed_ban_is_gone_and_its_lifting_is_remembered() {
        let mut bans = BanList::default();
        assert!(bans.report(&report("10.0.0.1", 60_000), 0).is_some());
        assert!(bans.remove("10.0.0.1", 0));
        assert!(!bans.remove("10.0.0.1", 0));
        assert!(bans.active(0).is_empty());
        let (changes, _) = bans.changes_after(0, 0, 10);
        assert_eq!(ips(&changes), ["-10.0.0.1"]);
        // The lifting lasts as long as the ban would have.
        assert_eq!(bans.changes_after(0, 60_000, 10).0, []);
        assert!(bans.report(&report("10.0.0.1", 30_000), 0).is_some());
    }

    #[test]
    fn lifting_an_unknown_ban_is_remembered_for_a_day() {
        let mut bans = BanList::default();
        assert!(!bans.remove("10.0.0.9", 5));
        assert_eq!(ips(&bans.changes_after(0, 5, 10).0), ["-10.0.0.9"]);
        assert!(
            bans.changes_after(0, 5 + UNKNOWN_UNBAN_KEEP_MS, 10)
                .0
                .is_empty()
        );
    }

    #[test]
    fn changes_come_in_revision_order_in_chunks_and_each_ip_once() {
        let mut bans = BanList::default();
        for i in 0..5 {
            bans.report(&report(&format!("10.0.0.{i}"), 60_000), 0);
        }
        // 10.0.0.1 is banned longer: it moves to the end, once.
        bans.report(&report("10.0.0.1", 90_000), 0);
        let (first, cursor) = bans.changes_after(0, 0, 2);
        assert_eq!(ips(&first), ["+10.0.0.0", "+10.0.0.2"]);
        let (rest, cursor) = bans.changes_after(cursor, 0, 10);
        assert_eq!(ips(&rest), ["+10.0.0.3", "+10.0.0.4", "+10.0.0.1"]);
        assert_eq!(cursor, bans.revision());
        assert_eq!(bans.changes_after(cursor, 0, 10), (vec![], cursor));
        bans.remove("10.0.0.3", 0);
        assert_eq!(ips(&bans.changes_after(cursor, 0, 10).0), ["-10.0.0.3"]);
    }

    #[test]
    fn a_full_list_forgets_the_ban_that_ends_first() {
        let mut bans = BanList::default();
        for i in 0..MAX_BANS as u64 {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff);
            bans.report(&report(&ip, 1_000 + i), 0);
        }
        assert_eq!(bans.len(), MAX_BANS);
        bans.report(&report("192.0.2.1", 10_000_000), 0);
        assert_eq!(bans.len(), MAX_BANS);
        let active = bans.active(0);
        assert!(active.iter().all(|ban| ban.ip != "10.0.0.0"));
        assert!(active.iter().any(|ban| ban.ip == "192.0.2.1"));
    }
}
