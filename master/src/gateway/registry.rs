//! The live slaves and the index each one holds: plain data, no I/O.
//!
//! A slave's index prefixes every extra_nonce it hands out, so two live
//! streams must never share one. An index is taken at Hello (the smallest
//! free one) and given back only when its stream has ended. A slave that
//! reconnects while its old stream is still registered gets a fresh index,
//! and the old stream is handed back to the caller to be closed: its index is
//! freed when that stream's task ends, never earlier.

use std::collections::{BTreeMap, HashMap};

use tos_pool_proto::v1::{MinerEvent, MinerEventKind, SlaveStats};

/// Most miner sessions tracked per slave from its MinerEvents; past this the
/// events only move the counters of the next SlaveStats report.
pub const MAX_TRACKED_SESSIONS: usize = 200_000;

/// A connected slave as the admin API shows it (`/api/admin/slaves`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlaveInfo {
    /// The operator's name of the slave (Hello.slave_id).
    pub slave_id: String,
    /// Random id of the slave's process start (Hello.boot_id).
    pub boot_id: String,
    /// The index this stream holds (extra_nonce prefix).
    pub index: u32,
    /// Region label from Hello.
    pub region: String,
    /// Version of the slave binary.
    pub version: String,
    /// Open miner connections.
    pub sessions: u64,
    /// Distinct miner addresses logged in.
    pub miners: u64,
    /// Distinct (address, worker) pairs logged in.
    pub workers: u64,
    /// Estimated hashrate of the slave's miners, hashes per second.
    pub hashrate: f64,
    /// Shares the slave holds that the master has not acked yet.
    pub unacked_shares: u64,
    /// When the stream was registered, ms since the Unix epoch.
    pub connected_at_ms: u64,
    /// When the slave last reported stats or an event, ms since the Unix epoch.
    pub last_report_ms: u64,
}

impl SlaveInfo {
    /// A freshly connected slave with no reports yet.
    pub fn new(
        slave_id: String,
        boot_id: String,
        region: String,
        version: String,
        now_ms: u64,
    ) -> Self {
        SlaveInfo {
            slave_id,
            boot_id,
            index: 0,
            region,
            version,
            sessions: 0,
            miners: 0,
            workers: 0,
            hashrate: 0.0,
            unacked_shares: 0,
            connected_at_ms: now_ms,
            last_report_ms: now_ms,
        }
    }
}

/// One miner session a slave reported through MinerEvents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct MinerSession {
    address: String,
    worker: String,
}

/// The miner sessions a slave reported, with how many of them log in with
/// each address and each (address, worker) pair. Kept up to date one event
/// at a time: an event costs the same with 10 sessions as with 200,000, so a
/// burst of events never holds up the acks queued behind it on the stream.
#[derive(Debug, Default)]
struct MinerSessions {
    sessions: HashMap<u64, MinerSession>,
    miners: HashMap<String, u32>,
    workers: HashMap<(String, String), u32>,
}

impl MinerSessions {
    /// Opens or updates session `id` (a connect, or a login).
    fn upsert(&mut self, id: u64, session: MinerSession) {
        if !self.sessions.contains_key(&id) && self.sessions.len() >= MAX_TRACKED_SESSIONS {
            return;
        }
        self.forget(id);
        if !session.address.is_empty() {
            *self.miners.entry(session.address.clone()).or_default() += 1;
            *self
                .workers
                .entry((session.address.clone(), session.worker.clone()))
                .or_default() += 1;
        }
        self.sessions.insert(id, session);
    }

    /// Closes session `id`, if it is known.
    fn forget(&mut self, id: u64) {
        let Some(old) = self.sessions.remove(&id) else {
            return;
        };
        if old.address.is_empty() {
            return;
        }
        count_down(&mut self.miners, old.address.clone());
        count_down(&mut self.workers, (old.address, old.worker));
    }
}

/// Takes one session off `key`'s count, dropping the key at zero.
fn count_down<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u32>, key: K) {
    if let Some(count) = counts.get_mut(&key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

/// A registered stream.
#[derive(Debug)]
struct Entry<C> {
    stream_id: u64,
    info: SlaveInfo,
    sessions: MinerSessions,
    closer: Option<C>,
}

/// The outcome of [`SlaveRegistry::register`].
#[derive(Debug)]
pub struct Registration<C> {
    /// The index the new stream holds.
    pub index: u32,
    /// Id of the new stream, for [`SlaveRegistry::release`].
    pub stream_id: u64,
    /// Closers of older streams of the same slave, to be closed now.
    pub superseded: Vec<C>,
}

/// The live slave streams, keyed by index. `C` is what closes a stream.
#[derive(Debug)]
pub struct SlaveRegistry<C> {
    entries: BTreeMap<u32, Entry<C>>,
    next_stream_id: u64,
}

impl<C> Default for SlaveRegistry<C> {
    fn default() -> Self {
        SlaveRegistry {
            entries: BTreeMap::new(),
            next_stream_id: 1,
        }
    }
}

impl<C> SlaveRegistry<C> {
    /// Registers a new stream under the smallest free index. Older streams of
    /// the same `slave_id` keep their index until released, but their closers
    /// are handed back so the caller can end them.
    pub fn register(&mut self, mut info: SlaveInfo, closer: C) -> Registration<C> {
        let superseded = self
            .entries
            .values_mut()
            .filter(|entry| entry.info.slave_id == info.slave_id)
            .filter_map(|entry| entry.closer.take())
            .collect();
        let index = self.smallest_free_index();
        let stream_id = self.next_stream_id;
        self.next_stream_id += 1;
        info.index = index;
        self.entries.insert(
            index,
            Entry {
                stream_id,
                info,
                sessions: MinerSessions::default(),
                closer: Some(closer),
            },
        );
        Registration {
            index,
            stream_id,
            superseded,
        }
    }

    /// Frees `index` if `stream_id` still holds it. Returns whether it did.
    pub fn release(&mut self, index: u32, stream_id: u64) -> bool {
        let held = self
            .entries
            .get(&index)
            .is_some_and(|entry| entry.stream_id == stream_id);
        if held {
            self.entries.remove(&index);
        }
        held
    }

    /// Takes the closers of every stream (shutdown).
    pub fn close_all(&mut self) -> Vec<C> {
        self.entries
            .values_mut()
            .filter_map(|entry| entry.closer.take())
            .collect()
    }

    /// Records a SlaveStats report of the stream at `index`.
    pub fn record_stats(&mut self, index: u32, stream_id: u64, stats: &SlaveStats, now_ms: u64) {
        let Some(entry) = self.entry_mut(index, stream_id) else {
            return;
        };
        let info = &mut entry.info;
        info.sessions = stats.sessions;
        info.miners = stats.miners;
        info.workers = stats.workers;
        info.hashrate = if stats.hashrate.is_finite() && stats.hashrate >= 0.0 {
            stats.hashrate
        } else {
            0.0
        };
        info.unacked_shares = stats.unacked_shares;
        info.last_report_ms = now_ms;
    }

    /// Records a MinerEvent of the stream at `index`: the session counters
    /// follow the events between two stats reports.
    pub fn record_miner_event(
        &mut self,
        index: u32,
        stream_id: u64,
        event: &MinerEvent,
        now_ms: u64,
    ) {
        let Some(entry) = self.entry_mut(index, stream_id) else {
            return;
        };
        let session = MinerSession {
            address: event.address.clone(),
            worker: event.worker.clone(),
        };
        let sessions = &mut entry.sessions;
        match MinerEventKind::try_from(event.kind) {
            Ok(MinerEventKind::Connected | MinerEventKind::Authorized) => {
                sessions.upsert(event.session_id, session);
            }
            Ok(MinerEventKind::Disconnected) => sessions.forget(event.session_id),
            Ok(MinerEventKind::Unspecified) | Err(_) => return,
        }
        entry.info.sessions = sessions.sessions.len() as u64;
        entry.info.miners = sessions.miners.len() as u64;
        entry.info.workers = sessions.workers.len() as u64;
        entry.info.last_report_ms = now_ms;
    }

    /// Every registered stream, by index.
    pub fn slaves(&self) -> Vec<SlaveInfo> {
        self.entries
            .values()
            .map(|entry| entry.info.clone())
            .collect()
    }

    /// Number of registered streams.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no stream is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry_mut(&mut self, index: u32, stream_id: u64) -> Option<&mut Entry<C>> {
        self.entries
            .get_mut(&index)
            .filter(|entry| entry.stream_id == stream_id)
    }

    fn smallest_free_index(&self) -> u32 {
        let mut candidate = 0u32;
        for &taken in self.entries.keys() {
            if taken != candidate {
                break;
            }
            candidate += 1;
        }
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(slave_id: &str) -> SlaveInfo {
        SlaveInfo::new(
            slave_id.to_owned(),
            "boot".to_owned(),
            "eu".to_owned(),
            "0.1.0".to_owned(),
            1_000,
        )
    }

    fn event(kind: MinerEventKind, session_id: u64, address: &str, worker: &str) -> MinerEvent {
        MinerEvent {
            kind: kind as i32,
            session_id,
            address: address.to_owned(),
            worker: worker.to_owned(),
            ..MinerEvent::default()
        }
    }

    #[test]
    fn live_slaves_get_distinct_smallest_free_indices() {
        let mut registry = SlaveRegistry::default();
        let a = registry.register(info("a"), 'a');
        let b = registry.register(info("b"), 'b');
        let c = registry.register(info("c"), 'c');
        assert_eq!((a.index, b.index, c.index), (0, 1, 2));
        assert!(registry.release(b.index, b.stream_id));
        let d = registry.register(info("d"), 'd');
        assert_eq!(d.index, 1, "the freed index is reused first");
        let e = registry.register(info("e"), 'e');
        assert_eq!(e.index, 3);
        assert_eq!(registry.len(), 4);
    }

    #[test]
    fn a_reconnecting_slave_supersedes_its_old_stream_without_sharing_its_index() {
        let mut registry = SlaveRegistry::default();
        let old = registry.register(info("eu-1"), "old");
        let other = registry.register(info("us-1"), "other");
        let new = registry.register(info("eu-1"), "new");
        assert_eq!(new.superseded, vec!["old"]);
        assert_ne!(new.index, old.index);
        assert_ne!(new.index, other.index);
        // The old stream's index stays taken until its task releases it.
        let next = registry.register(info("x"), "x");
        assert_ne!(next.index, old.index);
        assert!(registry.release(old.index, old.stream_id));
        assert_eq!(registry.register(info("y"), "y").index, old.index);
    }

    #[test]
    fn release_by_a_stale_stream_does_not_free_another_streams_index() {
        let mut registry = SlaveRegistry::default();
        let first = registry.register(info("a"), ());
        assert!(registry.release(first.index, first.stream_id));
        let second = registry.register(info("b"), ());
        assert_eq!(second.index, first.index);
        assert!(!registry.release(first.index, first.stream_id));
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn miner_events_and_stats_drive_the_counters() {
        let mut registry = SlaveRegistry::default();
        let slave = registry.register(info("a"), ());
        let (index, id) = (slave.index, slave.stream_id);
        registry.record_miner_event(index, id, &event(MinerEventKind::Connected, 1, "", ""), 2);
        registry.record_miner_event(
            index,
            id,
            &event(MinerEventKind::Authorized, 1, "tst1a", "r1"),
            3,
        );
        registry.record_miner_event(
            index,
            id,
            &event(MinerEventKind::Authorized, 2, "tst1a", "r2"),
            4,
        );
        registry.record_miner_event(
            index,
            id,
            &event(MinerEventKind::Authorized, 3, "tst1b", "r1"),
            5,
        );
        let shown = &registry.slaves()[0];
        assert_eq!((shown.sessions, shown.miners, shown.workers), (3, 2, 3));
        registry.record_miner_event(
            index,
            id,
            &event(MinerEventKind::Disconnected, 3, "", ""),
            6,
        );
        let shown = &registry.slaves()[0];
        assert_eq!((shown.sessions, shown.miners, shown.workers), (2, 1, 2));
        assert_eq!(shown.last_report_ms, 6);

        let stats = SlaveStats {
            sessions: 40,
            miners: 7,
            workers: 9,
            hashrate: f64::NAN,
            unacked_shares: 12,
            ..SlaveStats::default()
        };
        registry.record_stats(index, id, &stats, 7);
        let shown = &registry.slaves()[0];
        assert_eq!((shown.sessions, shown.miners, shown.workers), (40, 7, 9));
        assert_eq!(shown.hashrate, 0.0);
        assert_eq!(shown.unacked_shares, 12);
        // Reports of a stream that no longer holds the index are ignored.
        registry.record_stats(index, id + 1, &SlaveStats::default(), 8);
        assert_eq!(registry.slaves()[0].sessions, 40);
    }

    fn session(address: &str, worker: &str) -> MinerSession {
        MinerSession {
            address: address.to_owned(),
            worker: worker.to_owned(),
        }
    }

    /// The counts recomputed from the sessions alone.
    fn recount(sessions: &MinerSessions) -> (usize, usize) {
        let logged_in = || sessions.sessions.values().filter(|s| !s.address.is_empty());
        let miners: std::collections::HashSet<_> = logged_in().map(|s| &s.address).collect();
        let workers: std::collections::HashSet<_> =
            logged_in().map(|s| (&s.address, &s.worker)).collect();
        (miners.len(), workers.len())
    }

    #[test]
    fn an_address_counts_once_until_its_last_session_leaves() {
        let mut sessions = MinerSessions::default();
        sessions.upsert(1, session("tst1a", "r1"));
        sessions.upsert(2, session("tst1a", "r1"));
        sessions.upsert(3, session("tst1a", "r2"));
        assert_eq!((sessions.miners.len(), sessions.workers.len()), (1, 2));
        sessions.forget(1);
        assert_eq!((sessions.miners.len(), sessions.workers.len()), (1, 2));
        sessions.forget(2);
        assert_eq!((sessions.miners.len(), sessions.workers.len()), (1, 1));
        sessions.forget(3);
        sessions.forget(3);
        sessions.forget(99);
        assert!(sessions.miners.is_empty() && sessions.workers.is_empty());
    }

    #[test]
    fn a_new_login_on_a_session_moves_its_counts() {
        let mut sessions = MinerSessions::default();
        sessions.upsert(1, session("", ""));
        assert_eq!((sessions.miners.len(), sessions.workers.len()), (0, 0));
        sessions.upsert(1, session("tst1a", "r1"));
        sessions.upsert(1, session("tst1b", "r1"));
        assert_eq!(sessions.miners.keys().collect::<Vec<_>>(), vec!["tst1b"]);
        assert_eq!(sessions.workers.len(), 1);
    }

    #[test]
    fn counts_match_a_recount_after_any_mix_of_events() {
        let mut sessions = MinerSessions::default();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..5_000 {
            // xorshift: a fixed, reproducible mix of events.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let id = state % 64;
            let address = ["", "tst1a", "tst1b", "tst1c"][(state >> 8) as usize % 4];
            let worker = ["r1", "r2"][(state >> 16) as usize % 2];
            if (state >> 24).is_multiple_of(3) {
                sessions.forget(id);
            } else {
                sessions.upsert(id, session(address, worker));
            }
            assert_eq!(
                (sessions.miners.len(), sessions.workers.len()),
                recount(&sessions)
            );
        }
    }

    #[test]
    fn sessions_past_the_cap_are_not_tracked() {
        let mut sessions = MinerSessions::default();
        for id in 0..MAX_TRACKED_SESSIONS as u64 {
            sessions.upsert(id, session("", ""));
        }
        sessions.upsert(u64::MAX, session("tst1late", "r1"));
        assert_eq!(sessions.sessions.len(), MAX_TRACKED_SESSIONS);
        assert!(sessions.miners.is_empty());
        // A tracked session may still log in.
        sessions.upsert(0, session("tst1a", "r1"));
        assert_eq!(sessions.miners.len(), 1);
    }

    #[test]
    fn close_all_hands_back_every_closer_once() {
        let mut registry = SlaveRegistry::default();
        registry.register(info("a"), 1);
        registry.register(info("b"), 2);
        let mut closers = registry.close_all();
        closers.sort_unstable();
        assert_eq!(closers, vec![1, 2]);
        assert!(registry.close_all().is_empty());
    }
}
