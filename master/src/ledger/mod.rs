//! The master's Redis store: the exactly-once share ledger, miner and pool
//! stats, the PPLNS share log, block records, balances and payments.
//!
//! Every write is one Lua script call (the scripts sit beside this file), so
//! a write happens whole or not at all and a retried write is recognised.
//! Per-share work is summed in Rust first: Redis does one command per
//! distinct miner, worker and second of a batch, not per share. Key names
//! live in [`Keys`]; docs/REDIS.md describes every key, who writes it, its
//! expiry and its size.

mod audit;
mod batch;
mod blocks;
mod error;
mod keys;
mod payments;
mod settings;
mod share_log;
mod stats;
mod views;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tos_pool_common::config::RedisConfig;

pub use audit::AUDIT_LOG_LENGTH;
pub use batch::{BatchOutcome, Counted, MAX_SHARE_DIFFICULTY, counted};
pub use blocks::Balances;
pub use error::{LedgerError, redacted_url};
pub use keys::{Keys, segment, state_name};
pub use payments::{
    MinerPayment, Page, PaymentRecord, PaymentStatus, PaymentTransfer, PaymentUpdate, StoredPayment,
};
pub use settings::{HIGH_WATER_TTL, IDLE_TTL, LedgerSettings, SHARE_LOG_MARGIN};
pub use stats::{Activity, MinerStats, PoolStats, ShareCounts, StatsHash, WorkerStats, hashrate};
pub use views::BlockCounts;

/// How long one Redis reply may take before the call fails (a failed write
/// is safe to retry: batches and transitions are recognised when replayed).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reconnection attempts per lost connection before calls fail (the next
/// call starts over).
const RECONNECT_RETRIES: usize = 6;

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
    connections: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
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
    /// Connects to `redis.url` (with `redis.password` when set), within
    /// `redis.connect_timeout`, with default [`LedgerSettings`]; set the
    /// config's with [`with_settings`](Self::with_settings).
    pub async fn connect(config: &RedisConfig) -> Result<Ledger, LedgerError> {
        let url = redacted_url(&config.url);
        let bad_url = |source| LedgerError::BadUrl {
            url: url.clone(),
            source,
        };
        let mut info = redis::IntoConnectionInfo::into_connection_info(config.url.as_str())
            .map_err(bad_url)?;
        if let Some(password) = config.password.as_deref().filter(|p| !p.is_empty()) {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(bad_url)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES);
        let mut connections = Vec::new();
        for _ in 0..config.pool_size.max(1) {
            let connect =
                ConnectionManager::new_with_config(client.clone(), manager_config.clone());
            match tokio::time::timeout(config.connect_timeout, connect).await {
                Ok(Ok(connection)) => connections.push(connection),
                Ok(Err(source)) => return Err(LedgerError::Connect { url, source }),
                Err(_) => {
                    return Err(LedgerError::ConnectTimeout {
                        url,
                        timeout: config.connect_timeout,
                    });
                }
            }
        }
        tracing::info!(url = %url, prefix = %config.key_prefix, connections = connections.len(), "connected to Redis");
        Ok(Ledger {
            connections: connections.into(),
            next: Arc::new(AtomicUsize::new(0)),
            keys: Keys::new(&config.key_prefix),
            settings: LedgerSettings::default(),
            scripts: Arc::new(Scripts::new()),
        })
    }

    /// The next connection in turn (a cheap clone of its handle).
    fn connection(&self) -> ConnectionManager {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[index].clone()
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
