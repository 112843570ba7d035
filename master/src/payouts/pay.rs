//! Paying a plan: write each batch ahead, send it, and on a refusal that
//! provably came before the broadcast, quarantine the refused recipient and
//! send the others again in the same run ([`super::quarantine`]).

use std::collections::VecDeque;

use tos_pool_common::clock::unix_ms;

use super::quarantine::{MAX_REFUSALS_PER_RUN, RefusalStep, after_refusal, lone_verdict};
use super::run::{RunOutcome, RunReport, addresses_of};
use super::{PayoutError, Payouts};
use crate::ledger::{
    LedgerError, PaymentRecord, PaymentStatus, PaymentTransfer, PaymentUpdate, QuarantineCause,
    QuarantineEntry, StoredPayment,
};
use crate::wallet::{BuildError, Refusal, WalletTransfer};

impl Payouts {
    /// Writes ahead and sends each batch of the plan. A refusal that
    /// provably came before the broadcast returns the amounts, quarantines
    /// the refused recipient (named by the wallet, or found by halving the
    /// batch) and retries the others at once; an answer that may follow a
    /// broadcast leaves the payment pending and stops the run.
    pub(super) async fn pay(&self) -> Result<RunReport, PayoutError> {
        let (plan, _) = self.current_plan(false).await?;
        if plan.batches.is_empty() {
            return Ok(RunReport::new(RunOutcome::NothingToPay));
        }
        let mut report = RunReport::new(RunOutcome::Paid);
        let mut run = PayRun {
            tag: format!("{:08x}", rand::random::<u32>()),
            queue: plan.batches.into_iter().collect(),
            attempts: 0,
            sent: 0,
            refusals: 0,
            lone: Vec::new(),
        };
        let stop = self.pay_queue(&mut run, &mut report).await;
        // Lone refusals are the recipients' when the wallet took others.
        if !run.lone.is_empty() {
            if lone_verdict(run.sent) {
                for (transfer, reason, payment) in std::mem::take(&mut run.lone) {
                    self.quarantine(&transfer.address, reason, &payment).await?;
                    report.quarantined.push(transfer.address);
                }
            } else if stop.as_ref().is_ok_and(Option::is_none) {
                report.outcome = RunOutcome::Stopped {
                    reason: format!(
                        "the wallet refused every transaction of the run ({} lone transfers, none named): the request is refused, not a recipient; nobody was quarantined",
                        run.lone.len()
                    ),
                };
            }
        }
        match stop? {
            Some(reason) => report.outcome = RunOutcome::Stopped { reason },
            None if report.outcome == RunOutcome::Paid && run.sent == 0 => {
                report.outcome = RunOutcome::NothingToPay;
            }
            None => {}
        }
        Ok(report)
    }

    /// Sends the queued batches until the queue is empty (`Ok(None)`) or
    /// the run must stop (`Ok(Some(reason))`).
    async fn pay_queue(
        &self,
        run: &mut PayRun,
        report: &mut RunReport,
    ) -> Result<Option<String>, PayoutError> {
        let inner = &self.inner;
        while let Some(batch) = run.queue.pop_front() {
            if batch.is_empty() {
                continue;
            }
            if run.refusals >= MAX_REFUSALS_PER_RUN {
                return Ok(Some(format!(
                    "{} refused transactions in one run: stopping until the next",
                    run.refusals
                )));
            }
            let nonce = inner.wallet.get_nonce().await?;
            let payment = write_ahead(batch, nonce, run.attempts, &run.tag);
            run.attempts += 1;
            match inner.ledger.begin_payment(&payment).await {
                Ok(()) => {}
                Err(LedgerError::BalanceChanged { address }) => {
                    tracing::warn!(%address, "a balance changed since planning; paying it next run");
                    return Ok(Some(format!(
                        "the balance of {address} changed during the run"
                    )));
                }
                Err(error) => return Err(error.into()),
            }
            let id = payment.record.id.clone();
            report.payments.push(id.clone());
            let transfers: Vec<WalletTransfer> = payment
                .record
                .transfers
                .iter()
                .map(|t| WalletTransfer::tos(&t.address, t.amount))
                .collect();
            match inner.wallet.build_transaction(&transfers).await {
                Ok(built) => {
                    tracing::info!(
                        payment = %id,
                        tx_hash = %built.hash,
                        transfers = transfers.len(),
                        amount = payment.record.amount,
                        "payment sent"
                    );
                    run.sent += 1;
                    let update = PaymentUpdate::Sent {
                        tx_hash: built.hash,
                    };
                    if self.update(&payment, &update).await?.is_none() {
                        tracing::warn!(payment = %id, "payment changed before its hash was stored; reconciling next run");
                    }
                    inner
                        .ledger
                        .clear_payout_suspects(&addresses_of(&payment.record.transfers))
                        .await?;
                }
                Err(BuildError::Refused { refusal, error }) => {
                    run.refusals += 1;
                    let reason = error.to_string();
                    tracing::warn!(payment = %id, %reason, "the wallet refused the payment before broadcasting it; amounts returned");
                    let update = PaymentUpdate::Failed {
                        reason: reason.clone(),
                    };
                    self.update(&payment, &update).await?;
                    if refusal != Refusal::Params {
                        // The whole request is refused: no recipient to blame.
                        return Ok(Some(reason));
                    }
                    match after_refusal(payment.record.transfers, &reason) {
                        RefusalStep::Quarantine { culprit, rest } => {
                            self.quarantine(&culprit.address, reason, &id).await?;
                            report.quarantined.push(culprit.address);
                            run.queue.push_front(rest);
                        }
                        RefusalStep::Split { first, second } => {
                            tracing::info!(payment = %id, first = first.len(), second = second.len(), "no recipient named: retrying each half");
                            run.queue.push_front(second);
                            run.queue.push_front(first);
                        }
                        RefusalStep::Lone(transfer) => run.lone.push((transfer, reason, id)),
                    }
                }
                Err(BuildError::Ambiguous { answered, error }) => {
                    let reason = error.to_string();
                    tracing::error!(payment = %id, %reason, "payment outcome unknown: it stays pending and blocks payouts until reconciled");
                    if answered {
                        let addresses = addresses_of(&payment.record.transfers);
                        inner
                            .ledger
                            .add_payout_suspects(&addresses, &reason)
                            .await?;
                    }
                    return Ok(Some(reason));
                }
            }
        }
        Ok(None)
    }

    /// Quarantines `address`, refused by the wallet in `payment`.
    pub(super) async fn quarantine(
        &self,
        address: &str,
        reason: String,
        payment: &str,
    ) -> Result<(), PayoutError> {
        let entry = QuarantineEntry {
            address: address.to_owned(),
            cause: QuarantineCause::Refused,
            reason,
            payment_id: Some(payment.to_owned()),
            since_ms: unix_ms(),
        };
        Ok(self.inner.ledger.quarantine(&entry).await?)
    }
}

/// One run's paying state.
struct PayRun {
    /// Tags the payment ids of this run.
    tag: String,
    /// Batches still to send, in order.
    queue: VecDeque<Vec<PaymentTransfer>>,
    /// Payments written so far (numbers the ids).
    attempts: usize,
    /// Transactions the wallet took.
    sent: usize,
    /// Refused `build_transaction` calls.
    refusals: usize,
    /// Lone transfers refused without being named: the transfer, the
    /// wallet's error and the payment.
    lone: Vec<(PaymentTransfer, String, String)>,
}

/// The `pending` record of `transfers`, written ahead with the wallet's
/// `nonce`.
fn write_ahead(
    transfers: Vec<PaymentTransfer>,
    nonce: u64,
    index: usize,
    tag: &str,
) -> StoredPayment {
    let created_ms = unix_ms();
    let (amount, fee) = transfers.iter().fold((0u64, 0u64), |(a, f), t| {
        (a.saturating_add(t.amount), f.saturating_add(t.fee))
    });
    StoredPayment {
        record: PaymentRecord {
            id: format!("{created_ms}-{index}-{tag}"),
            status: PaymentStatus::Pending,
            tx_hash: None,
            created_ms,
            updated_ms: created_ms,
            transfers,
            amount,
            fee,
            error: None,
        },
        nonce,
    }
}
