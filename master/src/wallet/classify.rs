//! What a failed `build_transaction` says about the broadcast, without I/O.
//!
//! The wallet builds, signs and broadcasts in one call, and answers only
//! after the broadcast. An error may therefore come after the transaction
//! left (the daemon's reply to the wallet lost, a wallet that fails while
//! storing it): nothing in an error object says "not sent" except the
//! JSON-RPC codes the wallet's RPC layer answers before it runs the method
//! at all. So:
//!
//! - **Refused** (provably nothing broadcast; the amounts go back at once):
//!   - the request itself was refused: `-32700` parse error, `-32600`
//!     invalid request, `-32601` method not found, `-32602` invalid params
//!     (the wallet checks the parameters, destinations included, before it
//!     builds anything); only `-32602` may be about one recipient;
//!   - no connection could be opened, so the request was never sent;
//!   - the request could not be encoded or the URL is unusable (never sent).
//! - **Ambiguous** (it may have been broadcast; the payment stays pending
//!   until reconciliation against the wallet's nonce and history): every
//!   other code (`-32603` internal error, `-32004` and the wallet's own
//!   codes, unknown codes), a timeout, a connection lost after sending, an
//!   HTTP error status, an unreadable reply.

use crate::rpc::RpcError;

/// JSON-RPC: invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: no such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: the parameters were refused.
pub const INVALID_PARAMS: i64 = -32602;

/// How a `build_transaction` call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Provably nothing was broadcast: the amounts can go back at once.
    #[error("the wallet refused the transaction before broadcasting it: {error}")]
    Refused {
        /// Why it is provably not sent.
        refusal: Refusal,
        /// The error.
        #[source]
        error: RpcError,
    },
    /// The transaction may have been broadcast. Reconcile before paying
    /// again.
    #[error("build_transaction failed and the transaction may have been broadcast: {error}")]
    Ambiguous {
        /// Whether the wallet answered with a JSON-RPC error object (it saw
        /// the request and failed it), as opposed to no readable answer.
        answered: bool,
        /// The error.
        #[source]
        error: RpcError,
    },
}

impl BuildError {
    /// The underlying error.
    pub fn error(&self) -> &RpcError {
        match self {
            BuildError::Refused { error, .. } | BuildError::Ambiguous { error, .. } => error,
        }
    }
}

/// Why a refusal is known to have happened before any broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `-32602`: the wallet refused the parameters, possibly because of
    /// one destination (payouts look for it).
    Params,
    /// `-32700`, `-32600`, `-32601`: the request as a whole was refused
    /// (no recipient is to blame).
    Request,
    /// The request never left the pool (no connection, cannot be encoded).
    NotSent,
}

/// Classifies a failed `build_transaction`.
pub fn classify(error: RpcError) -> BuildError {
    match &error {
        RpcError::Rpc { code, .. } if *code == INVALID_PARAMS => BuildError::Refused {
            refusal: Refusal::Params,
            error,
        },
        RpcError::Rpc { code, .. } if is_pre_broadcast_code(*code) => BuildError::Refused {
            refusal: Refusal::Request,
            error,
        },
        RpcError::Rpc { .. } => BuildError::Ambiguous {
            answered: true,
            error,
        },
        RpcError::Connect { .. } | RpcError::Encode { .. } | RpcError::InvalidUrl { .. } => {
            BuildError::Refused {
                refusal: Refusal::NotSent,
                error,
            }
        }
        RpcError::Transport { .. }
        | RpcError::Timeout { .. }
        | RpcError::HttpStatus { .. }
        | RpcError::BadResponse { .. } => BuildError::Ambiguous {
            answered: false,
            error,
        },
    }
}

/// Whether a JSON-RPC error code is one the wallet answers before it runs
/// the method (the request's shape or parameters were refused).
pub fn is_pre_broadcast_code(code: i64) -> bool {
    matches!(
        code,
        PARSE_ERROR | INVALID_REQUEST | METHOD_NOT_FOUND | INVALID_PARAMS
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn url() -> String {
        "http://w/json_rpc".into()
    }

    fn method() -> String {
        "build_transaction".into()
    }

    fn rpc(code: i64) -> RpcError {
        RpcError::Rpc {
            url: url(),
            method: method(),
            code,
            message: "m".into(),
        }
    }

    fn refused(error: RpcError) -> Option<Refusal> {
        match classify(error) {
            BuildError::Refused { refusal, .. } => Some(refusal),
            BuildError::Ambiguous { .. } => None,
        }
    }

    fn answered(error: RpcError) -> Option<bool> {
        match classify(error) {
            BuildError::Ambiguous { answered, .. } => Some(answered),
            BuildError::Refused { .. } => None,
        }
    }

    #[test]
    fn protocol_codes_are_refusals_before_the_broadcast() {
        for code in [-32700, -32600, -32601] {
            assert_eq!(refused(rpc(code)), Some(Refusal::Request), "{code}");
        }
        assert_eq!(refused(rpc(-32602)), Some(Refusal::Params));
    }

    #[test]
    fn every_other_code_may_follow_a_broadcast() {
        // Internal error, the wallet's generic failure, a custom wallet
        // code, a server-error code, an unknown positive code.
        for code in [-32603, -32004, -32000, 119, 404, 0, 1, i64::MIN, i64::MAX] {
            assert_eq!(answered(rpc(code)), Some(true), "{code}");
        }
    }

    #[test]
    fn a_request_never_sent_is_a_refusal() {
        let connect = RpcError::Connect {
            url: url(),
            method: method(),
            reason: "connection refused".into(),
        };
        let encode = RpcError::Encode {
            method: method(),
            reason: "x".into(),
        };
        let invalid = RpcError::InvalidUrl {
            url: url(),
            reason: "x".into(),
        };
        for error in [connect, encode, invalid] {
            assert_eq!(refused(error), Some(Refusal::NotSent));
        }
    }

    #[test]
    fn no_readable_answer_after_sending_is_ambiguous() {
        let timeout = RpcError::Timeout {
            url: url(),
            method: method(),
            timeout: Duration::from_secs(1),
        };
        let dropped = RpcError::Transport {
            url: url(),
            method: method(),
            reason: "connection closed before message completed".into(),
        };
        let status = RpcError::HttpStatus {
            url: url(),
            method: method(),
            status: 502,
            body: String::new(),
        };
        let bad = RpcError::BadResponse {
            url: url(),
            method: method(),
            reason: "not JSON".into(),
        };
        for error in [timeout, dropped, status, bad] {
            assert_eq!(answered(error), Some(false));
        }
    }

    #[test]
    fn the_error_is_kept() {
        let error = rpc(-32603);
        assert_eq!(classify(error.clone()).error(), &error);
    }
}
