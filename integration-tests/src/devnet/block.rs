//! One block as the emulated daemon stores it, its type and its rewards.

use ruint::aliases::U256;
use serde::Serialize;
use tos_pool_common::difficulty::Difficulty;

/// A 32-byte block, transaction or work hash.
pub type Hash = [u8; 32];

/// A 32-byte public key (a compressed Ristretto point).
pub type PublicKey = [u8; 32];

/// Block reward at genesis, in atomic units (TOS.md).
pub const BLOCK_REWARD: u64 = 97_486_707;

/// Share of every reward that goes to the dev fund, in percent.
pub const DEV_FEE_PERCENT: u64 = 10;

/// What a side block earns, in percent of a normal block's reward.
pub const SIDE_BLOCK_REWARD_PERCENT: u64 = 30;

/// Blocks this far below the tip are final (`STABLE_LIMIT`).
pub const STABLE_LIMIT: u64 = 24;

/// How a block sits in the chain, as the daemon's `block_type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BlockType {
    /// Ordered and rewarded in full.
    Normal,
    /// Ordered, but at a height another block already covers: 30% reward.
    Side,
    /// Ordered, stable and alone at its height.
    Sync,
    /// Not in the DAG order: no topoheight and no reward.
    Orphaned,
}

/// Where a block stands, as set by the chain (the `Sync` type is derived
/// from depth when the block is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Ordered at a height of its own.
    Ordered,
    /// Ordered, at a height already covered.
    Side,
    /// Out of the order.
    Orphaned,
}

/// The reward a block earns and how it is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rewards {
    /// The whole reward.
    pub reward: u64,
    /// The miner's part (`reward − dev_reward`).
    pub miner_reward: u64,
    /// The dev fund's part (`reward / 10`).
    pub dev_reward: u64,
}

impl Rewards {
    /// The rewards of a block that stands as `standing`.
    pub fn for_standing(standing: Standing) -> Rewards {
        let reward = match standing {
            Standing::Ordered => BLOCK_REWARD,
            Standing::Side => BLOCK_REWARD * SIDE_BLOCK_REWARD_PERCENT / 100,
            Standing::Orphaned => 0,
        };
        let dev_reward = reward * DEV_FEE_PERCENT / 100;
        Rewards {
            reward,
            miner_reward: reward - dev_reward,
            dev_reward,
        }
    }
}

/// A block header's content, as handed to the chain to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlock {
    /// Block hash (blake3 of its MinerWork).
    pub hash: Hash,
    /// Header version byte.
    pub version: u8,
    /// Height: the tip's height + 1.
    pub height: u64,
    /// Timestamp in milliseconds.
    pub timestamp: u64,
    /// The miner's nonce.
    pub nonce: u64,
    /// The 32-byte extra nonce.
    pub extra_nonce: [u8; 32],
    /// Parent block hashes.
    pub tips: Vec<Hash>,
    /// Hashes of the transactions it carries.
    pub txs_hashes: Vec<Hash>,
    /// The miner's public key.
    pub miner: PublicKey,
    /// Serialized header size in bytes.
    pub size_in_bytes: u64,
}

/// A block the chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header content.
    pub header: NewBlock,
    /// The network difficulty the block was mined at.
    pub difficulty: Difficulty,
    /// Sum of the difficulties of this block and its ancestors.
    pub cumulative_difficulty: U256,
    /// Position in the DAG order; `None` once orphaned.
    pub topoheight: Option<u64>,
    /// Ordered, side or orphaned.
    pub standing: Standing,
    /// Coins emitted up to and including this block when it was added.
    pub supply: u64,
}

impl Block {
    /// The block's hash.
    pub fn hash(&self) -> Hash {
        self.header.hash
    }

    /// What the block earns as it stands now.
    pub fn rewards(&self) -> Rewards {
        Rewards::for_standing(self.standing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_reward_splits_ten_percent_to_dev_fund() {
        let r = Rewards::for_standing(Standing::Ordered);
        assert_eq!(r.reward, 97_486_707);
        assert_eq!(r.dev_reward, 9_748_670);
        assert_eq!(r.miner_reward, 87_738_037);
        assert_eq!(r.dev_reward + r.miner_reward, r.reward);
    }

    #[test]
    fn side_block_earns_thirty_percent_and_orphan_nothing() {
        let side = Rewards::for_standing(Standing::Side);
        assert_eq!(side.reward, 29_246_012);
        assert_eq!(side.dev_reward, 2_924_601);
        assert_eq!(side.miner_reward + side.dev_reward, side.reward);
        assert_eq!(
            Rewards::for_standing(Standing::Orphaned),
            Rewards::default()
        );
    }
}
