//! The master's REST API (`api.*`), served with axum on `api.bind`.
//!
//! Public: `GET /api/stats` (cached for `api.stats_cache`), `/api/blocks`,
//! `/api/payments`, `/api/miners/{address}`, `/api/miners/{address}/payments`,
//! `/health` and `/metrics` (Prometheus text). Admin, behind
//! `api.admin_password` (Bearer or Basic, constant time):
//! `/api/admin/upstreams`, `/api/admin/slaves`, `/api/admin/bans`,
//! `/api/admin/payments/pending`, `POST /api/admin/payments/{id}/resolve`,
//! `/api/admin/quarantine`, `DELETE /api/admin/quarantine/{address}`,
//! `/api/admin/audit`, `/api/admin/blocks/unrecorded`,
//! `POST /api/admin/blocks`. Failed admin logins are throttled per address (429
//! with `Retry-After`), and every admin action is audited (`audit`).
//! Lists are paged (`?page=&limit=` or `?offset=&limit=`) and carry their
//! total; every failure is a JSON `{"error": …}` with its status. docs/API.md
//! lists every endpoint with an example answer.
//!
//! The web page (`web`, docs/WEB.md) is served on the same bind: `/`,
//! `/blocks`, `/payments`, `/connect`, `/miners/{address}` and its assets,
//! drawing from the JSON API and from `/api/chart/*`,
//! `/api/miners/{address}/chart`, `/api/luck` and `/api/connect`.

mod admin;
mod admin_backup;
mod admin_blocks;
mod admin_lists;
mod audit;
mod auth;
mod blocks;
mod cache;
mod charts;
mod connect;
mod cors;
mod error;
mod health;
mod luck;
mod miners;
mod page;
mod payments;
mod quarantine;
mod stats;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{StatusCode, Uri};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tos_pool_common::address::Address;
use tos_pool_common::config::{Config, WebConfig};
use tos_pool_common::http::HttpLimits;
use tos_pool_common::metrics::Metrics;
use tos_pool_common::network::Network;
use tos_pool_common::shutdown::Shutdown;

use crate::blocks::BlockAdder;
use crate::gateway::Gateway;
use crate::jobs::JobManager;
use crate::ledger::Ledger;
use crate::payouts::Payouts;
use crate::upstream::UpstreamPool;

pub use admin_lists::canonical_ip_entry;
pub use audit::{AdminCaller, AuditEntry};
pub use auth::{AdminPassword, AuthFailure, LoginThrottle, MAX_THROTTLED_ADDRESSES, Strike};
pub use cache::{Cached, StatsCache};
pub use cors::CorsPolicy;
pub use error::{ApiError, ErrorBody};
pub use page::{PageQuery, PageWindow, Paged, window};
pub use stats::{NetworkView, PoolView, StatsView, network_hashrate};
pub use web::{ASSETS, Asset, WebAssets};

/// The parts of the master the API reads.
#[derive(Debug, Clone)]
pub struct ApiParts {
    /// The share ledger (stats, blocks, balances).
    pub ledger: Arc<Ledger>,
    /// The upstream daemons (network stats, health, admin).
    pub upstreams: Arc<UpstreamPool>,
    /// The job manager (network height and difficulty when no daemon answers).
    pub jobs: Arc<JobManager>,
    /// The slave gateway (connected slaves, bans).
    pub gateway: Gateway,
    /// The master's metrics, rendered at `/metrics`.
    pub metrics: Metrics,
    /// The payout service when `payouts.enabled` (operator resolution of
    /// pending payments).
    pub payouts: Option<Payouts>,
    /// Adds the pool's unrecorded blocks (`POST /api/admin/blocks`).
    pub block_adder: Arc<BlockAdder>,
}

/// What every handler shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    parts: ApiParts,
    network: Network,
    fee_percent: f64,
    page_size: u32,
    max_page_size: u32,
    admin: Option<AdminPassword>,
    throttle: Mutex<LoginThrottle>,
    admin_lockout_ms: u64,
    ban_duration_ms: u64,
    stats: StatsCache<StatsView>,
    payouts: PayoutRules,
    sample_interval: Duration,
    web: WebConfig,
}

/// The payout rules `/api/stats` shows.
#[derive(Debug)]
struct PayoutRules {
    enabled: bool,
    threshold: u64,
    interval_ms: u64,
    mature_depth: u64,
}

impl ApiState {
    /// The API state for `config` (`api.*`, the network, `pool.fee_percent`).
    pub fn new(config: &Config, parts: ApiParts) -> ApiState {
        let api = &config.api;
        let ttl_ms = u64::try_from(api.stats_cache.as_millis()).unwrap_or(u64::MAX);
        let admin_lockout_ms = u64::try_from(api.admin_lockout.as_millis()).unwrap_or(u64::MAX);
        ApiState {
            inner: Arc::new(Inner {
                parts,
                network: config.network,
                fee_percent: config.pool.fee_percent,
                page_size: api.page_size,
                max_page_size: api.max_page_size,
                admin: api
                    .admin_password
                    .as_deref()
                    .filter(|password| !password.is_empty())
                    .map(AdminPassword::new),
                throttle: Mutex::new(LoginThrottle::new(api.admin_max_failures, admin_lockout_ms)),
                admin_lockout_ms,
                ban_duration_ms: u64::try_from(config.security.ban_duration.as_millis())
                    .unwrap_or(u64::MAX),
                stats: StatsCache::new(ttl_ms),
                payouts: PayoutRules {
                    enabled: config.payouts.enabled,
                    threshold: config.payouts.threshold,
                    interval_ms: u64::try_from(config.payouts.interval.as_millis())
                        .unwrap_or(u64::MAX),
                    mature_depth: config.unlocker.mature_depth,
                },
                sample_interval: config.web.sample_interval,
                web: config.web.clone(),
            }),
        }
    }

    fn parts(&self) -> &ApiParts {
        &self.inner.parts
    }

    /// The failed-login counts; a panic elsewhere leaves plain data, used as
    /// it is.
    fn throttle(&self) -> MutexGuard<'_, LoginThrottle> {
        self.inner
            .throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn window(&self, query: &PageQuery) -> Result<PageWindow, ApiError> {
        window(query, self.inner.page_size, self.inner.max_page_size)
    }

    /// Reads the miner address of a path: a TOS address of the pool's
    /// network, in its canonical form; anything else is a 400 with the
    /// reason.
    fn miner_address(&self, path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
        let network = self.inner.network;
        let Path(text) = path.map_err(|rejection| {
            ApiError::BadRequest(format!(
                "the address in the path is unreadable: {rejection}"
            ))
        })?;
        let address = Address::parse(text.trim(), network).map_err(|error| {
            ApiError::BadRequest(format!("{text:?} is not a {network} address: {error}"))
        })?;
        Ok(address.to_string())
    }

    /// How many times the pool stats were computed (once per
    /// `api.stats_cache` at most).
    pub fn stats_computations(&self) -> u64 {
        self.inner.stats.computations()
    }
}

/// The whole API: routes, CORS per `cors`, JSON 404 for unknown paths.
pub fn router(state: ApiState, cors: CorsPolicy) -> Router {
    let admin_routes = Router::new()
        .route("/upstreams", get(admin::upstreams))
        .route("/slaves", get(admin::slaves))
        .route("/bans", get(admin::bans).post(admin::ban))
        .route("/bans/{ip}", delete(admin::unban))
        .route(
            "/blacklist",
            get(admin_lists::blacklist)
                .post(admin_lists::blacklist_add)
                .delete(admin_lists::blacklist_remove),
        )
        .route(
            "/whitelist",
            get(admin_lists::whitelist)
                .post(admin_lists::whitelist_add)
                .delete(admin_lists::whitelist_remove),
        )
        .route("/stats", get(admin_backup::stats))
        .route("/backup", get(admin_backup::backup))
        .route("/payments/pending", get(payments::unsettled))
        .route("/payments/{id}/resolve", post(payments::resolve))
        .route("/audit", get(audit::list))
        .route("/blocks", post(admin_blocks::add))
        .route("/blocks/unrecorded", get(admin_blocks::unrecorded))
        .route("/quarantine", get(quarantine::list))
        .route("/quarantine/{address}", delete(quarantine::release))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admin::require_admin,
        ));
    Router::new()
        .route("/api/stats", get(stats::handler))
        .route("/api/blocks", get(blocks::handler))
        .route("/api/payments", get(payments::list))
        .route("/api/miners/{address}", get(miners::handler))
        .route("/api/miners/{address}/payments", get(payments::of_miner))
        .route("/api/miners/{address}/chart", get(charts::miner_hashrate))
        .route("/api/chart/hashrate", get(charts::pool_hashrate))
        .route("/api/chart/workers", get(charts::pool_workers))
        .route("/api/luck", get(luck::handler))
        .route("/api/connect", get(connect::handler))
        .route("/", get(web::shell))
        .route("/blocks", get(web::shell))
        .route("/payments", get(web::shell))
        .route("/connect", get(web::shell))
        .route("/miners/{address}", get(web::shell))
        .route("/assets/app.js", get(web::script))
        .route("/assets/app.css", get(web::style))
        .route("/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .nest("/api/admin", admin_routes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn_with_state(Arc::new(cors), cors::layer))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no endpoint at {}: see docs/API.md for the list",
        uri.path()
    ))
}

async fn method_not_allowed(uri: Uri) -> impl IntoResponse {
    let error = format!(
        "{} does not answer this method: see docs/API.md",
        uri.path()
    );
    (StatusCode::METHOD_NOT_ALLOWED, Json(ErrorBody { error }))
}

/// Binds `api.bind` (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ApiError> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| ApiError::Bind {
            addr,
            reason: error.to_string(),
        })
}

/// Serves `router` on `listener` within `limits` (the `http` section:
/// header and request timeouts, a connection cap) until `shutdown`
/// resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tos_pool_common::http::serve("api", listener, router, limits, shutdown).await
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its state (for the stats counters).
    pub state: ApiState,
    /// The serving task; it ends when the stop fires.
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `api.bind` and serves the API for `config` over `parts` until
/// `stop` fires.
pub async fn start(
    config: &Config,
    parts: ApiParts,
    stop: Shutdown,
) -> Result<ApiServer, ApiError> {
    let listener = bind(config.api.bind).await?;
    let addr = listener.local_addr().map_err(|error| ApiError::Bind {
        addr: config.api.bind,
        reason: error.to_string(),
    })?;
    let state = ApiState::new(config, parts);
    let app = router(
        state.clone(),
        CorsPolicy::from_origins(&config.api.cors_origins),
    );
    let limits = HttpLimits::from_config(&config.http);
    let task = tokio::spawn(async move {
        if let Err(error) = serve(listener, app, limits, stop.stopped()).await {
            tracing::error!(%error, %addr, "the API server stopped with an error");
        }
    });
    tracing::info!(%addr, admin = config.api.admin_password.is_some(), "API listening");
    Ok(ApiServer { addr, state, task })
}
