//! What to do with an unsettled payment, without I/O: the stored record and
//! what the wallet and the chain say in, one action out.
//!
//! A `pending` record may or may not have been broadcast. Its transaction,
//! if it exists, has the nonce read before the request or a later one, and
//! exactly its transfers: found ⇒ it was sent. If the wallet's nonce has not
//! moved past the recorded one, nothing was broadcast since ⇒ give the
//! amounts back, but only once the record is older than a grace period (a
//! request of a crashed payer may still be in the wallet's hands). A nonce
//! that moved without a matching transaction needs an operator.
//!
//! An operator's claim that a pending payment was never broadcast is held to
//! the same rule ([`not_sent_evidence`]): the amounts go back only when the
//! wallet shows it, unless the operator forces it.

use crate::ledger::{PaymentStatus, StoredPayment};
use crate::rpc::TOS_ASSET;
use crate::wallet::WalletTransaction;

/// What the wallet says, read once per reconciliation.
#[derive(Debug, Clone, Copy)]
pub struct WalletFacts<'a> {
    /// The nonce its next transaction will use.
    pub nonce: u64,
    /// Every transaction it knows.
    pub transactions: &'a [WalletTransaction],
}

/// The decision for a `pending` payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingAction {
    /// It was broadcast as `tx_hash`: mark it `sent`.
    Sent {
        /// The transaction found.
        tx_hash: String,
    },
    /// It was never broadcast: mark it `failed`, amounts back.
    NotSent {
        /// What shows it.
        reason: String,
    },
    /// Too early to tell: ask again next run.
    Wait,
    /// The wallet moved on without a matching transaction: an operator must
    /// resolve it.
    Operator {
        /// What is contradictory.
        reason: String,
    },
}

/// Decides a `pending` payment at `now_ms`; `grace_ms` is how long after
/// its last update a request may still be in the wallet's hands.
pub fn reconcile_pending(
    payment: &StoredPayment,
    wallet: WalletFacts<'_>,
    now_ms: u64,
    grace_ms: u64,
) -> PendingAction {
    debug_assert_eq!(payment.record.status, PaymentStatus::Pending);
    let wanted = transfer_set(
        payment
            .record
            .transfers
            .iter()
            .map(|t| (t.address.as_str(), TOS_ASSET, t.amount)),
    );
    let found = wallet.transactions.iter().find(|tx| {
        tx.outgoing().is_some_and(|out| {
            out.nonce >= payment.nonce
                && transfer_set(
                    out.transfers
                        .iter()
                        .map(|t| (t.destination.as_str(), t.asset.as_str(), t.amount)),
                ) == wanted
        })
    });
    if let Some(tx) = found {
        return PendingAction::Sent {
            tx_hash: tx.hash.clone(),
        };
    }
    if wallet.nonce <= payment.nonce {
        if now_ms < payment.record.updated_ms.saturating_add(grace_ms) {
            return PendingAction::Wait;
        }
        return PendingAction::NotSent {
            reason: format!(
                "never broadcast: the wallet's nonce is still {} (recorded {} before the request) and no transaction carries these transfers",
                wallet.nonce, payment.nonce
            ),
        };
    }
    PendingAction::Operator {
        reason: format!(
            "the wallet's nonce moved from {} to {} but no transaction it lists carries these transfers: check the wallet and resolve by hand",
            payment.nonce, wallet.nonce
        ),
    }
}

/// What the wallet says to an operator's claim that a `pending` payment was
/// never broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSentEvidence {
    /// The wallet shows it: its nonce has not moved past the recorded one,
    /// no transaction carries these transfers, and the record is older than
    /// the grace period.
    Shown {
        /// What shows it, for the record's reason and the audit log.
        evidence: String,
    },
    /// The wallet lists a transaction with these transfers: it was sent.
    Sent {
        /// That transaction.
        tx_hash: String,
    },
    /// The wallet does not show it (its nonce moved, or the record is too
    /// recent to tell).
    NotShown {
        /// Why, and what the operator can do.
        reason: String,
    },
}

/// Checks an operator's "never broadcast" against the wallet at `now_ms`,
/// with the same rule and grace as [`reconcile_pending`].
pub fn not_sent_evidence(
    payment: &StoredPayment,
    wallet: WalletFacts<'_>,
    now_ms: u64,
    grace_ms: u64,
) -> NotSentEvidence {
    match reconcile_pending(payment, wallet, now_ms, grace_ms) {
        PendingAction::NotSent { reason } => NotSentEvidence::Shown { evidence: reason },
        PendingAction::Sent { tx_hash } => NotSentEvidence::Sent { tx_hash },
        PendingAction::Wait => NotSentEvidence::NotShown {
            reason: format!(
                "the payment changed less than {} s ago and its request may still be in the wallet's hands: retry later",
                grace_ms.div_ceil(1_000)
            ),
        },
        PendingAction::Operator { reason } => NotSentEvidence::NotShown { reason },
    }
}

/// Whether a `sent` payment's transaction `tx` counts as confirmed with the
/// chain at `tip_topoheight`: included, with `confirmations` blocks on top.
pub fn is_confirmed(tx: &WalletTransaction, tip_topoheight: u64, confirmations: u64) -> bool {
    tx.topoheight
        .is_some_and(|at| tip_topoheight >= at.saturating_add(confirmations))
}

fn transfer_set<'a>(
    transfers: impl Iterator<Item = (&'a str, &'a str, u64)>,
) -> Vec<(String, String, u64)> {
    let mut set: Vec<(String, String, u64)> = transfers
        .map(|(address, asset, amount)| (address.to_owned(), asset.to_ascii_lowercase(), amount))
        .collect();
    set.sort();
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{PaymentRecord, PaymentTransfer};
    use crate::wallet::{Outgoing, WalletEntry, WalletTransfer};

    fn pending(nonce: u64, updated_ms: u64) -> StoredPayment {
        let transfers = vec![
            PaymentTransfer {
                address: "tst1a".into(),
                amount: 90,
                fee: 10,
            },
            PaymentTransfer {
                address: "tst1b".into(),
                amount: 40,
                fee: 0,
            },
        ];
        StoredPayment {
            record: PaymentRecord {
                id: "p".into(),
                status: PaymentStatus::Pending,
                tx_hash: None,
                created_ms: updated_ms,
                updated_ms,
                transfers,
                amount: 130,
                fee: 10,
                error: None,
            },
            nonce,
        }
    }

    fn tx(
        hash: &str,
        nonce: u64,
        transfers: &[(&str, u64)],
        topoheight: Option<u64>,
    ) -> WalletTransaction {
        WalletTransaction {
            hash: hash.into(),
            topoheight,
            entry: Some(WalletEntry {
                outgoing: Some(Outgoing {
                    fee: 1_002,
                    nonce,
                    transfers: transfers
                        .iter()
                        .map(|(to, amount)| WalletTransfer::tos(to, *amount))
                        .collect(),
                }),
            }),
        }
    }

    #[test]
    fn a_transaction_with_the_same_transfers_at_or_after_the_nonce_means_sent() {
        let payment = pending(4, 1_000);
        let txs = [
            tx("old", 3, &[("tst1b", 40), ("tst1a", 90)], Some(10)),
            tx("other", 4, &[("tst1a", 90)], None),
            tx("ours", 5, &[("tst1b", 40), ("tst1a", 90)], None),
        ];
        let facts = WalletFacts {
            nonce: 6,
            transactions: &txs,
        };
        assert_eq!(
            reconcile_pending(&payment, facts, 1_000, 5_000),
            PendingAction::Sent {
                tx_hash: "ours".into()
            }
        );
    }

    #[test]
    fn an_unmoved_nonce_means_not_sent_after_the_grace() {
        let payment = pending(4, 1_000);
        let txs = [tx("old", 3, &[("tst1a", 90), ("tst1b", 40)], Some(10))];
        let facts = WalletFacts {
            nonce: 4,
            transactions: &txs,
        };
        assert_eq!(
            reconcile_pending(&payment, facts, 5_999, 5_000),
            PendingAction::Wait
        );
        assert!(matches!(
            reconcile_pending(&payment, facts, 6_000, 5_000),
            PendingAction::NotSent { .. }
        ));
    }

    #[test]
    fn a_moved_nonce_without_a_match_needs_an_operator() {
        let payment = pending(4, 1_000);
        let txs = [tx("else", 4, &[("tst1a", 91), ("tst1b", 40)], None)];
        let facts = WalletFacts {
            nonce: 5,
            transactions: &txs,
        };
        assert!(matches!(
            reconcile_pending(&payment, facts, 99_000, 5_000),
            PendingAction::Operator { .. }
        ));
    }

    #[test]
    fn never_broadcast_needs_the_wallets_word() {
        let payment = pending(4, 1_000);
        let unmoved = WalletFacts {
            nonce: 4,
            transactions: &[],
        };
        assert!(matches!(
            not_sent_evidence(&payment, unmoved, 6_000, 5_000),
            NotSentEvidence::Shown { .. }
        ));
        assert!(matches!(
            not_sent_evidence(&payment, unmoved, 5_999, 5_000),
            NotSentEvidence::NotShown { .. }
        ));
        let moved = WalletFacts {
            nonce: 5,
            transactions: &[],
        };
        assert!(matches!(
            not_sent_evidence(&payment, moved, 99_000, 5_000),
            NotSentEvidence::NotShown { .. }
        ));
        let txs = [tx("ours", 4, &[("tst1a", 90), ("tst1b", 40)], None)];
        let sent = WalletFacts {
            nonce: 5,
            transactions: &txs,
        };
        assert_eq!(
            not_sent_evidence(&payment, sent, 99_000, 5_000),
            NotSentEvidence::Sent {
                tx_hash: "ours".into()
            }
        );
    }

    #[test]
    fn confirmed_needs_inclusion_and_the_confirmations_on_top() {
        let included = tx("h", 1, &[], Some(100));
        assert!(!is_confirmed(&included, 109, 10));
        assert!(is_confirmed(&included, 110, 10));
        assert!(is_confirmed(&included, 100, 0));
        let mempool = tx("h", 1, &[], None);
        assert!(!is_confirmed(&mempool, u64::MAX, 0));
    }
}
