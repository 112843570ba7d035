//! Payments: the records payouts write ahead of every wallet call, each
//! miner's payment history, and how to read them (the REST API's view).
//!
//! A record is written `pending` in the same atomic step that moves its
//! amounts from `balance:confirmed` to `balance:pending`; it becomes `sent`
//! with the wallet's transaction hash, then `confirmed` (pending → paid, one
//! history entry per miner) or `failed` (amounts returned). docs/REDIS.md
//! describes the keys.

mod lock;
mod quarantine;
mod write;

use serde::{Deserialize, Serialize};

use super::{Ledger, LedgerError};

pub use quarantine::{QuarantineCause, QuarantineEntry};
pub use write::PaymentUpdate;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Written ahead: amounts moved to `balance:pending`, the wallet may or
    /// may not have broadcast it yet. Blocks further payouts until settled.
    Pending,
    /// The wallet returned its transaction hash; waiting for confirmations.
    Sent,
    /// Confirmed on chain: amounts moved to `balance:paid`. Final.
    Confirmed,
    /// Never broadcast: amounts returned to `balance:confirmed`. Final.
    Failed,
}

impl PaymentStatus {
    /// Whether the payment can still change (`pending` or `sent`).
    pub fn is_unsettled(self) -> bool {
        matches!(self, PaymentStatus::Pending | PaymentStatus::Sent)
    }
}

/// One transfer of a payment: what the miner receives and the withdrawal
/// fee kept from its balance. The balance is debited `amount + fee`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct PaymentTransfer {
    /// Receiving address.
    pub address: String,
    /// Atomic units sent to the address.
    pub amount: u64,
    /// Withdrawal fee kept by the pool, atomic units.
    pub fee: u64,
}

/// One payment: one wallet transaction of up to `max_addresses_per_tx`
/// transfers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct PaymentRecord {
    /// Unique id (`<created_ms>-<batch>-<random>`).
    pub id: String,
    /// Where it stands.
    pub status: PaymentStatus,
    /// The wallet's transaction hash, once known.
    pub tx_hash: Option<String>,
    /// When it was written ahead (ms since the Unix epoch).
    pub created_ms: u64,
    /// When its status last changed (ms since the Unix epoch).
    pub updated_ms: u64,
    /// Its transfers.
    pub transfers: Vec<PaymentTransfer>,
    /// Sum of the transfers' amounts.
    pub amount: u64,
    /// Sum of the transfers' withdrawal fees.
    pub fee: u64,
    /// Why it failed, or what an operator said about it.
    pub error: Option<String>,
}

/// One entry of a miner's payment history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct MinerPayment {
    /// The payment it belongs to.
    pub payment_id: String,
    /// The transaction carrying it.
    pub tx_hash: Option<String>,
    /// Atomic units the miner received.
    pub amount: u64,
    /// Withdrawal fee kept from its balance.
    pub fee: u64,
    /// When the payment was confirmed (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// The payment's status (history entries are written at confirmation).
    pub status: PaymentStatus,
}

/// One page of a list, and how many items the whole list holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Page<T> {
    /// The items of the page.
    pub items: Vec<T>,
    /// Items in the whole list.
    pub total: u64,
}

/// A payment record as stored: the public record and the wallet nonce read
/// just before the transaction was requested (how reconciliation finds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPayment {
    /// The record.
    #[serde(flatten)]
    pub record: PaymentRecord,
    /// The wallet's nonce before the request: the transaction, if it was
    /// ever broadcast, has this nonce or a later one.
    pub nonce: u64,
}

impl Ledger {
    /// Up to `limit` payments, newest first, skipping the `offset` newest.
    pub async fn payments(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Page<PaymentRecord>, LedgerError> {
        let mut connection = self.connection();
        let total: u64 = redis::cmd("ZCARD")
            .arg(self.keys.payments_index())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("counting payments"))?;
        if limit == 0 {
            return Ok(Page {
                items: Vec::new(),
                total,
            });
        }
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(self.keys.payments_index())
            .arg(offset)
            .arg(offset.saturating_add(limit - 1))
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing payments"))?;
        let items = self
            .stored_payments(&ids)
            .await?
            .into_iter()
            .map(|stored| stored.record)
            .collect();
        Ok(Page { items, total })
    }

    /// The payment `id`, if any.
    pub async fn payment(&self, id: &str) -> Result<Option<PaymentRecord>, LedgerError> {
        Ok(self.stored_payment(id).await?.map(|stored| stored.record))
    }

    /// Up to `limit` confirmed payments of `address`, newest first, skipping
    /// the `offset` newest.
    pub async fn miner_payments(
        &self,
        address: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Page<MinerPayment>, LedgerError> {
        let key = self.keys.miner_payments(address);
        let mut connection = self.connection();
        let total: u64 = redis::cmd("LLEN")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("counting a miner's payments"))?;
        if limit == 0 {
            return Ok(Page {
                items: Vec::new(),
                total,
            });
        }
        let jsons: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(offset)
            .arg(offset.saturating_add(limit - 1))
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing a miner's payments"))?;
        let items = jsons
            .iter()
            .map(|json| {
                serde_json::from_str(json).map_err(|source| LedgerError::CorruptPayment {
                    id: format!("history of {address}"),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    /// Every payment not yet final (`pending` or `sent`), oldest first.
    pub async fn unsettled_payments(&self) -> Result<Vec<PaymentRecord>, LedgerError> {
        Ok(self
            .unsettled_stored_payments()
            .await?
            .into_iter()
            .map(|stored| stored.record)
            .collect())
    }

    /// [`unsettled_payments`](Self::unsettled_payments) with their nonces.
    pub async fn unsettled_stored_payments(&self) -> Result<Vec<StoredPayment>, LedgerError> {
        let mut connection = self.connection();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.payments_unsettled())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing unsettled payments"))?;
        let mut stored = self.stored_payments(&ids).await?;
        stored.sort_by(|a, b| {
            (a.record.created_ms, &a.record.id).cmp(&(b.record.created_ms, &b.record.id))
        });
        Ok(stored)
    }

    /// The stored payment `id`, if any.
    pub async fn stored_payment(&self, id: &str) -> Result<Option<StoredPayment>, LedgerError> {
        let mut connection = self.connection();
        let json: Option<String> = redis::cmd("HGET")
            .arg(self.keys.payments())
            .arg(id)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading a payment"))?;
        json.map(|json| parse_payment(id, &json)).transpose()
    }

    /// Every confirmed (payable) balance: address → atomic units.
    pub async fn confirmed_balances(
        &self,
    ) -> Result<std::collections::BTreeMap<String, i64>, LedgerError> {
        let mut connection = self.connection();
        redis::cmd("HGETALL")
            .arg(self.keys.balance_confirmed())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading confirmed balances"))
    }

    /// Total withdrawal fees the pool kept from confirmed payments.
    pub async fn payment_fees(&self) -> Result<u64, LedgerError> {
        let mut connection = self.connection();
        let fees: Option<u64> = redis::cmd("GET")
            .arg(self.keys.payment_fees())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading payment fees"))?;
        Ok(fees.unwrap_or(0))
    }

    /// The stored payments of `ids`, in that order, skipping any missing.
    async fn stored_payments(&self, ids: &[String]) -> Result<Vec<StoredPayment>, LedgerError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection();
        let jsons: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.keys.payments())
            .arg(ids)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading payments"))?;
        ids.iter()
            .zip(jsons)
            .filter_map(|(id, json)| json.map(|json| parse_payment(id, &json)))
            .collect()
    }
}

fn parse_payment(id: &str, json: &str) -> Result<StoredPayment, LedgerError> {
    serde_json::from_str(json).map_err(|source| LedgerError::CorruptPayment {
        id: id.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> PaymentRecord {
        PaymentRecord {
            id: "1700000000000-0-ab12".into(),
            status: PaymentStatus::Sent,
            tx_hash: Some("ff".repeat(32)),
            created_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_500,
            transfers: vec![PaymentTransfer {
                address: "tst1a".into(),
                amount: 990,
                fee: 10,
            }],
            amount: 990,
            fee: 10,
            error: None,
        }
    }

    #[test]
    fn statuses_serialize_lowercase() {
        for (status, name) in [
            (PaymentStatus::Pending, "pending"),
            (PaymentStatus::Sent, "sent"),
            (PaymentStatus::Confirmed, "confirmed"),
            (PaymentStatus::Failed, "failed"),
        ] {
            assert_eq!(
                serde_json::to_string(&status).expect("serializes"),
                format!("\"{name}\"")
            );
            assert_eq!(status.is_unsettled(), name == "pending" || name == "sent");
        }
    }

    #[test]
    fn stored_payments_round_trip_with_their_nonce() {
        let stored = StoredPayment {
            record: record(),
            nonce: 7,
        };
        let json = serde_json::to_string(&stored).expect("serializes");
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(value["nonce"], 7);
        assert_eq!(value["status"], "sent");
        assert_eq!(value["transfers"][0]["fee"], 10);
        assert_eq!(parse_payment("x", &json).expect("parses"), stored);
        assert!(matches!(
            parse_payment("x", "{}"),
            Err(LedgerError::CorruptPayment { .. })
        ));
    }
}
