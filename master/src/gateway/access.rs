//! The operator's runtime access lists (the admin API's blacklist of miner
//! addresses and whitelist of IPs) as the gateway shares them: every slave
//! gets both lists whole after its Welcome and again after every change,
//! on its ban lane, so a change reaches every connected slave at once and a
//! slave that reconnects starts from the current lists.
//!
//! A whitelisted IP is never banned: adding it lifts the bans in force on
//! it (on every slave), and bans reported for it later are not shared.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tos_pool_common::clock::unix_ms;
use tos_pool_proto::v1::{AccessLists, MasterMessage, master_message};

use super::outbound::BanLane;
use super::{Gateway, Shared};

/// Aborts a stream's access-list sync when the stream ends.
pub(super) struct AccessSyncTask(JoinHandle<()>);

impl Drop for AccessSyncTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the access-list sync of one stream; call it after the Welcome
/// is queued.
pub(super) fn spawn(shared: Arc<Shared>, lane: BanLane) -> AccessSyncTask {
    AccessSyncTask(tokio::spawn(async move {
        let mut lists = shared.access.subscribe();
        loop {
            let current = lists.borrow_and_update().clone();
            let frame = MasterMessage {
                kind: Some(master_message::Kind::AccessLists((*current).clone())),
            };
            if lane.send(frame).await.is_err() || lists.changed().await.is_err() {
                return;
            }
        }
    }))
}

impl Gateway {
    /// Replaces the runtime access lists and sends them to every slave;
    /// bans in force on a newly whitelisted IP are lifted everywhere.
    pub fn set_access_lists(&self, blacklist: Vec<String>, whitelist: Vec<String>) {
        let lists = AccessLists {
            blacklist,
            whitelist,
        };
        self.shared.access.send_replace(Arc::new(lists));
        let now = unix_ms();
        for ban in self.bans(now) {
            if let Ok(ip) = ban.ip.parse::<IpAddr>()
                && self.is_whitelisted(ip)
            {
                self.unban(&ban.ip, now);
            }
        }
    }

    /// The runtime access lists in force.
    pub fn access_lists(&self) -> AccessLists {
        (*self.shared.access.borrow().clone()).clone()
    }

    /// Whether `ip` is on the runtime whitelist.
    pub fn is_whitelisted(&self, ip: IpAddr) -> bool {
        self.shared.is_whitelisted(ip)
    }
}

impl Shared {
    /// Whether `ip` is on the runtime whitelist.
    pub(super) fn is_whitelisted(&self, ip: IpAddr) -> bool {
        self.access
            .borrow()
            .whitelist
            .iter()
            .any(|entry| contains(entry, ip))
    }
}

/// Whether the IP or CIDR `entry` covers `ip` (an IPv4-mapped IPv6 address
/// counts as its IPv4 address); an unreadable entry covers nothing.
pub fn contains(entry: &str, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (network, bits) = match entry.trim().split_once('/') {
        None => match entry.trim().parse::<IpAddr>() {
            Ok(network) => (network, if network.is_ipv4() { 32 } else { 128 }),
            Err(_) => return false,
        },
        Some((network, bits)) => match (network.parse::<IpAddr>(), bits.parse::<u32>()) {
            (Ok(network), Ok(bits)) => (network, bits),
            _ => return false,
        },
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn entries_cover_their_ips_and_networks() {
        assert!(contains("10.0.0.1", ip("10.0.0.1")));
        assert!(!contains("10.0.0.1", ip("10.0.0.2")));
        assert!(contains("10.0.0.0/8", ip("10.200.3.4")));
        assert!(!contains("10.0.0.0/8", ip("11.0.0.1")));
        assert!(contains("0.0.0.0/0", ip("1.2.3.4")));
        assert!(contains("2001:db8::/32", ip("2001:db8:1::5")));
        assert!(!contains("2001:db8::/32", ip("2001:db9::5")));
        assert!(contains("127.0.0.1", ip("::ffff:127.0.0.1")));
        assert!(!contains("10.0.0.0/33", ip("10.0.0.1")));
        assert!(!contains("host", ip("10.0.0.1")));
        assert!(!contains("10.0.0.0/8", ip("::1")));
    }
}
