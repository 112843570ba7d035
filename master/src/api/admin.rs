//! `/api/admin/…`: upstream states, connected slaves, bans. Every route is
//! behind [`require_admin`].

use std::net::IpAddr;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tos_pool_common::clock::unix_ms;
use tos_pool_proto::v1::Ban;

use super::{ApiError, ApiState};
use crate::gateway::SlaveInfo;
use crate::upstream::UpstreamState;

/// Lets a request through only with the admin password; answers 404 when
/// `api.admin_password` is not set.
pub async fn require_admin(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(password) = &state.inner.admin else {
        return Err(ApiError::AdminDisabled);
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    if let Err(failure) = password.check(authorization) {
        tracing::warn!(path = %request.uri().path(), %failure, "admin request refused");
        return Err(ApiError::Unauthorized(failure.to_string()));
    }
    Ok(next.run(request).await)
}

/// `GET /api/admin/upstreams`.
pub async fn upstreams(State(state): State<ApiState>) -> Json<Vec<UpstreamState>> {
    Json(state.parts().upstreams.states())
}

/// `GET /api/admin/slaves`.
pub async fn slaves(State(state): State<ApiState>) -> Json<Vec<SlaveInfo>> {
    Json(state.parts().gateway.connected_slaves())
}

/// A ban as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BanView {
    /// The banned IP.
    pub ip: String,
    /// Why.
    pub reason: String,
    /// When it ends, ms since the Unix epoch.
    pub until_ms: u64,
}

impl From<Ban> for BanView {
    fn from(ban: Ban) -> Self {
        BanView {
            ip: ban.ip,
            reason: ban.reason,
            until_ms: ban.until_ms,
        }
    }
}

/// `GET /api/admin/bans`.
pub async fn bans(State(state): State<ApiState>) -> Json<Vec<BanView>> {
    let bans = state.parts().gateway.bans(unix_ms());
    Json(bans.into_iter().map(BanView::from).collect())
}

/// The body of `POST /api/admin/bans`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// The IP to ban.
    pub ip: String,
    /// Why (shown in logs and to the miner); default "banned by the operator".
    #[serde(default)]
    pub reason: Option<String>,
    /// How long, seconds; default `security.ban_duration`.
    #[serde(default)]
    pub duration_secs: Option<u64>,
}

/// `POST /api/admin/bans`.
pub async fn ban(
    State(state): State<ApiState>,
    body: Result<Json<BanRequest>, JsonRejection>,
) -> Result<Json<BanView>, ApiError> {
    let Json(request) = body.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "the body must be JSON {{\"ip\": \"1.2.3.4\", \"reason\": \"…\", \"duration_secs\": 3600}}: {rejection}"
        ))
    })?;
    let ip = parse_ip(&request.ip)?;
    let duration_ms = match request.duration_secs {
        Some(0) => {
            return Err(ApiError::BadRequest(
                "duration_secs must be at least 1; to lift a ban, DELETE /api/admin/bans/{ip}"
                    .to_owned(),
            ));
        }
        Some(secs) => secs.saturating_mul(1_000),
        None => state.inner.ban_duration_ms,
    };
    let reason = request
        .reason
        .filter(|reason| !reason.trim().is_empty())
        .unwrap_or_else(|| "banned by the operator".to_owned());
    let ban = state
        .parts()
        .gateway
        .ban(&ip.to_string(), &reason, duration_ms, unix_ms())
        .ok_or_else(|| ApiError::Internal("the ban was not recorded".to_owned()))?;
    Ok(Json(BanView::from(ban)))
}

/// The answer of `DELETE /api/admin/bans/{ip}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnbanView {
    /// The IP whose ban was lifted on every slave.
    pub ip: String,
    /// Whether the master knew a ban on it.
    pub was_banned: bool,
}

/// `DELETE /api/admin/bans/{ip}`.
pub async fn unban(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<UnbanView>, ApiError> {
    let Path(text) = path.map_err(|rejection| {
        ApiError::BadRequest(format!("unreadable IP in the path: {rejection}"))
    })?;
    let ip = parse_ip(&text)?.to_string();
    let was_banned = state.parts().gateway.unban(&ip, unix_ms());
    Ok(Json(UnbanView { ip, was_banned }))
}

fn parse_ip(text: &str) -> Result<IpAddr, ApiError> {
    text.trim().parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "{text:?} is not an IP address: give for example 203.0.113.7 or 2001:db8::1"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_checked() {
        assert_eq!(
            parse_ip(" 10.0.0.1 ").expect("valid").to_string(),
            "10.0.0.1"
        );
        assert!(parse_ip("2001:db8::1").is_ok());
        assert!(matches!(parse_ip("10.0.0"), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse_ip("host"), Err(ApiError::BadRequest(_))));
    }
}
