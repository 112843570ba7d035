//! The emulated daemon's core: the chain plus the node's settings (network,
//! miner key, difficulty, peers), block templates in the real BlockHeader
//! format, and blocks from the rest of the network. Pure: the clock is an
//! argument.

use tos_pool_common::difficulty::Difficulty;
use tos_pool_common::header::BlockHeader;
use tos_pool_common::network::Network;

use super::block::{Hash, NewBlock, PublicKey};
use super::chain::{Chain, ChainEvent, Rejection, Rules};

/// The block version byte of templates (TOS.md's worked example).
pub const BLOCK_VERSION: u8 = 0;

/// The key "other miners" on the network mine with: the compressed
/// Ristretto base point, a valid public key no test wallet owns.
pub const OTHER_MINERS_KEY: PublicKey = [
    0xe2, 0xf2, 0xae, 0x0a, 0x6a, 0xbc, 0x4e, 0x71, 0xa8, 0x84, 0xa9, 0x61, 0xc5, 0x00, 0x51, 0x5f,
    0x58, 0xe3, 0x0b, 0x6a, 0xa5, 0x82, 0xdd, 0x8d, 0xb6, 0xa6, 0x59, 0x45, 0xe0, 0x8d, 0x2d, 0x76,
];

/// The devnet key pair's public key (private key `01` then zeros).
pub const DEVNET_MINER_KEY: PublicKey = [
    0x8c, 0x92, 0x40, 0xb4, 0x56, 0xa9, 0xe6, 0xdc, 0x65, 0xc3, 0x77, 0xa1, 0x04, 0x8d, 0x74, 0x5f,
    0x94, 0xa0, 0x8c, 0xdb, 0x7f, 0x44, 0xcb, 0xcd, 0x7b, 0x46, 0xf3, 0x40, 0x48, 0x87, 0x11, 0x34,
];

/// Peers the node reports by default in `p2p_status`.
pub const DEFAULT_PEER_COUNT: u64 = 8;

/// The daemon's settings and chain.
#[derive(Debug, Clone)]
pub struct Node {
    chain: Chain,
    network: Network,
    miner_key: PublicKey,
    difficulty: Difficulty,
    peer_count: u64,
    submitted: Vec<Hash>,
    produced: u64,
}

/// A block template as `get_block_template` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The header.
    pub header: BlockHeader,
    /// Height of the block to mine.
    pub height: u64,
    /// Current topoheight.
    pub topoheight: u64,
    /// Network difficulty.
    pub difficulty: Difficulty,
}

impl Node {
    /// A node on `network` whose VRF key is `miner_key`, with a fresh genesis
    /// at `now_ms`.
    pub fn new(
        network: Network,
        miner_key: PublicKey,
        difficulty: Difficulty,
        now_ms: u64,
    ) -> Node {
        let genesis = BlockHeader {
            version: BLOCK_VERSION,
            height: 0,
            timestamp: now_ms,
            nonce: 0,
            extra_nonce: [0; 32],
            tips: Vec::new(),
            txs_hashes: Vec::new(),
            miner: OTHER_MINERS_KEY,
            vrf: None,
        };
        Node {
            chain: Chain::new(new_block(&genesis), difficulty),
            network,
            miner_key,
            difficulty,
            peer_count: DEFAULT_PEER_COUNT,
            submitted: Vec::new(),
            produced: 0,
        }
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The network the node serves.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The key mined blocks must carry.
    pub fn miner_key(&self) -> PublicKey {
        self.miner_key
    }

    /// The current network difficulty.
    pub fn difficulty(&self) -> Difficulty {
        self.difficulty
    }

    /// Sets the network difficulty for the next blocks.
    pub fn set_difficulty(&mut self, difficulty: Difficulty) {
        self.difficulty = difficulty;
    }

    /// Peers reported by `p2p_status`.
    pub fn peer_count(&self) -> u64 {
        self.peer_count
    }

    /// Sets the peer count `p2p_status` reports.
    pub fn set_peer_count(&mut self, count: u64) {
        self.peer_count = count;
    }

    /// Hashes of blocks accepted through `submit_block`, in order.
    pub fn submitted(&self) -> &[Hash] {
        &self.submitted
    }

    /// A template on the current top for `miner`.
    pub fn template(&self, miner: PublicKey, now_ms: u64) -> Template {
        let top = self.chain.top();
        let header = BlockHeader {
            version: BLOCK_VERSION,
            height: top.header.height + 1,
            timestamp: now_ms.max(top.header.timestamp),
            nonce: 0,
            extra_nonce: [0; 32],
            tips: vec![top.hash()],
            txs_hashes: Vec::new(),
            miner,
            vrf: None,
        };
        Template {
            header,
            height: top.header.height + 1,
            topoheight: self.chain.topoheight(),
            difficulty: self.difficulty,
        }
    }

    /// Checks a mined header whose PoW hash is `pow_hash` and, if it is
    /// valid, adds it as the new top.
    pub fn submit(
        &mut self,
        header: &BlockHeader,
        pow_hash: &Hash,
        now_ms: u64,
    ) -> Result<Vec<ChainEvent>, Rejection> {
        let block = new_block(header);
        let rules = Rules {
            miner_key: self.miner_key,
            difficulty: self.difficulty,
            version: BLOCK_VERSION,
        };
        self.chain.check(&block, pow_hash, &rules, now_ms)?;
        let hash = block.hash;
        let events = self.chain.append(block, self.difficulty);
        self.submitted.push(hash);
        Ok(events)
    }

    /// Adds a block found by the rest of the network.
    pub fn produce(&mut self, now_ms: u64) -> Vec<ChainEvent> {
        self.produced += 1;
        let mut template = self.template(OTHER_MINERS_KEY, now_ms).header;
        template.nonce = self.produced;
        template.extra_nonce[..8].copy_from_slice(&self.produced.to_be_bytes());
        self.chain.append(new_block(&template), self.difficulty)
    }

    /// Orphans a block (see [`Chain::orphan`]).
    pub fn orphan(&mut self, hash: &Hash) -> Result<Vec<ChainEvent>, super::chain::ChainError> {
        self.chain.orphan(hash)
    }

    /// Makes a block a side block (see [`Chain::make_side`]).
    pub fn make_side(&mut self, hash: &Hash) -> Result<(), super::chain::ChainError> {
        self.chain.make_side(hash)
    }
}

/// The chain's view of a header.
pub fn new_block(header: &BlockHeader) -> NewBlock {
    NewBlock {
        hash: header.block_hash(),
        version: header.version,
        height: header.height,
        timestamp: header.timestamp,
        nonce: header.nonce,
        extra_nonce: header.extra_nonce,
        tips: header.tips.clone(),
        txs_hashes: header.txs_hashes.clone(),
        miner: header.miner,
        size_in_bytes: header.to_bytes().len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tos_pool_common::pow;

    fn node(difficulty: u64) -> Node {
        let d = Difficulty::from_u64(difficulty).expect("non-zero");
        Node::new(Network::Devnet, DEVNET_MINER_KEY, d, 10_000)
    }

    #[test]
    fn template_builds_on_the_top_for_the_asked_key() {
        let mut n = node(1);
        n.produce(10_500);
        let t = n.template([5; 32], 11_000);
        assert_eq!(t.header.tips, vec![n.chain().top().hash()]);
        assert_eq!((t.height, t.header.height, t.topoheight), (2, 2, 1));
        assert_eq!(t.header.miner, [5; 32]);
        assert_eq!(t.header.version, BLOCK_VERSION);
        assert_eq!(t.header.vrf, None);
        assert_eq!(t.header.timestamp, 11_000);
        // A clock behind the parent never yields a timestamp before it.
        assert_eq!(n.template([5; 32], 9_000).header.timestamp, 10_500);
        // The template round-trips through its hex form.
        let hex = t.header.to_hex();
        assert_eq!(BlockHeader::from_hex(&hex).ok(), Some(t.header));
    }

    #[test]
    fn submitted_block_is_checked_with_its_pow_and_recorded() {
        let mut n = node(1);
        let header = n.template(DEVNET_MINER_KEY, 10_100).header;
        let pow_hash = pow::hash(header.miner_work().as_bytes());
        let events = n
            .submit(&header, &pow_hash, 10_100)
            .expect("difficulty 1 accepts any hash");
        assert_eq!(events, vec![ChainEvent::BlockAdded(header.block_hash())]);
        assert_eq!(n.submitted(), &[header.block_hash()]);
        assert_eq!(n.chain().top().header.size_in_bytes, 125);

        n.set_difficulty(Difficulty::from_u64(u64::MAX).expect("non-zero"));
        let header = n.template(DEVNET_MINER_KEY, 10_200).header;
        let pow_hash = pow::hash(header.miner_work().as_bytes());
        assert!(matches!(
            n.submit(&header, &pow_hash, 10_200),
            Err(Rejection::InvalidPow { .. })
        ));
        assert_eq!(n.submitted().len(), 1);
    }

    #[test]
    fn other_miners_blocks_are_distinct() {
        let mut n = node(1_000);
        n.produce(10_000);
        n.produce(10_000);
        let blocks: Vec<_> = n.chain().blocks().collect();
        assert_eq!(blocks.len(), 3);
        assert_ne!(blocks[1].hash(), blocks[2].hash());
        assert!(blocks.iter().all(|b| b.header.miner == OTHER_MINERS_KEY));
        assert_eq!(n.chain().height(), 2);
    }
}
