//! `web`: the pool's web page served by the master on `api.bind`: the
//! public endpoints it lists, the explorer it links to, and how often the
//! charts' history is sampled.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::duration;

/// `web`: the pool's web page and the history behind its charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// How often the master samples the pool's and each online miner's
    /// hashrate for the charts (the pool history keeps 7 days, a miner's
    /// 24 hours).
    #[serde(with = "duration")]
    pub sample_interval: Duration,
    /// Link of a transaction on a block explorer, `{tx}` standing for its
    /// hash; empty = the page shows hashes without links.
    pub explorer_tx_url: String,
    /// The public miner endpoints, shown on the Connect page.
    pub endpoints: Vec<WebEndpoint>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            sample_interval: Duration::from_secs(60),
            explorer_tx_url: String::new(),
            endpoints: Vec::new(),
        }
    }
}

/// One public endpoint miners connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebEndpoint {
    /// Where it is, as miners should read it (`Europe`, `US East`).
    pub region: String,
    /// The door behind it.
    pub protocol: EndpointProtocol,
    /// The URL a miner is given, with its scheme (`stratum+tcp://…:3333`,
    /// `stratum+ssl://…`, `ws://…`, `wss://…`, `xatum://…`).
    pub url: String,
}

/// The miner doors a slave opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointProtocol {
    /// Stratum over TCP (`stratum+tcp://`).
    Stratum,
    /// Stratum over TLS 1.2+ (`stratum+ssl://`).
    StratumTls,
    /// WebSocket GetWork (`ws://`).
    Websocket,
    /// WebSocket GetWork over TLS (`wss://`).
    WebsocketTls,
    /// Xatum, TLS only (`xatum://`).
    Xatum,
}

impl EndpointProtocol {
    /// The URL schemes an endpoint of this protocol may use.
    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            EndpointProtocol::Stratum => &["stratum+tcp://"],
            EndpointProtocol::StratumTls => &["stratum+ssl://", "stratum+tls://"],
            EndpointProtocol::Websocket => &["ws://"],
            EndpointProtocol::WebsocketTls => &["wss://"],
            EndpointProtocol::Xatum => &["xatum://"],
        }
    }

    /// The name in the config and the API (`stratum-tls`).
    pub fn name(self) -> &'static str {
        match self {
            EndpointProtocol::Stratum => "stratum",
            EndpointProtocol::StratumTls => "stratum-tls",
            EndpointProtocol::Websocket => "websocket",
            EndpointProtocol::WebsocketTls => "websocket-tls",
            EndpointProtocol::Xatum => "xatum",
        }
    }
}
