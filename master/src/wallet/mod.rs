//! A JSON-RPC client of the TOS wallet (TOS.md "Wallet JSON-RPC"): the
//! calls payouts need, over the same HTTP transport as the daemon client,
//! with optional HTTP Basic auth.
//!
//! [`WalletClient::build_transaction`] tells a refusal that provably came
//! before any broadcast from a failure that may have followed one
//! ([`classify`]), the distinction payouts are built on.

mod classify;
mod types;

use std::time::Duration;

use base64::Engine;
use serde_json::json;

use crate::rpc::{HttpTransport, RpcError, TOS_ASSET};

pub use classify::{
    BuildError, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, Refusal, classify,
    is_pre_broadcast_code,
};
pub use types::{
    AddressValidity, BuiltTransaction, Outgoing, WalletEntry, WalletTransaction, WalletTransfer,
};

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

    /// `validate_address` of a normal address (integrated ones are not
    /// payout destinations): whether the wallet accepts it.
    pub async fn validate_address(&self, address: &str) -> Result<AddressValidity, RpcError> {
        self.transport
            .call(
                "validate_address",
                json!({ "address": address, "allow_integrated": false }),
            )
            .await
    }

    /// `is_online`: whether the wallet is connected to its daemon (it can
    /// broadcast).
    pub async fn is_online(&self) -> Result<bool, RpcError> {
        self.transport.call("is_online", ()).await
    }

    /// `list_transactions`: every transaction the wallet knows.
    pub async fn list_transactions(&self) -> Result<Vec<WalletTransaction>, RpcError> {
        self.transport.call("list_transactions", ()).await
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

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        assert_eq!(basic_authorization("user", "pass"), "Basic dXNlcjpwYXNz");
    }
}
