//! What the devnet journals and how it is replayed. Every input that changes
//! the node's chain (a genesis, a submitted block with the time it came in,
//! a block from other miners with its time, a difficulty change, an orphan
//! or side-block control) is a [`Record`]; the node is pure, so applying
//! the same records in the same order rebuilds the same chain.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tos_pool_common::difficulty::Difficulty;
use tos_pool_common::header::BlockHeader;
use tos_pool_common::network::Network;

use super::block::{Hash, PublicKey};
use super::chain::{ChainError, ChainEvent, Rejection, Rules};
use super::journal::{Journal, JournalError};
use super::node::{BLOCK_VERSION, Node, new_block};

/// The journal's file name inside the state directory.
pub const JOURNAL_FILE: &str = "chain.journal";

/// One input to the node, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// The first record: the node's settings and its genesis time.
    Genesis {
        /// The network served.
        network: Network,
        /// The key mined blocks must carry.
        #[serde(with = "hex32")]
        miner_key: PublicKey,
        /// The difficulty at start.
        difficulty: Difficulty,
        /// Genesis timestamp, ms.
        timestamp_ms: u64,
    },
    /// A block accepted through `submit_block`.
    Submit {
        /// The header, hex.
        header: String,
        /// Its PoW hash (so replay need not hash again).
        #[serde(with = "hex32")]
        pow_hash: Hash,
        /// The daemon's clock when it was checked, ms.
        now_ms: u64,
    },
    /// A block from the rest of the network.
    Produce {
        /// The daemon's clock when it was made, ms.
        now_ms: u64,
    },
    /// A new network difficulty.
    SetDifficulty {
        /// The difficulty.
        difficulty: Difficulty,
    },
    /// A block taken out of the order.
    Orphan {
        /// The block.
        #[serde(with = "hex32")]
        hash: Hash,
    },
    /// A block made a side block.
    MakeSide {
        /// The block.
        #[serde(with = "hex32")]
        hash: Hash,
    },
}

/// Why a record cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A submitted block is refused.
    #[error("block rejected: {0}")]
    Rejected(#[from] Rejection),
    /// A block control is refused.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A journaled header does not decode.
    #[error("journaled header does not decode: {0}")]
    BadHeader(String),
    /// A genesis record anywhere but first.
    #[error("a genesis record may only come first")]
    MisplacedGenesis,
}

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The directory cannot be created.
    #[error("state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The journal cannot be read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A whole record is not a record.
    #[error("journal {path}: record {index} is not valid: {reason}")]
    BadRecord {
        /// The journal file.
        path: PathBuf,
        /// Its position, from 0.
        index: usize,
        /// The decode error.
        reason: String,
    },
    /// The journal's chain belongs to other settings.
    #[error(
        "journal {path} holds a chain for {what} {journaled}, not {asked}: start with the same value or another --state-dir"
    )]
    Mismatch {
        /// The journal file.
        path: PathBuf,
        /// Which setting.
        what: &'static str,
        /// The journaled value.
        journaled: String,
        /// The value asked for.
        asked: String,
    },
}

/// Checks `record` against the node without changing it: a refused record
/// is never journaled.
pub fn check(node: &Node, record: &Record) -> Result<(), ApplyError> {
    match record {
        Record::Genesis { .. } => Err(ApplyError::MisplacedGenesis),
        Record::Submit {
            header,
            pow_hash,
            now_ms,
        } => {
            let header = decode_header(header)?;
            let rules = Rules {
                miner_key: node.miner_key(),
                difficulty: node.difficulty(),
                version: BLOCK_VERSION,
            };
            Ok(node
                .chain()
                .check(&new_block(&header), pow_hash, &rules, *now_ms)?)
        }
        Record::Orphan { hash } | Record::MakeSide { hash } => {
            Ok(node.chain().check_changeable(hash)?)
        }
        Record::Produce { .. } | Record::SetDifficulty { .. } => Ok(()),
    }
}

/// Applies `record` to `node` and returns what changed.
pub fn apply(node: &mut Node, record: &Record) -> Result<Vec<ChainEvent>, ApplyError> {
    match record {
        Record::Genesis { .. } => Err(ApplyError::MisplacedGenesis),
        Record::Submit {
            header,
            pow_hash,
            now_ms,
        } => Ok(node.submit(&decode_header(header)?, pow_hash, *now_ms)?),
        Record::Produce { now_ms } => Ok(node.produce(*now_ms)),
        Record::SetDifficulty { difficulty } => {
            node.set_difficulty(*difficulty);
            Ok(Vec::new())
        }
        Record::Orphan { hash } => Ok(node.orphan(hash)?),
        Record::MakeSide { hash } => {
            node.make_side(hash)?;
            Ok(Vec::new())
        }
    }
}

fn decode_header(hex: &str) -> Result<BlockHeader, ApplyError> {
    BlockHeader::from_hex(hex).map_err(|e| ApplyError::BadHeader(e.to_string()))
}

/// The node settings a fresh chain starts from.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    /// The network.
    pub network: Network,
    /// The VRF key.
    pub miner_key: PublicKey,
    /// The starting difficulty.
    pub difficulty: Difficulty,
    /// The time, ms.
    pub now_ms: u64,
}

/// Opens the journal in `dir` and rebuilds the node from it; an empty or
/// new journal starts a fresh chain from `start` and journals its genesis.
pub fn open(dir: &Path, start: Start) -> Result<(Node, Journal), StateError> {
    std::fs::create_dir_all(dir).map_err(|source| StateError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(JOURNAL_FILE);
    let (mut journal, payloads) = Journal::open(&path)?;
    let mut records = Vec::with_capacity(payloads.len());
    for (index, payload) in payloads.iter().enumerate() {
        let record: Record =
            serde_json::from_slice(payload).map_err(|e| StateError::BadRecord {
                path: path.clone(),
                index,
                reason: e.to_string(),
            })?;
        records.push(record);
    }
    let Some((first, rest)) = records.split_first() else {
        let genesis = Record::Genesis {
            network: start.network,
            miner_key: start.miner_key,
            difficulty: start.difficulty,
            timestamp_ms: start.now_ms,
        };
        journal.append(&encode(&genesis))?;
        let node = Node::new(
            start.network,
            start.miner_key,
            start.difficulty,
            start.now_ms,
        );
        return Ok((node, journal));
    };
    let mut node = genesis(&path, first, start)?;
    for (index, record) in rest.iter().enumerate() {
        // A record the node refuses was refused the same way when it was
        // first applied (the node is pure): skipping it keeps the state.
        if let Err(reason) = apply(&mut node, record) {
            tracing::warn!(path = %path.display(), index = index + 1, %reason, "journal record refused on replay; skipped");
        }
    }
    tracing::info!(
        path = %path.display(),
        records = records.len(),
        height = node.chain().height(),
        topoheight = node.chain().topoheight(),
        "chain replayed from the journal"
    );
    Ok((node, journal))
}

fn genesis(path: &Path, first: &Record, start: Start) -> Result<Node, StateError> {
    let Record::Genesis {
        network,
        miner_key,
        difficulty,
        timestamp_ms,
    } = *first
    else {
        return Err(StateError::BadRecord {
            path: path.to_path_buf(),
            index: 0,
            reason: "the first record is not a genesis".to_string(),
        });
    };
    let mismatch = |what, journaled: String, asked: String| StateError::Mismatch {
        path: path.to_path_buf(),
        what,
        journaled,
        asked,
    };
    if network != start.network {
        return Err(mismatch(
            "network",
            network.to_string(),
            start.network.to_string(),
        ));
    }
    if miner_key != start.miner_key {
        return Err(mismatch(
            "miner key",
            hex::encode(miner_key),
            hex::encode(start.miner_key),
        ));
    }
    Ok(Node::new(network, miner_key, difficulty, timestamp_ms))
}

/// The record's journal payload (JSON).
pub fn encode(record: &Record) -> Vec<u8> {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(serde::de::Error::custom)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::node::{DEVNET_MINER_KEY, OTHER_MINERS_KEY};
    use tos_pool_common::pow;

    fn start() -> Start {
        Start {
            network: Network::Devnet,
            miner_key: DEVNET_MINER_KEY,
            difficulty: Difficulty::ONE,
            now_ms: 50_000,
        }
    }

    /// Checks, journals and applies `record`, as the daemon does.
    fn commit(node: &mut Node, journal: &mut Journal, record: Record) {
        check(node, &record).expect("record is valid");
        journal.append(&encode(&record)).expect("journaled");
        apply(node, &record).expect("applies");
    }

    #[test]
    fn replay_rebuilds_the_same_chain() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut node, mut journal) = open(dir.path(), start()).expect("fresh");
        commit(&mut node, &mut journal, Record::Produce { now_ms: 51_000 });
        let header = node.template(DEVNET_MINER_KEY, 51_500).header;
        let pow_hash = pow::hash(header.miner_work().as_bytes());
        let submit = Record::Submit {
            header: header.to_hex(),
            pow_hash,
            now_ms: 51_500,
        };
        commit(&mut node, &mut journal, submit);
        let difficulty = Difficulty::from_u64(7).expect("non-zero");
        commit(
            &mut node,
            &mut journal,
            Record::SetDifficulty { difficulty },
        );
        commit(&mut node, &mut journal, Record::Produce { now_ms: 52_000 });
        let side = node.chain().block_at_topoheight(1).expect("ordered").hash();
        commit(&mut node, &mut journal, Record::MakeSide { hash: side });
        let top = node.chain().top().hash();
        commit(&mut node, &mut journal, Record::Orphan { hash: top });
        drop(journal);

        let later = Start {
            now_ms: 99_000,
            difficulty: Difficulty::from_u64(1_000).expect("non-zero"),
            ..start()
        };
        let (replayed, _) = open(dir.path(), later).expect("replays");
        let blocks = |n: &Node| n.chain().blocks().cloned().collect::<Vec<_>>();
        assert_eq!(blocks(&replayed), blocks(&node));
        assert_eq!(replayed.chain().top().hash(), node.chain().top().hash());
        assert_eq!(replayed.submitted(), node.submitted());
        assert_eq!(replayed.difficulty(), difficulty);
        assert_eq!(
            replayed.chain().balance(&DEVNET_MINER_KEY),
            node.chain().balance(&DEVNET_MINER_KEY)
        );
        assert_eq!(
            replayed.chain().emitted_supply(),
            node.chain().emitted_supply()
        );
        // Production goes on from the replayed top with fresh block hashes.
        let mut next = replayed.clone();
        let mut original = node.clone();
        next.produce(100_000);
        original.produce(100_000);
        assert_eq!(next.chain().top().hash(), original.chain().top().hash());
        assert_eq!(next.chain().top().header.miner, OTHER_MINERS_KEY);
    }

    #[test]
    fn refused_records_are_not_journaled_and_settings_must_match() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (node, _journal) = open(dir.path(), start()).expect("fresh");
        let genesis = node.chain().top().hash();
        assert_eq!(
            check(&node, &Record::Orphan { hash: genesis }),
            Err(ApplyError::Chain(ChainError::Genesis))
        );
        let stale = node.template(DEVNET_MINER_KEY, 1).header;
        let bad = Record::Submit {
            header: stale.to_hex(),
            pow_hash: [0xff; 32],
            now_ms: 0,
        };
        assert!(matches!(check(&node, &bad), Err(ApplyError::Rejected(_))));

        let other = Start {
            network: Network::Mainnet,
            ..start()
        };
        assert!(matches!(
            open(dir.path(), other),
            Err(StateError::Mismatch {
                what: "network",
                ..
            })
        ));
    }

    #[test]
    fn records_round_trip_as_json() {
        let record = Record::Orphan { hash: [0xab; 32] };
        let json = String::from_utf8(encode(&record)).expect("utf-8");
        assert_eq!(
            json,
            format!(r#"{{"kind":"orphan","hash":"{}"}}"#, "ab".repeat(32))
        );
        let back: Record = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, record);
    }
}
