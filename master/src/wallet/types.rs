//! What the wallet sends and answers (TOS.md "Wallet JSON-RPC"). Unknown
//! fields are ignored, so newer wallets still parse.

use serde::{Deserialize, Serialize};

use crate::rpc::TOS_ASSET;

/// One transfer of a `build_transaction` request, and as the wallet reports
/// it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletTransfer {
    /// Asset id: the TOS asset (64 zeros).
    pub asset: String,
    /// Amount in atomic units.
    pub amount: u64,
    /// Receiving address.
    pub destination: String,
    /// Optional payload (payouts send none).
    #[serde(default)]
    pub extra_data: Option<serde_json::Value>,
}

impl WalletTransfer {
    /// A TOS transfer of `amount` to `destination`.
    pub fn tos(destination: &str, amount: u64) -> WalletTransfer {
        WalletTransfer {
            asset: TOS_ASSET.to_owned(),
            amount,
            destination: destination.to_owned(),
            extra_data: None,
        }
    }
}

/// The answer of `build_transaction`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuiltTransaction {
    /// Transaction hash, 64 hex.
    pub hash: String,
    /// Fee paid, atomic units (when reported).
    #[serde(default)]
    pub fee: Option<u64>,
    /// Nonce used (when reported).
    #[serde(default)]
    pub nonce: Option<u64>,
}

/// The answer of `validate_address` (the daemon's shape, TOS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct AddressValidity {
    /// Whether the address is valid for this network (and a normal address
    /// when integrated ones are not allowed).
    pub is_valid: bool,
    /// Whether it is an integrated address.
    #[serde(default)]
    pub is_integrated: bool,
}

/// A transaction as `get_transaction` and `list_transactions` report it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalletTransaction {
    /// Transaction hash.
    pub hash: String,
    /// Topoheight of the block including it; `None` while in the mempool.
    #[serde(default)]
    pub topoheight: Option<u64>,
    /// What the transaction did, for outgoing ones.
    #[serde(default)]
    pub entry: Option<WalletEntry>,
}

impl WalletTransaction {
    /// The outgoing part, if it is an outgoing transaction.
    pub fn outgoing(&self) -> Option<&Outgoing> {
        self.entry
            .as_ref()
            .and_then(|entry| entry.outgoing.as_ref())
    }
}

/// The `entry` of a wallet transaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalletEntry {
    /// Set for a transaction the wallet sent.
    #[serde(default)]
    pub outgoing: Option<Outgoing>,
}

/// An outgoing transaction's details.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Outgoing {
    /// Fee paid.
    #[serde(default)]
    pub fee: u64,
    /// The nonce it used.
    pub nonce: u64,
    /// Its transfers.
    pub transfers: Vec<WalletTransfer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_entries_parse() {
        let json = serde_json::json!({
            "hash": "ab",
            "topoheight": null,
            "in_mempool": true,
            "entry": {"outgoing": {"fee": 1001, "nonce": 3, "transfers": [
                {"asset": TOS_ASSET, "amount": 5, "destination": "tst1x", "extra_data": null}
            ]}}
        });
        let tx: WalletTransaction = serde_json::from_value(json).expect("parses");
        assert_eq!(tx.topoheight, None);
        let outgoing = tx.outgoing().expect("outgoing");
        assert_eq!(outgoing.nonce, 3);
        assert_eq!(outgoing.transfers, vec![WalletTransfer::tos("tst1x", 5)]);
    }
}
