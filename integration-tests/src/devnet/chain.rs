//! The emulated chain: blocks in DAG order, their types and rewards, and the
//! miners' balances. Pure: no I/O, no clock; callers pass the time in.

use std::collections::{BTreeMap, HashMap};

use ruint::aliases::U256;
use tos_pool_common::difficulty::{Difficulty, Target, meets_target};

use super::block::{Block, BlockType, Hash, NewBlock, PublicKey, Rewards, STABLE_LIMIT, Standing};

/// How far in the future a block timestamp may be, in milliseconds.
pub const MAX_FUTURE_MS: u64 = 2_000;

/// Something that changed in the chain, for the daemon's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// A block was added and ordered; it is the new top.
    BlockAdded(Hash),
    /// The top block changed without a block being added (its successor was
    /// orphaned): a new template is due.
    TopChanged(Hash),
    /// A block left the DAG order.
    BlockOrphaned {
        /// The orphaned block.
        hash: Hash,
        /// The topoheight it had.
        old_topoheight: u64,
    },
    /// The stable height moved.
    StableHeightChanged {
        /// Stable height before.
        previous: u64,
        /// Stable height now.
        new: u64,
    },
}

/// Why the daemon refused a submitted block. The message is what the daemon
/// answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The block hash is already known.
    #[error("block already in chain")]
    Duplicate,
    /// The header's miner key is not the key the daemon signs VRF data with.
    #[error(
        "miner key does not match the daemon's miner key (VRF): blocks must carry the key the daemon was started with"
    )]
    ForeignMinerKey,
    /// The tips are not the current top block (the template is stale).
    #[error("stale tips: the block does not build on the current top block, fetch a new template")]
    StaleTips,
    /// The height is not the top height + 1.
    #[error("invalid height {got}: expected {expected}")]
    InvalidHeight {
        /// The header's height.
        got: u64,
        /// Top height + 1.
        expected: u64,
    },
    /// The timestamp lies more than 2 s ahead of the daemon's clock.
    #[error("timestamp too far in the future: {timestamp} ms is more than 2000 ms after {now} ms")]
    FutureTimestamp {
        /// The header's timestamp.
        timestamp: u64,
        /// The daemon's clock.
        now: u64,
    },
    /// The timestamp is older than the parent's.
    #[error("timestamp {timestamp} is less than its parent's {parent}")]
    TimestampBeforeParent {
        /// The header's timestamp.
        timestamp: u64,
        /// The parent's timestamp.
        parent: u64,
    },
    /// The header version is not the chain's.
    #[error("invalid block version {got}: expected {expected}")]
    InvalidVersion {
        /// The header's version.
        got: u8,
        /// The chain's block version.
        expected: u8,
    },
    /// The header names transactions the daemon does not have.
    #[error("block references {0} transaction(s) not found in the mempool")]
    UnknownTransactions(usize),
    /// The PoW hash does not meet the network difficulty's target.
    #[error("invalid PoW: hash {pow_hash} does not meet difficulty {difficulty}")]
    InvalidPow {
        /// The PoW hash in hex.
        pow_hash: String,
        /// The network difficulty.
        difficulty: Difficulty,
    },
}

/// Why a control on a block could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// No block has that hash.
    #[error("block {0} not found: pass the hash of a block from `blocks`")]
    UnknownBlock(String),
    /// Genesis cannot be orphaned or made a side block.
    #[error("the genesis block cannot be orphaned or made a side block")]
    Genesis,
    /// The block is already orphaned.
    #[error("block {0} is orphaned and cannot change type again")]
    AlreadyOrphaned(String),
}

/// What a submitted block is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The key the daemon signs VRF data with: every mined block must carry it.
    pub miner_key: PublicKey,
    /// The network difficulty the PoW must meet.
    pub difficulty: Difficulty,
    /// The block version byte.
    pub version: u8,
}

/// The chain: every block ever seen, the DAG order and the balances.
#[derive(Debug, Clone)]
pub struct Chain {
    blocks: HashMap<Hash, Block>,
    /// Hashes in the order they arrived.
    arrival: Vec<Hash>,
    /// Topoheight → ordered block.
    order: BTreeMap<u64, Hash>,
    /// Height → every block at that height, orphaned ones included.
    by_height: BTreeMap<u64, Vec<Hash>>,
    /// Miner key → (balance, topoheight of the last change).
    balances: HashMap<PublicKey, (u64, u64)>,
    emitted: u64,
}

impl Chain {
    /// A chain holding only `genesis` (height and topoheight 0).
    pub fn new(genesis: NewBlock, difficulty: Difficulty) -> Chain {
        let mut chain = Chain {
            blocks: HashMap::new(),
            arrival: Vec::new(),
            order: BTreeMap::new(),
            by_height: BTreeMap::new(),
            balances: HashMap::new(),
            emitted: 0,
        };
        chain.insert(genesis, difficulty, U256::ZERO, 0);
        chain
    }

    /// The top block: the ordered block with the highest topoheight.
    pub fn top(&self) -> &Block {
        self.order
            .last_key_value()
            .and_then(|(_, hash)| self.blocks.get(hash))
            .expect("genesis can never be orphaned, so the order is never empty")
    }

    /// The top block's height.
    pub fn height(&self) -> u64 {
        self.top().header.height
    }

    /// The top block's topoheight.
    pub fn topoheight(&self) -> u64 {
        self.top().topoheight.unwrap_or(0)
    }

    /// Height below which blocks are final: `height − 24`, floored at 0.
    pub fn stable_height(&self) -> u64 {
        self.height().saturating_sub(STABLE_LIMIT)
    }

    /// Topoheight below which blocks are final: `topoheight − 24`, floored at 0.
    pub fn stable_topoheight(&self) -> u64 {
        self.topoheight().saturating_sub(STABLE_LIMIT)
    }

    /// Coins emitted by every block still rewarded.
    pub fn emitted_supply(&self) -> u64 {
        self.emitted
    }

    /// The block with `hash`.
    pub fn block(&self, hash: &Hash) -> Option<&Block> {
        self.blocks.get(hash)
    }

    /// The block ordered at `topoheight`.
    pub fn block_at_topoheight(&self, topoheight: u64) -> Option<&Block> {
        self.order.get(&topoheight).and_then(|h| self.blocks.get(h))
    }

    /// Every block at `height`, in arrival order, orphaned ones included.
    pub fn blocks_at_height(&self, height: u64) -> Vec<&Block> {
        self.by_height
            .get(&height)
            .map(|hashes| hashes.iter().filter_map(|h| self.blocks.get(h)).collect())
            .unwrap_or_default()
    }

    /// Every block in arrival order.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.arrival.iter().filter_map(|h| self.blocks.get(h))
    }

    /// The balance credited to `key` and the topoheight of its last change.
    pub fn balance(&self, key: &PublicKey) -> Option<(u64, u64)> {
        self.balances.get(key).copied()
    }

    /// The block's type as the daemon reports it now: `Sync` once it is
    /// below the stable height and alone (among ordered blocks) at its height.
    pub fn block_type(&self, block: &Block) -> BlockType {
        match block.standing {
            Standing::Orphaned => BlockType::Orphaned,
            Standing::Side => BlockType::Side,
            Standing::Ordered => {
                let height = block.header.height;
                let alone = self
                    .blocks_at_height(height)
                    .iter()
                    .all(|b| b.hash() == block.hash() || b.standing == Standing::Orphaned);
                if height == 0 || (height < self.stable_height() && alone) {
                    BlockType::Sync
                } else {
                    BlockType::Normal
                }
            }
        }
    }

    /// Checks a mined block against the top and `rules`; `pow_hash` is the
    /// TOS Hash V3 of its MinerWork.
    pub fn check(
        &self,
        block: &NewBlock,
        pow_hash: &Hash,
        rules: &Rules,
        now_ms: u64,
    ) -> Result<(), Rejection> {
        if self.blocks.contains_key(&block.hash) {
            return Err(Rejection::Duplicate);
        }
        if block.version != rules.version {
            return Err(Rejection::InvalidVersion {
                got: block.version,
                expected: rules.version,
            });
        }
        if block.miner != rules.miner_key {
            return Err(Rejection::ForeignMinerKey);
        }
        let top = self.top();
        if block.tips != [top.hash()] {
            return Err(Rejection::StaleTips);
        }
        if block.height != top.header.height + 1 {
            return Err(Rejection::InvalidHeight {
                got: block.height,
                expected: top.header.height + 1,
            });
        }
        if block.timestamp > now_ms.saturating_add(MAX_FUTURE_MS) {
            return Err(Rejection::FutureTimestamp {
                timestamp: block.timestamp,
                now: now_ms,
            });
        }
        if block.timestamp < top.header.timestamp {
            return Err(Rejection::TimestampBeforeParent {
                timestamp: block.timestamp,
                parent: top.header.timestamp,
            });
        }
        if !block.txs_hashes.is_empty() {
            return Err(Rejection::UnknownTransactions(block.txs_hashes.len()));
        }
        let target: Target = rules.difficulty.target();
        if !meets_target(pow_hash, &target) {
            return Err(Rejection::InvalidPow {
                pow_hash: hex::encode(pow_hash),
                difficulty: rules.difficulty,
            });
        }
        Ok(())
    }

    /// Appends `block` on top of the chain without checks (blocks from the
    /// rest of the network, or ones `check` accepted).
    pub fn append(&mut self, block: NewBlock, difficulty: Difficulty) -> Vec<ChainEvent> {
        let previous_stable = self.stable_height();
        let top = self.top();
        let cumulative = top.cumulative_difficulty;
        let topoheight = top.topoheight.unwrap_or(0) + 1;
        let hash = block.hash;
        self.insert(block, difficulty, cumulative, topoheight);
        let mut events = vec![ChainEvent::BlockAdded(hash)];
        let stable = self.stable_height();
        if stable != previous_stable {
            events.push(ChainEvent::StableHeightChanged {
                previous: previous_stable,
                new: stable,
            });
        }
        events
    }

    fn insert(
        &mut self,
        header: NewBlock,
        difficulty: Difficulty,
        parent_cumulative: U256,
        topoheight: u64,
    ) {
        let hash = header.hash;
        let height = header.height;
        let miner = header.miner;
        let rewards = Rewards::for_standing(Standing::Ordered);
        self.emitted += rewards.reward;
        let block = Block {
            header,
            difficulty,
            cumulative_difficulty: parent_cumulative.saturating_add(difficulty.as_u256()),
            topoheight: Some(topoheight),
            standing: Standing::Ordered,
            supply: self.emitted,
        };
        self.blocks.insert(hash, block);
        self.arrival.push(hash);
        self.order.insert(topoheight, hash);
        self.by_height.entry(height).or_default().push(hash);
        self.credit(miner, rewards.miner_reward as i128, topoheight);
    }

    fn credit(&mut self, key: PublicKey, amount: i128, topoheight: u64) {
        let entry = self.balances.entry(key).or_insert((0, topoheight));
        let balance = (entry.0 as i128 + amount).clamp(0, u64::MAX as i128);
        *entry = (balance as u64, topoheight);
    }

    fn changeable(&self, hash: &Hash) -> Result<&Block, ChainError> {
        let block = self
            .blocks
            .get(hash)
            .ok_or_else(|| ChainError::UnknownBlock(hex::encode(hash)))?;
        if block.header.height == 0 {
            return Err(ChainError::Genesis);
        }
        if block.standing == Standing::Orphaned {
            return Err(ChainError::AlreadyOrphaned(hex::encode(hash)));
        }
        Ok(block)
    }

    /// Checks that `hash` may be orphaned or made a side block, without
    /// changing anything.
    pub fn check_changeable(&self, hash: &Hash) -> Result<(), ChainError> {
        self.changeable(hash).map(|_| ())
    }

    fn restand(&mut self, hash: &Hash, standing: Standing) -> Result<Option<u64>, ChainError> {
        let block = self.changeable(hash)?;
        let before = block.rewards();
        let after = Rewards::for_standing(standing);
        let miner = block.header.miner;
        let old_topoheight = block.topoheight;
        let top_topoheight = self.topoheight();
        self.emitted = (self.emitted + after.reward).saturating_sub(before.reward);
        self.credit(
            miner,
            after.miner_reward as i128 - before.miner_reward as i128,
            top_topoheight,
        );
        if let Some(block) = self.blocks.get_mut(hash) {
            block.standing = standing;
        }
        Ok(old_topoheight)
    }

    /// Turns a block into a side block (30% reward); its miner's balance
    /// loses the difference.
    pub fn make_side(&mut self, hash: &Hash) -> Result<(), ChainError> {
        self.restand(hash, Standing::Side).map(|_| ())
    }

    /// Takes a block out of the DAG order: no topoheight, no reward, its
    /// miner's credit reversed. Orphaning the top makes the block below it
    /// the top again.
    pub fn orphan(&mut self, hash: &Hash) -> Result<Vec<ChainEvent>, ChainError> {
        let previous_top = self.top().hash();
        let old_topoheight = self.restand(hash, Standing::Orphaned)?.unwrap_or(0);
        self.order.remove(&old_topoheight);
        if let Some(block) = self.blocks.get_mut(hash) {
            block.topoheight = None;
        }
        let mut events = vec![ChainEvent::BlockOrphaned {
            hash: *hash,
            old_topoheight,
        }];
        let top = self.top().hash();
        if top != previous_top {
            events.push(ChainEvent::TopChanged(top));
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::block::BLOCK_REWARD;

    const POOL: PublicKey = [7; 32];
    const OTHER: PublicKey = [9; 32];

    fn header(n: u8, height: u64, tips: Vec<Hash>, miner: PublicKey) -> NewBlock {
        NewBlock {
            hash: [n; 32],
            version: 0,
            height,
            timestamp: 1_000 * height,
            nonce: 0,
            extra_nonce: [0; 32],
            tips,
            txs_hashes: Vec::new(),
            miner,
            size_in_bytes: 125,
        }
    }

    fn difficulty(n: u64) -> Difficulty {
        Difficulty::from_u64(n).expect("test difficulties are non-zero")
    }

    fn chain() -> Chain {
        Chain::new(header(0, 0, Vec::new(), OTHER), difficulty(1))
    }

    fn next(chain: &Chain, n: u8, miner: PublicKey) -> NewBlock {
        header(n, chain.height() + 1, vec![chain.top().hash()], miner)
    }

    fn rules(d: u64) -> Rules {
        Rules {
            miner_key: POOL,
            difficulty: difficulty(d),
            version: 0,
        }
    }

    #[test]
    fn appended_block_becomes_top_and_credits_its_miner() {
        let mut c = chain();
        let b = next(&c, 1, POOL);
        c.check(&b, &[0; 32], &rules(1), 1_000)
            .expect("valid block");
        let events = c.append(b, difficulty(5));
        assert_eq!(events, vec![ChainEvent::BlockAdded([1; 32])]);
        assert_eq!(c.top().hash(), [1; 32]);
        assert_eq!((c.height(), c.topoheight()), (1, 1));
        assert_eq!(c.top().cumulative_difficulty, U256::from(6u8));
        assert_eq!(c.balance(&POOL), Some((87_738_037, 1)));
        assert_eq!(c.emitted_supply(), 2 * BLOCK_REWARD);
        assert_eq!(c.top().supply, 2 * BLOCK_REWARD);
        assert_eq!(c.block_type(c.top()), BlockType::Normal);
    }

    #[test]
    fn refusals_name_their_reason() {
        let mut c = chain();
        let good = next(&c, 1, POOL);
        let mut foreign = good.clone();
        foreign.miner = OTHER;
        assert_eq!(
            c.check(&foreign, &[0; 32], &rules(1), 1_000),
            Err(Rejection::ForeignMinerKey)
        );
        let mut future = good.clone();
        future.timestamp = 3_001;
        assert!(matches!(
            c.check(&future, &[0; 32], &rules(1), 1_000),
            Err(Rejection::FutureTimestamp { .. })
        ));
        future.timestamp = 3_000;
        assert_eq!(c.check(&future, &[0; 32], &rules(1), 1_000), Ok(()));
        let mut with_tx = good.clone();
        with_tx.txs_hashes.push([3; 32]);
        assert_eq!(
            c.check(&with_tx, &[0; 32], &rules(1), 1_000),
            Err(Rejection::UnknownTransactions(1))
        );
        // PoW: a hash of all 0xff meets only difficulty 1.
        assert!(matches!(
            c.check(&good, &[0xff; 32], &rules(2), 1_000),
            Err(Rejection::InvalidPow { .. })
        ));
        assert_eq!(c.check(&good, &[0x7f; 32], &rules(2), 1_000), Ok(()));
        c.append(good.clone(), difficulty(1));
        assert_eq!(
            c.check(&good, &[0; 32], &rules(1), 1_000),
            Err(Rejection::Duplicate)
        );
        let mut stale = good;
        stale.hash = [2; 32];
        assert_eq!(
            c.check(&stale, &[0; 32], &rules(1), 1_000),
            Err(Rejection::StaleTips)
        );
    }

    #[test]
    fn orphaning_the_top_reverts_credit_and_top() {
        let mut c = chain();
        let b = next(&c, 1, POOL);
        c.append(b, difficulty(1));
        let events = c.orphan(&[1; 32]).expect("block exists");
        assert_eq!(
            events,
            vec![
                ChainEvent::BlockOrphaned {
                    hash: [1; 32],
                    old_topoheight: 1
                },
                ChainEvent::TopChanged([0; 32])
            ]
        );
        let orphan = c.block(&[1; 32]).expect("still known");
        assert_eq!(orphan.topoheight, None);
        assert_eq!(c.block_type(orphan), BlockType::Orphaned);
        assert_eq!(orphan.rewards().reward, 0);
        assert_eq!(c.balance(&POOL).map(|b| b.0), Some(0));
        assert_eq!(c.top().hash(), [0; 32]);
        assert_eq!(c.emitted_supply(), BLOCK_REWARD);
        // The next block takes the freed topoheight at the same height.
        let b2 = next(&c, 2, POOL);
        assert_eq!(b2.height, 1);
        c.append(b2, difficulty(1));
        assert_eq!(c.block_at_topoheight(1).map(Block::hash), Some([2; 32]));
        assert_eq!(c.blocks_at_height(1).len(), 2);
        assert_eq!(
            c.orphan(&[1; 32]),
            Err(ChainError::AlreadyOrphaned(hex::encode([1; 32])))
        );
        assert_eq!(c.orphan(&[0; 32]), Err(ChainError::Genesis));
        assert!(matches!(
            c.orphan(&[5; 32]),
            Err(ChainError::UnknownBlock(_))
        ));
    }

    #[test]
    fn side_block_keeps_its_place_with_thirty_percent() {
        let mut c = chain();
        c.append(next(&c, 1, POOL), difficulty(1));
        c.append(next(&c, 2, OTHER), difficulty(1));
        c.make_side(&[1; 32]).expect("block exists");
        let side = c.block(&[1; 32]).expect("known");
        assert_eq!(c.block_type(side), BlockType::Side);
        assert_eq!(side.topoheight, Some(1));
        assert_eq!(side.rewards().reward, 29_246_012);
        assert_eq!(c.balance(&POOL), Some((side.rewards().miner_reward, 2)));
        assert_eq!(c.top().hash(), [2; 32]);
        // Orphaning a side block takes away what is left.
        c.orphan(&[1; 32]).expect("block exists");
        assert_eq!(c.balance(&POOL).map(|b| b.0), Some(0));
        assert_eq!(c.emitted_supply(), 2 * BLOCK_REWARD);
    }

    #[test]
    fn deep_blocks_turn_sync_and_stable_height_follows() {
        let mut c = chain();
        assert_eq!(c.block_type(c.top()), BlockType::Sync);
        let mut stable_events = 0;
        for n in 1..=26u8 {
            let events = c.append(next(&c, n, OTHER), difficulty(1));
            stable_events += events
                .iter()
                .filter(|e| matches!(e, ChainEvent::StableHeightChanged { .. }))
                .count();
        }
        assert_eq!(c.height(), 26);
        assert_eq!(c.stable_height(), 2);
        assert_eq!(c.stable_topoheight(), 2);
        assert_eq!(stable_events, 2);
        let first = c.block(&[1; 32]).expect("known");
        assert_eq!(c.block_type(first), BlockType::Sync);
        let second = c.block(&[2; 32]).expect("known");
        assert_eq!(c.block_type(second), BlockType::Normal);
        assert_eq!(c.blocks().count(), 27);
    }
}
