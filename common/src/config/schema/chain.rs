//! Sections about the pool itself and what the master talks to: `pool`,
//! `node` (TOS daemons) and `redis`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::duration;

/// `pool`: who the pool is and where its fee goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Display name, shown by the API and in notifications.
    pub name: String,
    /// The pool's address on the configured network: the fee is paid here and,
    /// unless `miner_key` is set, its public key goes in every header's miner
    /// field. Required.
    pub fee_address: String,
    /// Pool fee in percent of each block reward (0..=100).
    pub fee_percent: f64,
    /// 64-hex public key for the header's miner field; defaults to the key of
    /// `fee_address`. Must be the key the daemon signs VRF data with.
    pub miner_key: Option<String>,
    /// Region label of this instance, attached to telemetry.
    pub region: String,
    /// Instance id for telemetry and logs; defaults to the host name at start.
    pub node_id: Option<String>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            name: "TOS Pool".to_string(),
            fee_address: String::new(),
            fee_percent: 1.0,
            miner_key: None,
            region: "default".to_string(),
            node_id: None,
        }
    }
}

/// `node`: the TOS daemons the master takes templates from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Primary daemon JSON-RPC URL; the only upstream when `upstreams` is empty.
    pub url: String,
    /// Weighted daemons to fail over between; empty means just `url`.
    pub upstreams: Vec<UpstreamConfig>,
    /// How often each upstream is health-checked.
    #[serde(with = "duration")]
    pub health_check_interval: Duration,
    /// Consecutive failed checks before an upstream is taken out of rotation.
    pub max_failures: u32,
    /// Consecutive good checks before a failed upstream is used again.
    pub recovery_threshold: u32,
    /// Timeout of one JSON-RPC request.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// Subscribe to the daemon's `new_block_template` WebSocket push (polling
    /// every `mining.job_refresh_interval` stays as the fallback).
    pub use_websocket: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            url: "http://127.0.0.1:8080/json_rpc".to_string(),
            upstreams: Vec::new(),
            health_check_interval: Duration::from_secs(5),
            max_failures: 3,
            recovery_threshold: 2,
            request_timeout: Duration::from_secs(5),
            use_websocket: true,
        }
    }
}

impl NodeConfig {
    /// The upstreams to use: `upstreams`, or `url` alone (named `primary`,
    /// weight 1, `request_timeout`) when that list is empty.
    pub fn effective_upstreams(&self) -> Vec<UpstreamConfig> {
        if self.upstreams.is_empty() {
            vec![UpstreamConfig {
                name: "primary".to_string(),
                url: self.url.clone(),
                weight: 1,
                timeout: self.request_timeout,
            }]
        } else {
            self.upstreams.clone()
        }
    }
}

/// One daemon in `node.upstreams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Name used in logs and metrics.
    pub name: String,
    /// The daemon's JSON-RPC URL.
    pub url: String,
    /// Share of requests relative to the other healthy upstreams (≥ 1).
    #[serde(default = "UpstreamConfig::default_weight")]
    pub weight: u32,
    /// Timeout of one request to this daemon.
    #[serde(with = "duration", default = "UpstreamConfig::default_timeout")]
    pub timeout: Duration,
}

impl UpstreamConfig {
    fn default_weight() -> u32 {
        1
    }

    fn default_timeout() -> Duration {
        Duration::from_secs(5)
    }
}

/// `redis`: the master's store of record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` URL, database included.
    pub url: String,
    /// Password, when not already in the URL.
    pub password: Option<String>,
    /// Prefix of every key, so several pools can share one Redis.
    pub key_prefix: String,
    /// Redis connections the master keeps, each multiplexed; calls take them
    /// in turn.
    pub pool_size: u32,
    /// Timeout to establish a connection.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Redis Sentinels (`host:port`) to ask where the master is. When set,
    /// the host and port of `url` are not used (its database, credentials
    /// and TLS still are) and the master follows a failover without a
    /// restart. Empty (the default): connect to `url` directly.
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the master under (`sentinel monitor
    /// NAME ...`). Default `mymaster`.
    pub sentinel_master: String,
    /// Password of the sentinels themselves, when they require one.
    pub sentinel_password: Option<String>,
    /// Replicas that must hold each share batch before the slave is told it
    /// is stored (`WAIT`); 0 (the default) waits for none. With Sentinel, 1
    /// means a failover loses no acknowledged share.
    pub min_replicas: u32,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379/0".to_string(),
            password: None,
            key_prefix: "tospool".to_string(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            sentinels: Vec::new(),
            sentinel_master: "mymaster".to_string(),
            sentinel_password: None,
            min_replicas: 0,
        }
    }
}
