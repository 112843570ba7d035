//! Opening the ledger's Redis connections: straight to `redis.url`, or to
//! the master that Redis Sentinel names, followed across failovers.
//!
//! With `redis.sentinels` set, the ledger asks the sentinels where the
//! master is, checks that the server there says it is a master (`ROLE`),
//! and asks again every [`SENTINEL_POLL`]. When the answer changes (a
//! replica was promoted) it opens connections to the new master and swaps
//! them in whole; calls already in flight on the old ones fail and are
//! retried by their callers, which is safe because every write is a script
//! that recognises its own replay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo};
use tos_pool_common::config::RedisConfig;

use crate::ledger::error::{LedgerError, redacted_url};

/// How long one Redis reply may take before the call fails (a failed write
/// is safe to retry: batches and transitions are recognised when replayed).
pub(super) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reconnection attempts per lost connection before calls fail (the next
/// call starts over).
const RECONNECT_RETRIES: usize = 6;

/// How often the sentinels are asked where the master is. Sentinel itself
/// takes `down-after-milliseconds` plus an election to fail over, so one
/// second adds little to a failover and costs one tiny command per second.
pub const SENTINEL_POLL: Duration = Duration::from_secs(1);

/// The connections every ledger call takes from, in turn; replaced whole
/// when the master moves.
#[derive(Debug)]
pub(super) struct ConnectionSet {
    current: RwLock<Arc<[ConnectionManager]>>,
    /// Where `current` points, for logs and the failover check.
    address: RwLock<String>,
    /// Times the connections were moved to another master.
    moves: AtomicU64,
}

impl ConnectionSet {
    fn new(connections: Vec<ConnectionManager>, address: String) -> ConnectionSet {
        ConnectionSet {
            current: RwLock::new(connections.into()),
            address: RwLock::new(address),
            moves: AtomicU64::new(0),
        }
    }

    /// The `index`-th connection (modulo the set's size), cheaply cloned.
    pub(super) fn get(&self, index: usize) -> ConnectionManager {
        let set = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        set[index % set.len()].clone()
    }

    /// How many connections the set holds.
    pub(super) fn len(&self) -> usize {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `host:port` of the Redis server the connections point at.
    pub(super) fn address(&self) -> String {
        self.address
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Times the set moved to another master since the start.
    pub(super) fn moves(&self) -> u64 {
        self.moves.load(Ordering::Relaxed)
    }

    fn replace(&self, connections: Vec<ConnectionManager>, address: String) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = connections.into();
        *self.address.write().unwrap_or_else(PoisonError::into_inner) = address;
        self.moves.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the sentinels are asked, and how.
#[derive(Debug, Clone)]
struct Sentinels {
    /// `host:port` of each sentinel, asked in order until one answers.
    addresses: Vec<String>,
    /// The monitored master's name.
    master_name: String,
    /// The sentinels' own password.
    password: Option<String>,
}

/// Opens connections as `redis` configures: to the URL's server, or to the
/// master the sentinels name.
#[derive(Debug, Clone)]
pub(super) struct Opener {
    /// The URL's connection info (database, credentials, TLS), password applied.
    base: ConnectionInfo,
    manager_config: ConnectionManagerConfig,
    pool_size: usize,
    connect_timeout: Duration,
    /// The URL with any password hidden, for errors and logs.
    url: String,
    sentinels: Option<Sentinels>,
}

impl Opener {
    /// Reads `redis.*`; fails only on a URL the client cannot parse.
    pub(super) fn new(config: &RedisConfig) -> Result<Opener, LedgerError> {
        let url = redacted_url(&config.url);
        let mut base = redis::IntoConnectionInfo::into_connection_info(config.url.as_str())
            .map_err(|source| LedgerError::BadUrl {
                url: url.clone(),
                source,
            })?;
        if let Some(password) = config.password.as_deref().filter(|p| !p.is_empty()) {
            let settings = base.redis_settings().clone().set_password(password);
            base = base.set_redis_settings(settings);
        }
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES);
        let sentinels = (!config.sentinels.is_empty()).then(|| Sentinels {
            addresses: config.sentinels.clone(),
            master_name: config.sentinel_master.clone(),
            password: config.sentinel_password.clone().filter(|p| !p.is_empty()),
        });
        Ok(Opener {
            base,
            manager_config,
            pool_size: usize::try_from(config.pool_size.max(1)).unwrap_or(1),
            connect_timeout: config.connect_timeout,
            url,
            sentinels,
        })
    }

    /// Opens the connection set and, with sentinels, starts the task that
    /// follows the master (it ends when the last ledger handle is dropped).
    pub(super) async fn open(&self) -> Result<Arc<ConnectionSet>, LedgerError> {
        let info = self.locate().await?;
        let address = describe(info.addr());
        let connections = self.connect(&info).await?;
        let set = Arc::new(ConnectionSet::new(connections, address));
        if let Some(sentinels) = &self.sentinels {
            tracing::info!(
                master = %set.address(),
                name = %sentinels.master_name,
                sentinels = sentinels.addresses.len(),
                "Redis master located through Sentinel"
            );
            tokio::spawn(follow_master(self.clone(), Arc::downgrade(&set)));
        }
        Ok(set)
    }

    /// The connection info of the server to use now: the URL's, or the
    /// sentinels' master with the URL's database, credentials and TLS.
    async fn locate(&self) -> Result<ConnectionInfo, LedgerError> {
        let Some(sentinels) = &self.sentinels else {
            return Ok(self.base.clone());
        };
        let (host, port) = self.ask_sentinels(sentinels).await?;
        let addr = match self.base.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host, port),
        };
        Ok(self.base.clone().set_addr(addr))
    }

    /// The master's `(host, port)` from the first sentinel that knows it.
    async fn ask_sentinels(&self, sentinels: &Sentinels) -> Result<(String, u16), LedgerError> {
        let mut last_error = String::from("no sentinel configured");
        for sentinel in &sentinels.addresses {
            match self.ask_sentinel(sentinel, sentinels).await {
                Ok(Some(master)) => return Ok(master),
                Ok(None) => {
                    last_error = format!(
                        "sentinel {sentinel} does not monitor a master named {:?}",
                        sentinels.master_name
                    );
                }
                Err(error) => last_error = format!("sentinel {sentinel}: {error}"),
            }
        }
        Err(LedgerError::NoSentinelMaster {
            name: sentinels.master_name.clone(),
            reason: last_error,
        })
    }

    async fn ask_sentinel(
        &self,
        sentinel: &str,
        sentinels: &Sentinels,
    ) -> Result<Option<(String, u16)>, redis::RedisError> {
        let mut info =
            redis::IntoConnectionInfo::into_connection_info(format!("redis://{sentinel}"))?;
        if let Some(password) = &sentinels.password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.connect_timeout));
        let mut connection = redis::Client::open(info)?
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&sentinels.master_name)
            .query_async(&mut connection)
            .await
    }

    /// `pool_size` connections to `info`, after checking the server there
    /// is a master (a sentinel's answer can be stale for a moment).
    async fn connect(&self, info: &ConnectionInfo) -> Result<Vec<ConnectionManager>, LedgerError> {
        let url = match &self.sentinels {
            Some(_) => format!("{} (via Sentinel)", describe(info.addr())),
            None => self.url.clone(),
        };
        let client = redis::Client::open(info.clone()).map_err(|source| LedgerError::BadUrl {
            url: url.clone(),
            source,
        })?;
        let mut connections = Vec::with_capacity(self.pool_size);
        for _ in 0..self.pool_size {
            let connect =
                ConnectionManager::new_with_config(client.clone(), self.manager_config.clone());
            match tokio::time::timeout(self.connect_timeout, connect).await {
                Ok(Ok(connection)) => connections.push(connection),
                Ok(Err(source)) => return Err(LedgerError::Connect { url, source }),
                Err(_) => {
                    return Err(LedgerError::ConnectTimeout {
                        url,
                        timeout: self.connect_timeout,
                    });
                }
            }
        }
        if self.sentinels.is_some()
            && let Some(first) = connections.first_mut()
        {
            let role: Vec<redis::Value> =
                redis::cmd("ROLE")
                    .query_async(first)
                    .await
                    .map_err(|source| LedgerError::Connect {
                        url: url.clone(),
                        source,
                    })?;
            let is_master =
                matches!(role.first(), Some(redis::Value::BulkString(bytes)) if bytes == b"master");
            if !is_master {
                return Err(LedgerError::NotMaster { url });
            }
        }
        Ok(connections)
    }
}

/// `host:port` (or the socket path) of a connection address.
fn describe(addr: &ConnectionAddr) -> String {
    match addr {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => format!("{other}"),
    }
}

/// Asks the sentinels every [`SENTINEL_POLL`] where the master is and moves
/// the connections when it changed; ends when the ledger is gone.
async fn follow_master(opener: Opener, set: Weak<ConnectionSet>) {
    let mut ticker = tokio::time::interval(SENTINEL_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(current) = set.upgrade().map(|set| set.address()) else {
            return;
        };
        let info = match opener.locate().await {
            Ok(info) => info,
            Err(error) => {
                tracing::warn!(%error, "cannot ask Redis Sentinel where the master is; keeping {current}");
                continue;
            }
        };
        let address = describe(info.addr());
        if address == current {
            continue;
        }
        match opener.connect(&info).await {
            Ok(connections) => {
                let Some(set) = set.upgrade() else { return };
                set.replace(connections, address.clone());
                tracing::warn!(
                    from = %current,
                    to = %address,
                    moves = set.moves(),
                    "Redis master moved (Sentinel failover): the ledger now writes to the new master"
                );
            }
            Err(error) => {
                tracing::warn!(%error, to = %address, "Sentinel names a new Redis master that cannot be used yet; retrying");
            }
        }
    }
}

/// Longest wait for replicas to confirm a write (`redis.min_replicas`).
const REPLICA_WAIT: Duration = Duration::from_secs(1);

impl super::Ledger {
    /// With `redis.min_replicas` > 0, waits (`WAIT`, at most
    /// [`REPLICA_WAIT`]) until that many replicas hold every write made so
    /// far on `connection`; fails when fewer confirm, so the caller does not
    /// acknowledge a write a failover could still lose.
    pub(super) async fn await_replicas(
        &self,
        connection: &mut ConnectionManager,
    ) -> Result<(), LedgerError> {
        if self.min_replicas == 0 {
            return Ok(());
        }
        let acked: u64 = redis::cmd("WAIT")
            .arg(self.min_replicas)
            .arg(u64::try_from(REPLICA_WAIT.as_millis()).unwrap_or(u64::MAX))
            .query_async(connection)
            .await
            .map_err(LedgerError::redis("waiting for replicas"))?;
        if acked < u64::from(self.min_replicas) {
            return Err(LedgerError::ReplicasBehind {
                acked,
                wanted: self.min_replicas,
            });
        }
        Ok(())
    }
}
