//! The wallet's JSON-RPC 2.0 door without I/O: a request body and the chain's
//! topoheight in, the reply (or none, for a notification) out.
//!
//! Unknown parameters are ignored (`tx_as_hex` among them: the emulator has no
//! transaction bytes). Wallet failures use code [`WALLET_ERROR`] with a message
//! in the real wallet's words (`Insufficient funds: ...`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::ledger::{BuildOutcome, FeeRequest, Ledger, TOS_ASSET, TransactionRecord, Transfer};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a JSON-RPC 2.0 request object.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Parameters missing, of the wrong type or out of range.
pub const INVALID_PARAMS: i64 = -32602;
/// A wallet failure (insufficient funds, unknown transaction, no daemon...).
pub const WALLET_ERROR: i64 = -32004;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON-RPC error {code}: {message}")]
pub struct RpcError {
    /// The error code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// A -32602 invalid-params error.
    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    /// A wallet failure ([`WALLET_ERROR`]).
    pub fn wallet(message: impl Into<String>) -> RpcError {
        RpcError::new(WALLET_ERROR, message)
    }
}

/// The chain as the wallet sees it when a request is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainView {
    /// The latest known topoheight.
    pub topoheight: u64,
    /// Whether the wallet's daemon answered just now (always true without one).
    pub online: bool,
    /// Blocks past its build topoheight before a transaction counts as confirmed.
    pub confirmations: u64,
}

/// What the HTTP layer should do with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Send this JSON body.
    Send(Value),
    /// A notification: send nothing back (HTTP 204).
    Nothing,
    /// Broadcast happened, but hold the request and never answer it.
    Lose,
}

/// A JSON-RPC request with its envelope checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The id to echo; `None` for a notification.
    pub id: Option<Value>,
    /// The method name.
    pub method: String,
    /// The parameters (`Null` when absent).
    pub params: Value,
}

impl Request {
    /// Parses and checks a request body; the error is the reply to send.
    pub fn parse(body: &[u8]) -> Result<Request, Value> {
        let value: Value = serde_json::from_slice(body).map_err(|error| {
            error_reply(
                &Value::Null,
                &RpcError::new(PARSE_ERROR, format!("parse error: {error}")),
            )
        })?;
        let invalid = |id: &Value, message: &str| {
            error_reply(id, &RpcError::new(INVALID_REQUEST, message.to_string()))
        };
        let Value::Object(mut object) = value else {
            return Err(invalid(
                &Value::Null,
                "invalid request: expected one JSON-RPC request object (batches are not supported)",
            ));
        };
        let id = object.remove("id");
        let reply_id = id.clone().unwrap_or(Value::Null);
        if !matches!(
            id,
            None | Some(Value::Null | Value::Number(_) | Value::String(_))
        ) {
            return Err(invalid(
                &Value::Null,
                "invalid request: id must be a number, a string or null",
            ));
        }
        if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
            return Err(invalid(
                &reply_id,
                "invalid request: \"jsonrpc\" must be \"2.0\"",
            ));
        }
        let Some(Value::String(method)) = object.remove("method") else {
            return Err(invalid(
                &reply_id,
                "invalid request: \"method\" must be a string",
            ));
        };
        let params = object.remove("params").unwrap_or(Value::Null);
        Ok(Request { id, method, params })
    }
}

/// The error reply for `id`.
pub fn error_reply(id: &Value, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": error.code, "message": error.message}})
}

/// Serves one checked request against the ledger.
pub fn handle(ledger: &mut Ledger, chain: ChainView, request: Request) -> Reply {
    let outcome = dispatch(ledger, chain, &request.method, request.params);
    let Some(id) = request.id else {
        return Reply::Nothing;
    };
    match outcome {
        Ok(Some(result)) => Reply::Send(json!({"jsonrpc": "2.0", "id": id, "result": result})),
        Ok(None) => Reply::Lose,
        Err(error) => Reply::Send(error_reply(&id, &error)),
    }
}

/// Whether `method` needs the chain's current topoheight to be served.
pub fn needs_chain(method: &str) -> bool {
    matches!(
        method,
        "build_transaction" | "get_transaction" | "list_transactions" | "is_online"
    )
}

/// Runs a method; `Ok(None)` means the reply must be lost.
fn dispatch(
    ledger: &mut Ledger,
    chain: ChainView,
    method: &str,
    params: Value,
) -> Result<Option<Value>, RpcError> {
    let result = match method {
        "get_balance" => {
            let params: GetBalanceParams = parse_params(params)?;
            match params.asset {
                Some(asset) if !asset.eq_ignore_ascii_case(TOS_ASSET) => {
                    if asset.len() != 64 || hex::decode(&asset).is_err() {
                        return Err(RpcError::invalid_params(format!(
                            "asset {asset:?} is not 64 hex characters"
                        )));
                    }
                    json!(0)
                }
                _ => json!(ledger.balance()),
            }
        }
        "get_address" => json!(ledger.address()),
        "get_nonce" => json!(ledger.nonce()),
        "is_online" => json!(chain.online),
        "estimate_fees" => {
            let params: EstimateFeesParams = parse_params(params)?;
            json!(ledger.check_transfers(&params.transfers, None)?)
        }
        "build_transaction" => {
            let params: BuildTransactionParams = parse_params(params)?;
            // Validate first, so a bad request says what is wrong even offline.
            ledger.check_transfers(&params.transfers, params.fee)?;
            if !chain.online {
                return Err(RpcError::wallet(
                    "wallet is offline: its daemon does not answer, so nothing can be broadcast",
                ));
            }
            let outcome = ledger.build_transaction(
                params.transfers,
                params.fee,
                params.broadcast,
                chain.topoheight,
            )?;
            match outcome {
                BuildOutcome::Broadcast(tx) | BuildOutcome::NotBroadcast(tx) => {
                    built_transaction_json(&tx, ledger.address())
                }
                BuildOutcome::LoseReply(_) => return Ok(None),
                BuildOutcome::ErrorAfterBroadcast(_, error) => return Err(error),
            }
        }
        "validate_address" => {
            let params: ValidateAddressParams = parse_params(params)?;
            ledger.validate_address(&params.address, params.allow_integrated)?
        }
        "get_transaction" => {
            let params: GetTransactionParams = parse_params(params)?;
            let tx = ledger.transaction(&params.hash).ok_or_else(|| {
                RpcError::wallet(format!("transaction {} not found in wallet", params.hash))
            })?;
            transaction_entry_json(tx, chain)
        }
        "list_transactions" => Value::Array(
            ledger
                .transactions()
                .iter()
                .map(|tx| transaction_entry_json(tx, chain))
                .collect(),
        ),
        other => {
            return Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("method {other:?} not found"),
            ));
        }
    };
    Ok(Some(result))
}

fn parse_params<T: for<'de> Deserialize<'de>>(params: Value) -> Result<T, RpcError> {
    let params = if params.is_null() { json!({}) } else { params };
    serde_json::from_value(params)
        .map_err(|error| RpcError::invalid_params(format!("invalid params: {error}")))
}

#[derive(Deserialize)]
struct GetBalanceParams {
    #[serde(default)]
    asset: Option<String>,
}

#[derive(Deserialize)]
struct EstimateFeesParams {
    transfers: Vec<Transfer>,
}

#[derive(Deserialize)]
struct ValidateAddressParams {
    address: String,
    #[serde(default)]
    allow_integrated: bool,
}

#[derive(Deserialize)]
struct GetTransactionParams {
    hash: String,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct BuildTransactionParams {
    transfers: Vec<Transfer>,
    #[serde(default)]
    fee: Option<FeeRequest>,
    #[serde(default = "yes")]
    broadcast: bool,
}

fn built_transaction_json(tx: &TransactionRecord, source: &str) -> Value {
    json!({
        "hash": tx.hash,
        "fee": tx.fee,
        "nonce": tx.nonce,
        "source": source,
        "version": 0,
        "data": {"transfers": tx.transfers},
    })
}

fn transaction_entry_json(tx: &TransactionRecord, chain: ChainView) -> Value {
    let confirmed_at = tx.confirmed_at(chain.confirmations, chain.topoheight);
    json!({
        "hash": tx.hash,
        "topoheight": confirmed_at,
        "in_mempool": confirmed_at.is_none(),
        "entry": {"outgoing": {"fee": tx.fee, "nonce": tx.nonce, "transfers": tx.transfers}},
    })
}

#[cfg(test)]
#[path = "rpc_tests.rs"]
mod tests;
