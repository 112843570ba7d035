//! The config schema: one [`Config`] for both roles. Every section is optional;
//! its defaults live in the section's `Default` impl and nowhere else.

mod chain;
mod cluster;
mod http;
mod mining;
mod service;
mod web;

use serde::{Deserialize, Serialize};

use crate::network::Network;

pub use chain::{NodeConfig, PoolConfig, RedisConfig, UpstreamConfig};
pub use cluster::{MasterConfig, SlaveConfig};
pub use http::HttpConfig;
pub use mining::{MiningConfig, PayoutsConfig, PplnsConfig, UnlockerConfig, ValidationConfig};
pub use service::{
    ApiConfig, LogConfig, LogFormat, NewRelicConfig, NewRelicRegion, NotifyConfig, ProfilingConfig,
    SecurityConfig,
};
pub use web::{EndpointProtocol, WebConfig, WebEndpoint};

/// The whole configuration of a master or a slave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The TOS network served: `mainnet`, `testnet`, `stagenet` or `devnet`.
    pub network: Network,
    /// Pool identity and fee.
    pub pool: PoolConfig,
    /// TOS daemons (master).
    pub node: NodeConfig,
    /// Store of record (master).
    pub redis: RedisConfig,
    /// Slave gateway; its `secret` is read by both roles.
    pub master: MasterConfig,
    /// Edge node (slave).
    pub slave: SlaveConfig,
    /// Difficulty, vardiff and jobs.
    pub mining: MiningConfig,
    /// Share validation.
    pub validation: ValidationConfig,
    /// Block unlocker (master).
    pub unlocker: UnlockerConfig,
    /// PPLNS window (master).
    pub pplns: PplnsConfig,
    /// Payouts (master).
    pub payouts: PayoutsConfig,
    /// REST API (master).
    pub api: ApiConfig,
    /// Connection limits and bans (slave).
    pub security: SecurityConfig,
    /// Operator notifications (master).
    pub notify: NotifyConfig,
    /// Logging.
    pub log: LogConfig,
    /// Profiling server.
    pub profiling: ProfilingConfig,
    /// Limits of every HTTP server (API, profiling, slave operations).
    pub http: HttpConfig,
    /// New Relic export.
    pub newrelic: NewRelicConfig,
    /// The pool's web page and its charts' history (master).
    pub web: WebConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network: Network::Mainnet,
            pool: PoolConfig::default(),
            node: NodeConfig::default(),
            redis: RedisConfig::default(),
            master: MasterConfig::default(),
            slave: SlaveConfig::default(),
            mining: MiningConfig::default(),
            validation: ValidationConfig::default(),
            unlocker: UnlockerConfig::default(),
            pplns: PplnsConfig::default(),
            payouts: PayoutsConfig::default(),
            api: ApiConfig::default(),
            security: SecurityConfig::default(),
            notify: NotifyConfig::default(),
            log: LogConfig::default(),
            profiling: ProfilingConfig::default(),
            http: HttpConfig::default(),
            newrelic: NewRelicConfig::default(),
            web: WebConfig::default(),
        }
    }
}
