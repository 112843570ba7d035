//! An emulator of the TOS daemon (`tos_daemon` with its getwork server) for
//! developing and testing the pool: a real chain of real BlockHeaders, PoW
//! checked with TOS Hash V3, the JSON-RPC methods and WebSocket events of
//! TOS.md field for field, blocks from "other miners" every interval, and
//! controls to orphan blocks, change difficulty and inject faults. With a
//! state directory ([`DevnetConfig::state_dir`]) every change to the chain
//! is journaled before it is answered and replayed at start, so the
//! emulator survives `kill -9` like a real daemon.
//!
//! ```no_run
//! # async fn run() -> Result<(), tos_pool_integration_tests::devnet::DevnetError> {
//! use tos_pool_integration_tests::devnet::{Devnet, DevnetConfig};
//! let devnet = Devnet::start(DevnetConfig::default()).await?;
//! println!("daemon at {}", devnet.url());
//! devnet.shutdown().await;
//! # Ok(()) }
//! ```

mod block;
mod chain;
mod control;
mod daemon;
mod events;
mod faults;
mod journal;
mod methods;
mod node;
mod persist;
mod rpc;
mod server;
mod views;
mod websocket;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tos_pool_common::difficulty::Difficulty;
use tos_pool_common::network::Network;

pub use block::{BLOCK_REWARD, BlockType, Hash, PublicKey, STABLE_LIMIT};
pub use chain::{ChainError, Rejection};
pub use control::{BlockInfo, CONTROLS, ControlError, MAX_ADVANCE};
pub use faults::FaultMode;
pub use journal::JournalError;
pub use methods::TOS_ASSET;
pub use node::{BLOCK_VERSION, DEVNET_MINER_KEY, OTHER_MINERS_KEY};
pub use persist::{ApplyError, JOURNAL_FILE, StateError};
pub use rpc::{INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};

use daemon::{CommitError, Daemon, now_ms};
use node::Node;
use server::Shared;

/// How to start the emulator.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub bind: SocketAddr,
    /// The network the daemon serves (address prefix, `get_info.network`).
    pub network: Network,
    /// The network difficulty blocks must meet (any value ≥ 1).
    pub difficulty: Difficulty,
    /// Time between blocks from the rest of the network.
    pub block_interval: Duration,
    /// The key the daemon signs VRF data with: only blocks carrying it are
    /// accepted (the pool's wallet key).
    pub miner_key: PublicKey,
    /// Whether other miners produce blocks from the start (`resume` turns
    /// production on later).
    pub produce_blocks: bool,
    /// Directory whose journal keeps the chain across restarts; `None`
    /// keeps it in memory only. With a journal, the chain (and its
    /// difficulty) comes from the journal and `difficulty` only seeds a new
    /// one.
    pub state_dir: Option<PathBuf>,
}

impl Default for DevnetConfig {
    /// Devnet on a free local port, difficulty 1,000, a block a second, the
    /// devnet key pair's public key.
    fn default() -> Self {
        DevnetConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            network: Network::Devnet,
            difficulty: Difficulty::from_u64(1_000).expect("1000 is not zero"),
            block_interval: Duration::from_secs(1),
            miner_key: DEVNET_MINER_KEY,
            produce_blocks: true,
            state_dir: None,
        }
    }
}

/// Why the emulator could not start or a control failed.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick a free port or 127.0.0.1:0")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The block interval is zero.
    #[error("block_interval must be greater than zero")]
    ZeroInterval,
    /// A block control failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The state directory cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// A change could not be made durable in the state directory.
    #[error("cannot persist the change: {0}")]
    Persist(#[source] JournalError),
    /// The node refused a change.
    #[error(transparent)]
    Refused(ApplyError),
}

impl From<CommitError> for DevnetError {
    fn from(error: CommitError) -> DevnetError {
        match error {
            CommitError::Refused(ApplyError::Chain(chain)) => DevnetError::Chain(chain),
            CommitError::Refused(other) => DevnetError::Refused(other),
            CommitError::Journal(journal) => DevnetError::Persist(journal),
        }
    }
}

/// Starts emulators.
#[derive(Debug)]
pub struct Devnet;

impl Devnet {
    /// Starts an emulator: genesis now, server listening, producer running.
    pub async fn start(config: DevnetConfig) -> Result<DevnetHandle, DevnetError> {
        if config.block_interval.is_zero() {
            return Err(DevnetError::ZeroInterval);
        }
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| DevnetError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| DevnetError::Bind {
            addr: config.bind,
            source,
        })?;
        let paused = !config.produce_blocks;
        let daemon = match &config.state_dir {
            None => {
                let node = Node::new(
                    config.network,
                    config.miner_key,
                    config.difficulty,
                    now_ms(),
                );
                Daemon::new(node, paused)
            }
            Some(dir) => {
                let start = persist::Start {
                    network: config.network,
                    miner_key: config.miner_key,
                    difficulty: config.difficulty,
                    now_ms: now_ms(),
                };
                let (node, journal) = persist::open(dir, start)?;
                Daemon::new(node, paused).with_journal(journal)
            }
        };
        let shared = Arc::new(Shared::new(daemon));
        let app = server::router(shared.clone());
        let serve = tokio::spawn(server::serve(listener, addr, shared.clone(), app));
        let produce = tokio::spawn(server::produce(shared.clone(), config.block_interval));
        let (height, difficulty) = {
            let node = shared.daemon.node();
            (node.chain().height(), node.difficulty())
        };
        tracing::info!(%addr, network = %config.network, %difficulty, height, "devnet started");
        Ok(DevnetHandle {
            addr,
            shared,
            tasks: vec![serve, produce],
        })
    }
}

/// A running emulator. Dropping it stops it.
#[derive(Debug)]
pub struct DevnetHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl DevnetHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JSON-RPC URL: `http://127.0.0.1:PORT/json_rpc`.
    pub fn url(&self) -> String {
        format!("http://{}/json_rpc", self.addr)
    }

    /// The WebSocket URL: `ws://127.0.0.1:PORT/json_rpc`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/json_rpc", self.addr)
    }

    /// Sets the network difficulty (any value ≥ 1) and pushes a new
    /// template. A failure to journal it is logged and changes nothing.
    pub fn set_difficulty(&self, difficulty: Difficulty) {
        if let Err(error) = self.shared.set_difficulty(difficulty) {
            tracing::error!(%error, "difficulty not changed");
        }
    }

    /// Stops blocks from other miners.
    pub fn pause(&self) {
        self.shared.daemon.set_paused(true);
    }

    /// Restarts blocks from other miners.
    pub fn resume(&self) {
        self.shared.daemon.set_paused(false);
    }

    /// Orphans a block: no topoheight, no reward, credit reversed, and a
    /// `block_orphaned` event.
    pub fn orphan(&self, hash: &Hash) -> Result<(), DevnetError> {
        Ok(self.shared.orphan(hash)?)
    }

    /// Makes a block a side block (30% reward).
    pub fn make_side(&self, hash: &Hash) -> Result<(), DevnetError> {
        Ok(self.shared.make_side(hash)?)
    }

    /// Adds `count` blocks from other miners now. A failure to journal one
    /// is logged and stops there.
    pub fn advance(&self, count: u64) {
        if let Err(error) = self.shared.daemon.advance(count) {
            tracing::error!(%error, "blocks from other miners not added");
        }
    }

    /// Misbehaves as `mode` for `duration`.
    pub fn fail(&self, mode: FaultMode, duration: Duration) {
        self.shared.fail(mode, duration);
    }

    /// Sets the peer count `p2p_status` reports.
    pub fn set_peer_count(&self, count: u64) {
        self.shared.set_peer_count(count);
    }

    /// Every block, in arrival order.
    pub fn blocks(&self) -> Vec<BlockInfo> {
        self.shared.blocks()
    }

    /// The block with `hash`.
    pub fn block(&self, hash: &Hash) -> Option<BlockInfo> {
        self.shared.block(hash)
    }

    /// The top block.
    pub fn top(&self) -> BlockInfo {
        self.shared.top()
    }

    /// Blocks accepted through `submit_block`, in order.
    pub fn submitted_blocks(&self) -> Vec<BlockInfo> {
        self.shared.submitted_blocks()
    }

    /// The balance credited to `key` (0 if it never mined).
    pub fn balance(&self, key: &PublicKey) -> u64 {
        self.shared
            .daemon
            .node()
            .chain()
            .balance(key)
            .map_or(0, |(balance, _)| balance)
    }

    /// Stops the server and the producer and waits for them.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    /// Resolves when the emulator has been shut down.
    pub async fn stopped(&self) {
        self.shared.stopped().await;
    }
}

impl Drop for DevnetHandle {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}
