//! What an API request can fail with, and how each failure is answered: a
//! status and a JSON body `{"error": "<what was wrong and what to do>"}`.

use std::net::SocketAddr;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ledger::LedgerError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad address, bad paging, bad body).
    #[error("{0}")]
    BadRequest(String),
    /// Nothing is known under that name.
    #[error("{0}")]
    NotFound(String),
    /// The admin credentials are missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// Too many failed admin logins from this address: refused without a
    /// password check until the lockout ends.
    #[error(
        "too many failed admin logins from this address (api.admin_max_failures): retry in {retry_after_secs} s"
    )]
    TooManyFailures {
        /// Seconds until the address may try again (the `Retry-After`).
        retry_after_secs: u64,
    },
    /// `api.admin_password` is not set, so the admin endpoints are off.
    #[error(
        "the admin endpoints are disabled: set api.admin_password (at least 12 characters) to enable them"
    )]
    AdminDisabled,
    /// The request conflicts with the current state (e.g. a payment that is
    /// already settled).
    #[error("{0}")]
    Conflict(String),
    /// A part the answer needs (Redis, payouts) cannot be used right now.
    #[error("{0}")]
    Unavailable(String),
    /// The ledger could not be read.
    #[error("the ledger could not be read: {0}")]
    Ledger(#[from] LedgerError),
    /// Something failed inside the master.
    #[error("{0}")]
    Internal(String),
    /// The API could not listen on `api.bind`.
    #[error("cannot listen on api.bind {addr}: {reason}; free the port or change api.bind")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// What the OS said.
        reason: String,
    },
}

/// The body of every error answer.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// What was wrong and what to do.
    pub error: String,
}

impl ApiError {
    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::AdminDisabled => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) | ApiError::Ledger(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::TooManyFailures { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let message = self.to_string();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %message, "API request failed");
        }
        let mut response = (status, Json(ErrorBody { error: message })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tos-pool admin\""),
            );
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_status() {
        assert_eq!(
            ApiError::BadRequest("x".into()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(ApiError::AdminDisabled.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            ApiError::Unavailable("x".into()).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let response = ApiError::Unauthorized("wrong password".into()).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let response = ApiError::TooManyFailures {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("42"))
        );
    }
}
