//! The daemon's network face: JSON-RPC over HTTP POST and WebSocket on
//! `/json_rpc`, the `/control/<name>` endpoints, the accept loop (which can
//! close and rebind its port for the `refuse` fault) and the block producer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::control;
use super::daemon::Daemon;
use super::faults::{FaultMode, Faults};
use super::methods;
use super::rpc;
use super::websocket;

/// How long to wait between attempts to bind the port again after `refuse`.
const REBIND_RETRY: Duration = Duration::from_millis(20);

/// Everything the server's tasks share.
#[derive(Debug)]
pub struct Shared {
    /// The daemon.
    pub daemon: Daemon,
    /// The fault in force.
    pub faults: Faults,
    /// Set to a deadline to close the listener and cut connections until then.
    pub refuse: watch::Sender<Option<Instant>>,
    /// Bumped to cut every open connection.
    pub cut: watch::Sender<u64>,
    /// Set to true to stop every task.
    pub shutdown: watch::Sender<bool>,
}

impl Shared {
    /// Shared state around `daemon`.
    pub fn new(daemon: Daemon) -> Shared {
        Shared {
            daemon,
            faults: Faults::default(),
            refuse: watch::Sender::new(None),
            cut: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        }
    }

    /// Starts a fault for `duration`.
    pub fn fail(&self, mode: FaultMode, duration: Duration) {
        let now = Instant::now();
        self.faults.start(mode, now, duration);
        if mode == FaultMode::Refuse {
            self.refuse.send_replace(Some(now + duration));
        }
        tracing::info!(
            ?mode,
            duration_ms = duration.as_millis() as u64,
            "fault started"
        );
    }

    /// Resolves when the server shuts down.
    pub async fn stopped(&self) {
        let mut shutdown = self.shutdown.subscribe();
        let _ = shutdown.wait_for(|stop| *stop).await;
    }

    /// Resolves when open connections are to be cut (or on shutdown).
    pub async fn cut_or_stopped(&self) {
        let mut cut = self.cut.subscribe();
        tokio::select! {
            _ = cut.changed() => {}
            () = self.stopped() => {}
        }
    }
}

/// The HTTP routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/json_rpc", post(http_rpc).get(websocket::upgrade))
        .route("/control/{name}", post(control::route))
        .with_state(shared)
}

/// What a fault does to an RPC request; `None` lets it through.
pub async fn faulted(shared: &Shared) -> Option<Response> {
    match shared.faults.active(Instant::now()) {
        Some(FaultMode::Http500) => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "daemon fault injected: http500",
            )
                .into_response(),
        ),
        Some(FaultMode::Hang) => {
            // Never answer; give up only when the connection is cut.
            shared.cut_or_stopped().await;
            Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
        Some(FaultMode::Refuse) | None => None,
    }
}

async fn http_rpc(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    if let Some(response) = faulted(&shared).await {
        return response;
    }
    match rpc::answer(&body, |request| methods::call(&shared.daemon, request)) {
        Some(reply) => (
            [(header::CONTENT_TYPE, "application/json")],
            reply.to_string(),
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Accepts connections on `listener` until shutdown; on a `refuse` fault
/// closes it, cuts every connection and binds `addr` again when it ends.
pub async fn serve(mut listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>, app: Router) {
    let mut refuse = shared.refuse.subscribe();
    loop {
        tokio::select! {
            () = shared.stopped() => return,
            changed = refuse.changed() => {
                if changed.is_err() {
                    return;
                }
                let Some(until) = *refuse.borrow_and_update() else { continue };
                drop(listener);
                shared.cut.send_modify(|generation| *generation += 1);
                tracing::info!(%addr, "refusing connections");
                tokio::select! {
                    () = shared.stopped() => return,
                    () = tokio::time::sleep_until(until) => {}
                }
                let Some(rebound) = rebind(addr, &shared).await else { return };
                listener = rebound;
                tracing::info!(%addr, "accepting connections again");
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, shared.clone(), app.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
        }
    }
}

async fn rebind(addr: SocketAddr, shared: &Shared) -> Option<TcpListener> {
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Some(listener),
            Err(e) => tracing::warn!(%addr, error = %e, "binding again failed, retrying"),
        }
        tokio::select! {
            () = shared.stopped() => return None,
            () = tokio::time::sleep(REBIND_RETRY) => {}
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, app: Router) {
    let service = TowerToHyperService::new(app);
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut cut = shared.cut.subscribe();
    tokio::select! {
        _ = conn.as_mut() => return,
        () = shared.stopped() => return,
        _ = cut.changed() => {}
    }
    // Let an answer being written go out, then close.
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        () = shared.stopped() => {}
    }
}

/// Adds a block from the rest of the network every `interval` unless paused.
pub async fn produce(shared: Arc<Shared>, interval: Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shared.stopped() => return,
            _ = ticks.tick() => {
                if !shared.daemon.paused()
                    && let Err(error) = shared.daemon.advance(1)
                {
                    tracing::error!(%error, "block from other miners not added");
                }
            }
        }
    }
}
