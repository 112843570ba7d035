//! Operations HTTP on `slave.http_bind`: `/healthz` (the process is up),
//! `/readyz` (connected to the master and not draining: the load balancer
//! sends miners only while it is 200) and `/metrics` (Prometheus text: the
//! slave's own `tospool_slave_*` series, then the `tos_pool_*` series New
//! Relic gets as `Custom/...`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tos_pool_common::http::HttpLimits;
use tos_pool_common::metrics::PROMETHEUS_CONTENT_TYPE;
use tos_pool_common::shutdown::Shutdown;

use crate::link::{LinkCounters, LinkHandle};
use crate::server::{CountersSnapshot, MinerReports, SlaveCounters};
use crate::validation::ValidationPool;

/// What the endpoints read.
#[derive(Clone)]
pub struct OpsState {
    /// The slave's counters.
    pub counters: Arc<SlaveCounters>,
    /// The master link.
    pub link: LinkHandle,
    /// True once the slave drains.
    pub draining: watch::Receiver<bool>,
    /// The hashing workers (queue depth).
    pub validation: ValidationPool,
    /// The pool metrics shared with New Relic (gauges, share outcomes,
    /// validation times).
    pub reports: MinerReports,
}

/// Why the slave is not ready, or Ok.
pub fn readiness(connected: bool, draining: bool) -> Result<(), &'static str> {
    if draining {
        return Err("draining: send new miners elsewhere");
    }
    if !connected {
        return Err("no master: waiting for the master link");
    }
    Ok(())
}

/// The routes.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves `router(state)` on `listener` within `limits` (the `http`
/// section: header and request timeouts, a connection cap) until `stop`
/// fires.
pub async fn serve_with(
    listener: TcpListener,
    state: OpsState,
    limits: HttpLimits,
    stop: Shutdown,
) {
    let addr = listener.local_addr().ok();
    let result = tos_pool_common::http::serve(
        "operations",
        listener,
        router(state),
        limits,
        stop.stopped(),
    )
    .await;
    if let Err(error) = result {
        tracing::error!(%error, ?addr, "operations HTTP server failed");
    }
}

/// Binds `addr` for the operations server.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn ready(State(state): State<OpsState>) -> Response {
    match readiness(state.link.is_connected(), *state.draining.borrow()) {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let counters = state.counters.snapshot();
    state.reports.record_gauges(&counters);
    let mut text = render_metrics(&Metrics {
        counters,
        link: state.link.counters(),
        connected: state.link.is_connected(),
        draining: *state.draining.borrow(),
        validation_queued: state.validation.queued() as u64,
    });
    // The numbers New Relic gets, under their `tos_pool_` names.
    text.push_str(&state.reports.metrics().render_prometheus());
    ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response()
}

/// Everything `/metrics` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// The slave's counters.
    pub counters: CountersSnapshot,
    /// The link's counters.
    pub link: LinkCounters,
    /// Welcomed by the master.
    pub connected: bool,
    /// Draining.
    pub draining: bool,
    /// Shares waiting for a hashing worker.
    pub validation_queued: u64,
}

/// The Prometheus text exposition of `m`.
pub fn render_metrics(m: &Metrics) -> String {
    let c = &m.counters;
    let mut out = String::with_capacity(4096);
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP tospool_slave_{name} {help}");
        let _ = writeln!(out, "# TYPE tospool_slave_{name} {kind}");
        let _ = writeln!(out, "tospool_slave_{name} {value}");
    };
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    metric(
        "connections_total",
        "counter",
        "Miner connections accepted.",
        c.connections_total as f64,
    );
    metric(
        "connections_refused_total",
        "counter",
        "Connections refused by policy (ban, per-IP limit).",
        c.connections_refused as f64,
    );
    metric(
        "sessions",
        "gauge",
        "Open miner sessions.",
        c.sessions as f64,
    );
    metric(
        "authorized_sessions",
        "gauge",
        "Sessions that logged in.",
        c.authorized_sessions as f64,
    );
    metric(
        "miners",
        "gauge",
        "Distinct miner addresses connected.",
        c.miners as f64,
    );
    metric(
        "workers",
        "gauge",
        "Distinct workers connected.",
        c.workers as f64,
    );
    metric(
        "shares_valid_total",
        "counter",
        "Valid shares recorded.",
        c.shares_valid as f64,
    );
    metric(
        "shares_stale_total",
        "counter",
        "Stale shares.",
        c.shares_stale as f64,
    );
    metric(
        "shares_invalid_total",
        "counter",
        "Invalid shares (duplicate, low difficulty, other).",
        c.shares_invalid as f64,
    );
    metric(
        "shares_busy_total",
        "counter",
        "Valid shares refused because the master link was backlogged.",
        c.shares_busy as f64,
    );
    metric(
        "shares_rate_limited_total",
        "counter",
        "Shares refused for the per-connection rate.",
        c.shares_rate_limited as f64,
    );
    metric(
        "blocks_found_total",
        "counter",
        "Block candidates found.",
        c.blocks_found as f64,
    );
    metric(
        "malformed_requests_total",
        "counter",
        "Malformed requests.",
        c.malformed_requests as f64,
    );
    metric(
        "bans_total",
        "counter",
        "IPs banned by this slave.",
        c.bans as f64,
    );
    metric(
        "slow_clients_total",
        "counter",
        "Miners disconnected for not reading.",
        c.slow_clients as f64,
    );
    metric(
        "hashrate",
        "gauge",
        "Estimated hashrate of connected miners, hashes per second.",
        c.hashrate,
    );
    metric(
        "validation_queued",
        "gauge",
        "Shares waiting for a hashing worker.",
        m.validation_queued as f64,
    );
    metric(
        "master_connected",
        "gauge",
        "1 while the master has welcomed this slave.",
        flag(m.connected),
    );
    metric(
        "draining",
        "gauge",
        "1 while the slave drains.",
        flag(m.draining),
    );
    metric(
        "unacked_shares",
        "gauge",
        "Shares not yet acked by the master.",
        m.link.unacked_shares as f64,
    );
    metric(
        "acked_seq",
        "gauge",
        "Highest share seq the master acked.",
        m.link.acked_seq as f64,
    );
    metric(
        "link_reconnects_total",
        "counter",
        "Master link sessions after the first.",
        m.link.reconnects as f64,
    );
    metric(
        "link_shares_refused_total",
        "counter",
        "Shares the link refused (unacked buffer full).",
        m.link.shares_refused as f64,
    );
    metric(
        "link_events_dropped_total",
        "counter",
        "Miner events, stats or bans dropped by the link.",
        m.link.events_dropped as f64,
    );
    metric(
        "link_boot_renewals_total",
        "counter",
        "New boots started because the master's share mark went back.",
        m.link.boot_renewals as f64,
    );
    metric(
        "link_shares_lost_by_master_total",
        "counter",
        "Shares the master acked and then lost (its Redis went back).",
        m.link.shares_lost_by_master as f64,
    );
    metric(
        "journal_syncs_total",
        "counter",
        "Syncs of the share journal to disk.",
        m.link.journal_syncs as f64,
    );
    metric(
        "journal_errors_total",
        "counter",
        "Failed writes or syncs of the share journal.",
        m.link.journal_errors as f64,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_a_master_and_not_draining() {
        assert_eq!(readiness(true, false), Ok(()));
        assert!(readiness(false, false).is_err());
        assert!(readiness(true, true).is_err());
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let text = render_metrics(&Metrics {
            counters: CountersSnapshot {
                shares_valid: 42,
                sessions: 3,
                ..CountersSnapshot::default()
            },
            connected: true,
            ..Metrics::default()
        });
        assert!(text.contains("# TYPE tospool_slave_shares_valid_total counter\n"));
        assert!(text.contains("\ntospool_slave_shares_valid_total 42\n"));
        assert!(text.contains("\ntospool_slave_sessions 3\n"));
        assert!(text.contains("\ntospool_slave_master_connected 1\n"));
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let mut parts = line.split(' ');
            let (Some(name), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
                panic!("bad sample line {line:?}");
            };
            assert!(name.starts_with("tospool_slave_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
