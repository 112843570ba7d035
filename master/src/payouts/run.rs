//! One payout run: lock, settle, check, plan, pay.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use tos_pool_common::clock::unix_ms;
use tos_pool_common::telemetry::events::{Event, Payment};
use tracing::Instrument;

use super::plan::{Plan, plan_with_alone};
use super::quarantine::{
    MAX_REFUSALS_PER_RUN, RefusalStep, after_not_sent, after_refusal, lone_verdict,
};
use super::reconcile::{PendingAction, WalletFacts, is_confirmed, reconcile_pending};
use super::{PayoutError, Payouts, lock_token, renew_every};
use crate::ledger::{
    LedgerError, PaymentRecord, PaymentStatus, PaymentTransfer, PaymentUpdate, QuarantineCause,
    QuarantineEntry, StoredPayment,
};
use crate::notify::Notification;
use crate::wallet::{BuildError, Refusal, WalletTransaction, WalletTransfer};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Payments were sent (their ids are in the report).
    Paid,
    /// Nothing to pay: no balance at the threshold, or the wallet too short.
    NothingToPay,
    /// Another payer holds the lock.
    Locked,
    /// Pending payments remain unreconciled: no new payment was made.
    Blocked {
        /// How many.
        pending: usize,
    },
    /// The wallet says it is not connected to its daemon: it cannot
    /// broadcast, so nothing is attempted.
    WalletOffline,
    /// The daemon has fewer peers than `payouts.min_peers`.
    NotEnoughPeers {
        /// Peers it has.
        peers: u64,
        /// Peers required.
        min: u64,
    },
    /// `payouts.dry_run`: planned and logged, nothing written or sent.
    DryRun {
        /// Transfers that would be made.
        transfers: usize,
        /// Atomic units that would be sent.
        amount: u64,
    },
    /// A payment was refused by the wallet or left ambiguous: the run
    /// stopped after it.
    Stopped {
        /// What happened.
        reason: String,
    },
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// How it ended.
    pub outcome: RunOutcome,
    /// Unsettled payments it moved (sent, confirmed or failed).
    pub settled: usize,
    /// Ids of the payments it wrote.
    pub payments: Vec<String>,
    /// Recipients it quarantined.
    pub quarantined: Vec<String>,
}

impl RunReport {
    fn new(outcome: RunOutcome) -> RunReport {
        RunReport {
            outcome,
            settled: 0,
            payments: Vec::new(),
            quarantined: Vec::new(),
        }
    }
}

impl Payouts {
    /// One run: takes the lock (or returns [`RunOutcome::Locked`]), settles
    /// unsettled payments, and pays if nothing stays pending.
    pub async fn run_once(&self) -> Result<RunReport, PayoutError> {
        let dry_run = self.inner.settings.dry_run;
        let span = self
            .inner
            .telemetry
            .span(|| tracing::info_span!("payout.run", dry_run));
        async {
            if self.inner.settings.dry_run {
                return self.dry_run().await;
            }
            let ledger = &self.inner.ledger;
            let ttl = self.inner.settings.lock_ttl;
            let token = lock_token();
            if !ledger.acquire_payout_lock(&token, ttl).await? {
                tracing::debug!("another payer holds the payout lock");
                return Ok(RunReport::new(RunOutcome::Locked));
            }
            let outcome = tokio::select! {
                outcome = self.locked_run() => outcome,
                () = self.keep_lock(&token) => Err(PayoutError::LockLost),
            };
            if let Err(error) = ledger.release_payout_lock(&token).await {
                tracing::warn!(%error, "cannot release the payout lock; it expires by itself");
            }
            outcome
        }
        .instrument(span)
        .await
    }

    /// Renews the lock every third of its TTL; returns when it is lost.
    async fn keep_lock(&self, token: &str) {
        let ttl = self.inner.settings.lock_ttl;
        loop {
            tokio::time::sleep(renew_every(ttl)).await;
            match self.inner.ledger.renew_payout_lock(token, ttl).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!("the payout lock expired or was taken: stopping the run");
                    return;
                }
                Err(error) => tracing::warn!(%error, "cannot renew the payout lock; retrying"),
            }
        }
    }

    async fn locked_run(&self) -> Result<RunReport, PayoutError> {
        let (settled, pending) = self.settle().await?;
        if pending > 0 {
            tracing::warn!(
                pending,
                "pending payments are not reconciled: no payout this run"
            );
            let mut report = RunReport::new(RunOutcome::Blocked { pending });
            report.settled = settled;
            return Ok(report);
        }
        let mut report = match self.checks().await? {
            Some(stop) => RunReport::new(stop),
            None => self.pay().await?,
        };
        report.settled = settled;
        Ok(report)
    }

    /// Settles every unsettled payment it can; returns how many it moved and
    /// how many stay `pending`.
    async fn settle(&self) -> Result<(usize, usize), PayoutError> {
        let inner = &self.inner;
        let unsettled = inner.ledger.unsettled_stored_payments().await?;
        let mut settled = 0;
        let mut pending = 0;
        let mut wallet_txs: Option<(u64, Vec<WalletTransaction>)> = None;
        let mut suspects: Option<BTreeMap<String, String>> = None;
        let mut tip: Option<u64> = None;
        for payment in unsettled {
            let id = payment.record.id.clone();
            match payment.record.status {
                PaymentStatus::Pending => {
                    if wallet_txs.is_none() {
                        let nonce = inner.wallet.get_nonce().await?;
                        let txs = inner.wallet.list_transactions().await?;
                        wallet_txs = Some((nonce, txs));
                    }
                    let Some((nonce, txs)) = wallet_txs.as_ref() else {
                        continue;
                    };
                    let facts = WalletFacts {
                        nonce: *nonce,
                        transactions: txs,
                    };
                    let grace =
                        u64::try_from(inner.settings.grace().as_millis()).unwrap_or(u64::MAX);
                    let update = match reconcile_pending(&payment, facts, unix_ms(), grace) {
                        PendingAction::Sent { tx_hash } => PaymentUpdate::Sent { tx_hash },
                        PendingAction::NotSent { reason } => PaymentUpdate::Failed { reason },
                        PendingAction::Wait => {
                            tracing::info!(payment = %id, "pending payment too recent to reconcile; waiting");
                            pending += 1;
                            continue;
                        }
                        PendingAction::Operator { reason } => {
                            tracing::error!(payment = %id, %reason, "pending payment needs an operator");
                            pending += 1;
                            continue;
                        }
                    };
                    match self.update(&payment, &update).await? {
                        Some(_) => {
                            tracing::info!(payment = %id, update = ?update, "pending payment reconciled");
                            settled += 1;
                        }
                        None => {
                            pending += 1;
                            continue;
                        }
                    }
                    let addresses = addresses_of(&payment.record.transfers);
                    match update {
                        PaymentUpdate::Sent { .. } => {
                            inner.ledger.clear_payout_suspects(&addresses).await?;
                        }
                        PaymentUpdate::Failed { .. } => {
                            let suspects = match suspects.as_ref() {
                                Some(suspects) => suspects,
                                None => suspects.insert(inner.ledger.payout_suspects().await?),
                            };
                            if let Some((address, reason)) =
                                after_not_sent(&payment.record.transfers, suspects)
                            {
                                self.quarantine(&address, reason, &id).await?;
                            }
                        }
                        PaymentUpdate::Confirmed => {}
                    }
                }
                PaymentStatus::Sent => {
                    let Some(hash) = payment.record.tx_hash.clone() else {
                        continue;
                    };
                    let tx = match inner.wallet.get_transaction(&hash).await {
                        Ok(tx) => tx,
                        Err(error) => {
                            tracing::warn!(payment = %id, tx_hash = %hash, %error, "cannot read a sent payment's transaction; checking next run");
                            continue;
                        }
                    };
                    let tip = match tip {
                        Some(tip) => tip,
                        None => *tip.insert(inner.chain.topoheight().await?),
                    };
                    if is_confirmed(&tx, tip, inner.settings.confirmations)
                        && let Some(done) = self.update(&payment, &PaymentUpdate::Confirmed).await?
                    {
                        self.confirmed(&done.record);
                        settled += 1;
                    }
                }
                PaymentStatus::Confirmed | PaymentStatus::Failed => {}
            }
        }
        Ok((settled, pending))
    }

    /// Peer count and wallet reachability; `Some` outcome stops the run.
    async fn checks(&self) -> Result<Option<RunOutcome>, PayoutError> {
        let min = self.inner.settings.min_peers;
        if min > 0 {
            let peers = self.inner.chain.peer_count().await?;
            if peers < min {
                tracing::warn!(peers, min, "the daemon has too few peers: not paying");
                return Ok(Some(RunOutcome::NotEnoughPeers { peers, min }));
            }
        }
        // A wallet without its daemon fails every transaction with an error
        // that may follow a broadcast; do not make suspects of everyone.
        if !self.inner.wallet.is_online().await? {
            tracing::warn!("the wallet is not connected to its daemon: not paying");
            return Ok(Some(RunOutcome::WalletOffline));
        }
        Ok(None)
    }

    /// The plan for the current balances and wallet, with the network fee of
    /// its largest transaction reserved per transaction.
    async fn current_plan(
        &self,
        dry_run: bool,
    ) -> Result<(Plan, BTreeMap<String, i64>), PayoutError> {
        let inner = &self.inner;
        let spendable = inner.wallet.get_balance().await?;
        let balances = inner.ledger.confirmed_balances().await?;
        let balances = self.payable_balances(balances, dry_run).await?;
        let alone: BTreeSet<String> = inner.ledger.payout_suspects().await?.into_keys().collect();
        let rules = &inner.settings.rules;
        let first = plan_with_alone(&balances, rules, spendable, 0, &alone);
        let Some(largest) = first.largest_batch() else {
            return Ok((first, balances));
        };
        let transfers: Vec<WalletTransfer> = largest
            .iter()
            .map(|t| WalletTransfer::tos(&t.address, t.amount))
            .collect();
        let network_fee = inner.wallet.estimate_fees(&transfers).await?;
        let planned = plan_with_alone(&balances, rules, spendable, network_fee, &alone);
        if !planned.skipped.is_empty() {
            tracing::info!(
                skipped = planned.skipped.len(),
                spendable,
                network_fee,
                "some balances at the threshold are not paid this run"
            );
        }
        Ok((planned, balances))
    }

    async fn dry_run(&self) -> Result<RunReport, PayoutError> {
        let (plan, _) = self.current_plan(true).await?;
        for (index, batch) in plan.batches.iter().enumerate() {
            for transfer in batch {
                tracing::info!(
                    batch = index,
                    address = %transfer.address,
                    amount = transfer.amount,
                    fee = transfer.fee,
                    "dry run: would pay"
                );
            }
        }
        let amount = u64::try_from(plan.amount()).unwrap_or(u64::MAX);
        tracing::info!(
            transactions = plan.batches.len(),
            transfers = plan.transfers(),
            amount,
            "dry run: nothing sent"
        );
        Ok(RunReport::new(RunOutcome::DryRun {
            transfers: plan.transfers(),
            amount,
        }))
    }

    /// Writes ahead and sends each batch of the plan. A refusal that
    /// provably came before the broadcast returns the amounts, quarantines
    /// the refused recipient (named by the wallet, or found by halving the
    /// batch) and retries the others at once; an answer that may follow a
    /// broadcast leaves the payment pending and stops the run.
    async fn pay(&self) -> Result<RunReport, PayoutError> {
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
                    if refusal == Refusal::NotSent {
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
    async fn quarantine(
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

    async fn update(
        &self,
        payment: &StoredPayment,
        update: &PaymentUpdate,
    ) -> Result<Option<StoredPayment>, PayoutError> {
        Ok(self
            .inner
            .ledger
            .update_payment(payment, update, unix_ms())
            .await?)
    }

    /// Emits a `Payment` event per transfer of a confirmed payment, and one
    /// notification for the whole payment.
    fn confirmed(&self, record: &PaymentRecord) {
        self.notifier.notify(Notification::PaymentSent {
            payment_id: record.id.clone(),
            tx_hash: record.tx_hash.clone().unwrap_or_default(),
            amount: record.amount,
            fee: record.fee,
            transfers: record.transfers.len(),
        });
        let tx_hash: Arc<str> = Arc::from(record.tx_hash.as_deref().unwrap_or_default());
        for transfer in &record.transfers {
            tracing::info!(
                payment = %record.id,
                address = %transfer.address,
                amount = transfer.amount,
                tx_hash = %tx_hash,
                "payment confirmed"
            );
            self.inner
                .telemetry
                .events()
                .record(Event::Payment(Payment {
                    address: Arc::from(transfer.address.as_str()),
                    amount: transfer.amount,
                    tx_hash: tx_hash.clone(),
                }));
        }
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

fn addresses_of(transfers: &[PaymentTransfer]) -> Vec<String> {
    transfers.iter().map(|t| t.address.clone()).collect()
}
