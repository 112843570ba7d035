//! What can go wrong talking to a daemon.

use std::time::Duration;

/// Why a JSON-RPC request to a daemon failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The URL cannot be used.
    #[error("invalid daemon URL {url:?}: {reason}; use http://host:port/json_rpc")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request parameters could not be encoded as JSON (a bug in the caller).
    #[error("parameters of {method} cannot be encoded as JSON: {reason}")]
    Encode {
        /// The JSON-RPC method.
        method: String,
        /// What serde said.
        reason: String,
    },
    /// Connecting or the HTTP/WebSocket exchange failed.
    #[error("{method} on {url} failed: {reason}; is the daemon running and reachable?")]
    Transport {
        /// Where the request went.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// What failed.
        reason: String,
    },
    /// No connection could be opened: the request was never sent, so the
    /// server cannot have acted on it.
    #[error("{method} on {url} could not connect: {reason}; is the server running and reachable?")]
    Connect {
        /// Where the request was to go.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// What failed.
        reason: String,
    },
    /// No full answer within the deadline; the daemon may still have acted.
    #[error(
        "{method} on {url} got no answer within {timeout:?}; the daemon is slow or stuck (raise the upstream timeout if it is only slow)"
    )]
    Timeout {
        /// Where the request went.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The daemon answered with an HTTP status other than 2xx.
    #[error("{method} on {url} answered HTTP {status}: {body}")]
    HttpStatus {
        /// Where the request went.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the body, as text.
        body: String,
    },
    /// The daemon answered with a JSON-RPC error object.
    #[error("{method} on {url} was refused with JSON-RPC error {code}: {message}")]
    Rpc {
        /// Where the request went.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// The error code.
        code: i64,
        /// The daemon's message.
        message: String,
    },
    /// The answer is not the JSON-RPC 2.0 reply or result shape expected.
    #[error(
        "{method} on {url} sent a reply that cannot be read: {reason}; is this a TOS daemon of a supported version?"
    )]
    BadResponse {
        /// Where the request went.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl RpcError {
    /// True when the daemon was not reached or did not answer properly at the
    /// HTTP level (transport, timeout, HTTP status): the same request may be
    /// worth sending to another daemon. A JSON-RPC error or an unreadable
    /// result is the daemon's real answer and is not.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            RpcError::Connect { .. }
                | RpcError::Transport { .. }
                | RpcError::Timeout { .. }
                | RpcError::HttpStatus { .. }
        )
    }

    /// The JSON-RPC error code, when the daemon answered with an error object.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            RpcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_level_failures_are_retryable() {
        let url = "http://d/json_rpc".to_string();
        let method = "submit_block".to_string();
        let transport = RpcError::Transport {
            url: url.clone(),
            method: method.clone(),
            reason: "refused".into(),
        };
        let rpc = RpcError::Rpc {
            url: url.clone(),
            method: method.clone(),
            code: -32602,
            message: "bad".into(),
        };
        let bad = RpcError::BadResponse {
            url,
            method,
            reason: "x".into(),
        };
        assert!(transport.is_transport());
        assert!(!rpc.is_transport());
        assert!(!bad.is_transport());
        assert_eq!(rpc.rpc_code(), Some(-32602));
        assert_eq!(transport.rpc_code(), None);
    }
}
