//! The daemon's results the pool reads, field for field as in TOS.md.
//! Difficulties are decimal strings on the wire and [`Difficulty`] here.
//! Counters that only feed statistics default to 0 when a daemon leaves them
//! out, so a small version drift does not take a daemon out of rotation.

use serde::{Deserialize, Serialize};
use tos_pool_common::difficulty::Difficulty;

use crate::lifecycle::{BlockType, ObservedBlock};

/// The TOS asset id: 64 zeros.
pub const TOS_ASSET: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `get_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// Height of the top block.
    pub height: u64,
    /// Topoheight of the top block.
    pub topoheight: u64,
    /// Height below which blocks are final.
    #[serde(default)]
    pub stableheight: u64,
    /// Topoheight below which blocks are final.
    #[serde(default)]
    pub stable_topoheight: u64,
    /// Topoheight below which the daemon pruned history, if it did.
    #[serde(default)]
    pub pruned_topoheight: Option<u64>,
    /// Hash of the top block (64 hex).
    pub top_block_hash: String,
    /// Coins in circulation, atomic units.
    #[serde(default)]
    pub circulating_supply: u64,
    /// Coins burned, atomic units.
    #[serde(default)]
    pub burned_supply: u64,
    /// Coins emitted so far, atomic units.
    #[serde(default)]
    pub emitted_supply: u64,
    /// Supply cap, atomic units.
    #[serde(default)]
    pub maximum_supply: u64,
    /// Current network difficulty.
    pub difficulty: Difficulty,
    /// Target time between blocks, ms.
    #[serde(default)]
    pub block_time_target: u64,
    /// Recent mean time between blocks, ms.
    #[serde(default)]
    pub average_block_time: u64,
    /// Reward of the next block, atomic units.
    #[serde(default)]
    pub block_reward: u64,
    /// Dev-fund part of it.
    #[serde(default)]
    pub dev_reward: u64,
    /// Miner part of it.
    #[serde(default)]
    pub miner_reward: u64,
    /// Transactions waiting in the mempool.
    #[serde(default)]
    pub mempool_size: u64,
    /// Daemon version.
    pub version: String,
    /// `Mainnet`, `Testnet`, `Stagenet` or `Dev`.
    pub network: String,
    /// Block version in force.
    #[serde(default)]
    pub block_version: u8,
}

/// `get_block_template`; also the payload of a `new_block_template` push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockTemplate {
    /// The BlockHeader as hex.
    pub template: String,
    /// PoW algorithm, `tos/v3`.
    pub algorithm: String,
    /// Height of the block to mine.
    pub height: u64,
    /// Topoheight of the template.
    pub topoheight: u64,
    /// Network difficulty the block must meet.
    pub difficulty: Difficulty,
}

/// A block object (`get_block_by_hash`, `get_blocks_at_height`,
/// `get_top_block`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Block hash (64 hex).
    pub hash: String,
    /// Position in the DAG order; `None` when orphaned.
    pub topoheight: Option<u64>,
    /// How the chain counts the block.
    pub block_type: BlockType,
    /// Difficulty the block met.
    pub difficulty: Difficulty,
    /// Supply after this block, atomic units.
    #[serde(default)]
    pub supply: Option<u64>,
    /// Total reward, atomic units.
    #[serde(default)]
    pub reward: Option<u64>,
    /// What the block's miner gets, atomic units.
    #[serde(default)]
    pub miner_reward: Option<u64>,
    /// What the dev fund gets, atomic units.
    #[serde(default)]
    pub dev_reward: Option<u64>,
    /// Cumulative difficulty of the chain up to this block.
    pub cumulative_difficulty: Difficulty,
    /// Fees of the included transactions, atomic units.
    #[serde(default)]
    pub total_fees: Option<u64>,
    /// Size of the block.
    #[serde(default)]
    pub total_size_in_bytes: u64,
    /// Block version.
    pub version: u8,
    /// Parent hashes (64 hex each).
    pub tips: Vec<String>,
    /// Timestamp, ms.
    pub timestamp: u64,
    /// Height.
    pub height: u64,
    /// Nonce.
    pub nonce: u64,
    /// Extra nonce (64 hex).
    pub extra_nonce: String,
    /// Miner address (bech32).
    pub miner: String,
    /// Included transaction hashes.
    #[serde(default)]
    pub txs_hashes: Vec<String>,
}

impl Block {
    /// What the unlocker needs of this block; an unknown reward counts as 0.
    pub fn observed(&self) -> ObservedBlock {
        ObservedBlock {
            block_type: self.block_type,
            topoheight: self.topoheight,
            miner_reward: self.miner_reward.unwrap_or(0),
        }
    }
}

/// `p2p_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct P2pStatus {
    /// Connected peers.
    pub peer_count: u64,
    /// Peer limit.
    #[serde(default)]
    pub max_peers: u64,
    /// Node tag, if set.
    #[serde(default)]
    pub tag: Option<String>,
    /// The daemon's own topoheight.
    #[serde(default)]
    pub our_topoheight: u64,
    /// Best topoheight among peers.
    #[serde(default)]
    pub best_topoheight: u64,
    /// Median topoheight among peers.
    #[serde(default)]
    pub median_topoheight: u64,
    /// The daemon's peer id.
    #[serde(default)]
    pub peer_id: u64,
}

/// `get_balance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Balance in atomic units.
    pub balance: u64,
    /// Topoheight of the last balance change.
    pub topoheight: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn get_info_reads_as_tos_md_describes() {
        let info: DaemonInfo = serde_json::from_value(json!({
            "height": 12, "topoheight": 13, "stableheight": 0, "stable_topoheight": 0,
            "pruned_topoheight": null, "top_block_hash": "ab".repeat(32),
            "circulating_supply": 1, "burned_supply": 0, "emitted_supply": 1,
            "maximum_supply": 2, "difficulty": "123456789012345678901234567890",
            "block_time_target": 1000, "average_block_time": 998, "block_reward": 97486707,
            "dev_reward": 9748670, "miner_reward": 87738037, "mempool_size": 0,
            "version": "0.1.16", "network": "Dev", "block_version": 0
        }))
        .expect("a TOS.md get_info result");
        assert_eq!(info.height, 12);
        assert_eq!(info.pruned_topoheight, None);
        assert_eq!(
            info.difficulty.to_string(),
            "123456789012345678901234567890"
        );
        assert_eq!(info.network, "Dev");
    }

    #[test]
    fn a_block_keeps_its_type_and_null_topoheight() {
        let block: Block = serde_json::from_value(json!({
            "hash": "cd".repeat(32), "topoheight": null, "block_type": "Orphaned",
            "difficulty": "1000", "supply": 5, "reward": 97486707, "miner_reward": 0,
            "dev_reward": 0, "cumulative_difficulty": "5000", "total_fees": 0,
            "total_size_in_bytes": 157, "version": 0, "tips": ["ab".repeat(32)],
            "timestamp": 1700000000000u64, "height": 4, "nonce": 9,
            "extra_nonce": "00".repeat(32),
            "miner": "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54",
            "txs_hashes": []
        }))
        .expect("a TOS.md block");
        assert_eq!(block.block_type, BlockType::Orphaned);
        assert_eq!(block.topoheight, None);
        assert_eq!(block.observed().miner_reward, 0);
        assert!(!block.observed().block_type.is_ordered());
    }

    #[test]
    fn a_numeric_difficulty_string_is_required_to_be_decimal() {
        let bad = json!({
            "template": "00", "algorithm": "tos/v3", "height": 1, "topoheight": 1,
            "difficulty": "0x10"
        });
        assert!(serde_json::from_value::<BlockTemplate>(bad).is_err());
        let unknown_type = json!({"block_type": "Weird"});
        assert!(serde_json::from_value::<BlockType>(unknown_type["block_type"].clone()).is_err());
    }
}
