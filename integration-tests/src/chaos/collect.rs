//! Reads a finished run back: the ledger's shares per miner, balances,
//! blocks and payments from Redis, the wallet's transaction log, and the
//! pool's blocks in the daemon's chain.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tos_pool_common::clock::unix_ms;
use tos_pool_master::ledger::{Keys, Ledger};

use super::audit::{Balance, BlockCredit, Evidence, MinerShares, PoolPayment, WalletTransaction};
use crate::loadgen::MinerReport;

/// Why the evidence could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading back {what}: {reason}")]
pub struct CollectError {
    /// What was being read.
    pub what: &'static str,
    /// Why it failed.
    pub reason: String,
}

fn fail(what: &'static str) -> impl Fn(String) -> CollectError {
    move |reason| CollectError { what, reason }
}

/// Each miner's valid shares in the ledger, beside what it was told.
pub async fn shares(
    ledger: &Ledger,
    reports: &[MinerReport],
) -> Result<Vec<MinerShares>, CollectError> {
    let mut by_address: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for report in reports {
        let entry = by_address.entry(report.address.as_str()).or_default();
        entry.0 += report.accepted;
        entry.1 += report.unanswered;
    }
    let mut shares = Vec::with_capacity(by_address.len());
    for (address, (acknowledged, unanswered)) in by_address {
        let stats = ledger
            .miner_stats(address, unix_ms())
            .await
            .map_err(|e| fail("miner stats")(e.to_string()))?;
        shares.push(MinerShares {
            address: address.to_owned(),
            acknowledged,
            unanswered,
            ledger: stats.map_or(0, |s| s.activity.shares.valid),
        });
    }
    Ok(shares)
}

/// Balances, blocks and payments straight from Redis.
pub fn ledger_money(
    redis_url: &str,
    keys: &Keys,
    evidence: &mut Evidence,
) -> Result<(), CollectError> {
    let redis = fail("Redis");
    let client = redis::Client::open(redis_url).map_err(|e| redis(e.to_string()))?;
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(|e| redis(e.to_string()))?;
    let mut hash = |key: String| -> Result<BTreeMap<String, String>, CollectError> {
        redis::cmd("HGETALL")
            .arg(key)
            .query(&mut connection)
            .map_err(|e| redis(e.to_string()))
    };
    let number = |text: &String| text.parse::<i64>().unwrap_or(i64::MIN);
    let mut balances: BTreeMap<String, Balance> = BTreeMap::new();
    for (key, pick) in [
        (keys.balance_immature(), 0),
        (keys.balance_confirmed(), 1),
        (keys.balance_pending(), 2),
        (keys.balance_paid(), 3),
    ] {
        for (address, value) in hash(key)? {
            let balance = balances.entry(address).or_default();
            let slot = match pick {
                0 => &mut balance.immature,
                1 => &mut balance.confirmed,
                2 => &mut balance.pending,
                _ => &mut balance.paid,
            };
            *slot = number(&value);
        }
    }
    evidence.balances = balances;
    let blocks = hash(keys.blocks())?;
    evidence.blocks = blocks
        .into_iter()
        .map(|(hash, json)| block_credit(hash, &json))
        .collect();
    let payments = hash(keys.payments())?;
    evidence.payments = payments
        .into_values()
        .map(|json| pool_payment(&json))
        .collect();
    let fees: Option<i64> = redis::cmd("GET")
        .arg(keys.payment_fees())
        .query(&mut connection)
        .map_err(|e| redis(e.to_string()))?;
    evidence.withdrawal_fees = fees.unwrap_or(0);
    Ok(())
}

/// Payments the pool has not settled yet (pending or sent).
pub fn unsettled_payments(redis_url: &str, keys: &Keys) -> Result<u64, CollectError> {
    let client = redis::Client::open(redis_url).map_err(|e| fail("Redis")(e.to_string()))?;
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(|e| fail("Redis")(e.to_string()))?;
    redis::cmd("SCARD")
        .arg(keys.payments_unsettled())
        .query(&mut connection)
        .map_err(|e| fail("Redis")(e.to_string()))
}

/// A block record's state and credits: the matured split once matured,
/// else the immature one.
fn block_credit(hash: String, json: &str) -> BlockCredit {
    let record: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let state = record["state"]
        .as_str()
        .unwrap_or("unreadable")
        .to_ascii_lowercase();
    let split = if record["matured_credits"].is_object() {
        &record["matured_credits"]
    } else {
        &record["immature_credits"]
    };
    let (reward, credited) = if split.is_object() {
        let credited = split["credits"]
            .as_object()
            .map(|credits| credits.values().filter_map(Value::as_u64).sum());
        (split["total"].as_u64(), credited)
    } else {
        (None, None)
    };
    BlockCredit {
        hash,
        state,
        reward,
        credited,
    }
}

fn pool_payment(json: &str) -> PoolPayment {
    let record: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let mut transfers = BTreeMap::new();
    for transfer in record["transfers"].as_array().into_iter().flatten() {
        if let (Some(address), Some(amount)) =
            (transfer["address"].as_str(), transfer["amount"].as_u64())
        {
            *transfers.entry(address.to_owned()).or_default() += amount;
        }
    }
    PoolPayment {
        id: record["id"].as_str().unwrap_or_default().to_owned(),
        status: record["status"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase(),
        tx_hash: record["tx_hash"].as_str().map(str::to_owned),
        transfers,
    }
}

/// Every transaction in the wallet emulator's log.
pub async fn wallet_transactions(
    http: &reqwest::Client,
    wallet: &str,
) -> Result<Vec<WalletTransaction>, CollectError> {
    let wallet_error = fail("the wallet's transactions");
    let text = http
        .get(format!("{wallet}/control/transactions"))
        .send()
        .await
        .map_err(|e| wallet_error(e.to_string()))?
        .text()
        .await
        .map_err(|e| wallet_error(e.to_string()))?;
    let log: Value = serde_json::from_str(&text).map_err(|e| wallet_error(e.to_string()))?;
    Ok(log
        .as_array()
        .into_iter()
        .flatten()
        .map(|transaction| {
            let mut transfers = BTreeMap::new();
            for transfer in transaction["transfers"].as_array().into_iter().flatten() {
                if let (Some(address), Some(amount)) = (
                    transfer["destination"].as_str(),
                    transfer["amount"].as_u64(),
                ) {
                    *transfers.entry(address.to_owned()).or_default() += amount;
                }
            }
            WalletTransaction {
                hash: transaction["hash"].as_str().unwrap_or_default().to_owned(),
                transfers,
            }
        })
        .collect())
}

/// Hashes of the blocks in the daemon's order whose miner is `pool_address`.
pub async fn pool_blocks_in_chain(
    http: &reqwest::Client,
    daemon: &str,
    pool_address: &str,
) -> Result<Vec<String>, CollectError> {
    let daemon_error = fail("the daemon's chain");
    let call = |method: &'static str, params: Value| {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let request = http
            .post(daemon)
            .header("content-type", "application/json")
            .body(body.to_string());
        async move {
            let text = request
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            let reply: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            match reply.get("result") {
                Some(result) => Ok(result.clone()),
                None => Err(format!("{method}: {reply}")),
            }
        }
    };
    let topoheight = call("get_topoheight", Value::Null)
        .await
        .map_err(&daemon_error)?
        .as_u64()
        .ok_or_else(|| daemon_error("get_topoheight is not a number".to_owned()))?;
    let mut hashes = Vec::new();
    for at in 0..=topoheight {
        let block = call("get_block_at_topoheight", json!({ "topoheight": at }))
            .await
            .map_err(&daemon_error)?;
        if block["miner"].as_str() == Some(pool_address)
            && let Some(hash) = block["hash"].as_str()
        {
            hashes.push(hash.to_owned());
        }
    }
    Ok(hashes)
}
