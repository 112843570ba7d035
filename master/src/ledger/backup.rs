//! Whole-ledger reads for the operator: the backup export (every balance,
//! block record and payment record) and the payout lock's state.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::{Ledger, LedgerError};

/// One miner's balances in the backup, atomic units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BackupBalances {
    /// Credited by immature blocks.
    pub immature: u64,
    /// Payable.
    pub confirmed: u64,
    /// In payouts sent but not confirmed.
    pub pending: u64,
    /// Paid in total.
    pub paid: u64,
}

/// Everything that is money or its history, as stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Backup {
    /// Balances by address.
    pub balances: BTreeMap<String, BackupBalances>,
    /// Every block record (the stored JSON), by height.
    pub blocks: Vec<serde_json::Value>,
    /// Every payment record (the stored JSON), oldest first.
    pub payments: Vec<serde_json::Value>,
}

impl Ledger {
    /// Reads every balance, block record and payment record. Values that
    /// are not what the master writes are reported as an error rather than
    /// left out, so a backup is whole or refused.
    pub async fn backup(&self) -> Result<Backup, LedgerError> {
        let mut connection = self.connection();
        let mut backup = Backup::default();
        let hashes = [
            self.keys.balance_immature(),
            self.keys.balance_confirmed(),
            self.keys.balance_pending(),
            self.keys.balance_paid(),
        ];
        for (index, key) in hashes.iter().enumerate() {
            let raw: BTreeMap<String, String> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut connection)
                .await
                .map_err(LedgerError::redis("reading balances for a backup"))?;
            for (address, amount) in raw {
                // Balances are written with HINCRBY: a negative one is a
                // defect worth seeing, kept as 0 would hide it.
                let amount: u64 =
                    amount
                        .trim()
                        .parse()
                        .map_err(|_| LedgerError::UnexpectedReply {
                            action: "reading balances for a backup",
                            detail: format!("{key} holding {amount:?} for {address}"),
                        })?;
                let entry = backup.balances.entry(address).or_default();
                match index {
                    0 => entry.immature = amount,
                    1 => entry.confirmed = amount,
                    2 => entry.pending = amount,
                    _ => entry.paid = amount,
                }
            }
        }
        let block_ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.blocks_by_height())
            .arg(0)
            .arg(-1)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing blocks for a backup"))?;
        backup.blocks = self
            .json_values(&self.keys.blocks(), &block_ids, |hash, source| {
                LedgerError::CorruptBlock { hash, source }
            })
            .await?;
        let payment_ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.payments_index())
            .arg(0)
            .arg(-1)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing payments for a backup"))?;
        backup.payments = self
            .json_values(&self.keys.payments(), &payment_ids, |id, source| {
                LedgerError::CorruptPayment { id, source }
            })
            .await?;
        Ok(backup)
    }

    /// The JSON values of `ids` in hash `key`, in order; a missing one is
    /// skipped (an index entry without its record), an unreadable one is an
    /// error.
    async fn json_values(
        &self,
        key: &str,
        ids: &[String],
        corrupt: impl Fn(String, serde_json::Error) -> LedgerError,
    ) -> Result<Vec<serde_json::Value>, LedgerError> {
        let mut connection = self.connection();
        let mut values = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let raw: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(key)
                .arg(chunk)
                .query_async(&mut connection)
                .await
                .map_err(LedgerError::redis("reading records for a backup"))?;
            for (id, json) in chunk.iter().zip(raw) {
                let Some(json) = json else { continue };
                let value =
                    serde_json::from_str(&json).map_err(|error| corrupt(id.clone(), error))?;
                values.push(value);
            }
        }
        Ok(values)
    }

    /// Milliseconds left on the payout lock, or `None` when no payout run
    /// holds it.
    pub async fn payout_lock_ttl_ms(&self) -> Result<Option<u64>, LedgerError> {
        let mut connection = self.connection();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(self.keys.payout_lock())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading the payout lock"))?;
        Ok(u64::try_from(ttl).ok())
    }
}
