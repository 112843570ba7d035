//! [`LinkHandle`]: the cheap, cloneable face of the master link that sessions,
//! policy, health checks and drain use. State shared with the link task lives
//! in [`Shared`]; no lock is held across an `.await`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prost::Message;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tos_pool_proto::v1::{BanReport, BlockResult, Settings, SlaveMessage, slave_message};

use super::bans::BanList;
use super::blocks::BlockDesk;
use super::error::LinkError;
use super::outbox::Outbox;
use super::wire::{self, MinerEvent, SlaveReport};
use crate::job::Job;
use crate::journal::{DurableTicket, Journal};
use crate::session::{BlockCandidate, PoolSettings, ShareRecord};

/// What the master said in its Welcome (settings are published apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeInfo {
    /// This slave's index among live slaves: the extra_nonce prefix.
    pub slave_index: u32,
    /// Highest share seq the master had stored when it welcomed this slave.
    pub acked_seq: u64,
    /// Version of the master binary.
    pub master_version: String,
    /// TOS network the pool mines on.
    pub network: String,
}

/// Where the link stands, for logs, `/readyz` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// Connecting (attempt 1 is the first try).
    Connecting {
        /// Attempt number since the last successful session.
        attempt: u32,
    },
    /// Welcomed by the master: shares, jobs and events flow.
    Connected {
        /// The index the master gave this slave.
        slave_index: u32,
    },
    /// The last attempt or session failed; the next try comes after `retry_in`.
    Down {
        /// Why.
        error: LinkError,
        /// Wait before the next attempt.
        retry_in: Duration,
    },
    /// Closed for good (drained or every handle dropped).
    Closed,
}

/// Counters of the link, for `/metrics` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkCounters {
    /// Shares sent or waiting, not yet acked.
    pub unacked_shares: u64,
    /// Highest seq the master acked.
    pub acked_seq: u64,
    /// Connection attempts made.
    pub connect_attempts: u64,
    /// Sessions the master welcomed, after the first one.
    pub reconnects: u64,
    /// Shares refused because the unacked buffer was full.
    pub shares_refused: u64,
    /// Block candidates waiting to be sent or answered.
    pub pending_blocks: u64,
    /// Miner events, stats or ban reports dropped (queue full or no master).
    pub events_dropped: u64,
    /// New boots started because the master's mark went back.
    pub boot_renewals: u64,
    /// Shares the master acked and then lost (its mark went back below
    /// them); the slave no longer held them.
    pub shares_lost_by_master: u64,
    /// Syncs of the share journal (0 without one).
    pub journal_syncs: u64,
    /// Failed writes or syncs of the share journal.
    pub journal_errors: u64,
}

/// Where the slave's periodic stats come from (the doors' counters); the
/// link adds its own unacked share count and the time.
pub trait StatsSource: Send + Sync + 'static {
    /// The counters as of now.
    fn report(&self) -> SlaveReport;
}

/// State shared by every handle and the link task.
pub(super) struct Shared {
    pub(super) outbox: Mutex<Outbox>,
    /// The share journal, written in the outbox's order (under its lock).
    pub(super) journal: Option<Journal>,
    pub(super) blocks: Mutex<BlockDesk>,
    /// Batch size from the config (`slave.share_batch_size`).
    pub(super) batch_max_config: u64,
    /// Batch size in force (config, lowered by the master's settings).
    pub(super) batch_max: AtomicU64,
    /// A full batch is waiting.
    pub(super) batch_ready: Notify,
    /// A block candidate is waiting.
    pub(super) block_ready: Notify,
    pub(super) connected: AtomicBool,
    pub(super) connect_attempts: AtomicU64,
    pub(super) welcomes: AtomicU64,
    pub(super) shares_refused: AtomicU64,
    pub(super) events_dropped: AtomicU64,
    pub(super) boot_renewals: AtomicU64,
    pub(super) shares_lost_by_master: AtomicU64,
    pub(super) jobs: watch::Sender<Option<Arc<Job>>>,
    pub(super) welcome: watch::Sender<Option<Arc<WelcomeInfo>>>,
    pub(super) settings: watch::Sender<Option<Arc<Settings>>>,
    /// The master's settings as the sessions take them.
    pub(super) pool_settings: watch::Sender<Option<Arc<PoolSettings>>>,
    pub(super) status: watch::Sender<LinkStatus>,
    pub(super) drain: watch::Sender<Option<String>>,
    /// Highest seq the master acked.
    pub(super) acked: watch::Sender<u64>,
    /// Set by `flush_and_close`: the deadline of the drain.
    pub(super) closing: watch::Sender<Option<Instant>>,
    /// Set when every handle is gone: stop now.
    pub(super) stop: watch::Sender<bool>,
    /// True once the task has ended.
    pub(super) finished: watch::Sender<bool>,
    pub(super) bans: Arc<BanList>,
    pub(super) events: mpsc::Sender<SlaveMessage>,
    pub(super) stats_source: Mutex<Option<Arc<dyn StatsSource>>>,
}

/// Locks `mutex`, ignoring poisoning: the guarded values stay consistent
/// between statements, so a panic elsewhere leaves them usable.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(super) fn counters(&self) -> LinkCounters {
        let (unacked, acked) = {
            let outbox = lock(&self.outbox);
            (outbox.unacked_len() as u64, outbox.acked())
        };
        LinkCounters {
            unacked_shares: unacked,
            acked_seq: acked,
            connect_attempts: self.connect_attempts.load(Ordering::Relaxed),
            reconnects: self.welcomes.load(Ordering::Relaxed).saturating_sub(1),
            shares_refused: self.shares_refused.load(Ordering::Relaxed),
            pending_blocks: lock(&self.blocks).len() as u64,
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
            boot_renewals: self.boot_renewals.load(Ordering::Relaxed),
            shares_lost_by_master: self.shares_lost_by_master.load(Ordering::Relaxed),
            journal_syncs: self.journal.as_ref().map_or(0, |journal| {
                journal.counters().syncs.load(Ordering::Relaxed)
            }),
            journal_errors: self.journal.as_ref().map_or(0, |journal| {
                journal.counters().errors.load(Ordering::Relaxed)
            }),
        }
    }

    /// Tells the journal the outbox's ack point (call under the outbox lock).
    pub(super) fn journal_acked(&self, acked: u64) {
        if let Some(journal) = &self.journal {
            journal.acked(acked);
        }
    }
}

/// Signals the link task to stop when the last handle is dropped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.send_replace(true);
    }
}

/// A block candidate handed to the link: wait on it for the master's answer,
/// or drop it (the block is still submitted).
#[derive(Debug)]
pub struct BlockTicket {
    request_id: u64,
    answer: oneshot::Receiver<BlockResult>,
}

impl BlockTicket {
    /// The request id the link gave the candidate.
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// The master's [`BlockResult`], or an error after `timeout` or when the
    /// link closed.
    pub async fn wait(self, timeout: Duration) -> Result<BlockResult, LinkError> {
        match tokio::time::timeout(timeout, self.answer).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err(LinkError::Closed),
            Err(_) => Err(LinkError::BlockTimeout {
                request_id: self.request_id,
                waited: timeout,
            }),
        }
    }
}

/// The master link as the rest of the slave sees it. Cheap to clone; the link
/// task stops when the last clone is dropped or after
/// [`LinkHandle::flush_and_close`].
#[derive(Clone)]
pub struct LinkHandle {
    pub(super) shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

impl std::fmt::Debug for LinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkHandle")
            .field("boot_id", &self.boot_id())
            .field("counters", &self.counters())
            .finish()
    }
}

impl LinkHandle {
    pub(super) fn new(shared: Arc<Shared>) -> LinkHandle {
        LinkHandle {
            _stop: Arc::new(StopOnDrop(shared.clone())),
            shared,
        }
    }

    /// Queues `record` for the share ledger and returns the seq it was
    /// given in this slave's share stream. Never waits: when
    /// `slave.max_unacked_shares` shares are unacked it refuses with
    /// [`LinkError::Backlogged`] so the session can tell the miner. With a
    /// journal, use [`LinkHandle::submit_journaled`] to learn when the
    /// share is on disk.
    pub fn submit_share(&self, record: &ShareRecord) -> Result<u64, LinkError> {
        self.submit_journaled(record).map(|(seq, _)| seq)
    }

    /// [`LinkHandle::submit_share`], and with a journal the ticket that
    /// resolves once the share is on disk: a miner is told "accepted" only
    /// after it.
    pub fn submit_journaled(
        &self,
        record: &ShareRecord,
    ) -> Result<(u64, Option<DurableTicket>), LinkError> {
        if self.is_closed() {
            return Err(LinkError::Closed);
        }
        let batch_max = self.shared.batch_max.load(Ordering::Relaxed);
        let share = wire::share(record, 0);
        // Encoded before the lock; the journal holds the share without seq.
        let journaled = self
            .shared
            .journal
            .as_ref()
            .map(|journal| (journal, share.encode_to_vec()));
        let (pushed, unsent) = {
            let mut outbox = lock(&self.shared.outbox);
            let pushed = outbox.push(share).map(|seq| {
                let ticket = journaled.map(|(journal, bytes)| journal.append(seq, bytes));
                (seq, ticket)
            });
            (pushed, outbox.unsent_len() as u64)
        };
        match pushed {
            Ok(pushed) => {
                if unsent >= batch_max {
                    self.shared.batch_ready.notify_one();
                }
                Ok(pushed)
            }
            Err(full) => {
                self.shared.shares_refused.fetch_add(1, Ordering::Relaxed);
                Err(LinkError::Backlogged {
                    unacked: full.unacked,
                })
            }
        }
    }

    /// Sends a block candidate ahead of every share batch (at once when
    /// connected, first thing after the next Welcome otherwise). Never
    /// waits. `share_seq` is the seq [`LinkHandle::submit_share`] gave the
    /// same share; `read_at_us` when the connection read it (µs since the
    /// Unix epoch), which starts the block's timed path.
    pub fn submit_block(
        &self,
        candidate: &BlockCandidate,
        share_seq: u64,
        read_at_us: u64,
    ) -> Result<BlockTicket, LinkError> {
        if self.is_closed() {
            return Err(LinkError::Closed);
        }
        let (request_id, answer) = lock(&self.shared.blocks)
            .submit(wire::block(candidate, share_seq, read_at_us))
            .map_err(|full| LinkError::BlocksBacklogged {
                pending: full.pending,
            })?;
        self.shared.block_ready.notify_one();
        Ok(BlockTicket { request_id, answer })
    }

    fn is_closed(&self) -> bool {
        *self.shared.stop.borrow() || *self.shared.finished.borrow()
    }

    /// Reports a miner connecting, authorizing or disconnecting. Advisory:
    /// dropped (and counted) when the queue is full or the master is away.
    pub fn miner_event(&self, event: MinerEvent) {
        self.send_event(slave_message::Kind::Miner(wire::miner_event(event)));
    }

    /// Tells the master this slave banned an IP, so every slave bans it.
    /// Kept through a short master outage; dropped (and counted) when the
    /// queue is full.
    pub fn report_ban(&self, ban: BanReport) {
        self.send_event(slave_message::Kind::Ban(ban));
    }

    fn send_event(&self, kind: slave_message::Kind) {
        let message = SlaveMessage { kind: Some(kind) };
        if self.shared.events.try_send(message).is_err() {
            self.shared.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Where periodic stats come from; without one, no stats are sent.
    pub fn set_stats_source(&self, source: Arc<dyn StatsSource>) {
        *lock(&self.shared.stats_source) = Some(source);
    }

    /// The latest job (`None` before the first); `changed()` wakes on each
    /// new one. Miners keep the last job through a master outage.
    pub fn jobs(&self) -> watch::Receiver<Option<Arc<Job>>> {
        self.shared.jobs.subscribe()
    }

    /// The master's latest Welcome (`None` before the first).
    pub fn welcome(&self) -> watch::Receiver<Option<Arc<WelcomeInfo>>> {
        self.shared.welcome.subscribe()
    }

    /// This slave's index from the latest Welcome.
    pub fn slave_index(&self) -> Option<u32> {
        self.shared
            .welcome
            .borrow()
            .as_ref()
            .map(|welcome| welcome.slave_index)
    }

    /// The master's pool-wide session settings (`None` before the first
    /// Welcome).
    pub fn settings(&self) -> watch::Receiver<Option<Arc<PoolSettings>>> {
        self.shared.pool_settings.subscribe()
    }

    /// Bans shared by the master, for the policy layer.
    pub fn bans(&self) -> Arc<BanList> {
        self.shared.bans.clone()
    }

    /// Becomes `Some(reason)` when the master asks this slave to drain.
    pub fn drain_requests(&self) -> watch::Receiver<Option<String>> {
        self.shared.drain.subscribe()
    }

    /// Highest share seq the master acked, as it grows.
    pub fn acked(&self) -> watch::Receiver<u64> {
        self.shared.acked.subscribe()
    }

    /// The link's state as it changes.
    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.shared.status.subscribe()
    }

    /// True while the master has welcomed this slave (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Counters for metrics.
    pub fn counters(&self) -> LinkCounters {
        self.shared.counters()
    }

    /// The boot id the share seqs belong to: random at a start without a
    /// journal, kept across restarts with one, new when the master lost
    /// shares it had acked.
    pub fn boot_id(&self) -> String {
        lock(&self.shared.outbox).boot_id().to_owned()
    }

    /// Drain: sends every waiting share and block, waits until the master
    /// acked them all or `deadline` passes, sends Goodbye and closes the
    /// link. Errors with [`LinkError::DrainIncomplete`] when shares were
    /// left unacked.
    pub async fn flush_and_close(&self, deadline: Instant) -> Result<(), LinkError> {
        self.shared.closing.send_replace(Some(deadline));
        self.shared.batch_ready.notify_one();
        let mut finished = self.shared.finished.subscribe();
        // The task checks the deadline itself; the grace covers sending
        // Goodbye and closing the stream.
        let grace = tokio::time::Instant::from_std(deadline) + Duration::from_secs(1);
        let _ = tokio::time::timeout_at(grace, finished.wait_for(|done| *done)).await;
        let unacked = lock(&self.shared.outbox).unacked_len();
        if unacked == 0 {
            Ok(())
        } else {
            Err(LinkError::DrainIncomplete { unacked })
        }
    }
}
