//! CORS per `api.cors_origins`: empty sends no CORS headers (browsers allow
//! the same origin only), `*` allows any origin, otherwise exactly the listed
//! origins. A small layer of our own: the rule is three cases, and the
//! tower-http in the tree is built without its `cors` feature.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Methods the API answers, announced to preflight requests.
const ALLOWED_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Request headers a cross-origin caller may send.
const ALLOWED_HEADERS: &str = "authorization, content-type";
/// How long a browser may keep a preflight answer, seconds.
const MAX_AGE_SECS: &str = "600";

/// Which origins may read the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    /// No CORS headers at all.
    Off,
    /// Any origin (`Access-Control-Allow-Origin: *`).
    Any,
    /// Exactly these origins (echoed back, with `Vary: Origin`).
    Origins(Vec<String>),
}

impl CorsPolicy {
    /// The policy of `api.cors_origins`.
    pub fn from_origins(origins: &[String]) -> Self {
        let origins: Vec<String> = origins
            .iter()
            .map(|origin| origin.trim().trim_end_matches('/').to_owned())
            .filter(|origin| !origin.is_empty())
            .collect();
        if origins.is_empty() {
            CorsPolicy::Off
        } else if origins.iter().any(|origin| origin == "*") {
            CorsPolicy::Any
        } else {
            CorsPolicy::Origins(origins)
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`,
    /// or `None` when no CORS header is sent.
    pub fn allow_origin(&self, origin: Option<&str>) -> Option<String> {
        match self {
            CorsPolicy::Off => None,
            CorsPolicy::Any => Some("*".to_owned()),
            CorsPolicy::Origins(allowed) => {
                let origin = origin?;
                allowed
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(origin))
                    .then(|| origin.to_owned())
            }
        }
    }
}

/// The middleware: answers preflights of allowed origins itself and adds the
/// allow-origin header to every other answer.
pub async fn layer(
    State(policy): State<Arc<CorsPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if *policy == CorsPolicy::Off {
        return next.run(request).await;
    }
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let allowed = policy
        .allow_origin(origin.as_deref())
        .and_then(|value| HeaderValue::from_str(&value).ok());
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight && let Some(allowed) = &allowed {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        add_origin(headers, allowed, &policy);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECS),
        );
        return response;
    }
    let mut response = next.run(request).await;
    match &allowed {
        Some(allowed) => add_origin(response.headers_mut(), allowed, &policy),
        None if matches!(*policy, CorsPolicy::Origins(_)) => {
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("origin"));
        }
        None => {}
    }
    response
}

fn add_origin(headers: &mut HeaderMap, allowed: &HeaderValue, policy: &CorsPolicy) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed.clone());
    if matches!(policy, CorsPolicy::Origins(_)) {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str]) -> CorsPolicy {
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        CorsPolicy::from_origins(&origins)
    }

    #[test]
    fn the_config_picks_the_policy() {
        assert_eq!(policy(&[]), CorsPolicy::Off);
        assert_eq!(policy(&[" "]), CorsPolicy::Off);
        assert_eq!(policy(&["https://a.example", "*"]), CorsPolicy::Any);
        assert_eq!(
            policy(&["https://a.example/"]),
            CorsPolicy::Origins(vec!["https://a.example".to_owned()])
        );
    }

    #[test]
    fn only_allowed_origins_get_the_header() {
        assert_eq!(policy(&[]).allow_origin(Some("https://a.example")), None);
        assert_eq!(
            policy(&["*"])
                .allow_origin(Some("https://evil.example"))
                .as_deref(),
            Some("*")
        );
        assert_eq!(policy(&["*"]).allow_origin(None).as_deref(), Some("*"));
        let listed = policy(&["https://a.example"]);
        assert_eq!(
            listed.allow_origin(Some("https://a.example")).as_deref(),
            Some("https://a.example")
        );
        assert_eq!(listed.allow_origin(Some("https://b.example")), None);
        assert_eq!(listed.allow_origin(None), None);
    }
}
