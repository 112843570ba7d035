//! The slave gateway: the gRPC service every slave keeps one stream open to.
//!
//! - A stream must carry the `master.secret` bearer token; without it the
//!   call is refused with `UNAUTHENTICATED` (and a warning with the peer).
//! - Connections are capped, and one that opens no such stream within
//!   `master.handshake_timeout`, or goes silent for `master.idle_timeout`,
//!   is closed (`connections`).
//! - The first frame must be Hello; the master answers Welcome (the slave's
//!   index, the ledger's ack point, the settings, the network), then the
//!   current job, then every new job as it comes ([`Gateway::publish_job`]).
//!   Bans follow the Welcome on their own lane: every ban in force, then
//!   every change, read from the ban list as the slave takes them
//!   (`ban_sync`), so no number of bans can overflow a stream.
//! - Share batches go to the ledger and are acked only after the atomic
//!   write; a batch past a gap ends the stream with `ABORTED` so the slave
//!   reconnects and replays from `Welcome.acked_seq`.
//! - Block candidates go to [`crate::blocks`] on their own task and are
//!   answered with BlockResult.
//! - Miner events and stats are kept per slave for the admin API
//!   ([`Gateway::connected_slaves`]).

mod access;
mod admin;
mod ban_sync;
mod bans;
mod connections;
mod outbound;
mod registry;
mod server;
mod settings;
mod stream;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tos_pool_common::clock::unix_ms;
use tos_pool_common::config::Config;
use tos_pool_common::metrics::Metrics;
use tos_pool_common::network::Network;
use tos_pool_common::shutdown::Shutdown;
use tos_pool_proto::v1::{Job, MasterMessage, Settings, master_message};

use crate::blocks::BlockService;
use crate::ledger::Ledger;

pub use ban_sync::BAN_SYNC_CHUNK;
pub use bans::{BanChange, BanList, MAX_BANS, UNKNOWN_UNBAN_KEEP_MS};
pub use connections::{
    ConnectionLimits, GatewayConnection, GatewayIncoming, GatewayIo, MAX_STREAMS_PER_CONNECTION,
};
pub use outbound::{BAN_LANE, BanLane, Closer, OUTBOUND_QUEUE, OutboundStream, Outbox, PushError};
pub use registry::{MAX_TRACKED_SESSIONS, Registration, SlaveInfo, SlaveRegistry};
pub use server::{GatewayError, GatewayService, bind, serve, tls_config};
pub use settings::{MAX_STATS_INTERVAL, settings};

/// Jobs fanned out to every slave that have not been taken by a slave's
/// stream task yet. A stream that falls this far behind skips to the current
/// job (sent as clean) rather than being disconnected.
pub const FEED_CAPACITY: usize = 64;

/// The gateway's shared state: one per master, cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

struct Shared {
    secret: String,
    network: Network,
    settings: Settings,
    slave_timeout: Duration,
    ledger: Arc<Ledger>,
    blocks: Arc<BlockService>,
    feed: broadcast::Sender<MasterMessage>,
    current_job: Mutex<Option<Job>>,
    registry: Mutex<SlaveRegistry<Closer>>,
    bans: Mutex<BanList>,
    /// The ban list's latest revision; every stream's ban sync wakes on it.
    ban_revision: watch::Sender<u64>,
    /// The operator's runtime access lists; every stream's sync sends them
    /// whole when they change (`access`).
    access: watch::Sender<Arc<tos_pool_proto::v1::AccessLists>>,
    shutdown: Shutdown,
    metrics: Metrics,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("network", &self.shared.network)
            .field("slaves", &lock(&self.shared.registry).len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway for `config` (`master.secret`, `master.slave_timeout`, the
    /// mining settings), writing shares to `ledger` and blocks through
    /// `blocks`. Streams end when `shutdown` fires. Job fan-out times
    /// go to `metrics`.
    pub fn new(
        config: &Config,
        ledger: Arc<Ledger>,
        blocks: Arc<BlockService>,
        shutdown: Shutdown,
        metrics: Metrics,
    ) -> Gateway {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Gateway {
            shared: Arc::new(Shared {
                secret: config.master.secret.clone(),
                network: config.network,
                settings: settings(config),
                slave_timeout: config.master.slave_timeout,
                ledger,
                blocks,
                feed,
                current_job: Mutex::new(None),
                registry: Mutex::new(SlaveRegistry::default()),
                bans: Mutex::new(BanList::default()),
                ban_revision: watch::Sender::new(0),
                access: watch::Sender::new(Arc::default()),
                shutdown,
                metrics,
            }),
        }
    }

    /// Sends a new job to every connected slave now, and to every slave that
    /// connects later until the next job. The time from the job's creation
    /// to it being queued for every connected slave is the job fan-out time.
    pub fn publish_job(&self, job: Job) {
        tracing::debug!(job = %job.job_id, height = job.height, "job to slaves");
        *lock(&self.shared.current_job) = Some(job.clone());
        let created_at_ms = job.created_at_ms;
        let queued = self.shared.feed.send(MasterMessage {
            kind: Some(master_message::Kind::Job(job)),
        });
        // One send queues the job for every connected slave's stream at once;
        // with no slave connected there is no fan-out to time.
        if queued.is_ok() {
            self.shared
                .metrics
                .observe_fanout(fanout_time(created_at_ms, unix_ms()));
        }
    }

    /// The connected slaves, by index.
    pub fn connected_slaves(&self) -> Vec<SlaveInfo> {
        lock(&self.shared.registry).slaves()
    }

    /// The tonic service to add to a server.
    pub fn service(&self) -> GatewayService {
        GatewayService::new(self.clone())
    }

    /// Ends every open stream with `UNAVAILABLE` (the master is stopping).
    pub fn close_all(&self) {
        let closers = lock(&self.shared.registry).close_all();
        for closer in closers {
            closer.close(tonic::Status::unavailable(
                "the master is shutting down: reconnect and resume",
            ));
        }
    }
}

impl Shared {
    /// Wakes every stream's ban sync after a change to the ban list.
    fn bans_changed(&self, revision: u64) {
        self.ban_revision.send_replace(revision);
    }
}

/// Time from a job's creation to `now_ms` (zero if the clock went back).
fn fanout_time(created_at_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(now_ms.saturating_sub(created_at_ms))
}

/// Locks a mutex of plain state; a panic elsewhere while holding it leaves
/// the data usable, so a poisoned lock is taken as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanout_time_is_from_creation_and_never_negative() {
        assert_eq!(fanout_time(1_000, 1_250), Duration::from_millis(250));
        assert_eq!(fanout_time(1_000, 1_000), Duration::ZERO);
        assert_eq!(fanout_time(2_000, 1_000), Duration::ZERO);
    }
}
