//! One payout run: lock, settle, check, plan, pay.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tos_pool_common::clock::unix_ms;
use tos_pool_common::telemetry::events::{Event, Payment};
use tracing::Instrument;

use super::plan::{Plan, plan_with_alone};
use super::quarantine::after_not_sent;
use super::reconcile::{PendingAction, WalletFacts, is_confirmed, reconcile_pending};
use super::{PayoutError, Payouts, lock_token, renew_every};
use crate::ledger::{PaymentRecord, PaymentStatus, PaymentTransfer, PaymentUpdate, StoredPayment};
use crate::notify::Notification;
use crate::wallet::{WalletTransaction, WalletTransfer};

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
    /// The run stopped early: a payment left pending (an error that may
    /// follow a broadcast), the wallet unreachable for a send, a balance
    /// that changed, or every transaction refused without a recipient to
    /// blame. Refused recipients alone do not stop a run.
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
    pub(super) fn new(outcome: RunOutcome) -> RunReport {
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
    pub(super) async fn current_plan(
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

    pub(super) async fn update(
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

/// The addresses of `transfers`, in order.
pub(super) fn addresses_of(transfers: &[PaymentTransfer]) -> Vec<String> {
    transfers.iter().map(|t| t.address.clone()).collect()
}
