//! Sections about serving people and operators: `api`, `security`, `notify`,
//! `log`, `profiling` and `newrelic`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::duration;

/// `api`: the master's REST API and dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the API on this master.
    pub enabled: bool,
    /// Listen address of the API.
    pub bind: SocketAddr,
    /// How long computed pool stats are cached.
    #[serde(with = "duration")]
    pub stats_cache: Duration,
    /// Origins allowed by CORS; empty = same origin only, `*` = any.
    pub cors_origins: Vec<String>,
    /// Password of the admin endpoints (≥ 12 characters); absent = disabled.
    pub admin_password: Option<String>,
    /// Failed admin logins from one address (an IPv6 /64 counts as one)
    /// before it is refused with 429 for `admin_lockout`.
    pub admin_max_failures: u32,
    /// How long an address is refused after `admin_max_failures` failed
    /// logins, counted from the last one; failures older than this are
    /// forgotten.
    #[serde(with = "duration")]
    pub admin_lockout: Duration,
    /// Items per page when the request names none.
    pub page_size: u32,
    /// Largest page a request may ask for.
    pub max_page_size: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8000)),
            stats_cache: Duration::from_secs(5),
            cors_origins: Vec::new(),
            admin_password: None,
            admin_max_failures: 5,
            admin_lockout: Duration::from_secs(300),
            page_size: 50,
            max_page_size: 500,
        }
    }
}

/// `security`: limits and bans on the miner-facing listeners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Open miner connections allowed on one slave, all doors together
    /// (0 = unlimited). Keep it below the process's open-files limit.
    pub max_connections: u32,
    /// Open connections allowed from one IP (0 = unlimited).
    pub max_connections_per_ip: u32,
    /// IPv6 addresses count as one for connection limits, malformed-request
    /// counts and bans per network of this prefix length (1..=128; 64, one
    /// site's network, by default; 128 = per address). IPv4 addresses
    /// always count one by one.
    pub ipv6_prefix: u8,
    /// Shares per second allowed on one connection (0 = unlimited).
    pub max_shares_per_second: u32,
    /// Ban an IP whose invalid shares exceed this percent of the check window
    /// (0..=100; 0 = never ban for invalid shares).
    pub ban_invalid_percent: f64,
    /// Shares counted before the invalid ratio is judged.
    pub ban_check_window: u32,
    /// Malformed requests from one IP before it is banned (0 = never).
    pub ban_malformed_requests: u32,
    /// How long a ban lasts.
    #[serde(with = "duration")]
    pub ban_duration: Duration,
    /// Addresses refused at login.
    pub blacklist: Vec<String>,
    /// If not empty, the only addresses accepted at login.
    pub whitelist: Vec<String>,
    /// Largest request line or frame in bytes.
    pub max_request_size: usize,
    /// A connection that sends nothing for this long after connecting is closed.
    #[serde(with = "duration")]
    pub first_message_timeout: Duration,
    /// A connection silent for this long is closed.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            max_connections: 30_000,
            max_connections_per_ip: 100,
            ipv6_prefix: 64,
            max_shares_per_second: 100,
            ban_invalid_percent: 50.0,
            ban_check_window: 100,
            ban_malformed_requests: 10,
            ban_duration: Duration::from_secs(600),
            blacklist: Vec::new(),
            whitelist: Vec::new(),
            max_request_size: 4096,
            first_message_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// `notify`: messages to operators about blocks and payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Discord webhook URL; absent = no Discord messages.
    pub discord_webhook: Option<String>,
    /// Telegram bot token; needs `telegram_chat_id`.
    pub telegram_bot_token: Option<String>,
    /// Telegram chat to post in.
    pub telegram_chat_id: Option<String>,
    /// Base URL of the Telegram Bot API (a self-hosted `telegram-bot-api`
    /// server, or a stand-in in tests); messages go to
    /// `<url>/bot<token>/sendMessage`.
    pub telegram_api_url: String,
    /// Notify when a block is found.
    pub on_block_found: bool,
    /// Notify when a block is orphaned.
    pub on_block_orphaned: bool,
    /// Notify when a payout transaction is sent.
    pub on_payment: bool,
    /// Timeout of one notification request.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Retries of a failed notification.
    pub retries: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            discord_webhook: None,
            telegram_bot_token: None,
            telegram_chat_id: None,
            telegram_api_url: "https://api.telegram.org".to_owned(),
            on_block_found: true,
            on_block_orphaned: true,
            on_payment: true,
            timeout: Duration::from_secs(10),
            retries: 3,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Console,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `log`: what is logged and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` EnvFilter directive, e.g. `info` or `info,tos_pool_slave=debug`;
    /// `RUST_LOG` overrides it when set.
    pub level: String,
    /// `console` or `json`.
    pub format: LogFormat,
    /// Also append log lines to this file.
    pub file: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            format: LogFormat::Console,
            file: None,
        }
    }
}

/// `profiling`: the CPU/heap profiling HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfilingConfig {
    /// Serve profiles.
    pub enabled: bool,
    /// Listen address; must be loopback unless `allow_remote`.
    pub bind: SocketAddr,
    /// Allow a non-loopback `bind`.
    pub allow_remote: bool,
}

impl Default for ProfilingConfig {
    fn default() -> Self {
        ProfilingConfig {
            enabled: false,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 6060)),
            allow_remote: false,
        }
    }
}

/// The New Relic data centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NewRelicRegion {
    /// United States.
    #[default]
    Us,
    /// European Union.
    Eu,
}

/// `newrelic`: OTLP export of metrics, traces and share events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewRelicConfig {
    /// Export to New Relic (needs `license_key` and `app_name`).
    pub enabled: bool,
    /// Service name reported.
    pub app_name: String,
    /// Ingest license key; best set through `TOS_POOL_NEWRELIC_LICENSE_KEY`.
    pub license_key: Option<String>,
    /// Data centre: `us` or `eu`.
    pub region: NewRelicRegion,
    /// OTLP base URL overriding the region's.
    pub endpoint: Option<String>,
    /// Time between metric exports.
    #[serde(with = "duration")]
    pub export_interval: Duration,
    /// Fraction of shares sent as events (0..=1).
    pub share_event_sample_rate: f64,
    /// Cap on share events per second.
    pub max_share_events_per_second: u32,
}

impl Default for NewRelicConfig {
    fn default() -> Self {
        NewRelicConfig {
            enabled: false,
            app_name: "tos-pool".to_string(),
            license_key: None,
            region: NewRelicRegion::Us,
            endpoint: None,
            export_interval: Duration::from_secs(10),
            share_event_sample_rate: 0.01,
            max_share_events_per_second: 100,
        }
    }
}

impl NewRelicConfig {
    /// The OTLP base URL to export to: `endpoint`, or the region's.
    pub fn otlp_endpoint(&self) -> &str {
        match (&self.endpoint, self.region) {
            (Some(endpoint), _) => endpoint,
            (None, NewRelicRegion::Us) => "https://otlp.nr-data.net",
            (None, NewRelicRegion::Eu) => "https://otlp.eu01.nr-data.net",
        }
    }
}
