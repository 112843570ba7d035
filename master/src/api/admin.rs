//! `/api/admin/…`: upstream states, connected slaves, bans. Every route is
//! behind [`require_admin`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tos_pool_common::clock::unix_ms;
use tos_pool_proto::v1::Ban;

use super::audit::{self, AdminCaller, AuditEntry};
use super::auth::{AuthFailure, Strike};
use super::{ApiError, ApiState};
use crate::gateway::SlaveInfo;
use crate::upstream::UpstreamState;

/// Lets a request through only with the admin password; answers 404 when
/// `api.admin_password` is not set, and 429 with `Retry-After` (without
/// checking the password) to an address locked out by its failed logins.
/// Hands the handlers the caller's address as [`AdminCaller`].
pub async fn require_admin(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(password) = &state.inner.admin else {
        return Err(ApiError::AdminDisabled);
    };
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| *address);
    let ip = address.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |address| address.ip());
    let now = unix_ms();
    if let Err(wait_ms) = state.throttle().check(ip, now) {
        tracing::debug!(%ip, path = %request.uri().path(), "admin request from a locked-out address");
        return Err(ApiError::TooManyFailures {
            retry_after_secs: wait_ms.div_ceil(1_000).max(1),
        });
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    match password.check(authorization) {
        Ok(()) => state.throttle().succeed(ip),
        // No credentials is no guess: a browser asks first without them.
        Err(failure @ AuthFailure::Missing) => {
            tracing::debug!(%ip, path = %request.uri().path(), %failure, "admin request refused");
            return Err(ApiError::Unauthorized(failure.to_string()));
        }
        Err(failure) => {
            let strike = state.throttle().fail(ip, now);
            let path = request.uri().path();
            match strike {
                Strike::First => {
                    tracing::warn!(%ip, path, %failure, "admin request refused");
                }
                Strike::Counted { count } => {
                    tracing::debug!(%ip, path, %failure, count, "admin request refused");
                }
                Strike::LockedOut => tracing::warn!(
                    %ip,
                    path,
                    %failure,
                    lockout_ms = state.inner.admin_lockout_ms,
                    "too many failed admin logins: this address is refused until the lockout ends"
                ),
            }
            return Err(ApiError::Unauthorized(failure.to_string()));
        }
    }
    request.extensions_mut().insert(AdminCaller { address });
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

/// `POST /api/admin/bans` (audited).
pub async fn ban(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    body: Result<Json<BanRequest>, JsonRejection>,
) -> Result<Json<BanView>, ApiError> {
    let Json(request) = body.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "the body must be JSON {{\"ip\": \"1.2.3.4\", \"reason\": \"…\", \"duration_secs\": 3600}}: {rejection}"
        ))
    })?;
    let ip = parse_ip(&request.ip)?;
    if state.parts().gateway.is_whitelisted(ip) {
        return Err(ApiError::BadRequest(format!(
            "{ip} is on the whitelist (IPs never banned): remove it with DELETE \
             /api/admin/whitelist first"
        )));
    }
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
    let target = ip.to_string();
    let ban = state
        .parts()
        .gateway
        .ban(&target, &reason, duration_ms, unix_ms());
    let (outcome, detail) = match &ban {
        Some(ban) => ("ok", format!("until_ms {} ({reason})", ban.until_ms)),
        None => ("failed", "the ban was not recorded".to_owned()),
    };
    audit::record(
        &state,
        AuditEntry::new(caller, "ban", &target, outcome, detail),
    )
    .await;
    let ban = ban.ok_or_else(|| ApiError::Internal("the ban was not recorded".to_owned()))?;
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

/// `DELETE /api/admin/bans/{ip}` (audited).
pub async fn unban(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<UnbanView>, ApiError> {
    let Path(text) = path.map_err(|rejection| {
        ApiError::BadRequest(format!("unreadable IP in the path: {rejection}"))
    })?;
    let ip = parse_ip(&text)?.to_string();
    let was_banned = state.parts().gateway.unban(&ip, unix_ms());
    let detail = if was_banned {
        "lifted on every slave"
    } else {
        "no ban known; lifted on every slave anyway"
    };
    audit::record(&state, AuditEntry::new(caller, "unban", &ip, "ok", detail)).await;
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
