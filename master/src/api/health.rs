//! `GET /health` (Redis and an upstream reachable: 200, else 503 with the
//! reason) and `GET /metrics` (the master's Prometheus text).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ApiState;

/// Longest the Redis ping of `/health` may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthView {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Whether Redis answered a ping.
    pub redis: bool,
    /// The healthy upstream in use, if any.
    pub upstream: Option<String>,
    /// What is wrong, when something is.
    pub reasons: Vec<String>,
}

/// The health answer for what was observed: 200 when Redis answered and an
/// upstream is healthy, else 503 with the reasons.
pub fn verdict(redis: Result<(), String>, upstream: Option<String>) -> (StatusCode, HealthView) {
    let mut reasons = Vec::new();
    if let Err(reason) = &redis {
        reasons.push(format!("Redis is unreachable: {reason}"));
    }
    if upstream.is_none() {
        reasons.push(
            "no upstream daemon is healthy: check node.url / node.upstreams and the daemons"
                .to_owned(),
        );
    }
    let healthy = reasons.is_empty();
    (
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        HealthView {
            status: if healthy { "ok" } else { "unavailable" },
            redis: redis.is_ok(),
            upstream,
            reasons,
        },
    )
}

/// `/health`.
pub async fn health(State(state): State<ApiState>) -> (StatusCode, Json<HealthView>) {
    let parts = state.parts();
    let redis = match tokio::time::timeout(PING_TIMEOUT, parts.ledger.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer to PING within {PING_TIMEOUT:?}")),
    };
    let upstream = parts.upstreams.active().map(|up| up.name().to_owned());
    let (status, view) = verdict(redis, upstream);
    if status != StatusCode::OK {
        tracing::warn!(reasons = ?view.reasons, "health check failed");
    }
    (status, Json(view))
}

/// `/metrics`.
pub async fn metrics(State(state): State<ApiState>) -> Response {
    let mut response = state.parts().metrics.render_prometheus().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_only_with_redis_and_an_upstream() {
        let (status, view) = verdict(Ok(()), Some("primary".into()));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view.status, "ok");
        assert!(view.reasons.is_empty());

        let (status, view) = verdict(Err("connection refused".into()), Some("primary".into()));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!view.redis);
        assert!(view.reasons[0].contains("connection refused"));

        let (status, view) = verdict(Ok(()), None);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(view.reasons[0].contains("upstream"));
        assert_eq!(verdict(Err("x".into()), None).1.reasons.len(), 2);
    }
}
