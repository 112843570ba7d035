//! Test controls: change the difficulty, pause or push block production,
//! orphan or demote blocks, inject faults, and read the chain. Reached from
//! Rust through `DevnetHandle` and over HTTP as `POST /control/<name>`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tos_pool_common::difficulty::Difficulty;

use super::block::{Block, BlockType, Hash, PublicKey};
use super::chain::Chain;
use super::daemon::{CommitError, now_ms};
use super::events;
use super::faults::FaultMode;
use super::persist::Record;
use super::server::Shared;

/// A block as the controls report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockInfo {
    /// Block hash.
    #[serde(serialize_with = "as_hex")]
    pub hash: Hash,
    /// Height.
    pub height: u64,
    /// Topoheight; `None` once orphaned.
    pub topoheight: Option<u64>,
    /// Type as the daemon reports it.
    pub block_type: BlockType,
    /// Timestamp in ms.
    pub timestamp: u64,
    /// Miner public key.
    #[serde(serialize_with = "as_hex")]
    pub miner: PublicKey,
    /// Network difficulty the block was mined at.
    pub difficulty: Difficulty,
    /// Whole reward as the block stands.
    pub reward: u64,
    /// The miner's part of it.
    pub miner_reward: u64,
    /// Nonce.
    pub nonce: u64,
    /// Extra nonce.
    #[serde(serialize_with = "as_hex")]
    pub extra_nonce: [u8; 32],
}

fn as_hex<S: serde::Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

/// Most blocks one `advance` may add.
pub const MAX_ADVANCE: u64 = 100_000;

impl BlockInfo {
    fn new(chain: &Chain, block: &Block) -> BlockInfo {
        let rewards = block.rewards();
        BlockInfo {
            hash: block.hash(),
            height: block.header.height,
            topoheight: block.topoheight,
            block_type: chain.block_type(block),
            timestamp: block.header.timestamp,
            miner: block.header.miner,
            difficulty: block.difficulty,
            reward: rewards.reward,
            miner_reward: rewards.miner_reward,
            nonce: block.header.nonce,
            extra_nonce: block.header.extra_nonce,
        }
    }
}

impl Shared {
    /// Sets the network difficulty and announces a new template.
    pub fn set_difficulty(&self, difficulty: Difficulty) -> Result<(), CommitError> {
        let mut node = self.daemon.node();
        self.daemon
            .commit(&mut node, Record::SetDifficulty { difficulty })?;
        self.daemon.send(events::new_template(&node, now_ms()));
        Ok(())
    }

    /// Orphans a block and announces it.
    pub fn orphan(&self, hash: &Hash) -> Result<(), CommitError> {
        let mut node = self.daemon.node();
        let changes = self
            .daemon
            .commit(&mut node, Record::Orphan { hash: *hash })?;
        self.daemon.publish(&node, &changes);
        Ok(())
    }

    /// Makes a block a side block.
    pub fn make_side(&self, hash: &Hash) -> Result<(), CommitError> {
        let mut node = self.daemon.node();
        self.daemon
            .commit(&mut node, Record::MakeSide { hash: *hash })
            .map(|_| ())
    }

    /// Sets the peer count `p2p_status` reports.
    pub fn set_peer_count(&self, count: u64) {
        self.daemon.node().set_peer_count(count);
    }

    /// Every block in arrival order.
    pub fn blocks(&self) -> Vec<BlockInfo> {
        let node = self.daemon.node();
        let chain = node.chain();
        chain.blocks().map(|b| BlockInfo::new(chain, b)).collect()
    }

    /// The block with `hash`.
    pub fn block(&self, hash: &Hash) -> Option<BlockInfo> {
        let node = self.daemon.node();
        let chain = node.chain();
        chain.block(hash).map(|b| BlockInfo::new(chain, b))
    }

    /// The top block.
    pub fn top(&self) -> BlockInfo {
        let node = self.daemon.node();
        BlockInfo::new(node.chain(), node.chain().top())
    }

    /// Blocks accepted through `submit_block`, in order.
    pub fn submitted_blocks(&self) -> Vec<BlockInfo> {
        let node = self.daemon.node();
        let chain = node.chain();
        node.submitted()
            .iter()
            .filter_map(|h| chain.block(h))
            .map(|b| BlockInfo::new(chain, b))
            .collect()
    }
}

#[derive(Deserialize)]
struct DifficultyBody {
    difficulty: Difficulty,
}

#[derive(Deserialize)]
struct HashBody {
    hash: String,
}

#[derive(Deserialize)]
struct CountBody {
    count: u64,
}

#[derive(Deserialize)]
struct FailBody {
    mode: FaultMode,
    duration_ms: u64,
}

/// The names `POST /control/<name>` accepts.
pub const CONTROLS: &[&str] = &[
    "set_difficulty",
    "pause",
    "resume",
    "orphan",
    "make_side",
    "advance",
    "fail",
    "set_peer_count",
    "blocks",
    "submitted",
    "top",
];

/// `POST /control/<name>` with a JSON body: `200 {..}` on success, `400
/// {"error": ..}` for a bad body or block, `404` for an unknown control.
pub async fn route(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(e) => {
                return ControlError::BadRequest(format!("the body is not JSON: {e}"))
                    .into_response();
            }
        }
    };
    match apply(&shared, &name, body) {
        Ok(result) => (StatusCode::OK, axum::Json(result)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No control has that name.
    #[error("unknown control {0:?}: expected one of {list}", list = CONTROLS.join(", "))]
    Unknown(String),
    /// The body or the block it names is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The change could not be made durable in the state directory.
    #[error("{0}")]
    Persist(String),
}

impl From<CommitError> for ControlError {
    fn from(error: CommitError) -> ControlError {
        match error {
            CommitError::Refused(reason) => ControlError::BadRequest(reason.to_string()),
            error @ CommitError::Journal(_) => ControlError::Persist(error.to_string()),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::Unknown(_) => StatusCode::NOT_FOUND,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::Persist(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, axum::Json(json!({"error": self.to_string()}))).into_response()
    }
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, body: Value) -> Result<T, ControlError> {
    serde_json::from_value(body)
        .map_err(|e| ControlError::BadRequest(format!("bad body for {name}: {e}")))
}

fn parse_hash(text: &str) -> Result<Hash, ControlError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| {
        ControlError::BadRequest(format!("invalid hash {text:?}: expected 64 hex characters"))
    })?;
    Ok(hash)
}

/// Runs control `name` with its JSON `body`.
pub fn apply(shared: &Shared, name: &str, body: Value) -> Result<Value, ControlError> {
    let ok = json!({"ok": true});
    match name {
        "set_difficulty" => {
            let body: DifficultyBody = parse(name, body)?;
            shared.set_difficulty(body.difficulty)?;
            Ok(ok)
        }
        "pause" => {
            shared.daemon.set_paused(true);
            Ok(ok)
        }
        "resume" => {
            shared.daemon.set_paused(false);
            Ok(ok)
        }
        "orphan" | "make_side" => {
            let body: HashBody = parse(name, body)?;
            let hash = parse_hash(&body.hash)?;
            let outcome = if name == "orphan" {
                shared.orphan(&hash)
            } else {
                shared.make_side(&hash)
            };
            outcome?;
            Ok(ok)
        }
        "advance" => {
            let body: CountBody = parse(name, body)?;
            if body.count > MAX_ADVANCE {
                return Err(ControlError::BadRequest(format!(
                    "advance count {} is too large: at most {MAX_ADVANCE}",
                    body.count
                )));
            }
            shared.daemon.advance(body.count)?;
            Ok(json!({"ok": true, "top": shared.top()}))
        }
        "fail" => {
            let body: FailBody = parse(name, body)?;
            shared.fail(body.mode, Duration::from_millis(body.duration_ms));
            Ok(ok)
        }
        "set_peer_count" => {
            let body: CountBody = parse(name, body)?;
            shared.set_peer_count(body.count);
            Ok(ok)
        }
        "blocks" => Ok(json!(shared.blocks())),
        "submitted" => Ok(json!(shared.submitted_blocks())),
        "top" => Ok(json!(shared.top())),
        other => Err(ControlError::Unknown(other.to_string())),
    }
}
