//! The JSON shapes the daemon answers with: block objects, `get_info`,
//! `get_difficulty`, templates and event payloads (TOS.md, field for field).

use serde_json::{Value, json};
use tos_pool_common::address::Address;
use tos_pool_common::difficulty::Difficulty;

use super::block::{BLOCK_REWARD, Block, Rewards, Standing};
use super::chain::Chain;
use super::node::{BLOCK_VERSION, Node, Template};

/// Version string `get_info` reports.
pub const DAEMON_VERSION: &str = "0.1.16-devnet";

/// `maximum_supply` in atomic units (18.4 million TOS).
pub const MAXIMUM_SUPPLY: u64 = 18_400_000 * 100_000_000;

/// Target time between blocks in milliseconds.
pub const BLOCK_TIME_TARGET_MS: u64 = 1_000;

/// Blocks averaged for `average_block_time`.
const AVERAGE_WINDOW: u64 = 50;

/// Algorithm name of TOS Hash V3.
pub const ALGORITHM: &str = "tos/v3";

/// The daemon's block object.
pub fn block(node: &Node, block: &Block, include_txs: bool) -> Value {
    let chain = node.chain();
    let rewards = block.rewards();
    let header = &block.header;
    let mut value = json!({
        "hash": hex::encode(block.hash()),
        "topoheight": block.topoheight,
        "block_type": chain.block_type(block),
        "difficulty": block.difficulty,
        "supply": block.supply,
        "reward": rewards.reward,
        "miner_reward": rewards.miner_reward,
        "dev_reward": rewards.dev_reward,
        "cumulative_difficulty": block.cumulative_difficulty.to_string(),
        "total_fees": 0,
        "total_size_in_bytes": header.size_in_bytes,
        "version": header.version,
        "tips": header.tips.iter().map(hex::encode).collect::<Vec<_>>(),
        "timestamp": header.timestamp,
        "height": header.height,
        "nonce": header.nonce,
        "extra_nonce": hex::encode(header.extra_nonce),
        "miner": Address::new(header.miner, node.network()).to_string(),
        "txs_hashes": header.txs_hashes.iter().map(hex::encode).collect::<Vec<_>>(),
    });
    if include_txs && let Value::Object(map) = &mut value {
        map.insert("txs".into(), json!([]));
    }
    value
}

/// Mean time between the last blocks in the DAG order, in milliseconds.
fn average_block_time(chain: &Chain) -> u64 {
    let top = chain.top();
    let topoheight = chain.topoheight();
    let from = topoheight.saturating_sub(AVERAGE_WINDOW);
    let Some(oldest) = (from..topoheight).find_map(|t| chain.block_at_topoheight(t)) else {
        return BLOCK_TIME_TARGET_MS;
    };
    let span = topoheight - oldest.topoheight.unwrap_or(from);
    top.header
        .timestamp
        .saturating_sub(oldest.header.timestamp)
        .checked_div(span)
        .unwrap_or(BLOCK_TIME_TARGET_MS)
}

/// The `get_info` result.
pub fn info(node: &Node) -> Value {
    let chain = node.chain();
    let rewards = Rewards::for_standing(Standing::Ordered);
    json!({
        "height": chain.height(),
        "topoheight": chain.topoheight(),
        "stableheight": chain.stable_height(),
        "stable_topoheight": chain.stable_topoheight(),
        "pruned_topoheight": null,
        "top_block_hash": hex::encode(chain.top().hash()),
        "circulating_supply": chain.emitted_supply(),
        "burned_supply": 0,
        "emitted_supply": chain.emitted_supply(),
        "maximum_supply": MAXIMUM_SUPPLY,
        "difficulty": node.difficulty(),
        "block_time_target": BLOCK_TIME_TARGET_MS,
        "average_block_time": average_block_time(chain),
        "block_reward": BLOCK_REWARD,
        "dev_reward": rewards.dev_reward,
        "miner_reward": rewards.miner_reward,
        "mempool_size": 0,
        "version": DAEMON_VERSION,
        "network": node.network().daemon_name(),
        "block_version": BLOCK_VERSION,
    })
}

/// The `get_difficulty` result: difficulty, the hashrate it implies, and
/// that hashrate for people. With a 1,000 ms block time target the
/// hashrate (difficulty per second) equals the difficulty.
pub fn difficulty(difficulty: Difficulty) -> Value {
    const _: () = assert!(BLOCK_TIME_TARGET_MS == 1_000);
    json!({
        "difficulty": difficulty,
        "hashrate": difficulty,
        "hashrate_formatted": format_hashrate(difficulty.to_f64()),
    })
}

/// `1.50 KH/s`-style hashrate.
pub fn format_hashrate(mut hashrate: f64) -> String {
    const UNITS: [&str; 7] = ["H/s", "KH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
    let mut unit = 0;
    while hashrate >= 1000.0 && unit < UNITS.len() - 1 {
        hashrate /= 1000.0;
        unit += 1;
    }
    format!("{hashrate:.2} {}", UNITS[unit])
}

/// The `get_block_template` result.
pub fn template(template: &Template) -> Value {
    json!({
        "template": template.header.to_hex(),
        "algorithm": ALGORITHM,
        "height": template.height,
        "topoheight": template.topoheight,
        "difficulty": template.difficulty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashrate_is_formatted_in_thousands() {
        assert_eq!(format_hashrate(999.0), "999.00 H/s");
        assert_eq!(format_hashrate(1_500.0), "1.50 KH/s");
        assert_eq!(format_hashrate(2_000_000_000.0), "2.00 GH/s");
    }

    #[test]
    fn difficulty_result_uses_decimal_strings() {
        let d = Difficulty::from_u64(1_000).expect("non-zero");
        assert_eq!(
            difficulty(d),
            json!({"difficulty":"1000","hashrate":"1000","hashrate_formatted":"1.00 KH/s"})
        );
    }
}
