//! The IP bans in force across the cluster: plain data, no I/O.
//!
//! A ban reported by one slave is shared with every slave, and remembered
//! until it ends so that a slave connecting later gets it right after its
//! Welcome.

use std::collections::HashMap;

use tos_pool_proto::v1::{Ban, BanReport};

/// Most bans remembered; when full, the ban that ends first is forgotten to
/// make room (slaves that already have it keep enforcing it).
pub const MAX_BANS: usize = 100_000;

/// Bans in force, keyed by IP.
#[derive(Debug, Default)]
pub struct BanList {
    bans: HashMap<String, Ban>,
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
        let ban = Ban {
            ip: ip.to_owned(),
            reason: report.reason.clone(),
            until_ms: now_ms.saturating_add(report.duration_ms),
        };
        if self
            .bans
            .get(ip)
            .is_some_and(|known| known.until_ms >= ban.until_ms)
        {
            return None;
        }
        self.prune(now_ms);
        if self.bans.len() >= MAX_BANS && !self.bans.contains_key(ip) {
            let first_to_end = self
                .bans
                .values()
                .min_by_key(|ban| ban.until_ms)
                .map(|ban| ban.ip.clone());
            if let Some(ip) = first_to_end {
                self.bans.remove(&ip);
            }
        }
        self.bans.insert(ban.ip.clone(), ban.clone());
        Some(ban)
    }

    /// Forgets the ban on `ip` (an operator lifted it); returns whether
    /// there was one.
    pub fn remove(&mut self, ip: &str) -> bool {
        self.bans.remove(ip).is_some()
    }

    /// The bans still in force at `now_ms`, forgetting those that ended.
    pub fn active(&mut self, now_ms: u64) -> Vec<Ban> {
        self.prune(now_ms);
        let mut bans: Vec<Ban> = self.bans.values().cloned().collect();
        bans.sort_by(|a, b| a.ip.cmp(&b.ip));
        bans
    }

    fn prune(&mut self, now_ms: u64) {
        self.bans.retain(|_, ban| ban.until_ms > now_ms);
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

    #[test]
    fn a_report_becomes_a_ban_until_it_ends() {
        let mut bans = BanList::default();
        let ban = bans
            .report(&report("10.0.0.1", 60_000), 1_000)
            .expect("new ban");
        assert_eq!(ban.until_ms, 61_000);
        assert_eq!(bans.active(60_999), vec![ban]);
        assert!(bans.active(61_000).is_empty());
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
    }

    #[test]
    fn a_removed_ban_is_gone() {
        let mut bans = BanList::default();
        assert!(bans.report(&report("10.0.0.1", 60_000), 0).is_some());
        assert!(bans.remove("10.0.0.1"));
        assert!(!bans.remove("10.0.0.1"));
        assert!(bans.active(0).is_empty());
        assert!(bans.report(&report("10.0.0.1", 30_000), 0).is_some());
    }
}
