//! The HTTP side: routes, handlers and the listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cpu::{CpuOutput, CpuProfileError, CpuProfiler, MAX_SECONDS};
use super::heap::HeapProfileError;
use super::pprof_format::encode_gzip;
use super::tasks::{TaskRegistry, set_stage};
use super::{ProfilingError, goroutine, heap, index, symbol, threads};
use crate::config::ProfilingConfig;
use crate::http::HttpLimits;

/// CPU profile length when the request gives none, in seconds.
const DEFAULT_SECONDS: u64 = 30;

/// A running profiling server.
#[derive(Debug)]
pub struct ProfilingServer {
    /// The address it listens on (the real port when `bind` had port 0).
    pub local_addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl ProfilingServer {
    /// Waits until the server has stopped after the shutdown signal.
    pub async fn stopped(self) -> Result<(), ProfilingError> {
        match self.task.await {
            Ok(result) => result.map_err(ProfilingError::Serve),
            Err(err) => Err(ProfilingError::Serve(std::io::Error::other(err))),
        }
    }
}

/// Shared by the handlers.
#[derive(Debug)]
struct ServerState {
    cpu: CpuProfiler,
    stopping: watch::Receiver<bool>,
    tasks: Arc<TaskRegistry>,
}

/// Binds `config.bind` and serves the `/debug/pprof/` endpoints on the
/// current tokio runtime within `limits` (the `http` section; the longest CPU
/// profile window is added to its request timeout) until `shutdown`
/// completes (an in-flight CPU profile is then cut short). Call it only
/// when `profiling.enabled` is true.
pub async fn serve(
    config: &ProfilingConfig,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<ProfilingServer, ProfilingError> {
    let bind = config.bind;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| ProfilingError::Bind { bind, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ProfilingError::Bind { bind, source })?;
    let (stop_tx, stopping) = watch::channel(false);
    let tasks = TaskRegistry::global();
    let state = Arc::new(ServerState {
        cpu: CpuProfiler::default(),
        stopping,
        tasks: tasks.clone(),
    });
    let app = router(state);
    let task = tasks.spawn_named("profiling-server", async move {
        set_stage("serving /debug/pprof/");
        let signal = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        let limits = limits.with_request_timeout_at_least(
            limits.request_timeout + Duration::from_secs(MAX_SECONDS),
        );
        crate::http::serve("profiling", listener, app, limits, signal).await
    });
    tracing::info!(address = %local_addr, "profiling server listening on /debug/pprof/");
    Ok(ProfilingServer { local_addr, task })
}

fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/debug/pprof", get(index_page))
        .route("/debug/pprof/", get(index_page))
        .route("/debug/pprof/profile", get(cpu_profile))
        .route("/debug/pprof/flamegraph", get(flamegraph))
        .route("/debug/pprof/heap", get(heap_profile))
        .route("/debug/pprof/allocs", get(heap_profile))
        .route("/debug/pprof/goroutine", get(goroutines))
        .route("/debug/pprof/threadcreate", get(thread_list))
        .route("/debug/pprof/block", get(no_block_profile))
        .route("/debug/pprof/mutex", get(no_mutex_profile))
        .route("/debug/pprof/trace", get(no_trace))
        .route("/debug/pprof/cmdline", get(cmdline))
        .route("/debug/pprof/symbol", get(symbol_get).post(symbol_post))
        .with_state(state)
}

async fn index_page() -> Html<String> {
    Html(index::page(heap::is_active()))
}

/// `?seconds=N` of the CPU endpoints.
#[derive(Debug, Deserialize)]
struct WindowQuery {
    seconds: Option<u64>,
}

/// `?debug=N` of the listing endpoints.
#[derive(Debug, Deserialize)]
struct DebugQuery {
    debug: Option<u32>,
}

async fn cpu_profile(state: State<Arc<ServerState>>, query: Query<WindowQuery>) -> Response {
    cpu(state, query, CpuOutput::Pprof).await
}

async fn flamegraph(state: State<Arc<ServerState>>, query: Query<WindowQuery>) -> Response {
    cpu(state, query, CpuOutput::Flamegraph).await
}

async fn cpu(
    State(state): State<Arc<ServerState>>,
    Query(query): Query<WindowQuery>,
    output: CpuOutput,
) -> Response {
    let seconds = query.seconds.unwrap_or(DEFAULT_SECONDS);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("seconds={seconds} is out of range: ask for 1 to {MAX_SECONDS} seconds\n"),
        );
    }
    let window = Duration::from_secs(seconds);
    match state
        .cpu
        .collect(window, output, state.stopping.clone())
        .await
    {
        Ok(body) => match output {
            CpuOutput::Pprof => pprof_body(body, "profile"),
            CpuOutput::Flamegraph => {
                ([(header::CONTENT_TYPE, "image/svg+xml")], body).into_response()
            }
        },
        Err(err) => {
            let status = match err {
                CpuProfileError::Busy => StatusCode::CONFLICT,
                CpuProfileError::Unsupported => StatusCode::NOT_IMPLEMENTED,
                CpuProfileError::Profiler(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            text(status, format!("{err}\n"))
        }
    }
}

async fn heap_profile() -> Response {
    match heap::profile().await {
        Ok(body) => pprof_body(body, "heap"),
        Err(err @ HeapProfileError::NotActive) => {
            text(StatusCode::NOT_IMPLEMENTED, format!("{err}\n"))
        }
        Err(err) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")),
    }
}

async fn goroutines(
    State(state): State<Arc<ServerState>>,
    Query(query): Query<DebugQuery>,
) -> Response {
    let tasks = state.tasks.snapshot();
    if query.debug.unwrap_or(0) > 0 {
        let counters = goroutine::RuntimeCounters::current();
        return text(StatusCode::OK, goroutine::text(&tasks, counters));
    }
    pprof_body(
        encode_gzip(&goroutine::profile(&tasks, SystemTime::now())),
        "goroutine",
    )
}

async fn thread_list(Query(query): Query<DebugQuery>) -> Response {
    let threads = match threads::list() {
        Ok(threads) => threads,
        Err(err) => {
            return text(
                StatusCode::NOT_IMPLEMENTED,
                format!("cannot list threads from /proc/self/task (Linux only): {err}\n"),
            );
        }
    };
    if query.debug.unwrap_or(0) > 0 {
        return text(StatusCode::OK, threads::text(&threads));
    }
    pprof_body(encode_gzip(&threads::profile(&threads)), "threadcreate")
}

async fn no_block_profile() -> Response {
    text(
        StatusCode::NOT_IMPLEMENTED,
        "no block profile: Rust's async runtime does not record where tasks block. \
         Use tokio-console (build with --cfg tokio_unstable), the CPU profile \
         (/debug/pprof/profile) or `perf sched`.\n",
    )
}

async fn no_mutex_profile() -> Response {
    text(
        StatusCode::NOT_IMPLEMENTED,
        "no mutex profile: lock contention is not recorded. Use the CPU profile \
         (/debug/pprof/profile) to find time spent in locks, or `perf lock`.\n",
    )
}

async fn no_trace() -> Response {
    text(
        StatusCode::NOT_IMPLEMENTED,
        "no execution trace: there is no Go-style tracer. Use `perf record -g -p PID`, \
         tokio-console, or the goroutine and CPU profiles.\n",
    )
}

async fn cmdline() -> Response {
    let args: Vec<String> = std::env::args().collect();
    text(StatusCode::OK, args.join("\0"))
}

async fn symbol_get(RawQuery(query): RawQuery) -> Response {
    match query.filter(|q| !q.is_empty()) {
        Some(query) => symbol_lookup(query).await,
        None => text(StatusCode::OK, "num_symbols: 1\n"),
    }
}

async fn symbol_post(body: String) -> Response {
    symbol_lookup(body).await
}

async fn symbol_lookup(request: String) -> Response {
    let addresses = symbol::parse_addresses(&request);
    let job =
        tokio::task::spawn_blocking(move || symbol::lookup(&addresses, symbol::resolve_in_process));
    match job.await {
        Ok(answer) => text(StatusCode::OK, answer),
        Err(err) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("symbol lookup failed: {err}\n"),
        ),
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn pprof_body(body: Vec<u8>, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        body,
    )
        .into_response()
}
