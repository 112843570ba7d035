//! Which recipient a refusal is about, without I/O: a refused batch and the
//! wallet's error in, the next step out.
//!
//! - A refusal of the parameters that provably came before the broadcast
//!   (`-32602`, see [`crate::wallet::classify`]) and whose message names exactly
//!   one of the batch's addresses: that recipient is quarantined and the
//!   others are retried at once, in the same run.
//! - Such a refusal naming none (or several): the batch is split in two
//!   halves and each is retried; every half refused again is split again,
//!   down to a lone transfer. A lone transfer refused without being named is
//!   quarantined only if the same run got another transaction through (the
//!   request itself is fine, so the recipient is the problem); otherwise the
//!   whole request is refused and nobody is quarantined.
//! - An error that may have followed a broadcast cannot be retried before
//!   reconciliation. When the wallet answered it with an error object, the
//!   batch's addresses become suspects: they are paid alone from then on. A
//!   lone suspect whose payment reconciliation shows was never broadcast is
//!   quarantined; a suspect paid successfully is cleared.

use std::collections::BTreeMap;

use crate::ledger::PaymentTransfer;

/// Most refused `build_transaction` calls one run makes before it stops
/// (splitting a 500-transfer batch that everyone refuses costs 999).
pub const MAX_REFUSALS_PER_RUN: usize = 64;

/// The next step for a batch the wallet refused before broadcasting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalStep {
    /// The error names this recipient: quarantine it and retry the rest
    /// (empty when it was alone).
    Quarantine {
        /// The refused transfer.
        culprit: PaymentTransfer,
        /// The other transfers, in their order.
        rest: Vec<PaymentTransfer>,
    },
    /// No recipient named: retry each half.
    Split {
        /// The first half.
        first: Vec<PaymentTransfer>,
        /// The second half.
        second: Vec<PaymentTransfer>,
    },
    /// A lone transfer refused without being named: quarantine it only if
    /// another transaction of the run went through ([`lone_verdict`]).
    Lone(PaymentTransfer),
}

/// Decides what to do with `batch` after a pre-broadcast refusal whose
/// message is `message`.
pub fn after_refusal(mut batch: Vec<PaymentTransfer>, message: &str) -> RefusalStep {
    if let Some(index) = named_recipient(&batch, message) {
        let culprit = batch.remove(index);
        return RefusalStep::Quarantine {
            culprit,
            rest: batch,
        };
    }
    if batch.len() <= 1 {
        return match batch.pop() {
            Some(transfer) => RefusalStep::Lone(transfer),
            // An empty batch is never sent; nothing to decide.
            None => RefusalStep::Split {
                first: Vec::new(),
                second: Vec::new(),
            },
        };
    }
    let second = batch.split_off(batch.len().div_ceil(2));
    RefusalStep::Split {
        first: batch,
        second,
    }
}

/// The index of the only transfer of `batch` whose address `message`
/// contains; `None` when it names none or several.
pub fn named_recipient(batch: &[PaymentTransfer], message: &str) -> Option<usize> {
    let mut named = batch.iter().enumerate().filter(|(_, transfer)| {
        !transfer.address.is_empty() && message.contains(&transfer.address)
    });
    let (index, first) = named.next()?;
    // The same address twice in a batch is still one recipient.
    if named.any(|(_, other)| other.address != first.address) {
        return None;
    }
    Some(index)
}

/// Whether lone transfers refused without being named are quarantined: only
/// when `sent_in_run` transactions went through in the same run (the wallet
/// takes the request, so the recipient is what it refuses).
pub fn lone_verdict(sent_in_run: usize) -> bool {
    sent_in_run > 0
}

/// After reconciliation showed a payment was never broadcast: the recipient
/// to quarantine and why, when the payment was a lone suspect's.
pub fn after_not_sent(
    transfers: &[PaymentTransfer],
    suspects: &BTreeMap<String, String>,
) -> Option<(String, String)> {
    let [only] = transfers else {
        return None;
    };
    let error = suspects.get(&only.address)?;
    Some((
        only.address.clone(),
        format!(
            "the wallet failed a payment to this address alone ({error}) and reconciliation showed it was never broadcast"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(address: &str) -> PaymentTransfer {
        PaymentTransfer {
            address: address.into(),
            amount: 100,
            fee: 1,
        }
    }

    fn batch(addresses: &[&str]) -> Vec<PaymentTransfer> {
        addresses.iter().map(|a| transfer(a)).collect()
    }

    fn addresses(transfers: &[PaymentTransfer]) -> Vec<&str> {
        transfers.iter().map(|t| t.address.as_str()).collect()
    }

    #[test]
    fn a_named_recipient_is_quarantined_and_the_rest_retried() {
        let step = after_refusal(
            batch(&["tst1aa", "tst1bb", "tst1cc"]),
            "Invalid params: transfer 1: destination \"tst1bb\" is refused",
        );
        let RefusalStep::Quarantine { culprit, rest } = step else {
            panic!("{step:?}");
        };
        assert_eq!(culprit.address, "tst1bb");
        assert_eq!(addresses(&rest), vec!["tst1aa", "tst1cc"]);
    }

    #[test]
    fn a_lone_named_recipient_leaves_nothing_to_retry() {
        let step = after_refusal(batch(&["tst1aa"]), "tst1aa is refused");
        assert_eq!(
            step,
            RefusalStep::Quarantine {
                culprit: transfer("tst1aa"),
                rest: Vec::new()
            }
        );
    }

    #[test]
    fn no_name_or_several_names_split_the_batch() {
        for message in ["invalid params", "tst1aa and tst1bb are both refused"] {
            let step = after_refusal(batch(&["tst1aa", "tst1bb", "tst1cc"]), message);
            let RefusalStep::Split { first, second } = step else {
                panic!("{step:?}");
            };
            assert_eq!(addresses(&first), vec!["tst1aa", "tst1bb"]);
            assert_eq!(addresses(&second), vec!["tst1cc"]);
        }
    }

    #[test]
    fn splitting_ends_in_lone_transfers() {
        let step = after_refusal(batch(&["tst1aa"]), "invalid params");
        assert_eq!(step, RefusalStep::Lone(transfer("tst1aa")));
    }

    #[test]
    fn halving_finds_one_refused_recipient_in_a_logarithmic_number_of_calls() {
        // The wallet refuses any transaction holding "bad", naming no one.
        let mut queue = vec![batch(&[
            "tst1a", "tst1b", "tst1c", "tst1d", "tst1e", "tst1bad", "tst1g", "tst1h",
        ])];
        let (mut calls, mut sent, mut lone) = (0, Vec::new(), Vec::new());
        while let Some(next) = queue.pop() {
            calls += 1;
            if !next.iter().any(|t| t.address == "tst1bad") {
                sent.extend(next);
                continue;
            }
            match after_refusal(next, "invalid params: a destination is refused") {
                RefusalStep::Split { first, second } => {
                    queue.push(second);
                    queue.push(first);
                }
                RefusalStep::Lone(transfer) => lone.push(transfer),
                RefusalStep::Quarantine { .. } => panic!("nothing is named"),
            }
        }
        assert_eq!(addresses(&lone), vec!["tst1bad"]);
        assert_eq!(sent.len(), 7, "everyone else is paid");
        assert!(calls <= 2 * 3 + 1, "{calls} calls");
        assert!(lone_verdict(1));
    }

    #[test]
    fn a_lone_refusal_is_the_recipients_only_if_something_went_through() {
        assert!(!lone_verdict(0));
        assert!(lone_verdict(3));
    }

    #[test]
    fn addresses_are_matched_whole_and_once() {
        let b = batch(&["tst1aa", "tst1bb", "tst1aa"]);
        assert_eq!(named_recipient(&b, "refused tst1aa"), Some(0));
        assert_eq!(named_recipient(&b, "refused tst1zz"), None);
        assert_eq!(named_recipient(&batch(&[""]), "anything"), None);
    }

    #[test]
    fn only_a_lone_suspect_not_sent_is_quarantined() {
        let suspects: BTreeMap<String, String> =
            [("tst1aa".to_owned(), "JSON-RPC error -32004".to_owned())].into();
        let (address, reason) =
            after_not_sent(&batch(&["tst1aa"]), &suspects).expect("quarantined");
        assert_eq!(address, "tst1aa");
        assert!(reason.contains("-32004"), "{reason}");
        assert_eq!(after_not_sent(&batch(&["tst1bb"]), &suspects), None);
        assert_eq!(
            after_not_sent(&batch(&["tst1aa", "tst1bb"]), &suspects),
            None,
            "a batch of several is split first"
        );
    }
}
