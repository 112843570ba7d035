//! An emulator of the TOS wallet's JSON-RPC (TOS.md "Wallet JSON-RPC"), for
//! payout tests: `get_balance`, `build_transaction`, `get_transaction`,
//! `estimate_fees`, `get_nonce`, `get_address`, `is_online`,
//! `list_transactions` and `validate_address` (the daemon's shape and
//! errors, TOS.md) on `POST /json_rpc`, optional HTTP Basic auth, and
//! injected faults (a broadcast whose reply is lost, or answered with an
//! error, is what makes a careless pool pay twice; a recipient it refuses;
//! an address it calls invalid).
//!
//! Model: the wallet holds one balance of the TOS asset. A broadcast
//! transaction debits `amounts + fee` at once and takes the next nonce. Its
//! fee is `fee.base + fee.per_transfer × transfers` (default 1000 + 1 each),
//! times the request's multiplier. It counts as confirmed, with
//! `topoheight = built_at + confirmations`, once the chain has reached that
//! topoheight; until then `get_transaction` says `"in_mempool": true,
//! "topoheight": null`. The chain is the daemon's `get_topoheight` when a
//! daemon URL is given, else an internal counter moved by
//! [`WalletHandle::advance_chain`] or `POST /control/advance`.
//!
//! Control endpoints (no auth; loopback test tool): `POST /control/advance
//! {"blocks":N}`, `POST /control/fault {"fault":"fail_before_broadcast" |
//! "broadcast_then_lose_reply" | "broadcast_then_error" |
//! "insufficient_funds" | "none", "times":N}`, `POST /control/refuse
//! {"address":A, "refusal":"named" | "unnamed" | "wallet_error" | null}`,
//! `POST /control/invalid_address {"address":A}`, `POST /control/balance
//! {"balance":N}`, `GET /control/transactions`, `GET /control/state`.

mod client;
mod ledger;
mod rpc;
mod server;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tos_pool_common::address::{Address, AddressError};
use tos_pool_common::network::Network;

pub use client::{HttpReply, RpcClient, RpcClientError, basic_authorization};
pub use ledger::{
    Fault, FeePolicy, FeeRequest, Ledger, MAX_TRANSFERS, Refusal, TOS_ASSET, TransactionRecord,
    Transfer,
};
pub use rpc::{
    INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcError, WALLET_ERROR,
};
pub use state::StateError;

/// How long the emulator waits for its daemon's `get_topoheight`.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(2);
/// How long [`WalletHandle::shutdown`] waits for open requests to finish.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// HTTP Basic credentials the wallet RPC requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// How to run a wallet emulator.
#[derive(Debug, Clone)]
pub struct WalletConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub bind: SocketAddr,
    /// The network whose addresses the wallet accepts.
    pub network: Network,
    /// The wallet's own address (a normal address of `network`).
    pub address: String,
    /// Starting balance, atomic units.
    pub balance: u64,
    /// Blocks past its build topoheight before a transaction is confirmed.
    pub confirmations: u64,
    /// The daemon's JSON-RPC URL; `None` uses the internal chain counter.
    pub daemon_url: Option<String>,
    /// Basic auth the RPC requires; `None` for none.
    pub auth: Option<BasicAuth>,
    /// The fee rule.
    pub fee: FeePolicy,
    /// File that keeps the books across restarts; when it exists at start
    /// its ledger (balance, nonce, transactions, fee, faults) replaces
    /// `balance` and `fee`. `None` keeps everything in memory.
    pub state_file: Option<PathBuf>,
}

impl WalletConfig {
    /// A wallet of `address` on `network` on a free loopback port, balance 0,
    /// one confirmation, no daemon, no auth, the default fee.
    pub fn new(network: Network, address: impl Into<String>) -> WalletConfig {
        WalletConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            network,
            address: address.into(),
            balance: 0,
            confirmations: 1,
            daemon_url: None,
            auth: None,
            fee: FeePolicy::default(),
            state_file: None,
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The configured wallet address is not valid on the network.
    #[error("wallet address {address:?} is not a normal {network} address: {reason}")]
    InvalidAddress {
        /// The address given.
        address: String,
        /// The configured network.
        network: Network,
        /// Why it was refused.
        #[source]
        reason: AddressError,
    },
    /// The daemon URL cannot be used.
    #[error("daemon URL: {0}")]
    InvalidDaemonUrl(#[source] RpcClientError),
    /// The state file cannot be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The listen address could not be bound.
    #[error("cannot listen on {bind}: {source}; choose a free address or port 0")]
    Bind {
        /// The address asked for.
        bind: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The wallet emulator.
#[derive(Debug)]
pub struct Wallet;

impl Wallet {
    /// Validates `config`, binds, and serves until the handle is shut down or dropped.
    pub async fn start(config: WalletConfig) -> Result<WalletHandle, WalletError> {
        Address::parse(&config.address, config.network).map_err(|reason| {
            WalletError::InvalidAddress {
                address: config.address.clone(),
                network: config.network,
                reason,
            }
        })?;
        let daemon = config
            .daemon_url
            .as_deref()
            .map(|url| RpcClient::new(url).map(|client| client.with_timeout(DAEMON_TIMEOUT)))
            .transpose()
            .map_err(WalletError::InvalidDaemonUrl)?;
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| WalletError::Bind {
                bind: config.bind,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| WalletError::Bind {
            bind: config.bind,
            source,
        })?;
        let state = config.state_file.clone().map(state::StateFile::new);
        let saved = match &state {
            Some(state) => state.load(&config.address)?,
            None => None,
        };
        let (ledger, internal_topoheight) = saved.unwrap_or_else(|| {
            let ledger = Ledger::new(
                config.network,
                config.address.clone(),
                config.balance,
                config.fee,
            );
            (ledger, 0)
        });
        if let Some(state) = &state {
            state.save(&ledger, internal_topoheight)?;
        }
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(server::Shared {
            ledger: std::sync::Mutex::new(ledger),
            internal_topoheight: AtomicU64::new(internal_topoheight),
            daemon_topoheight: AtomicU64::new(0),
            confirmations: config.confirmations,
            daemon,
            authorization: config
                .auth
                .as_ref()
                .map(|auth| basic_authorization(&auth.username, &auth.password)),
            shutdown: stopped.clone(),
            state,
        });
        let app = server::router(Arc::clone(&shared));
        let mut signal = stopped;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = signal.wait_for(|stop| *stop).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "wallet emulator server failed");
            }
        });
        tracing::info!(%local_addr, address = config.address, network = %config.network, "wallet emulator listening");
        Ok(WalletHandle {
            local_addr,
            shared,
            stop,
            task: Some(task),
        })
    }
}

/// A running wallet emulator; stops when dropped or [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct WalletHandle {
    local_addr: SocketAddr,
    shared: Arc<server::Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl WalletHandle {
    /// The JSON-RPC URL, `http://127.0.0.1:PORT/json_rpc`.
    pub fn url(&self) -> String {
        format!("http://{}/json_rpc", self.local_addr)
    }

    /// The base URL of the control endpoints, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The socket address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The wallet's own address.
    pub fn address(&self) -> String {
        self.shared.ledger().address().to_string()
    }

    /// Spendable balance, atomic units.
    pub fn balance(&self) -> u64 {
        self.shared.ledger().balance()
    }

    /// Sets the balance.
    pub fn set_balance(&self, balance: u64) {
        self.shared.ledger().set_balance(balance);
    }

    /// The nonce the next transaction will use.
    pub fn nonce(&self) -> u64 {
        self.shared.ledger().nonce()
    }

    /// Every broadcast transaction, oldest first (to check nothing was paid twice).
    pub fn transactions(&self) -> Vec<TransactionRecord> {
        self.shared.ledger().transactions().to_vec()
    }

    /// Injects `fault` into the next `times` `build_transaction` calls.
    pub fn set_fault(&self, fault: Fault, times: u32) {
        self.shared.ledger().set_fault(fault, times);
    }

    /// Removes any injected fault.
    pub fn clear_fault(&self) {
        self.shared.ledger().clear_fault();
    }

    /// Refuses every transaction with a transfer to `address`, the way
    /// `refusal` says.
    pub fn refuse_recipient(&self, address: &str, refusal: Refusal) {
        self.shared.ledger().refuse_recipient(address, refusal);
    }

    /// Sends to `address` again.
    pub fn accept_recipient(&self, address: &str) {
        self.shared.ledger().accept_recipient(address);
    }

    /// Makes `validate_address` answer `is_valid: false` for `address`.
    pub fn set_address_invalid(&self, address: &str) {
        self.shared.ledger().set_address_invalid(address);
    }

    /// Grows the internal chain by `blocks` and returns its new topoheight
    /// (ignored when a daemon URL is configured).
    pub fn advance_chain(&self, blocks: u64) -> u64 {
        self.shared.advance(blocks)
    }

    /// The internal chain's topoheight.
    pub fn topoheight(&self) -> u64 {
        self.shared.internal_topoheight.load(Ordering::SeqCst)
    }

    /// Stops accepting, lets open requests finish (held replies are released
    /// with HTTP 503), and waits up to 5 s for the server to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_DEADLINE, task).await.is_err()
        {
            tracing::warn!("wallet emulator did not stop in time");
        }
    }
}

impl Drop for WalletHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
