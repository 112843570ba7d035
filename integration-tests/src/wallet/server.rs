//! The HTTP side of the wallet emulator: `POST /json_rpc` (behind optional
//! Basic auth), the `/control/*` endpoints tests and the local cluster use,
//! and the link to the daemon that decides confirmations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Json, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::client::RpcClient;
use super::ledger::{Fault, Ledger, Refusal};
use super::rpc::{self, ChainView, Reply, Request};
use super::state::{LedgerGuard, StateFile};

/// What every request handler shares.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) ledger: Mutex<Ledger>,
    /// The chain height used when there is no daemon, moved by `advance`.
    pub(super) internal_topoheight: AtomicU64,
    /// The daemon's topoheight when it last answered.
    pub(super) daemon_topoheight: AtomicU64,
    pub(super) confirmations: u64,
    pub(super) daemon: Option<RpcClient>,
    /// The expected `Authorization` header, when auth is on.
    pub(super) authorization: Option<String>,
    pub(super) shutdown: watch::Receiver<bool>,
    /// Where the books are saved after every change, if anywhere.
    pub(super) state: Option<StateFile>,
}

impl Shared {
    /// The locked ledger; a change made through it is saved to the state
    /// file when the guard drops.
    pub(super) fn ledger(&self) -> LedgerGuard<'_> {
        LedgerGuard::lock(&self.ledger, self.state.as_ref(), &self.internal_topoheight)
    }

    pub(super) fn advance(&self, blocks: u64) -> u64 {
        // Under the ledger lock, so the saved state holds the new height.
        let mut ledger = self.ledger();
        let before = self.internal_topoheight.fetch_add(blocks, Ordering::SeqCst);
        ledger.mark_changed();
        before.saturating_add(blocks)
    }

    /// The chain as seen now: asks the daemon when there is one.
    async fn chain_view(&self) -> ChainView {
        let (topoheight, online) = match &self.daemon {
            None => (self.internal_topoheight.load(Ordering::SeqCst), true),
            Some(daemon) => match daemon
                .call("get_topoheight", None)
                .await
                .map(|value| value.as_u64())
            {
                Ok(Some(topoheight)) => {
                    self.daemon_topoheight.store(topoheight, Ordering::SeqCst);
                    (topoheight, true)
                }
                outcome => {
                    tracing::warn!(
                        daemon = daemon.url(),
                        ?outcome,
                        "daemon did not give its topoheight"
                    );
                    (self.daemon_topoheight.load(Ordering::SeqCst), false)
                }
            },
        };
        ChainView {
            topoheight,
            online,
            confirmations: self.confirmations,
        }
    }
}

/// The emulator's routes.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/json_rpc", post(json_rpc))
        .route("/control/advance", post(control_advance))
        .route("/control/fault", post(control_fault))
        .route("/control/balance", post(control_balance))
        .route("/control/refuse", post(control_refuse))
        .route("/control/invalid_address", post(control_invalid_address))
        .route("/control/transactions", get(control_transactions))
        .route("/control/state", get(control_state))
        .with_state(shared)
}

async fn json_rpc(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(expected) = &shared.authorization {
        let given = headers
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes());
        if given != Some(expected.as_bytes()) {
            tracing::debug!("wallet RPC refused: missing or wrong credentials");
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"tos-wallet\"")],
                "missing or wrong HTTP Basic credentials",
            )
                .into_response();
        }
    }
    let request = match Request::parse(&body) {
        Ok(request) => request,
        Err(reply) => return Json(reply).into_response(),
    };
    let chain = if rpc::needs_chain(&request.method) {
        shared.chain_view().await
    } else {
        ChainView {
            topoheight: 0,
            online: true,
            confirmations: shared.confirmations,
        }
    };
    let method = request.method.clone();
    let reply = rpc::handle(&mut shared.ledger(), chain, request);
    match reply {
        Reply::Send(value) => Json(value).into_response(),
        Reply::Nothing => StatusCode::NO_CONTENT.into_response(),
        Reply::Lose => {
            tracing::info!(
                method,
                "broadcast done; holding the reply back (injected fault)"
            );
            let mut shutdown = shared.shutdown.clone();
            let _ = shutdown.wait_for(|stop| *stop).await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[derive(Deserialize)]
struct AdvanceRequest {
    #[serde(default = "one")]
    blocks: u64,
}

fn one() -> u64 {
    1
}

async fn control_advance(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<AdvanceRequest>,
) -> Json<Value> {
    Json(json!({"topoheight": shared.advance(request.blocks)}))
}

/// `{"fault":"fail_before_broadcast"|"broadcast_then_lose_reply"|"broadcast_then_error"|"insufficient_funds"|"none","times":N}`.
#[derive(Deserialize)]
struct FaultRequest {
    fault: FaultName,
    #[serde(default = "one_time")]
    times: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultName {
    FailBeforeBroadcast,
    BroadcastThenLoseReply,
    BroadcastThenError,
    InsufficientFunds,
    None,
    Clear,
}

fn one_time() -> u32 {
    1
}

async fn control_fault(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<FaultRequest>,
) -> Json<Value> {
    let mut ledger = shared.ledger();
    let fault = match request.fault {
        FaultName::FailBeforeBroadcast => Some(Fault::FailBeforeBroadcast),
        FaultName::BroadcastThenLoseReply => Some(Fault::BroadcastThenLoseReply),
        FaultName::BroadcastThenError => Some(Fault::BroadcastThenError),
        FaultName::InsufficientFunds => Some(Fault::InsufficientFunds),
        FaultName::None | FaultName::Clear => None,
    };
    match fault {
        Some(fault) => ledger.set_fault(fault, request.times),
        None => ledger.clear_fault(),
    }
    Json(state_json(&ledger, &shared))
}

/// `{"address":"tst1…","refusal":"named"|"unnamed"|"wallet_error"|"none"}`:
/// `none` sends to the address again.
#[derive(Deserialize)]
struct RefuseRequest {
    address: String,
    refusal: Option<Refusal>,
}

async fn control_refuse(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<RefuseRequest>,
) -> Json<Value> {
    let mut ledger = shared.ledger();
    match request.refusal {
        Some(refusal) => ledger.refuse_recipient(&request.address, refusal),
        None => ledger.accept_recipient(&request.address),
    }
    Json(state_json(&ledger, &shared))
}

/// `{"address":"tst1…"}`: `validate_address` answers `is_valid: false` for it.
#[derive(Deserialize)]
struct InvalidAddressRequest {
    address: String,
}

async fn control_invalid_address(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<InvalidAddressRequest>,
) -> Json<Value> {
    let mut ledger = shared.ledger();
    ledger.set_address_invalid(&request.address);
    Json(state_json(&ledger, &shared))
}

#[derive(Deserialize)]
struct BalanceRequest {
    balance: u64,
}

async fn control_balance(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<BalanceRequest>,
) -> Json<Value> {
    let mut ledger = shared.ledger();
    ledger.set_balance(request.balance);
    Json(state_json(&ledger, &shared))
}

async fn control_transactions(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.ledger().transactions()))
}

async fn control_state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(state_json(&shared.ledger(), &shared))
}

fn state_json(ledger: &Ledger, shared: &Shared) -> Value {
    json!({
        "address": ledger.address(),
        "balance": ledger.balance(),
        "nonce": ledger.nonce(),
        "transactions": ledger.transactions().len(),
        "fault": ledger.fault().map(|(fault, times)| json!({"fault": fault, "times": times})),
        "internal_topoheight": shared.internal_topoheight.load(Ordering::SeqCst),
    })
}
