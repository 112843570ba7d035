//! Writing payments: the write-ahead step and the status changes, each one
//! script call. Only payouts call these.

use super::{MinerPayment, PaymentRecord, PaymentStatus, StoredPayment};
use crate::ledger::{Ledger, LedgerError};

/// The next status of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentUpdate {
    /// `pending` → `sent`: the wallet broadcast it as `tx_hash`.
    Sent {
        /// The transaction hash.
        tx_hash: String,
    },
    /// `sent` → `confirmed`: pending → paid (amounts) and fee total (fees),
    /// one history entry per transfer.
    Confirmed,
    /// `pending` → `failed`: never broadcast; debits back to confirmed.
    Failed {
        /// Why (the wallet's refusal, or what reconciliation found).
        reason: String,
    },
}

impl PaymentUpdate {
    fn allowed_from(&self) -> PaymentStatus {
        match self {
            PaymentUpdate::Sent { .. } | PaymentUpdate::Failed { .. } => PaymentStatus::Pending,
            PaymentUpdate::Confirmed => PaymentStatus::Sent,
        }
    }
}

/// One balance change of a status update: balance letter, address, signed
/// amount.
type Op<'a> = (&'static str, &'a str, i64);

impl Ledger {
    /// Writes `payment` (status `pending`) ahead of the wallet call, moving
    /// each transfer's `amount + fee` from the confirmed to the pending
    /// balance in the same atomic step.
    ///
    /// Fails with [`LedgerError::PaymentExists`] when the id is taken and
    /// [`LedgerError::BalanceChanged`] when a confirmed balance no longer
    /// covers its debit; in both cases nothing was written.
    pub async fn begin_payment(&self, payment: &StoredPayment) -> Result<(), LedgerError> {
        let record = &payment.record;
        if record.status != PaymentStatus::Pending {
            return Err(LedgerError::PaymentTransition {
                id: record.id.clone(),
                from: record.status,
                to: PaymentStatus::Pending,
            });
        }
        if totals(record) != Some((record.amount, record.fee)) {
            return Err(LedgerError::InconsistentPayment {
                id: record.id.clone(),
            });
        }
        let json = serialize(payment)?;
        let mut invocation = self.scripts.payment_begin.prepare_invoke();
        invocation
            .key(self.keys.payments())
            .key(self.keys.payments_index())
            .key(self.keys.payments_unsettled())
            .key(self.keys.balance_confirmed())
            .key(self.keys.balance_pending())
            .arg(&record.id)
            .arg(json)
            .arg(record.created_ms)
            .arg(record.transfers.len());
        for transfer in &record.transfers {
            let debit = signed(&transfer.address, transfer.amount.checked_add(transfer.fee))?;
            invocation.arg(&transfer.address).arg(debit).arg(-debit);
        }
        let mut connection = self.connection();
        let outcome: i64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("writing a payment ahead"))?;
        match outcome {
            1 => {
                tracing::info!(
                    payment = %record.id,
                    transfers = record.transfers.len(),
                    amount = record.amount,
                    fee = record.fee,
                    nonce = payment.nonce,
                    "payment written ahead"
                );
                Ok(())
            }
            0 => Err(LedgerError::PaymentExists {
                id: record.id.clone(),
            }),
            negative => {
                let index = usize::try_from(negative.unsigned_abs()).unwrap_or(usize::MAX);
                let address = index
                    .checked_sub(1)
                    .and_then(|i| record.transfers.get(i))
                    .map(|transfer| transfer.address.clone())
                    .ok_or_else(|| LedgerError::unexpected("writing a payment ahead", negative))?;
                Err(LedgerError::BalanceChanged { address })
            }
        }
    }

    /// Applies `update` to `current` (as read from the ledger) at `now_ms`,
    /// with its balance changes and history entries, in one atomic step.
    ///
    /// Returns the new stored payment, or `None` when the stored record is no
    /// longer `current` (someone else moved it: read it again). An update
    /// the status does not allow is [`LedgerError::PaymentTransition`].
    pub async fn update_payment(
        &self,
        current: &StoredPayment,
        update: &PaymentUpdate,
        now_ms: u64,
    ) -> Result<Option<StoredPayment>, LedgerError> {
        let old = &current.record;
        let mut next = current.clone();
        let record = &mut next.record;
        let new_status = match update {
            PaymentUpdate::Sent { .. } => PaymentStatus::Sent,
            PaymentUpdate::Confirmed => PaymentStatus::Confirmed,
            PaymentUpdate::Failed { .. } => PaymentStatus::Failed,
        };
        if old.status != update.allowed_from() {
            return Err(LedgerError::PaymentTransition {
                id: old.id.clone(),
                from: old.status,
                to: new_status,
            });
        }
        record.status = new_status;
        record.updated_ms = now_ms.max(old.updated_ms);
        let mut ops: Vec<Op<'_>> = Vec::new();
        let mut history = Vec::new();
        match update {
            PaymentUpdate::Sent { tx_hash } => record.tx_hash = Some(tx_hash.clone()),
            PaymentUpdate::Failed { reason } => {
                record.error = Some(reason.clone());
                for transfer in &old.transfers {
                    let debit =
                        signed(&transfer.address, transfer.amount.checked_add(transfer.fee))?;
                    ops.push(("p", &transfer.address, -debit));
                    ops.push(("c", &transfer.address, debit));
                }
            }
            PaymentUpdate::Confirmed => {
                for transfer in &old.transfers {
                    let debit =
                        signed(&transfer.address, transfer.amount.checked_add(transfer.fee))?;
                    ops.push(("p", &transfer.address, -debit));
                    ops.push(("d", &transfer.address, signed_amount(transfer)?));
                    if transfer.fee > 0 {
                        ops.push(("f", "", signed(&transfer.address, Some(transfer.fee))?));
                    }
                    let entry = MinerPayment {
                        payment_id: old.id.clone(),
                        tx_hash: old.tx_hash.clone(),
                        amount: transfer.amount,
                        fee: transfer.fee,
                        timestamp_ms: record.updated_ms,
                        status: PaymentStatus::Confirmed,
                    };
                    history.push((self.keys.miner_payments(&transfer.address), entry));
                }
            }
        }
        let old_json = serialize(current)?;
        let new_json = serialize(&next)?;
        let mut invocation = self.scripts.payment_update.prepare_invoke();
        invocation
            .key(self.keys.payments())
            .key(self.keys.payments_unsettled())
            .key(self.keys.balance_confirmed())
            .key(self.keys.balance_pending())
            .key(self.keys.balance_paid())
            .key(self.keys.payment_fees());
        for (key, _) in &history {
            invocation.key(key);
        }
        invocation
            .arg(&old.id)
            .arg(old_json)
            .arg(new_json)
            .arg(if new_status.is_unsettled() { "0" } else { "1" })
            .arg(ops.len());
        for (balance, address, amount) in &ops {
            invocation.arg(*balance).arg(*address).arg(*amount);
        }
        for (_, entry) in &history {
            let json =
                serde_json::to_string(entry).map_err(|source| LedgerError::CorruptPayment {
                    id: old.id.clone(),
                    source,
                })?;
            invocation.arg(json);
        }
        let mut connection = self.connection();
        let applied: u8 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("updating a payment"))?;
        if applied != 1 {
            return Ok(None);
        }
        tracing::info!(
            payment = %old.id,
            from = ?old.status,
            to = ?new_status,
            tx_hash = next.record.tx_hash.as_deref().unwrap_or(""),
            "payment updated"
        );
        Ok(Some(next))
    }
}

fn serialize(payment: &StoredPayment) -> Result<String, LedgerError> {
    serde_json::to_string(payment).map_err(|source| LedgerError::CorruptPayment {
        id: payment.record.id.clone(),
        source,
    })
}

fn signed_amount(transfer: &super::PaymentTransfer) -> Result<i64, LedgerError> {
    signed(&transfer.address, Some(transfer.amount))
}

/// `amount` as a Redis integer; `None` (an overflowed sum) or more than
/// 2^63 - 1 is out of range.
fn signed(address: &str, amount: Option<u64>) -> Result<i64, LedgerError> {
    amount
        .and_then(|amount| i64::try_from(amount).ok())
        .ok_or_else(|| LedgerError::AmountOutOfRange {
            address: address.to_owned(),
            amount: amount.unwrap_or(u64::MAX),
        })
}

/// The sums a record carries, recomputed from its transfers (a record whose
/// sums disagree with its transfers is never written).
pub(crate) fn totals(record: &PaymentRecord) -> Option<(u64, u64)> {
    record
        .transfers
        .iter()
        .try_fold((0u64, 0u64), |(amount, fee), transfer| {
            Some((
                amount.checked_add(transfer.amount)?,
                fee.checked_add(transfer.fee)?,
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_allowed_only_from_their_status() {
        assert_eq!(
            PaymentUpdate::Sent {
                tx_hash: "h".into()
            }
            .allowed_from(),
            PaymentStatus::Pending
        );
        assert_eq!(
            PaymentUpdate::Failed { reason: "r".into() }.allowed_from(),
            PaymentStatus::Pending
        );
        assert_eq!(PaymentUpdate::Confirmed.allowed_from(), PaymentStatus::Sent);
    }

    #[test]
    fn amounts_beyond_redis_integers_are_refused() {
        assert_eq!(signed("a", Some(5)).expect("fits"), 5);
        assert!(signed("a", Some(u64::MAX)).is_err());
        assert!(signed("a", None).is_err());
    }
}
