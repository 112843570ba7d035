//! A JSON-RPC client of the TOS wallet (TOS.md "Wallet JSON-RPC"): the
//! calls payouts need, over the same HTTP transport as the daemon client,
//! with optional HTTP Basic auth.
//!
//! [`WalletClient::build_transaction`] tells a clean refusal (the wallet
//! answered with a JSON-RPC error: nothing was broadcast) from an ambiguous
//! failure (no readable answer: it may or may not have been broadcast), the
//! distinction payouts are built on.

mod types;

use std::time::Duration;

use base64::Engine;
use serde_json::json;

use crate::rpc::{HttpTransport, RpcError, TOS_ASSET};

pub use types::{BuiltTransaction, Outgoing, WalletEntry, WalletTransaction, WalletTransfer};

/// How a `build_transaction` call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The wallet answered with an error: nothing was broadcast.
    #[error("the wallet refused the transaction: {0}")]
    Refused(#[source] RpcError),
    /// No readable answer (timeout, connection lost, unreadable reply): the
    /// transaction may have been broadcast. Reconcile before paying again.
    #[error(
        "the wallet's answer to build_transaction was lost: {0}; the transaction may have been broadcast"
    )]
    Ambiguous(#[source] RpcError),
}

/// A client of one wallet RPC. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WalletClient {
    transport: HttpTransport,
}

impl WalletClient {
    /// A client of the wallet at `url` (`http://host:port/json_rpc`), with
    /// `timeout` per request and HTTP Basic auth when `credentials` are given.
    pub fn new(
        url: &str,
        timeout: Duration,
        credentials: Option<(&str, &str)>,
    ) -> Result<WalletClient, RpcError> {
        let mut transport = HttpTransport::new(url, timeout)?;
        if let Some((user, password)) = credentials {
            transport = transport.with_authorization(&basic_authorization(user, password))?;
        }
        Ok(WalletClient { transport })
    }

    /// The wallet's URL.
    pub fn url(&self) -> &str {
        self.transport.url()
    }

    /// The deadline of one request.
    pub fn timeout(&self) -> Duration {
        self.transport.timeout()
    }

    /// `get_balance` of the TOS asset: the spendable balance, atomic units.
    pub async fn get_balance(&self) -> Result<u64, RpcError> {
        self.transport
            .call("get_balance", json!({ "asset": TOS_ASSET }))
            .await
    }

    /// `get_nonce`: the nonce the wallet's next transaction will use.
    pub async fn get_nonce(&self) -> Result<u64, RpcError> {
        self.transport.call("get_nonce", ()).await
    }

    /// `estimate_fees` of a transaction with these transfers.
    pub async fn estimate_fees(&self, transfers: &[WalletTransfer]) -> Result<u64, RpcError> {
        self.transport
            .call("estimate_fees", json!({ "transfers": transfers }))
            .await
    }

    /// `build_transaction` with `broadcast: true` and the default fee.
    pub async fn build_transaction(
        &self,
        transfers: &[WalletTransfer],
    ) -> Result<BuiltTransaction, BuildError> {
        let params = json!({
            "transfers": transfers,
            "fee": { "multiplier": 1.0 },
            "broadcast": true,
            "tx_as_hex": false,
        });
        self.transport
            .call("build_transaction", params)
            .await
            .map_err(classify)
    }

    /// `get_transaction`: the wallet's entry for `hash`.
    pub async fn get_transaction(&self, hash: &str) -> Result<WalletTransaction, RpcError> {
        self.transport
            .call("get_transaction", json!({ "hash": hash }))
            .await
    }

    /// `list_transactions`: every transaction the wallet knows.
    pub async fn list_transactions(&self) -> Result<Vec<WalletTransaction>, RpcError> {
        self.transport.call("list_transactions", ()).await
    }
}

/// A JSON-RPC error object is the wallet's real answer: a refusal. Anything
/// else (no answer, a broken or unreadable one) leaves the outcome unknown.
fn classify(error: RpcError) -> BuildError {
    match error {
        RpcError::Rpc { .. } | RpcError::Encode { .. } | RpcError::InvalidUrl { .. } => {
            BuildError::Refused(error)
        }
        RpcError::Transport { .. }
        | RpcError::Timeout { .. }
        | RpcError::HttpStatus { .. }
        | RpcError::BadResponse { .. } => BuildError::Ambiguous(error),
    }
}

/// The `Authorization` value of HTTP Basic auth.
fn basic_authorization(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: &str) -> RpcError {
        let (url, method) = (
            "http://w/json_rpc".to_string(),
            "build_transaction".to_string(),
        );
        match kind {
            "rpc" => RpcError::Rpc {
                url,
                method,
                code: -32004,
                message: "Insufficient funds".into(),
            },
            "timeout" => RpcError::Timeout {
                url,
                method,
                timeout: Duration::from_secs(1),
            },
            "transport" => RpcError::Transport {
                url,
                method,
                reason: "connection reset".into(),
            },
            _ => RpcError::BadResponse {
                url,
                method,
                reason: "not JSON".into(),
            },
        }
    }

    #[test]
    fn only_a_wallet_error_object_is_a_clean_refusal() {
        assert!(matches!(classify(error("rpc")), BuildError::Refused(_)));
        for kind in ["timeout", "transport", "bad"] {
            assert!(
                matches!(classify(error(kind)), BuildError::Ambiguous(_)),
                "{kind}"
            );
        }
    }

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        assert_eq!(basic_authorization("user", "pass"), "Basic dXNlcjpwYXNz");
    }
}
