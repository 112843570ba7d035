//! The promises a fault run checks, as pure code over what was read back
//! from the miners, Redis, the wallet and the daemon after the run:
//!
//! 1. every share a miner was told was accepted is in the ledger, once
//!    (a share whose answer was lost may be in it or not, never twice);
//! 2. no balance is negative;
//! 3. each credited block's credits add up to its reward;
//! 4. money is conserved: what the matured blocks brought equals what sits
//!    in confirmed, pending and paid balances plus the withdrawal fees kept;
//!    what the immature blocks credited equals the immature balances;
//! 5. no payment twice: every transaction the wallet broadcast belongs to one
//!    payment the pool recorded as sent, with the same transfers, and each
//!    address received from the wallet exactly what the pool says it sent;
//! 6. no block found but uncredited: every block of the pool in the chain
//!    has a record.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One miner's shares: told accepted, unanswered, and held by the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerShares {
    /// The miner's address.
    pub address: String,
    /// Shares the pool answered `accepted`.
    pub acknowledged: u64,
    /// Shares sent whose answer never came (the connection died).
    pub unanswered: u64,
    /// Valid shares the ledger holds for the miner.
    pub ledger: u64,
}

/// One address's balances, atomic units (signed as Redis keeps them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Credits of immature blocks.
    pub immature: i64,
    /// Payable.
    pub confirmed: i64,
    /// In payments not settled yet.
    pub pending: i64,
    /// Paid out in confirmed payments.
    pub paid: i64,
}

/// A block record, reduced to what the money checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCredit {
    /// Block hash.
    pub hash: String,
    /// `immature`, `matured`, `candidate`, `orphaned`, …
    pub state: String,
    /// The reward split (the split's total), when credited.
    pub reward: Option<u64>,
    /// Sum of the split's credits, when credited.
    pub credited: Option<u64>,
}

/// A payment as the pool recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPayment {
    /// Payment id.
    pub id: String,
    /// `pending`, `sent`, `confirmed`, `failed`.
    pub status: String,
    /// The wallet's transaction hash, once known.
    pub tx_hash: Option<String>,
    /// Address → amount sent.
    pub transfers: BTreeMap<String, u64>,
}

/// A transaction as the wallet broadcast it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletTransaction {
    /// Transaction hash.
    pub hash: String,
    /// Address → amount.
    pub transfers: BTreeMap<String, u64>,
}

/// Everything read back after a run.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Per miner.
    pub shares: Vec<MinerShares>,
    /// Per address.
    pub balances: BTreeMap<String, Balance>,
    /// Withdrawal fees kept from confirmed payments (`P:payments:fees`).
    pub withdrawal_fees: i64,
    /// Every block record.
    pub blocks: Vec<BlockCredit>,
    /// Every payment record.
    pub payments: Vec<PoolPayment>,
    /// Every transaction the wallet broadcast.
    pub wallet: Vec<WalletTransaction>,
    /// Hashes of the blocks in the chain's order whose miner is the pool.
    pub chain_blocks: Vec<String>,
}

/// A broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The ledger holds fewer valid shares than the miner was told accepted.
    SharesLost {
        /// The miner.
        address: String,
        /// Told accepted.
        acknowledged: u64,
        /// In the ledger.
        ledger: u64,
    },
    /// The ledger holds more than could have been sent.
    SharesCountedTwice {
        /// The miner.
        address: String,
        /// Told accepted plus unanswered.
        most: u64,
        /// In the ledger.
        ledger: u64,
    },
    /// A balance below zero.
    NegativeBalance {
        /// The address.
        address: String,
        /// Which balance.
        kind: &'static str,
        /// Its value.
        value: i64,
    },
    /// A block's credits do not add up to its reward.
    SplitMismatch {
        /// The block.
        hash: String,
        /// Its reward.
        reward: u64,
        /// Its credits' sum.
        credited: u64,
    },
    /// Balances do not account for the blocks' rewards.
    MoneyNotConserved {
        /// Which balances.
        what: &'static str,
        /// What the blocks brought.
        blocks: i128,
        /// What the balances hold.
        balances: i128,
    },
    /// The wallet broadcast a transaction no payment of the pool names.
    UnknownTransaction {
        /// Its hash.
        hash: String,
    },
    /// Two payments, or one payment twice, in the wallet's log.
    PaidTwice {
        /// The transaction hash seen more than once, or the payment id.
        what: String,
    },
    /// A payment recorded sent whose transaction the wallet never made.
    MissingTransaction {
        /// The payment.
        id: String,
    },
    /// A payment's transfers differ from its transaction's.
    TransfersDiffer {
        /// The payment.
        id: String,
    },
    /// An address got from the wallet other than what the pool says it sent.
    ReceivedDiffers {
        /// The address.
        address: String,
        /// What the pool's payments say.
        pool: u64,
        /// What the wallet's log says.
        wallet: u64,
    },
    /// A block of the pool in the chain has no record.
    BlockUncredited {
        /// The block.
        hash: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::SharesLost {
                address,
                acknowledged,
                ledger,
            } => write!(
                f,
                "shares lost: {address} was told {acknowledged} accepted, the ledger holds {ledger}"
            ),
            Violation::SharesCountedTwice {
                address,
                most,
                ledger,
            } => write!(
                f,
                "shares counted twice: {address} sent at most {most} answered or unanswered, the ledger holds {ledger}"
            ),
            Violation::NegativeBalance {
                address,
                kind,
                value,
            } => {
                write!(f, "negative {kind} balance {value} for {address}")
            }
            Violation::SplitMismatch {
                hash,
                reward,
                credited,
            } => write!(
                f,
                "block {hash}: credits add up to {credited}, the reward is {reward}"
            ),
            Violation::MoneyNotConserved {
                what,
                blocks,
                balances,
            } => write!(
                f,
                "money not conserved ({what}): blocks brought {blocks}, balances hold {balances}"
            ),
            Violation::UnknownTransaction { hash } => write!(
                f,
                "the wallet broadcast {hash}, which no payment of the pool names"
            ),
            Violation::PaidTwice { what } => write!(f, "paid twice: {what}"),
            Violation::MissingTransaction { id } => write!(
                f,
                "payment {id} is recorded sent but the wallet has no such transaction"
            ),
            Violation::TransfersDiffer { id } => write!(
                f,
                "payment {id}: its transfers differ from the wallet's transaction"
            ),
            Violation::ReceivedDiffers {
                address,
                pool,
                wallet,
            } => write!(
                f,
                "{address} was sent {wallet} by the wallet, the pool's payments say {pool}"
            ),
            Violation::BlockUncredited { hash } => {
                write!(
                    f,
                    "block {hash} of the pool is in the chain but has no record"
                )
            }
        }
    }
}

/// What was checked, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Miners whose shares were compared.
    pub miners: usize,
    /// Shares told accepted, over all miners.
    pub shares: u64,
    /// Blocks with a record.
    pub blocks: usize,
    /// Payments recorded.
    pub payments: usize,
    /// Transactions in the wallet's log.
    pub transactions: usize,
}

/// Checks every promise; returns what was checked and what was broken.
pub fn check(evidence: &Evidence) -> (Checked, Vec<Violation>) {
    let mut violations = Vec::new();
    check_shares(evidence, &mut violations);
    check_balances(evidence, &mut violations);
    check_payments(evidence, &mut violations);
    let recorded: BTreeSet<&str> = evidence.blocks.iter().map(|b| b.hash.as_str()).collect();
    for hash in &evidence.chain_blocks {
        if !recorded.contains(hash.as_str()) {
            violations.push(Violation::BlockUncredited { hash: hash.clone() });
        }
    }
    let checked = Checked {
        miners: evidence.shares.len(),
        shares: evidence.shares.iter().map(|m| m.acknowledged).sum(),
        blocks: evidence.blocks.len(),
        payments: evidence.payments.len(),
        transactions: evidence.wallet.len(),
    };
    (checked, violations)
}

fn check_shares(evidence: &Evidence, violations: &mut Vec<Violation>) {
    for miner in &evidence.shares {
        let most = miner.acknowledged + miner.unanswered;
        if miner.ledger < miner.acknowledged {
            violations.push(Violation::SharesLost {
                address: miner.address.clone(),
                acknowledged: miner.acknowledged,
                ledger: miner.ledger,
            });
        } else if miner.ledger > most {
            violations.push(Violation::SharesCountedTwice {
                address: miner.address.clone(),
                most,
                ledger: miner.ledger,
            });
        }
    }
}

fn check_balances(evidence: &Evidence, violations: &mut Vec<Violation>) {
    for (address, balance) in &evidence.balances {
        for (kind, value) in [
            ("immature", balance.immature),
            ("confirmed", balance.confirmed),
            ("pending", balance.pending),
            ("paid", balance.paid),
        ] {
            if value < 0 {
                violations.push(Violation::NegativeBalance {
                    address: address.clone(),
                    kind,
                    value,
                });
            }
        }
    }
    let mut immature_blocks: i128 = 0;
    let mut matured_blocks: i128 = 0;
    for block in &evidence.blocks {
        let (Some(reward), Some(credited)) = (block.reward, block.credited) else {
            continue;
        };
        if reward != credited {
            violations.push(Violation::SplitMismatch {
                hash: block.hash.clone(),
                reward,
                credited,
            });
        }
        match block.state.as_str() {
            "immature" => immature_blocks += i128::from(credited),
            "matured" => matured_blocks += i128::from(credited),
            _ => {}
        }
    }
    let sum = |pick: fn(&Balance) -> i64| -> i128 {
        evidence
            .balances
            .values()
            .map(|balance| i128::from(pick(balance)))
            .sum()
    };
    let immature = sum(|b| b.immature);
    if immature != immature_blocks {
        violations.push(Violation::MoneyNotConserved {
            what: "immature balances against immature blocks",
            blocks: immature_blocks,
            balances: immature,
        });
    }
    let settled = sum(|b| b.confirmed)
        + sum(|b| b.pending)
        + sum(|b| b.paid)
        + i128::from(evidence.withdrawal_fees);
    if settled != matured_blocks {
        violations.push(Violation::MoneyNotConserved {
            what: "confirmed + pending + paid + withdrawal fees against matured blocks",
            blocks: matured_blocks,
            balances: settled,
        });
    }
}

fn check_payments(evidence: &Evidence, violations: &mut Vec<Violation>) {
    let mut by_hash: BTreeMap<&str, &WalletTransaction> = BTreeMap::new();
    for transaction in &evidence.wallet {
        if by_hash.insert(&transaction.hash, transaction).is_some() {
            violations.push(Violation::PaidTwice {
                what: format!("transaction {} twice in the wallet's log", transaction.hash),
            });
        }
    }
    let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
    let mut pool_sent: BTreeMap<&str, u64> = BTreeMap::new();
    for payment in &evidence.payments {
        let went_out = matches!(payment.status.as_str(), "sent" | "confirmed");
        let Some(hash) = payment.tx_hash.as_deref() else {
            continue;
        };
        if let Some(other) = claimed.insert(hash, &payment.id) {
            violations.push(Violation::PaidTwice {
                what: format!(
                    "payments {other} and {} name one transaction {hash}",
                    payment.id
                ),
            });
        }
        match by_hash.get(hash) {
            Some(transaction) => {
                if transaction.transfers != payment.transfers {
                    violations.push(Violation::TransfersDiffer {
                        id: payment.id.clone(),
                    });
                }
                if !went_out {
                    // The wallet sent it but the pool holds it unsettled or
                    // failed: a failed one would be paid again.
                    if payment.status == "failed" {
                        violations.push(Violation::PaidTwice {
                            what: format!(
                                "payment {} is marked failed (its balance refunded) but the wallet sent {hash}",
                                payment.id
                            ),
                        });
                    }
                }
            }
            None if went_out => violations.push(Violation::MissingTransaction {
                id: payment.id.clone(),
            }),
            None => {}
        }
        if went_out || by_hash.contains_key(hash) {
            for (address, amount) in &payment.transfers {
                *pool_sent.entry(address.as_str()).or_default() += amount;
            }
        }
    }
    let mut wallet_sent: BTreeMap<&str, u64> = BTreeMap::new();
    for transaction in &evidence.wallet {
        if !claimed.contains_key(transaction.hash.as_str()) {
            violations.push(Violation::UnknownTransaction {
                hash: transaction.hash.clone(),
            });
        }
        for (address, amount) in &transaction.transfers {
            *wallet_sent.entry(address.as_str()).or_default() += amount;
        }
    }
    let addresses: BTreeSet<&str> = pool_sent
        .keys()
        .chain(wallet_sent.keys())
        .copied()
        .collect();
    for address in addresses {
        let pool = pool_sent.get(address).copied().unwrap_or(0);
        let wallet = wallet_sent.get(address).copied().unwrap_or(0);
        if pool != wallet {
            violations.push(Violation::ReceivedDiffers {
                address: address.to_owned(),
                pool,
                wallet,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfers(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    /// A consistent run: one matured block of 1000 paid in part, one
    /// immature block of 500, one payment confirmed by the wallet.
    fn clean() -> Evidence {
        let mut balances = BTreeMap::new();
        balances.insert(
            "a".to_owned(),
            Balance {
                immature: 300,
                confirmed: 190,
                pending: 0,
                paid: 400,
            },
        );
        balances.insert(
            "fee".to_owned(),
            Balance {
                immature: 200,
                confirmed: 400,
                pending: 0,
                paid: 0,
            },
        );
        Evidence {
            shares: vec![MinerShares {
                address: "a".to_owned(),
                acknowledged: 10,
                unanswered: 2,
                ledger: 11,
            }],
            balances,
            withdrawal_fees: 10,
            blocks: vec![
                BlockCredit {
                    hash: "b1".into(),
                    state: "matured".into(),
                    reward: Some(1000),
                    credited: Some(1000),
                },
                BlockCredit {
                    hash: "b2".into(),
                    state: "immature".into(),
                    reward: Some(500),
                    credited: Some(500),
                },
            ],
            payments: vec![PoolPayment {
                id: "p1".into(),
                status: "confirmed".into(),
                tx_hash: Some("t1".into()),
                transfers: transfers(&[("a", 400)]),
            }],
            wallet: vec![WalletTransaction {
                hash: "t1".into(),
                transfers: transfers(&[("a", 400)]),
            }],
            chain_blocks: vec!["b1".into(), "b2".into()],
        }
    }

    #[test]
    fn a_consistent_run_breaks_nothing() {
        let (checked, violations) = check(&clean());
        assert_eq!(violations, vec![]);
        assert_eq!(checked.shares, 10);
        assert_eq!(checked.blocks, 2);
    }

    #[test]
    fn a_lost_share_and_a_doubled_share_are_caught() {
        let mut lost = clean();
        lost.shares[0].ledger = 9;
        assert!(matches!(check(&lost).1[..], [Violation::SharesLost { .. }]));
        let mut doubled = clean();
        doubled.shares[0].ledger = 13;
        assert!(matches!(
            check(&doubled).1[..],
            [Violation::SharesCountedTwice { .. }]
        ));
    }

    #[test]
    fn a_payment_broadcast_twice_is_caught() {
        let mut twice = clean();
        twice.wallet.push(WalletTransaction {
            hash: "t2".into(),
            transfers: transfers(&[("a", 400)]),
        });
        let violations = check(&twice).1;
        assert!(violations.contains(&Violation::UnknownTransaction { hash: "t2".into() }));
        assert!(
            violations
                .iter()
                .any(|v| matches!(v, Violation::ReceivedDiffers { .. }))
        );
    }

    #[test]
    fn a_refunded_payment_the_wallet_sent_is_caught() {
        let mut refunded = clean();
        refunded.payments[0].status = "failed".into();
        let violations = check(&refunded).1;
        assert!(
            violations
                .iter()
                .any(|v| matches!(v, Violation::PaidTwice { .. }))
        );
    }

    #[test]
    fn money_out_of_thin_air_and_negative_balances_are_caught() {
        let mut extra = clean();
        if let Some(balance) = extra.balances.get_mut("a") {
            balance.confirmed += 1;
        }
        assert!(matches!(
            check(&extra).1[..],
            [Violation::MoneyNotConserved { .. }]
        ));
        let mut negative = clean();
        if let Some(balance) = negative.balances.get_mut("fee") {
            balance.pending = -5;
            balance.confirmed += 5;
        }
        assert!(matches!(
            check(&negative).1[..],
            [Violation::NegativeBalance { .. }]
        ));
    }

    #[test]
    fn a_bad_split_and_an_unrecorded_block_are_caught() {
        let mut bad = clean();
        bad.blocks[1].credited = Some(499);
        if let Some(balance) = bad.balances.get_mut("fee") {
            balance.immature -= 1;
        }
        assert!(matches!(
            check(&bad).1[..],
            [Violation::SplitMismatch { .. }]
        ));
        let mut unrecorded = clean();
        unrecorded.chain_blocks.push("b3".into());
        assert_eq!(
            check(&unrecorded).1,
            vec![Violation::BlockUncredited { hash: "b3".into() }]
        );
    }
}
