//! `GET /api/connect`: what the Connect page shows and the page needs to
//! know once: the network and its address prefix, the public endpoints per
//! region (`web.endpoints`), and the explorer link (`web.explorer_tx_url`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::ApiState;

/// The answer of `/api/connect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectView {
    /// `mainnet`, `testnet`, `stagenet` or `devnet`.
    pub network: String,
    /// What the network's addresses start with (`tos1`, `tst1`).
    pub address_prefix: String,
    /// The public endpoints, in config order.
    pub endpoints: Vec<EndpointView>,
    /// A transaction's explorer link with `{tx}` for its hash; `None` when
    /// no explorer is configured.
    pub explorer_tx_url: Option<String>,
}

/// One public endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointView {
    /// Where it is.
    pub region: String,
    /// `stratum`, `stratum-tls`, `websocket`, `websocket-tls` or `xatum`.
    pub protocol: &'static str,
    /// The URL to give a miner.
    pub url: String,
}

/// The handler.
pub async fn handler(State(state): State<ApiState>) -> Json<ConnectView> {
    let web = &state.inner.web;
    Json(ConnectView {
        network: state.inner.network.to_string(),
        address_prefix: format!("{}1", state.inner.network.address_prefix()),
        endpoints: web
            .endpoints
            .iter()
            .map(|endpoint| EndpointView {
                region: endpoint.region.clone(),
                protocol: endpoint.protocol.name(),
                url: endpoint.url.clone(),
            })
            .collect(),
        explorer_tx_url: Some(web.explorer_tx_url.clone()).filter(|url| !url.is_empty()),
    })
}
