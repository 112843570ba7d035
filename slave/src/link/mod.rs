//! The slave's link to the master: one long-lived gRPC stream
//! (`SlaveGateway.Connect`) over TLS with the bearer token.
//!
//! Outbound, accepted shares are numbered per `(slave_id, boot_id)` and sent
//! in batches (by size or every few ms); they stay in a bounded buffer until
//! the master acks them and are replayed after a reconnect, so each counts
//! exactly once. Block candidates skip the batches. Inbound, jobs, settings,
//! bans, drain requests and block results are published for the rest of the
//! slave through [`LinkHandle`]. Miners keep mining on the last job while the
//! master is away; the link reconnects with capped, jittered backoff.
//!
//! ```no_run
//! # async fn run() -> Result<(), tos_pool_slave::link::LinkError> {
//! use tos_pool_slave::link::{LinkConfig, spawn};
//! let link = spawn(LinkConfig {
//!     master_url: "https://master.example:50051".into(),
//!     secret: "a-long-shared-secret".into(),
//!     ..LinkConfig::default()
//! })?;
//! let mut jobs = link.jobs();
//! jobs.changed().await.ok();
//! # Ok(()) }
//! ```

mod backoff;
mod bans;
mod blocks;
mod channel;
mod config;
mod error;
mod handle;
mod inbound;
mod jobs;
mod outbox;
mod task;
mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc, watch};

use crate::journal::Journal;

pub use backoff::Backoff;
pub use bans::{BanChange, BanEntry, BanList};
pub use blocks::{BlockDesk, DeskFull};
pub use channel::endpoint;
pub use config::LinkConfig;
pub use error::LinkError;
pub use handle::{BlockTicket, LinkCounters, LinkHandle, LinkStatus, StatsSource, WelcomeInfo};
pub use jobs::{JobError, decode_job};
pub use outbox::{AckNotice, Full, Outbox, Welcomed};
pub use wire::{MinerEvent, MinerEventKind, SlaveReport};

/// Miner events and ban reports queued for the master.
const EVENT_QUEUE: usize = 4096;

/// Starts the link task on the current Tokio runtime and returns its handle.
/// Fails only on configuration errors (bad URL, unreadable CA file); an
/// unreachable master is retried in the background.
pub fn spawn(config: LinkConfig) -> Result<LinkHandle, LinkError> {
    let endpoint = channel::endpoint(&config)?;
    let (outbox, journal) = open_outbox(&config)?;
    let boot_id = outbox.boot_id().to_owned();
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    // Clamped as well as validated: a batch must fit one frame of the link.
    let batch_max = config
        .share_batch_size
        .clamp(1, tos_pool_proto::MAX_SHARES_PER_BATCH as usize) as u64;
    let shared = Arc::new(handle::Shared {
        outbox: Mutex::new(outbox),
        journal,
        blocks: Mutex::new(BlockDesk::new(config.max_pending_blocks)),
        batch_max_config: batch_max,
        batch_max: AtomicU64::new(batch_max),
        batch_ready: Notify::new(),
        block_ready: Notify::new(),
        connected: AtomicBool::new(false),
        connect_attempts: AtomicU64::new(0),
        welcomes: AtomicU64::new(0),
        shares_refused: AtomicU64::new(0),
        events_dropped: AtomicU64::new(0),
        boot_renewals: AtomicU64::new(0),
        shares_lost_by_master: AtomicU64::new(0),
        jobs: watch::Sender::new(None),
        welcome: watch::Sender::new(None),
        settings: watch::Sender::new(None),
        pool_settings: watch::Sender::new(None),
        status: watch::Sender::new(LinkStatus::Connecting { attempt: 0 }),
        drain: watch::Sender::new(None),
        acked: watch::Sender::new(0),
        closing: watch::Sender::new(None),
        stop: watch::Sender::new(false),
        finished: watch::Sender::new(false),
        bans: Arc::new(BanList::new()),
        events: events_tx,
        stats_source: Mutex::new(None),
    });
    tracing::info!(
        url = %config.master_url,
        slave = %config.slave_id,
        boot_id = %boot_id,
        "starting the master link"
    );
    tokio::spawn(task::run(shared.clone(), config, endpoint, events_rx));
    Ok(LinkHandle::new(shared))
}

/// The outbox of a new boot, or with a journal the boot it resumes.
fn open_outbox(config: &LinkConfig) -> Result<(Outbox, Option<Journal>), LinkError> {
    let Some(journal_config) = &config.journal else {
        return Ok((Outbox::new(new_boot_id(), config.max_unacked_shares), None));
    };
    let (journal, restored) = Journal::open(journal_config, &config.slave_id, new_boot_id)
        .map_err(|error| LinkError::Journal(error.to_string()))?;
    if restored.torn_bytes > 0 {
        tracing::warn!(
            path = %journal_config.path.display(),
            torn_bytes = restored.torn_bytes,
            "share journal ended in a torn record (the slave died while writing it); dropped"
        );
    }
    tracing::info!(
        path = %journal_config.path.display(),
        boot_id = %restored.boot_id,
        resumed = restored.resumed,
        acked = restored.acked,
        held = restored.held.len(),
        "share journal opened"
    );
    let path = journal_config.path.display().to_string();
    let outbox = Outbox::restore(
        restored.boot_id,
        restored.acked,
        restored.held,
        config.max_unacked_shares,
    )
    .ok_or_else(|| {
        LinkError::Journal(format!(
            "share journal {path}: its shares are not numbered after its ack point"
        ))
    })?;
    Ok((outbox, Some(journal)))
}

/// A random 128-bit id for a boot, as 32 hex digits.
pub(crate) fn new_boot_id() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}
