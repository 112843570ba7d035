//! What an import would change, decided without I/O: from what was read
//! out of the Go pool and out of ours, the balance fields to set, the
//! blocks and payments to add, and what is skipped and why.

use std::collections::{BTreeMap, BTreeSet};

use tos_pool_common::address::Address;
use tos_pool_common::network::Network;

use super::go_layout::{GoBalances, GoBlock, GoPayment};
use crate::ledger::{PaymentRecord, PaymentStatus, PaymentTransfer, StoredPayment};
use crate::lifecycle::{BlockRecord, BlockState};
use crate::pplns::{PplnsSnapshot, Split};

/// One of our four balance hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BalanceKind {
    /// `balance:immature`.
    Immature,
    /// `balance:confirmed` (the Go pool's `balance`).
    Confirmed,
    /// `balance:pending`.
    Pending,
    /// `balance:paid`.
    Paid,
}

impl BalanceKind {
    /// All four, in report order.
    pub const ALL: [BalanceKind; 4] = [
        BalanceKind::Immature,
        BalanceKind::Confirmed,
        BalanceKind::Pending,
        BalanceKind::Paid,
    ];

    fn of(self, balances: &GoBalances) -> u64 {
        match self {
            BalanceKind::Immature => balances.immature,
            BalanceKind::Confirmed => balances.balance,
            BalanceKind::Pending => balances.pending,
            BalanceKind::Paid => balances.paid,
        }
    }
}

/// What was read from the Go pool.
#[derive(Debug, Clone, Default)]
pub struct GoData {
    /// Each miner hash: the address as written there and its balances, or
    /// why the hash could not be read.
    pub miners: Vec<(String, Result<GoBalances, String>)>,
    /// Members of `tos:blocks:candidates` and `tos:blocks:immature`.
    pub unsettled_blocks: usize,
    /// Members of `tos:payments:pending`.
    pub unsettled_payments: usize,
    /// Members of `tos:blocks:matured`, raw JSON.
    pub matured_blocks: Vec<String>,
    /// Members of `tos:payments:all`, raw JSON.
    pub payments: Vec<String>,
    /// `tos:blacklist`.
    pub blacklist: Vec<String>,
    /// `tos:whitelist`.
    pub whitelist: Vec<String>,
}

/// What our pool holds now, as far as the import touches it.
#[derive(Debug, Clone, Default)]
pub struct OurData {
    /// Each balance hash, address → atomic units.
    pub balances: BTreeMap<BalanceKind, BTreeMap<String, u64>>,
    /// Hashes of the blocks we have a record of.
    pub block_hashes: BTreeSet<String>,
    /// Ids of the payments we have a record of.
    pub payment_ids: BTreeSet<String>,
    /// Our runtime blacklist (`P:access:blacklist`).
    pub blacklist: BTreeSet<String>,
    /// Our runtime whitelist (`P:access:whitelist`).
    pub whitelist: BTreeSet<String>,
}

impl OurData {
    /// Whether any balance is not zero.
    pub fn has_balances(&self) -> bool {
        self.balances
            .values()
            .any(|hash| hash.values().any(|&amount| amount > 0))
    }
}

/// The changes an import makes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Balance fields to set: (hash, address, new value); only those that
    /// differ from ours.
    pub balances: Vec<(BalanceKind, String, u64)>,
    /// Matured blocks we have no record of.
    pub blocks: Vec<BlockRecord>,
    /// Confirmed payments we have no record of (one per transaction).
    pub payments: Vec<StoredPayment>,
    /// Addresses to add to our runtime blacklist.
    pub blacklist: Vec<String>,
    /// IPs and CIDRs to add to our runtime whitelist.
    pub whitelist: Vec<String>,
    /// What was left out and why (one line each).
    pub skipped: Vec<String>,
}

impl Plan {
    /// Whether the import would change nothing.
    pub fn is_empty(&self) -> bool {
        self.balances.is_empty()
            && self.blocks.is_empty()
            && self.payments.is_empty()
            && self.blacklist.is_empty()
            && self.whitelist.is_empty()
    }
}

/// Why an import cannot be made at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The Go pool still has blocks or payments in flight.
    #[error(
        "the Go pool has {blocks} candidate or immature blocks and {payments} sent but \
         unconfirmed payments: their balances would be counted by nobody. Stop its miners, let \
         its unlocker and payer finish (both counts 0), then import"
    )]
    InFlight {
        /// Candidate and immature blocks.
        blocks: usize,
        /// Pending payments.
        payments: usize,
    },
    /// Ours already holds balances that the import would change.
    #[error(
        "this pool already holds balances and the import would change {changes} of them; \
         check the --from URL and the config, then re-run with --force to overwrite them"
    )]
    AlreadyHasBalances {
        /// Balance fields that would change.
        changes: usize,
    },
}

/// Id of the payment imported for Go transaction `tx_hash`.
pub fn payment_id(tx_hash: &str) -> String {
    format!("go-{tx_hash}")
}

/// Decides the import of `go` into `ours` on `network`.
pub fn plan(go: &GoData, ours: &OurData, network: Network, force: bool) -> Result<Plan, Refusal> {
    if go.unsettled_blocks > 0 || go.unsettled_payments > 0 {
        return Err(Refusal::InFlight {
            blocks: go.unsettled_blocks,
            payments: go.unsettled_payments,
        });
    }
    let mut plan = Plan::default();
    let canonical = |text: &str| Address::parse(text.trim(), network).map(|a| a.to_string());

    // Balances: set to the Go pool's value, field by field.
    let mut wanted: BTreeMap<String, GoBalances> = BTreeMap::new();
    for (raw, balances) in &go.miners {
        match (canonical(raw), balances) {
            (Ok(address), Ok(balances)) => {
                wanted.insert(address, *balances);
            }
            (Err(error), _) => plan
                .skipped
                .push(format!("miner {raw:?}: not a {network} address ({error})")),
            (_, Err(why)) => plan.skipped.push(format!("miner {raw}: {why}")),
        }
    }
    for (address, balances) in &wanted {
        for kind in BalanceKind::ALL {
            let new = kind.of(balances);
            let current = ours
                .balances
                .get(&kind)
                .and_then(|hash| hash.get(address))
                .copied()
                .unwrap_or(0);
            if new != current {
                plan.balances.push((kind, address.clone(), new));
            }
        }
    }
    if ours.has_balances() && !plan.balances.is_empty() && !force {
        return Err(Refusal::AlreadyHasBalances {
            changes: plan.balances.len(),
        });
    }

    // Matured blocks: history only; their credits are in the balances.
    for json in &go.matured_blocks {
        let block = match GoBlock::parse(json) {
            Ok(block) => block,
            Err(why) => {
                plan.skipped.push(format!("block: {why}"));
                continue;
            }
        };
        match matured_record(&block, network) {
            Ok(record) if !ours.block_hashes.contains(&record.hash) => plan.blocks.push(record),
            Ok(_) => {}
            Err(why) => plan
                .skipped
                .push(format!("block {} at {}: {why}", block.hash, block.height)),
        }
    }

    // Confirmed payments: one record per transaction.
    let mut by_tx: BTreeMap<String, Vec<GoPayment>> = BTreeMap::new();
    for json in &go.payments {
        match GoPayment::parse(json) {
            Ok(payment) => by_tx
                .entry(payment.tx_hash.trim().to_owned())
                .or_default()
                .push(payment),
            Err(why) => plan.skipped.push(format!("payment: {why}")),
        }
    }
    for (tx_hash, transfers) in by_tx {
        let id = payment_id(&tx_hash);
        if ours.payment_ids.contains(&id) {
            continue;
        }
        match payment_record(&id, &tx_hash, &transfers, network) {
            Ok(payment) => plan.payments.push(payment),
            Err(why) => plan.skipped.push(format!("payment {tx_hash}: {why}")),
        }
    }
    // The lists: the Go blacklist held addresses, its whitelist IPs never
    // banned, the same meaning as our runtime lists.
    for raw in &go.blacklist {
        match canonical(raw) {
            Ok(address) if !ours.blacklist.contains(&address) => plan.blacklist.push(address),
            Ok(_) => {}
            Err(error) => plan.skipped.push(format!(
                "blacklist entry {raw:?}: not a {network} address ({error})"
            )),
        }
    }
    for raw in &go.whitelist {
        match crate::api::canonical_ip_entry(raw) {
            Some(entry) if !ours.whitelist.contains(&entry) => plan.whitelist.push(entry),
            Some(_) => {}
            None => plan
                .skipped
                .push(format!("whitelist entry {raw:?}: not an IP or a CIDR")),
        }
    }
    plan.blacklist.sort();
    plan.blacklist.dedup();
    plan.whitelist.sort();
    plan.whitelist.dedup();
    // Oldest first: each miner's history list is pushed newest on top.
    plan.payments
        .sort_by_key(|payment| payment.record.created_ms);
    Ok(plan)
}

/// Our record of a Go pool matured block. Its credits were already paid
/// into the balances the import copies, so it carries the split for the
/// record only (the unlocker never touches a matured block again).
fn matured_record(block: &GoBlock, network: Network) -> Result<BlockRecord, String> {
    let hash = block.normalized_hash()?;
    let finder = Address::parse(block.finder.trim(), network)
        .map(|a| a.to_string())
        .map_err(|error| format!("finder is not a {network} address ({error})"))?;
    let total_shares: u128 = block.shares.values().map(|&s| u128::from(s)).sum();
    let snapshot = PplnsSnapshot::new(
        block.difficulty,
        0,
        total_shares,
        block
            .shares
            .iter()
            .map(|(address, shares)| (address.clone(), u128::from(*shares))),
    )
    .map_err(|error| format!("its shares do not form a window: {error}"))?;
    let mut record = BlockRecord::candidate(
        hash,
        block.height,
        block.found_at_ms(),
        finder,
        snapshot,
        block.reward,
    );
    record.state = BlockState::Matured;
    record.final_reward = Some(block.reward);
    record.matured_credits = Some(Split {
        credits: BTreeMap::new(),
        fee: 0,
        total: block.reward,
    });
    Ok(record)
}

/// Our record of one Go pool transaction (its transfers, all confirmed).
fn payment_record(
    id: &str,
    tx_hash: &str,
    transfers: &[GoPayment],
    network: Network,
) -> Result<StoredPayment, String> {
    let mut ours = Vec::with_capacity(transfers.len());
    let mut amount: u64 = 0;
    for transfer in transfers {
        let address = Address::parse(transfer.address.trim(), network)
            .map(|a| a.to_string())
            .map_err(|error| {
                format!(
                    "{:?} is not a {network} address ({error})",
                    transfer.address
                )
            })?;
        amount = amount
            .checked_add(transfer.amount)
            .ok_or("the amounts overflow")?;
        ours.push(PaymentTransfer {
            address,
            amount: transfer.amount,
            fee: 0,
        });
    }
    let at_ms = transfers.iter().map(GoPayment::at_ms).min().unwrap_or(0);
    Ok(StoredPayment {
        record: PaymentRecord {
            id: id.to_owned(),
            status: PaymentStatus::Confirmed,
            tx_hash: Some(tx_hash.to_owned()),
            created_ms: at_ms,
            updated_ms: at_ms,
            transfers: ours,
            amount,
            fee: 0,
            error: Some("imported from the Go pool".to_owned()),
        },
        nonce: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(byte: u8) -> String {
        Address::new([byte; 32], Network::Devnet).to_string()
    }

    fn go_data() -> GoData {
        let hash = "ab".repeat(32);
        GoData {
            miners: vec![
                (
                    address(1),
                    Ok(GoBalances {
                        balance: 150_000_000,
                        immature: 0,
                        pending: 0,
                        paid: 200_000_000,
                    }),
                ),
                ("tos1bogus".to_owned(), Ok(GoBalances::default())),
            ],
            matured_blocks: vec![format!(
                r#"{{"height":5,"hash":"{hash}","reward":97486707,"timestamp":1700000000,"finder":"{}","shares":{{"{}":3}},"difficulty":1000}}"#,
                address(1),
                address(1)
            )],
            payments: vec![
                format!(
                    r#"{{"tx_hash":"tx1","address":"{}","amount":100000000,"timestamp":1700000100}}"#,
                    address(1)
                ),
                format!(
                    r#"{{"tx_hash":"tx1","address":"{}","amount":100000000,"timestamp":1700000100}}"#,
                    address(2)
                ),
            ],
            blacklist: vec![address(7), "junk".to_owned()],
            whitelist: vec!["10.1.2.3".to_owned(), "10.0.0.0/8".to_owned()],
            ..GoData::default()
        }
    }

    #[test]
    fn a_fresh_pool_gets_every_balance_block_and_payment() {
        let plan = plan(&go_data(), &OurData::default(), Network::Devnet, false).unwrap();
        assert_eq!(
            plan.balances,
            vec![
                (BalanceKind::Confirmed, address(1), 150_000_000),
                (BalanceKind::Paid, address(1), 200_000_000),
            ]
        );
        assert_eq!(plan.blocks.len(), 1);
        assert_eq!(plan.blocks[0].found_at_ms, 1_700_000_000_000);
        assert_eq!(plan.blocks[0].state, BlockState::Matured);
        assert_eq!(plan.payments.len(), 1, "two transfers of one transaction");
        assert_eq!(plan.payments[0].record.amount, 200_000_000);
        assert_eq!(plan.payments[0].record.created_ms, 1_700_000_100_000);
        assert_eq!(plan.blacklist, vec![address(7)]);
        assert_eq!(plan.whitelist, vec!["10.0.0.0/8", "10.1.2.3"]);
        assert_eq!(plan.skipped.len(), 2, "{:?}", plan.skipped);
        assert!(plan.skipped[0].contains("tos1bogus"));
        assert!(plan.skipped[1].contains("junk"));
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let go = go_data();
        let first = plan(&go, &OurData::default(), Network::Devnet, false).unwrap();
        let mut ours = OurData::default();
        for (kind, address, value) in &first.balances {
            ours.balances
                .entry(*kind)
                .or_default()
                .insert(address.clone(), *value);
        }
        ours.block_hashes = first.blocks.iter().map(|b| b.hash.clone()).collect();
        ours.payment_ids = first.payments.iter().map(|p| p.record.id.clone()).collect();
        ours.blacklist = first.blacklist.iter().cloned().collect();
        ours.whitelist = first.whitelist.iter().cloned().collect();
        let second = plan(&go, &ours, Network::Devnet, false).unwrap();
        assert!(second.is_empty(), "{second:?}");
    }

    #[test]
    fn a_pool_with_other_balances_is_refused_unless_forced() {
        let mut ours = OurData::default();
        ours.balances
            .entry(BalanceKind::Confirmed)
            .or_default()
            .insert(address(9), 5);
        let refused = plan(&go_data(), &ours, Network::Devnet, false).unwrap_err();
        assert_eq!(refused, Refusal::AlreadyHasBalances { changes: 2 });
        assert!(plan(&go_data(), &ours, Network::Devnet, true).is_ok());
    }

    #[test]
    fn blocks_or_payments_in_flight_refuse_the_import() {
        let go = GoData {
            unsettled_blocks: 2,
            unsettled_payments: 1,
            ..go_data()
        };
        let refused = plan(&go, &OurData::default(), Network::Devnet, true).unwrap_err();
        assert_eq!(
            refused,
            Refusal::InFlight {
                blocks: 2,
                payments: 1
            }
        );
    }
}
