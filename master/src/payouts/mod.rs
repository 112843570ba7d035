//! Payouts: the money-out path. Every `payouts.interval` one payer (a Redis
//! lock) settles what earlier runs left unsettled, checks the daemon's peers
//! and the wallet, plans batches from the confirmed balances ([`plan`], pure)
//! and pays them, writing each payment ahead of the wallet call:
//!
//! 1. one atomic step moves the amounts confirmed → pending and stores the
//!    record `pending` with the wallet nonce read just before;
//! 2. `build_transaction`: its hash ⇒ `sent`; a refusal that provably came
//!    before any broadcast ([`crate::wallet::classify`]) ⇒ `failed`, amounts
//!    back, and the refused recipient is found and quarantined while the
//!    others are retried at once (`quarantine`, pure); any other error
//!    (it may have followed a broadcast) ⇒ the record stays `pending` and no
//!    further payout runs until it is reconciled (`reconcile`, pure) or
//!    resolved by an operator ([`Payouts::resolve`]);
//! 3. with `payouts.confirmations` blocks on top ⇒ `confirmed`: pending →
//!    paid, one history entry per miner, a `Payment` event per transfer.
//!
//! A crash between any two steps leaves a record the next run finds, so a
//! balance is never paid twice. Only addresses the wallet has validated are
//! planned (`validate`, pure); quarantined ones are left out until an
//! admin releases them.

mod pay;
mod payable;
mod plan;
mod quarantine;
mod reconcile;
mod run;
mod settings;
mod validate;

#[cfg(test)]
mod proptests;

use std::sync::Arc;
use std::time::Duration;

use tos_pool_common::clock::unix_ms;
use tos_pool_common::config::Config;
use tos_pool_common::shutdown::Shutdown;
use tos_pool_common::telemetry::Telemetry;

use crate::notify::Notifier;

use crate::ledger::{Ledger, LedgerError, PaymentRecord, PaymentStatus, StoredPayment};
use crate::rpc::RpcError;
use crate::upstream::{UpstreamError, UpstreamPool};
use crate::wallet::{AddressValidity, WalletClient};

pub use plan::{PPB, Plan, PlanRules, SkipReason, plan, plan_with_alone};
pub use quarantine::{
    MAX_REFUSALS_PER_RUN, RefusalStep, after_not_sent, after_refusal, lone_verdict, named_recipient,
};
pub use reconcile::{
    NotSentEvidence, PendingAction, WalletFacts, is_confirmed, not_sent_evidence, reconcile_pending,
};
pub use run::{RunOutcome, RunReport};
pub use settings::{PayoutSettings, WALLET_TIMEOUT};
pub use validate::{CheckFailure, Checker, Validity, verdict};

/// Why a payout run or an operator resolution stopped.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    /// `payouts.wallet_rpc` (or its credentials) cannot be used.
    #[error("payouts.wallet_rpc cannot be used: {0}")]
    WalletConfig(#[source] RpcError),
    /// The ledger could not be read or written; nothing is half-written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The wallet could not be asked; the run stops and the next one starts
    /// over from what the ledger holds.
    #[error("the wallet is unreachable or refused a read: {0}")]
    Wallet(#[from] RpcError),
    /// The daemon could not be asked (peer count, chain tip).
    #[error("the daemon cannot be asked: {0}")]
    Chain(String),
    /// Another payer holds the lock.
    #[error("another payer holds the payout lock: retry when its run is over")]
    Busy,
    /// The lock could not be renewed in time: the run was stopped where it
    /// stood (every step is written ahead).
    #[error(
        "the payout lock was lost during the run: check Redis latency or raise payouts.lock_ttl"
    )]
    LockLost,
    /// No payment with this id.
    #[error("no payment {id}: check the id in the payments list")]
    UnknownPayment {
        /// The id asked for.
        id: String,
    },
    /// Only `pending` payments are resolved by an operator.
    #[error("payment {id} is {status:?}; only pending payments can be resolved")]
    NotPending {
        /// The id.
        id: String,
        /// Its status.
        status: PaymentStatus,
    },
    /// An operator said "never broadcast" but the wallet lists a
    /// transaction with the payment's transfers.
    #[error(
        "payment {id} was broadcast: the wallet lists transaction {tx_hash} with its transfers; resolve it as sent with that tx_hash"
    )]
    WalletSaysSent {
        /// The payment.
        id: String,
        /// The wallet's transaction.
        tx_hash: String,
    },
    /// An operator said "never broadcast" and the wallet does not show it.
    #[error(
        "the wallet does not show that payment {id} was never broadcast ({reason}); if you have checked the wallet and the chain yourself, resolve again with \"force\": true"
    )]
    NotSentUnproven {
        /// The payment.
        id: String,
        /// What the wallet says instead, or why it could not be asked.
        reason: String,
    },
    /// The record changed while it was being resolved.
    #[error("payment {id} changed while it was being resolved: read it again")]
    Raced {
        /// The id.
        id: String,
    },
}

/// The chain facts payouts need; the app's [`UpstreamPool`] provides them.
#[async_trait::async_trait]
pub trait PayoutChain: Send + Sync {
    /// The daemon's P2P peer count.
    async fn peer_count(&self) -> Result<u64, PayoutError>;
    /// The daemon's current topoheight.
    async fn topoheight(&self) -> Result<u64, PayoutError>;
    /// The daemon's `validate_address` of a normal address (asked when the
    /// wallet has no such method).
    async fn validate_address(&self, address: &str) -> Result<AddressValidity, CheckFailure>;
}

#[async_trait::async_trait]
impl PayoutChain for UpstreamPool {
    async fn peer_count(&self) -> Result<u64, PayoutError> {
        self.p2p_status()
            .await
            .map(|status| status.peer_count)
            .map_err(chain_error)
    }

    async fn topoheight(&self) -> Result<u64, PayoutError> {
        self.get_info()
            .await
            .map(|info| info.topoheight)
            .map_err(chain_error)
    }

    async fn validate_address(&self, address: &str) -> Result<AddressValidity, CheckFailure> {
        let params = serde_json::json!({ "address": address, "allow_integrated": false });
        self.request(|upstream| {
            let params = params.clone();
            async move { upstream.client().call("validate_address", params).await }
        })
        .await
        .map(|(validity, _)| validity)
        .map_err(|error| CheckFailure {
            code: error.rpc_code(),
            message: error.to_string(),
        })
    }
}

fn chain_error(error: UpstreamError) -> PayoutError {
    PayoutError::Chain(error.to_string())
}

/// An operator's verdict on a `pending` payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// It was broadcast as `tx_hash`: mark it `sent` (confirmations follow).
    Sent {
        /// The transaction hash found in the wallet or on chain.
        tx_hash: String,
    },
    /// It was never broadcast: mark it `failed` and return the amounts.
    /// Unless `force`, the wallet must show it first (its nonce not past
    /// the recorded one, no transaction with these transfers, the record
    /// older than the grace period).
    NotSent {
        /// Return the amounts without the wallet's evidence.
        force: bool,
    },
}

/// The running payout service. Cheap to clone.
#[derive(Clone)]
pub struct Payouts {
    inner: Arc<Inner>,
    notifier: Notifier,
}

struct Inner {
    ledger: Arc<Ledger>,
    wallet: WalletClient,
    chain: Arc<dyn PayoutChain>,
    settings: PayoutSettings,
    telemetry: Telemetry,
}

impl std::fmt::Debug for Payouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payouts")
            .field("wallet", &self.inner.wallet.url())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Payouts {
    /// A payout service paying from `wallet` the balances of `ledger`.
    pub fn new(
        ledger: Arc<Ledger>,
        wallet: WalletClient,
        chain: Arc<dyn PayoutChain>,
        settings: PayoutSettings,
        telemetry: Telemetry,
    ) -> Payouts {
        Payouts {
            inner: Arc::new(Inner {
                ledger,
                wallet,
                chain,
                settings,
                telemetry,
            }),
            notifier: Notifier::disabled(),
        }
    }

    /// The same service, telling `notifier` of every confirmed payment.
    pub fn with_notifier(mut self, notifier: Notifier) -> Payouts {
        self.notifier = notifier;
        self
    }

    /// The service of a validated `config` (`payouts.*`; the wallet client
    /// uses [`WALLET_TIMEOUT`]).
    pub fn from_config(
        config: &Config,
        ledger: Arc<Ledger>,
        chain: Arc<dyn PayoutChain>,
        telemetry: Telemetry,
    ) -> Result<Payouts, PayoutError> {
        let payouts = &config.payouts;
        let url = payouts.wallet_rpc.as_deref().unwrap_or_default();
        let credentials = payouts
            .wallet_user
            .as_deref()
            .zip(payouts.wallet_password.as_deref());
        let wallet = WalletClient::new(url, WALLET_TIMEOUT, credentials)
            .map_err(PayoutError::WalletConfig)?;
        Ok(Payouts::new(
            ledger,
            wallet,
            chain,
            PayoutSettings::from_config(payouts),
            telemetry,
        ))
    }

    /// The settings in force.
    pub fn settings(&self) -> &PayoutSettings {
        &self.inner.settings
    }

    /// Runs at once (reconciling whatever an earlier process left), then
    /// every `payouts.interval`, until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) {
        let mut ticker = tokio::time::interval(self.inner.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.stopped() => return,
                _ = ticker.tick() => {}
            }
            let run = self.run_once();
            tokio::select! {
                () = shutdown.stopped() => return,
                outcome = run => match outcome {
                    Ok(report) => tracing::debug!(outcome = ?report.outcome, settled = report.settled, payments = report.payments.len(), "payout run"),
                    Err(error) => tracing::warn!(%error, "payout run stopped; retrying next interval"),
                },
            }
        }
    }

    /// An operator's resolution of a `pending` payment: `Sent` records the
    /// transaction hash, `NotSent` returns the amounts once the wallet shows
    /// it was never broadcast (or when forced). Takes the payout lock, so it
    /// never races a run.
    pub async fn resolve(
        &self,
        id: &str,
        resolution: Resolution,
    ) -> Result<PaymentRecord, PayoutError> {
        let inner = &self.inner;
        let token = lock_token();
        if !inner
            .ledger
            .acquire_payout_lock(&token, inner.settings.lock_ttl)
            .await?
        {
            return Err(PayoutError::Busy);
        }
        let outcome = self.resolve_locked(id, resolution).await;
        if let Err(error) = inner.ledger.release_payout_lock(&token).await {
            tracing::warn!(%error, "cannot release the payout lock; it expires by itself");
        }
        outcome
    }

    async fn resolve_locked(
        &self,
        id: &str,
        resolution: Resolution,
    ) -> Result<PaymentRecord, PayoutError> {
        let ledger = &self.inner.ledger;
        let stored = ledger
            .stored_payment(id)
            .await?
            .ok_or_else(|| PayoutError::UnknownPayment { id: id.to_owned() })?;
        if stored.record.status != PaymentStatus::Pending {
            return Err(PayoutError::NotPending {
                id: id.to_owned(),
                status: stored.record.status,
            });
        }
        let update = match &resolution {
            Resolution::Sent { tx_hash } => crate::ledger::PaymentUpdate::Sent {
                tx_hash: tx_hash.clone(),
            },
            Resolution::NotSent { force: true } => crate::ledger::PaymentUpdate::Failed {
                reason: "resolved by an operator with force, without the wallet's evidence: never broadcast"
                    .to_owned(),
            },
            Resolution::NotSent { force: false } => {
                let evidence = self.not_sent_evidence(&stored).await?;
                crate::ledger::PaymentUpdate::Failed {
                    reason: format!("resolved by an operator: {evidence}"),
                }
            }
        };
        let updated = ledger
            .update_payment(&stored, &update, unix_ms())
            .await?
            .ok_or_else(|| PayoutError::Raced { id: id.to_owned() })?;
        tracing::info!(payment = id, resolution = ?resolution, "payment resolved by an operator");
        Ok(updated.record)
    }
}

impl Payouts {
    /// The wallet's evidence that `stored` was never broadcast, or the
    /// error that refuses the operator's claim.
    async fn not_sent_evidence(&self, stored: &StoredPayment) -> Result<String, PayoutError> {
        let inner = &self.inner;
        let id = stored.record.id.clone();
        let unproven = |reason: String| PayoutError::NotSentUnproven {
            id: id.clone(),
            reason,
        };
        let nonce = inner
            .wallet
            .get_nonce()
            .await
            .map_err(|error| unproven(format!("the wallet cannot be asked: {error}")))?;
        let transactions = inner
            .wallet
            .list_transactions()
            .await
            .map_err(|error| unproven(format!("the wallet cannot be asked: {error}")))?;
        let facts = WalletFacts {
            nonce,
            transactions: &transactions,
        };
        let grace = u64::try_from(inner.settings.grace().as_millis()).unwrap_or(u64::MAX);
        match not_sent_evidence(stored, facts, unix_ms(), grace) {
            NotSentEvidence::Shown { evidence } => Ok(evidence),
            NotSentEvidence::Sent { tx_hash } => Err(PayoutError::WalletSaysSent {
                id: id.clone(),
                tx_hash,
            }),
            NotSentEvidence::NotShown { reason } => Err(unproven(reason)),
        }
    }
}

/// A random lock token, unique to one run.
fn lock_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A third of the lock's TTL: how often a run renews it.
fn renew_every(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(10))
}
