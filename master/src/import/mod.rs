//! `import-seed`: copies what the Go pool (tos-network/tos-pool) kept in
//! Redis into ours: miners' balances (immature, payable, pending, paid),
//! its matured blocks, its confirmed payments, and its blacklist of
//! addresses and whitelist of IPs into our runtime lists (the master sends
//! them to the slaves from its next start).
//!
//! Reading ([`go_layout`]) and deciding ([`plan`]) are apart from writing:
//! the import reads both sides, plans every change, and writes them in one
//! atomic Redis transaction, so a second run finds nothing to change.
//! It refuses while the Go pool has blocks or payments in flight, and
//! against a pool that already holds balances unless forced.

pub mod go_layout;
pub mod plan;

use std::collections::BTreeMap;

use redis::aio::ConnectionManager;
use serde::Serialize;
use tos_pool_common::network::Network;

use crate::ledger::{AccessList, Keys, Ledger, LedgerError, state_name};
use crate::lifecycle::BlockState;
use go_layout::{GoBalances, miner_address_of_key};
use plan::{BalanceKind, GoData, OurData, Plan, Refusal};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The Go pool's Redis could not be read.
    #[error("reading the Go pool's Redis at {url}: {source}")]
    Source {
        /// The URL, password hidden.
        url: String,
        /// The Redis error.
        source: redis::RedisError,
    },
    /// Our Redis could not be read or written.
    #[error("{what} in this pool's Redis: {source}")]
    Target {
        /// What was being done.
        what: &'static str,
        /// The Redis error.
        source: redis::RedisError,
    },
    /// Connecting to our Redis failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The import cannot be made; nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The Go pool's Redis URL (`redis://host:port/db`).
    pub from: String,
    /// Plan and report, write nothing.
    pub dry_run: bool,
    /// Overwrite balances this pool already holds.
    pub force: bool,
}

/// Sums over every miner and record, atomic units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Miners with any balance.
    pub miners: u64,
    /// Sum of immature balances.
    pub immature: u64,
    /// Sum of payable balances.
    pub confirmed: u64,
    /// Sum of pending balances.
    pub pending: u64,
    /// Sum of paid totals.
    pub paid: u64,
    /// Block records.
    pub blocks: u64,
    /// Payment records.
    pub payments: u64,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The Go pool's totals.
    pub source: Totals,
    /// This pool's totals before.
    pub before: Totals,
    /// This pool's totals after (equal to `before` in a dry run).
    pub after: Totals,
    /// Balance fields set.
    pub balances_set: usize,
    /// Blocks added.
    pub blocks_added: usize,
    /// Payments added.
    pub payments_added: usize,
    /// Addresses added to the runtime blacklist.
    pub blacklist_added: Vec<String>,
    /// IPs and CIDRs added to the runtime whitelist.
    pub whitelist_added: Vec<String>,
    /// What was left out and why.
    pub skipped: Vec<String>,
    /// Whether the changes were written.
    pub written: bool,
}

/// Imports from `options.from` into `ledger` (our Redis) for `network`.
pub async fn run(
    ledger: &Ledger,
    network: Network,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let go = read_go(&options.from).await?;
    let mut target = ledger.connection();
    let keys = ledger.keys();
    let ours = read_ours(&mut target, keys, &go).await?;
    let before = our_totals(&mut target, keys).await?;
    let source = go_totals(&go);
    let plan = plan::plan(&go, &ours, network, options.force)?;
    let written = !options.dry_run && !plan.is_empty();
    if written {
        write(&mut target, keys, &plan).await?;
    }
    let after = our_totals(&mut target, keys).await?;
    Ok(ImportReport {
        source,
        before,
        after,
        balances_set: plan.balances.len(),
        blocks_added: plan.blocks.len(),
        payments_added: plan.payments.len(),
        blacklist_added: plan.blacklist,
        whitelist_added: plan.whitelist,
        skipped: plan.skipped,
        written,
    })
}

async fn read_go(url: &str) -> Result<GoData, ImportError> {
    let shown = crate::ledger::redacted_url(url);
    let fail = |source| ImportError::Source {
        url: shown.clone(),
        source,
    };
    let client = redis::Client::open(url).map_err(fail)?;
    let mut go = client
        .get_multiplexed_async_connection()
        .await
        .map_err(fail)?;
    let mut data = GoData::default();
    let mut cursor: u64 = 0;
    let mut miner_keys = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(go_layout::MINERS_PATTERN)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut go)
            .await
            .map_err(fail)?;
        miner_keys.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    miner_keys.sort();
    miner_keys.dedup();
    for key in miner_keys {
        let Some(address) = miner_address_of_key(&key) else {
            continue;
        };
        let fields: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut go)
            .await
            .map_err(fail)?;
        data.miners
            .push((address.to_owned(), GoBalances::from_fields(&fields)));
    }
    let zrange = |key: &'static str| redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).clone();
    let candidates: Vec<String> = zrange(go_layout::BLOCKS_CANDIDATES)
        .query_async(&mut go)
        .await
        .map_err(fail)?;
    let immature: Vec<String> = zrange(go_layout::BLOCKS_IMMATURE)
        .query_async(&mut go)
        .await
        .map_err(fail)?;
    data.unsettled_blocks = candidates.len() + immature.len();
    let pending: Vec<String> = zrange(go_layout::PAYMENTS_PENDING)
        .query_async(&mut go)
        .await
        .map_err(fail)?;
    data.unsettled_payments = pending.len();
    data.matured_blocks = zrange(go_layout::BLOCKS_MATURED)
        .query_async(&mut go)
        .await
        .map_err(fail)?;
    data.payments = zrange(go_layout::PAYMENTS_ALL)
        .query_async(&mut go)
        .await
        .map_err(fail)?;
    for (key, list) in [
        (go_layout::BLACKLIST, &mut data.blacklist),
        (go_layout::WHITELIST, &mut data.whitelist),
    ] {
        let mut members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(key)
            .query_async(&mut go)
            .await
            .map_err(fail)?;
        members.sort();
        *list = members;
    }
    Ok(data)
}

fn target(what: &'static str) -> impl Fn(redis::RedisError) -> ImportError {
    move |source| ImportError::Target { what, source }
}

fn balance_key(keys: &Keys, kind: BalanceKind) -> String {
    match kind {
        BalanceKind::Immature => keys.balance_immature(),
        BalanceKind::Confirmed => keys.balance_confirmed(),
        BalanceKind::Pending => keys.balance_pending(),
        BalanceKind::Paid => keys.balance_paid(),
    }
}

/// The raw `address -> amount` fields of one of our balance hashes; each
/// caller parses the amounts its own way.
async fn read_balances(
    connection: &mut ConnectionManager,
    keys: &Keys,
    kind: BalanceKind,
) -> Result<BTreeMap<String, String>, ImportError> {
    redis::cmd("HGETALL")
        .arg(balance_key(keys, kind))
        .query_async(connection)
        .await
        .map_err(target("reading balances"))
}

async fn read_ours(
    connection: &mut ConnectionManager,
    keys: &Keys,
    go: &GoData,
) -> Result<OurData, ImportError> {
    let mut ours = OurData::default();
    for (list, set) in [
        (AccessList::Blacklist, &mut ours.blacklist),
        (AccessList::Whitelist, &mut ours.whitelist),
    ] {
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys.access_list(list.name()))
            .query_async(connection)
            .await
            .map_err(target("reading the runtime lists"))?;
        set.extend(members);
    }
    for kind in BalanceKind::ALL {
        let raw = read_balances(connection, keys, kind).await?;
        let parsed = raw
            .into_iter()
            .map(|(address, amount)| (address, amount.trim().parse().unwrap_or(u64::MAX)))
            .collect();
        ours.balances.insert(kind, parsed);
    }
    ours.block_hashes = redis::cmd("HKEYS")
        .arg(keys.blocks())
        .query_async::<Vec<String>>(connection)
        .await
        .map_err(target("reading block hashes"))?
        .into_iter()
        .collect();
    // Only the ids an import could write are looked up.
    let mut wanted: Vec<String> = go
        .payments
        .iter()
        .filter_map(|json| go_layout::GoPayment::parse(json).ok())
        .map(|payment| plan::payment_id(payment.tx_hash.trim()))
        .collect();
    wanted.sort();
    wanted.dedup();
    for id in wanted {
        let exists: bool = redis::cmd("HEXISTS")
            .arg(keys.payments())
            .arg(&id)
            .query_async(connection)
            .await
            .map_err(target("reading payments"))?;
        if exists {
            ours.payment_ids.insert(id);
        }
    }
    Ok(ours)
}

fn go_totals(go: &GoData) -> Totals {
    let mut totals = Totals::default();
    for balances in go.miners.iter().filter_map(|(_, b)| b.as_ref().ok()) {
        if !balances.is_zero() {
            totals.miners += 1;
        }
        totals.immature = totals.immature.saturating_add(balances.immature);
        totals.confirmed = totals.confirmed.saturating_add(balances.balance);
        totals.pending = totals.pending.saturating_add(balances.pending);
        totals.paid = totals.paid.saturating_add(balances.paid);
    }
    totals.blocks = go.matured_blocks.len() as u64;
    totals.payments = go.payments.len() as u64;
    totals
}

async fn our_totals(
    connection: &mut ConnectionManager,
    keys: &Keys,
) -> Result<Totals, ImportError> {
    let mut totals = Totals::default();
    let mut miners = std::collections::BTreeSet::new();
    for kind in BalanceKind::ALL {
        let raw = read_balances(connection, keys, kind).await?;
        let mut sum: u64 = 0;
        for (address, amount) in raw {
            let amount: u64 = amount.trim().parse().unwrap_or(0);
            if amount > 0 {
                miners.insert(address);
            }
            sum = sum.saturating_add(amount);
        }
        match kind {
            BalanceKind::Immature => totals.immature = sum,
            BalanceKind::Confirmed => totals.confirmed = sum,
            BalanceKind::Pending => totals.pending = sum,
            BalanceKind::Paid => totals.paid = sum,
        }
    }
    totals.miners = miners.len() as u64;
    totals.blocks = redis::cmd("HLEN")
        .arg(keys.blocks())
        .query_async(connection)
        .await
        .map_err(target("counting blocks"))?;
    totals.payments = redis::cmd("HLEN")
        .arg(keys.payments())
        .query_async(connection)
        .await
        .map_err(target("counting payments"))?;
    Ok(totals)
}

/// Writes the whole plan in one MULTI/EXEC: all of it, or nothing.
async fn write(
    connection: &mut ConnectionManager,
    keys: &Keys,
    plan: &Plan,
) -> Result<(), ImportError> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (kind, address, value) in &plan.balances {
        pipe.hset(balance_key(keys, *kind), address, *value)
            .ignore();
    }
    let matured = keys.blocks_in_state(BlockState::Matured);
    debug_assert_eq!(state_name(BlockState::Matured), "matured");
    for block in &plan.blocks {
        let json = serde_json::to_string(block).map_err(|error| ImportError::Target {
            what: "encoding a block record",
            source: redis::RedisError::from(std::io::Error::other(error)),
        })?;
        pipe.hset_nx(keys.blocks(), &block.hash, json).ignore();
        pipe.zadd(&matured, &block.hash, block.height).ignore();
        pipe.zadd(keys.blocks_by_height(), &block.hash, block.height)
            .ignore();
    }
    for payment in &plan.payments {
        let record = &payment.record;
        let json = serde_json::to_string(payment).map_err(|error| ImportError::Target {
            what: "encoding a payment record",
            source: redis::RedisError::from(std::io::Error::other(error)),
        })?;
        pipe.hset_nx(keys.payments(), &record.id, json).ignore();
        pipe.zadd(keys.payments_index(), &record.id, record.created_ms)
            .ignore();
        for transfer in &record.transfers {
            let entry = crate::ledger::MinerPayment {
                payment_id: record.id.clone(),
                tx_hash: record.tx_hash.clone(),
                amount: transfer.amount,
                fee: transfer.fee,
                timestamp_ms: record.updated_ms,
                status: record.status,
            };
            let entry = serde_json::to_string(&entry).map_err(|error| ImportError::Target {
                what: "encoding a payment history entry",
                source: redis::RedisError::from(std::io::Error::other(error)),
            })?;
            pipe.lpush(keys.miner_payments(&transfer.address), entry)
                .ignore();
        }
    }
    for (list, entries) in [
        (AccessList::Blacklist, &plan.blacklist),
        (AccessList::Whitelist, &plan.whitelist),
    ] {
        if !entries.is_empty() {
            pipe.sadd(keys.access_list(list.name()), entries).ignore();
        }
    }
    pipe.query_async::<()>(connection)
        .await
        .map_err(target("writing the import"))
}
