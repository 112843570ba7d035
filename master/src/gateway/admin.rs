//! Bans set and lifted by an operator (the admin API), fanned out to every
//! connected slave like the bans slaves report.

use tos_pool_proto::v1::{Ban, BanReport};

use super::{Gateway, lock};

impl Gateway {
    /// Bans `ip` on every slave for `duration_ms` from `now_ms`; returns the
    /// ban in force (an existing longer ban on the same IP stays).
    pub fn ban(&self, ip: &str, reason: &str, duration_ms: u64, now_ms: u64) -> Option<Ban> {
        let report = BanReport {
            ip: ip.to_owned(),
            reason: reason.to_owned(),
            duration_ms,
            address: None,
        };
        let mut bans = lock(&self.shared.bans);
        if let Some(ban) = bans.report(&report, now_ms) {
            let revision = bans.revision();
            drop(bans);
            self.shared.bans_changed(revision);
            tracing::info!(ip = %ban.ip, reason = %ban.reason, until_ms = ban.until_ms, "admin ban sent to every slave");
            return Some(ban);
        }
        bans.active(now_ms)
            .into_iter()
            .find(|ban| ban.ip == ip.trim())
    }

    /// Lifts the ban on `ip` on every slave (also a ban a slave set on its
    /// own); returns whether the master knew it.
    pub fn unban(&self, ip: &str, now_ms: u64) -> bool {
        let (known, revision) = {
            let mut bans = lock(&self.shared.bans);
            (bans.remove(ip, now_ms), bans.revision())
        };
        self.shared.bans_changed(revision);
        tracing::info!(ip, known, "admin unban sent to every slave");
        known
    }

    /// The bans in force at `now_ms`, by IP.
    pub fn bans(&self, now_ms: u64) -> Vec<Ban> {
        lock(&self.shared.bans).active(now_ms)
    }
}
