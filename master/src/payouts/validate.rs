//! When an address may be paid, without I/O: the answer of
//! `validate_address` in, a verdict out.
//!
//! Credit never waits for this: blocks credit any address the slaves
//! accepted (local bech32 checks: checksum, network, normal address). An
//! address becomes payable only once the wallet (or, when the wallet has no
//! `validate_address`, the daemon) has said it is valid; the answer "valid"
//! is cached, an invalid address is quarantined, and no answer (the wallet
//! or the daemon down) leaves the address unpaid this run with its balance
//! untouched.

use crate::wallet::{AddressValidity, INVALID_PARAMS, METHOD_NOT_FOUND};

/// A failed `validate_address`: the JSON-RPC code when the server answered
/// with an error object, and the error as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// The JSON-RPC error code, when there was an error object.
    pub code: Option<i64>,
    /// The error, for logs and the quarantine reason.
    pub message: String,
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checker {
    /// The wallet (asked first).
    Wallet,
    /// The daemon (asked when the wallet has no `validate_address`).
    Daemon,
}

/// What an answer means for the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validity {
    /// Valid: payable, and cached.
    Valid,
    /// Not valid: quarantined, never paid until an admin releases it.
    Invalid {
        /// What the checker said.
        reason: String,
    },
    /// The wallet has no `validate_address`: ask the daemon.
    AskDaemon,
    /// No answer: not payable this run; the balance stays and accrues.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// The verdict of `checker`'s answer.
pub fn verdict(checker: Checker, answer: Result<AddressValidity, CheckFailure>) -> Validity {
    match answer {
        Ok(AddressValidity { is_valid: true, .. }) => Validity::Valid,
        Ok(AddressValidity {
            is_valid: false,
            is_integrated,
        }) => Validity::Invalid {
            reason: format!(
                "the {} says validate_address is_valid false{}",
                name(checker),
                if is_integrated {
                    " (an integrated address)"
                } else {
                    ""
                }
            ),
        },
        // Both answer -32602 for a string that is not an address at all.
        Err(CheckFailure {
            code: Some(INVALID_PARAMS),
            message,
        }) => Validity::Invalid {
            reason: format!("the {} refuses the address: {message}", name(checker)),
        },
        Err(CheckFailure {
            code: Some(METHOD_NOT_FOUND),
            ..
        }) if checker == Checker::Wallet => Validity::AskDaemon,
        Err(CheckFailure { message, .. }) => Validity::Unknown {
            reason: format!("the {} cannot validate it now: {message}", name(checker)),
        },
    }
}

fn name(checker: Checker) -> &'static str {
    match checker {
        Checker::Wallet => "wallet",
        Checker::Daemon => "daemon",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: Option<i64>) -> Result<AddressValidity, CheckFailure> {
        Err(CheckFailure {
            code,
            message: "m".into(),
        })
    }

    fn answer(is_valid: bool, is_integrated: bool) -> Result<AddressValidity, CheckFailure> {
        Ok(AddressValidity {
            is_valid,
            is_integrated,
        })
    }

    #[test]
    fn valid_is_valid_from_either() {
        for checker in [Checker::Wallet, Checker::Daemon] {
            assert_eq!(verdict(checker, answer(true, false)), Validity::Valid);
        }
    }

    #[test]
    fn false_or_a_refused_address_is_invalid() {
        assert!(matches!(
            verdict(Checker::Wallet, answer(false, true)),
            Validity::Invalid { reason } if reason.contains("integrated")
        ));
        assert!(matches!(
            verdict(Checker::Daemon, failure(Some(-32602))),
            Validity::Invalid { .. }
        ));
    }

    #[test]
    fn a_wallet_without_the_method_defers_to_the_daemon() {
        assert_eq!(
            verdict(Checker::Wallet, failure(Some(-32601))),
            Validity::AskDaemon
        );
        assert!(matches!(
            verdict(Checker::Daemon, failure(Some(-32601))),
            Validity::Unknown { .. }
        ));
    }

    #[test]
    fn no_answer_leaves_it_unknown_never_invalid() {
        for code in [None, Some(-32603), Some(-32004)] {
            for checker in [Checker::Wallet, Checker::Daemon] {
                assert!(
                    matches!(verdict(checker, failure(code)), Validity::Unknown { .. }),
                    "{checker:?} {code:?}"
                );
            }
        }
    }
}
