//! The wallet's books, without I/O: balance, nonce, the transactions it has
//! broadcast, the injected faults, and the rules `build_transaction` checks.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tos_pool_common::address::{Address, AddressError};
use tos_pool_common::network::Network;

use super::rpc::RpcError;

/// The TOS asset id: 64 zeros.
pub const TOS_ASSET: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Most transfers one transaction may carry (TOS.md).
pub const MAX_TRANSFERS: usize = 500;

/// The fee the emulator charges: `base + per_transfer × transfers`, times the
/// request's fee multiplier (rounded up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePolicy {
    /// Atomic units every transaction pays.
    pub base: u64,
    /// Atomic units each transfer adds.
    pub per_transfer: u64,
}

impl Default for FeePolicy {
    fn default() -> Self {
        FeePolicy {
            base: 1_000,
            per_transfer: 1,
        }
    }
}

impl FeePolicy {
    /// The fee of a transaction with `transfers` transfers at multiplier 1.
    pub fn estimate(&self, transfers: usize) -> u64 {
        let count = u64::try_from(transfers).unwrap_or(u64::MAX);
        self.base
            .saturating_add(self.per_transfer.saturating_mul(count))
    }
}

/// A failure injected into the next `build_transaction` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Refuse with a clean error before broadcasting: nothing recorded,
    /// balance and nonce unchanged.
    FailBeforeBroadcast,
    /// Broadcast (record the transaction, debit the balance) and then never
    /// answer the request: the case that makes a careless pool pay twice.
    BroadcastThenLoseReply,
    /// Refuse with the wallet's insufficient-funds error whatever the balance.
    InsufficientFunds,
    /// Broadcast (record the transaction, debit the balance, take the
    /// nonce) and then answer with a wallet error, as a wallet does when its
    /// daemon took the transaction but the daemon's answer to the wallet was
    /// lost: the error says nothing about the broadcast.
    BroadcastThenError,
}

/// How the wallet refuses a destination it will not send to (see
/// [`Ledger::refuse_recipient`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// `-32602` invalid params whose message names the transfer's index and
    /// its destination.
    Named,
    /// `-32602` invalid params that names no destination (the pool must
    /// find it by splitting the batch).
    Unnamed,
    /// A `-32004` wallet error naming no destination: the pool cannot tell
    /// it from a failure after a broadcast.
    WalletError,
}

/// One transfer of a transaction, as sent and as reported back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// Asset id (64 hex); the emulator only moves [`TOS_ASSET`].
    pub asset: String,
    /// Amount in atomic units.
    pub amount: u64,
    /// Receiving address.
    pub destination: String,
    /// Optional payload, echoed back as given.
    #[serde(default)]
    pub extra_data: Option<Value>,
}

/// A transaction the wallet broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// Transaction hash, 64 hex.
    pub hash: String,
    /// The wallet nonce it used.
    pub nonce: u64,
    /// Fee paid, atomic units.
    pub fee: u64,
    /// Its transfers.
    pub transfers: Vec<Transfer>,
    /// Chain topoheight when it was broadcast.
    pub built_at_topoheight: u64,
}

impl TransactionRecord {
    /// Total amount the transfers move (without the fee).
    pub fn total_amount(&self) -> u64 {
        self.transfers
            .iter()
            .fold(0u64, |sum, t| sum.saturating_add(t.amount))
    }

    /// The topoheight of the block it counts as included in, once the chain
    /// has grown `confirmations` blocks past `built_at_topoheight`.
    pub fn confirmed_at(&self, confirmations: u64, topoheight: u64) -> Option<u64> {
        let at = self.built_at_topoheight.saturating_add(confirmations);
        (topoheight >= at).then_some(at)
    }
}

/// The fee a `build_transaction` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum FeeRequest {
    /// Estimated fee times this factor (≥ 1).
    Multiplier {
        /// The factor.
        multiplier: f64,
    },
    /// Exactly this fee; refused when below the estimate.
    Value {
        /// Atomic units.
        value: u64,
    },
}

/// What `build_transaction` does with a valid request.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildOutcome {
    /// Broadcast and recorded; answer with it.
    Broadcast(TransactionRecord),
    /// Built but not broadcast (`broadcast: false`); nothing recorded.
    NotBroadcast(TransactionRecord),
    /// Broadcast and recorded, but the reply must be lost.
    LoseReply(TransactionRecord),
    /// Broadcast and recorded, but the reply is this error.
    ErrorAfterBroadcast(TransactionRecord, RpcError),
}

/// The wallet's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ledger {
    network: Network,
    address: String,
    balance: u64,
    nonce: u64,
    fee: FeePolicy,
    fault: Option<(Fault, u32)>,
    transactions: Vec<TransactionRecord>,
    refused: BTreeMap<String, Refusal>,
    invalid: BTreeSet<String>,
}

impl Ledger {
    /// A wallet of `address` on `network` holding `balance` atomic units.
    pub fn new(network: Network, address: String, balance: u64, fee: FeePolicy) -> Ledger {
        Ledger {
            network,
            address,
            balance,
            nonce: 0,
            fee,
            fault: None,
            transactions: Vec::new(),
            refused: BTreeMap::new(),
            invalid: BTreeSet::new(),
        }
    }

    /// The wallet's own address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Spendable balance, atomic units.
    pub fn balance(&self) -> u64 {
        self.balance
    }

    /// Sets the balance (a test's control).
    pub fn set_balance(&mut self, balance: u64) {
        self.balance = balance;
    }

    /// The nonce the next transaction will use.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// The fee policy.
    pub fn fee_policy(&self) -> FeePolicy {
        self.fee
    }

    /// Every broadcast transaction, oldest first.
    pub fn transactions(&self) -> &[TransactionRecord] {
        &self.transactions
    }

    /// The broadcast transaction with `hash`, if any.
    pub fn transaction(&self, hash: &str) -> Option<&TransactionRecord> {
        self.transactions
            .iter()
            .find(|tx| tx.hash.eq_ignore_ascii_case(hash))
    }

    /// Injects `fault` into the next `times` build_transaction calls.
    pub fn set_fault(&mut self, fault: Fault, times: u32) {
        self.fault = (times > 0).then_some((fault, times));
    }

    /// Removes any injected fault.
    pub fn clear_fault(&mut self) {
        self.fault = None;
    }

    /// Refuses every `build_transaction` with a transfer to `address`, the
    /// way `refusal` says, until [`accept_recipient`](Self::accept_recipient).
    pub fn refuse_recipient(&mut self, address: &str, refusal: Refusal) {
        self.refused.insert(address.to_owned(), refusal);
    }

    /// Sends to `address` again.
    pub fn accept_recipient(&mut self, address: &str) {
        self.refused.remove(address);
    }

    /// Makes `validate_address` answer `is_valid: false` for `address`
    /// (a well-formed address the wallet's checks reject, e.g. a public key
    /// that is not a curve point).
    pub fn set_address_invalid(&mut self, address: &str) {
        self.invalid.insert(address.to_owned());
    }

    /// `validate_address`: the daemon's answer shape, `-32602` for a string
    /// that is not an address of any network.
    pub fn validate_address(
        &self,
        address: &str,
        allow_integrated: bool,
    ) -> Result<Value, RpcError> {
        let other = if self.network == Network::Mainnet {
            Network::Devnet
        } else {
            Network::Mainnet
        };
        let (same_network, outcome) = match Address::parse(address, self.network) {
            Err(AddressError::WrongNetwork { .. }) => (false, Address::parse(address, other)),
            outcome => (true, outcome),
        };
        let is_integrated = match outcome {
            Ok(_) => false,
            Err(AddressError::IntegratedNotAccepted) => true,
            Err(error) => {
                return Err(RpcError::invalid_params(format!(
                    "invalid address {address:?}: {error}"
                )));
            }
        };
        let is_valid =
            same_network && (!is_integrated || allow_integrated) && !self.invalid.contains(address);
        Ok(serde_json::json!({"is_valid": is_valid, "is_integrated": is_integrated}))
    }

    /// The injected fault and how many more calls it hits.
    pub fn fault(&self) -> Option<(Fault, u32)> {
        self.fault
    }

    /// Checks the transfers of a request and returns the fee they cost.
    pub fn check_transfers(
        &self,
        transfers: &[Transfer],
        fee: Option<FeeRequest>,
    ) -> Result<u64, RpcError> {
        if transfers.is_empty() {
            return Err(RpcError::invalid_params("transfers must not be empty"));
        }
        if transfers.len() > MAX_TRANSFERS {
            return Err(RpcError::invalid_params(format!(
                "too many transfers: {} given, at most {MAX_TRANSFERS} per transaction; split the payout",
                transfers.len()
            )));
        }
        for (index, transfer) in transfers.iter().enumerate() {
            if !transfer.asset.eq_ignore_ascii_case(TOS_ASSET) {
                return Err(RpcError::wallet(format!(
                    "transfer {index}: asset {} is not the TOS asset ({TOS_ASSET}); this wallet holds only TOS",
                    transfer.asset
                )));
            }
            if transfer.amount == 0 {
                return Err(RpcError::invalid_params(format!(
                    "transfer {index}: amount must be greater than 0"
                )));
            }
            if let Err(error) = Address::parse(&transfer.destination, self.network) {
                return Err(RpcError::invalid_params(format!(
                    "transfer {index}: destination {:?} is not a valid {} address: {error}",
                    transfer.destination, self.network
                )));
            }
        }
        let estimate = self.fee.estimate(transfers.len());
        match fee {
            None => Ok(estimate),
            Some(FeeRequest::Multiplier { multiplier }) => {
                if !multiplier.is_finite() || multiplier < 1.0 {
                    return Err(RpcError::invalid_params(format!(
                        "fee multiplier {multiplier} must be a number ≥ 1.0"
                    )));
                }
                // Fees are far below 2^53, so the f64 product is exact enough.
                let fee = (estimate as f64 * multiplier).ceil();
                if fee >= u64::MAX as f64 {
                    return Err(RpcError::invalid_params("fee multiplier is too large"));
                }
                Ok(fee as u64)
            }
            Some(FeeRequest::Value { value }) if value < estimate => Err(RpcError::wallet(
                format!("fee {value} is below the required {estimate} atomic units"),
            )),
            Some(FeeRequest::Value { value }) => Ok(value),
        }
    }

    /// Builds (and when `broadcast`, records and debits) a transaction at
    /// chain `topoheight`, applying any injected fault.
    pub fn build_transaction(
        &mut self,
        transfers: Vec<Transfer>,
        fee: Option<FeeRequest>,
        broadcast: bool,
        topoheight: u64,
    ) -> Result<BuildOutcome, RpcError> {
        let fee = self.check_transfers(&transfers, fee)?;
        self.check_recipients(&transfers)?;
        let fault = self.take_fault();
        if fault == Some(Fault::FailBeforeBroadcast) {
            return Err(RpcError::wallet(
                "failed to broadcast the transaction: daemon rejected it (injected fault); nothing was sent",
            ));
        }
        let total = transfers
            .iter()
            .try_fold(fee, |sum, t| sum.checked_add(t.amount));
        let needed = total.filter(|&needed| needed <= self.balance);
        let needed = match (needed, fault) {
            (Some(needed), f) if f != Some(Fault::InsufficientFunds) => needed,
            _ => {
                return Err(RpcError::wallet(format!(
                    "Insufficient funds: need {} atomic units (transfers + fee {fee}), balance is {}",
                    total.map_or_else(|| "more than 2^64".to_string(), |t| t.to_string()),
                    self.balance
                )));
            }
        };
        let record = TransactionRecord {
            hash: transaction_hash(&self.address, self.nonce, &transfers),
            nonce: self.nonce,
            fee,
            transfers,
            built_at_topoheight: topoheight,
        };
        if !broadcast {
            return Ok(BuildOutcome::NotBroadcast(record));
        }
        self.balance -= needed;
        self.nonce += 1;
        self.transactions.push(record.clone());
        Ok(match fault {
            Some(Fault::BroadcastThenLoseReply) => BuildOutcome::LoseReply(record),
            Some(Fault::BroadcastThenError) => BuildOutcome::ErrorAfterBroadcast(
                record,
                RpcError::wallet(
                    "Error while broadcasting the transaction: the daemon did not answer (injected fault)",
                ),
            ),
            _ => BuildOutcome::Broadcast(record),
        })
    }

    /// Refuses a request holding a refused destination, before anything is
    /// built.
    fn check_recipients(&self, transfers: &[Transfer]) -> Result<(), RpcError> {
        for (index, transfer) in transfers.iter().enumerate() {
            match self.refused.get(&transfer.destination) {
                None => {}
                Some(Refusal::Named) => {
                    return Err(RpcError::invalid_params(format!(
                        "Invalid params: transfer {index}: destination {} is refused by this wallet",
                        transfer.destination
                    )));
                }
                Some(Refusal::Unnamed) => {
                    return Err(RpcError::invalid_params(
                        "Invalid params: a destination is refused by this wallet",
                    ));
                }
                Some(Refusal::WalletError) => {
                    return Err(RpcError::wallet("Invalid address params"));
                }
            }
        }
        Ok(())
    }

    fn take_fault(&mut self) -> Option<Fault> {
        let (fault, times) = self.fault?;
        self.fault = (times > 1).then_some((fault, times - 1));
        Some(fault)
    }
}

/// A hash unique to this wallet, nonce and transfers.
fn transaction_hash(address: &str, nonce: u64, transfers: &[Transfer]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(address.as_bytes());
    hasher.update(&nonce.to_be_bytes());
    for transfer in transfers {
        hasher.update(transfer.destination.as_bytes());
        hasher.update(transfer.asset.as_bytes());
        hasher.update(&transfer.amount.to_be_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
