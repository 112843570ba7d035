//! The one way this project serves HTTP: the master's API, the profiling
//! server and the slave's operations server all go through [`serve`], which
//! bounds what one client can hold (the `http` config section):
//!
//! - a request's head must arrive within `http.header_timeout`, counted from
//!   when the server starts waiting for it, on a new or a kept-alive
//!   connection; a half-sent request (slowloris) or an idle connection is
//!   closed then;
//! - a request must be read and answered within the request timeout
//!   (`http.request_timeout`; the profiling server adds its longest CPU
//!   profile window); a late one is answered 503;
//! - at most `http.max_connections` connections are open at once; one beyond
//!   it is answered 503 and closed at once.
//!
//! Every request carries the peer's address as
//! [`axum::extract::ConnectInfo<SocketAddr>`], for per-address limits.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::config::HttpConfig;
use crate::config::format_duration;

/// What one HTTP server allows a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest wait for a request's head.
    pub header_timeout: Duration,
    /// Longest a request may take, body and answer included.
    pub request_timeout: Duration,
    /// Connections open at once.
    pub max_connections: u32,
}

impl HttpLimits {
    /// The limits of the `http` section.
    pub fn from_config(config: &HttpConfig) -> HttpLimits {
        HttpLimits {
            header_timeout: config.header_timeout,
            request_timeout: config.request_timeout,
            max_connections: config.max_connections.max(1),
        }
    }

    /// The same limits with a request timeout of at least `floor` (for
    /// endpoints whose answer takes a known time, such as a CPU profile).
    pub fn with_request_timeout_at_least(mut self, floor: Duration) -> HttpLimits {
        self.request_timeout = self.request_timeout.max(floor);
        self
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits::from_config(&HttpConfig::default())
    }
}

/// Shortest time between two warnings about refused connections.
const REFUSAL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Pause after an accept error that is not about one connection (out of
/// file descriptors, for one), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What a connection beyond the cap is told before it is closed.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 79\r\n\
\r\n\
{\"error\":\"too many open connections (http.max_connections): retry in a moment\"}";

/// Serves `router` on `listener` within `limits` until `shutdown` resolves;
/// then stops accepting, lets the open requests finish (each within its
/// timeouts) and returns. `name` names the server in logs.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (stop, stopping) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut refused = Refusals::default();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !is_connection_error(&error) {
                        tracing::warn!(server = name, %error, "cannot accept a connection; pausing");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse(&stream);
            refused.note(name, limits.max_connections);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            connection_service(router.clone(), peer, limits.request_timeout),
        );
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut connection = pin!(connection);
            let stop = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends.
    let _ = permits.acquire_many(limits.max_connections).await;
    Ok(())
}

/// The service of one connection: the router, with the peer's address in
/// each request and the request timeout around each answer.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    request_timeout: Duration,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone {
    let app = TowerToHyperService::new(router);
    hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let answer = app.call(request);
        async move {
            match tokio::time::timeout(request_timeout, answer).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(never)) => match never {},
                Err(_) => Ok(late(request_timeout)),
            }
        }
    })
}

/// The answer to a request that took longer than `request_timeout`.
fn late(request_timeout: Duration) -> Response<Body> {
    let body = serde_json::json!({
        "error": format!(
            "the request took longer than {} (http.request_timeout): send it whole and retry",
            format_duration(request_timeout)
        )
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Tells a connection beyond the cap why it is closed, without waiting on
/// it: a fresh socket's send buffer takes the few bytes at once.
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(FULL);
}

/// Counts refused connections and warns at most every
/// [`REFUSAL_WARNING_EVERY`], so a flood does not flood the log too.
#[derive(Debug, Default)]
struct Refusals {
    since_warning: u64,
    warned_at: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, server: &'static str, max_connections: u32) {
        self.since_warning += 1;
        let due = self
            .warned_at
            .is_none_or(|at| at.elapsed() >= REFUSAL_WARNING_EVERY);
        if due {
            tracing::warn!(
                server,
                refused = self.since_warning,
                max_connections,
                "HTTP connections refused: http.max_connections are open"
            );
            self.since_warning = 0;
            self.warned_at = Some(Instant::now());
        }
    }
}

/// Whether an accept error is about one connection only (the peer gave
/// up), rather than about the listener or the process.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_whole_http_answer() {
        let text = std::str::from_utf8(FULL).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .expect("a content length")
            .parse()
            .expect("a number");
        assert_eq!(body.len(), length);
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }

    #[test]
    fn a_profile_window_raises_the_request_timeout_only() {
        let limits = HttpLimits::default();
        let raised = limits.with_request_timeout_at_least(Duration::from_secs(330));
        assert_eq!(raised.request_timeout, Duration::from_secs(330));
        assert_eq!(raised.header_timeout, limits.header_timeout);
        let kept = limits.with_request_timeout_at_least(Duration::from_secs(1));
        assert_eq!(kept, limits);
    }
}
