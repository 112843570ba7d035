//! The master's Redis store: the exactly-once share ledger, miner and pool
//! stats, the PPLNS share log, block records, balances and payments.
//!
//! Every write is one Lua script call (the scripts sit beside this file), so
//! a write happens whole or not at all and a retried write is recognised.
//! Per-share work is summed in Rust first: Redis does one command per
//! distinct miner, worker and second of a batch, not per share. Key names
//! live in [`Keys`]; docs/REDIS.md describes every key, who writes it, its
//! expiry and its size.

mod access;
mod audit;
mod backup;
mod batch;
mod blocks;
mod connect;
mod error;
mod history;
mod keys;
mod payments;
mod rounds;
mod settings;
mod share_log;
mod stats;
mod views;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis::aio::ConnectionManager;
use tos_pool_common::config::RedisConfig;

pub use access::AccessList;
pub use audit::AUDIT_LOG_LENGTH;
pub use backup::{Backup, BackupBalances};
pub use batch::{BatchOutcome, Counted, MAX_SHARE_DIFFICULTY, counted};
pub use blocks::Balances;
pub use connect::SENTINEL_POLL;
pub use error::{LedgerError, redacted_url};
pub use history::{MINER_SAMPLE_WIDTH, POOL_SAMPLE_WIDTH};
pub use keys::{Keys, segment, state_name};
pub use payments::{
    MinerPayment, Page, PaymentRecord, PaymentStatus, PaymentTransfer, PaymentUpdate,
    QuarantineCause, QuarantineEntry, StoredPayment,
};
pub use settings::{HIGH_WATER_TTL, IDLE_TTL, LedgerSettings, SHARE_LOG_MARGIN};
pub use stats::{Activity, MinerStats, PoolStats, ShareCounts, StatsHash, WorkerStats, hashrate};
pub use views::BlockCounts;

/// The Lua scripts, loaded into Redis on first use.
struct Scripts {
    record_batch: redis::Script,
    share_log_page: redis::Script,
    share_log_trim: redis::Script,
    insert_candidate: redis::Script,
    apply_transition: redis::Script,
    payment_begin: redis::Script,
    payment_update: redis::Script,
    lock_renew: redis::Script,
    lock_release: redis::Script,
    audit_append: redis::Script,
    round_close: redis::Script,
    sum_hash: redis::Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            record_batch: redis::Script::new(include_str!("scripts/record_batch.lua")),
            share_log_page: redis::Script::new(include_str!("scripts/share_log_page.lua")),
            share_log_trim: redis::Script::new(include_str!("scripts/share_log_trim.lua")),
            insert_candidate: redis::Script::new(include_str!("scripts/insert_candidate.lua")),
            apply_transition: redis::Script::new(include_str!("scripts/apply_transition.lua")),
            payment_begin: redis::Script::new(include_str!("scripts/payment_begin.lua")),
            payment_update: redis::Script::new(include_str!("scripts/payment_update.lua")),
            lock_renew: redis::Script::new(include_str!("scripts/lock_renew.lua")),
            lock_release: redis::Script::new(include_str!("scripts/lock_release.lua")),
            audit_append: redis::Script::new(include_str!("scripts/audit_append.lua")),
            round_close: redis::Script::new(include_str!("scripts/round_close.lua")),
            sum_hash: redis::Script::new(include_str!("scripts/sum_hash.lua")),
        }
    }
}

/// A handle on the Redis store; cheap to clone and share between tasks.
/// It holds `redis.pool_size` multiplexed connections that reconnect by
/// themselves, and each call takes the next one in turn, so one slow reply
/// (a long script, a big read) holds up only the calls behind it on its own
/// connection.
#[derive(Clone)]
pub struct Ledger {
    connections: Arc<connect::ConnectionSet>,
    next: Arc<AtomicUsize>,
    /// Replicas that must hold a share batch before it is acknowledged.
    min_replicas: u32,
    keys: Keys,
    settings: LedgerSettings,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("prefix", &self.keys.prefix())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Connects to `redis.url` (with `redis.password` when set), or to the
    /// master `redis.sentinels` name, within `redis.connect_timeout`, with
    /// default [`LedgerSettings`]; set the config's with
    /// [`with_settings`](Self::with_settings).
    pub async fn connect(config: &RedisConfig) -> Result<Ledger, LedgerError> {
        let connections = connect::Opener::new(config)?.open().await?;
        tracing::info!(
            url = %redacted_url(&config.url),
            server = %connections.address(),
            prefix = %config.key_prefix,
            connections = connections.len(),
            "connected to Redis"
        );
        Ok(Ledger {
            connections,
            next: Arc::new(AtomicUsize::new(0)),
            min_replicas: config.min_replicas,
            keys: Keys::new(&config.key_prefix),
            settings: LedgerSettings::default(),
            scripts: Arc::new(Scripts::new()),
        })
    }

    /// The next connection in turn (a cheap clone of its handle).
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.connections
            .get(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// `host:port` of the Redis server the ledger writes to now (with
    /// Sentinel, the current master).
    pub fn server(&self) -> String {
        self.connections.address()
    }

    /// Times the ledger followed a Sentinel failover to a new master.
    pub fn failovers(&self) -> u64 {
        self.connections.moves()
    }

    /// The same ledger with other settings (hashrate windows, PPLNS window,
    /// expiries).
    pub fn with_settings(mut self, settings: LedgerSettings) -> Ledger {
        self.settings = settings;
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &LedgerSettings {
        &self.settings
    }

    /// The key names under the configured prefix.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }
}
