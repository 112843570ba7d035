//! The daemon's JSON-RPC methods (TOS.md "Daemon JSON-RPC").

use serde::Deserialize;
use serde_json::{Value, json};
use tos_pool_common::address::{Address, AddressError};
use tos_pool_common::header::{BlockHeader, MinerWork};
use tos_pool_common::network::Network;
use tos_pool_common::pow;

use super::block::{Hash, PublicKey};
use super::daemon::{CommitError, Daemon, now_ms};
use super::node::Node;
use super::persist::Record;
use super::rpc::{METHOD_NOT_FOUND, Request, RpcError, no_params, params};
use super::views;

/// The TOS asset id: 64 zeros.
pub const TOS_ASSET: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Peers the node says it could have.
const MAX_PEERS: u64 = 32;

/// This node's P2P id.
const PEER_ID: u64 = 0x7465_7374_6e65_7431;

#[derive(Deserialize)]
struct AddressParams {
    address: String,
}

#[derive(Deserialize)]
struct MinerWorkParams {
    template: String,
    address: Option<String>,
}

#[derive(Deserialize)]
struct SubmitParams {
    block_template: String,
    miner_work: Option<String>,
}

#[derive(Deserialize)]
struct HashParams {
    hash: String,
    #[serde(default)]
    include_txs: bool,
}

#[derive(Deserialize)]
struct TopoheightParams {
    topoheight: u64,
    #[serde(default)]
    include_txs: bool,
}

#[derive(Deserialize)]
struct HeightParams {
    height: u64,
    #[serde(default)]
    include_txs: bool,
    max: Option<usize>,
}

#[derive(Deserialize, Default)]
struct IncludeTxs {
    #[serde(default)]
    include_txs: bool,
}

#[derive(Deserialize)]
struct BalanceParams {
    address: String,
    asset: String,
}

#[derive(Deserialize)]
struct ValidateParams {
    address: String,
    #[serde(default)]
    allow_integrated: bool,
}

/// Runs one request against the daemon.
pub fn call(daemon: &Daemon, request: &Request) -> Result<Value, RpcError> {
    let p = &request.params;
    match request.method.as_str() {
        "get_info" => no_params(p).map(|()| views::info(&daemon.node())),
        "get_block_template" => {
            let args: AddressParams = params(p)?;
            let node = daemon.node();
            let key = address_key(&node, &args.address)?;
            Ok(views::template(&node.template(key, now_ms())))
        }
        "get_miner_work" => get_miner_work(daemon, params(p)?),
        "submit_block" => submit_block(daemon, params(p)?),
        "get_block_by_hash" => {
            let args: HashParams = params(p)?;
            let hash = parse_hash(&args.hash)?;
            let node = daemon.node();
            let block = node.chain().block(&hash).ok_or_else(|| {
                RpcError::invalid_params(format!("block {} not found", args.hash))
            })?;
            Ok(views::block(&node, block, args.include_txs))
        }
        "get_block_at_topoheight" => {
            let args: TopoheightParams = params(p)?;
            let node = daemon.node();
            let block = node
                .chain()
                .block_at_topoheight(args.topoheight)
                .ok_or_else(|| {
                    RpcError::invalid_params(format!(
                        "no block at topoheight {}: the top is at {}",
                        args.topoheight,
                        node.chain().topoheight()
                    ))
                })?;
            Ok(views::block(&node, block, args.include_txs))
        }
        "get_blocks_at_height" => {
            let args: HeightParams = params(p)?;
            let node = daemon.node();
            let blocks = node.chain().blocks_at_height(args.height);
            let limit = args.max.unwrap_or(usize::MAX);
            let list: Vec<Value> = blocks
                .into_iter()
                .take(limit)
                .map(|b| views::block(&node, b, args.include_txs))
                .collect();
            Ok(Value::Array(list))
        }
        "get_top_block" => {
            let args: IncludeTxs = params(p)?;
            let node = daemon.node();
            Ok(views::block(&node, node.chain().top(), args.include_txs))
        }
        "get_height" => no_params(p).map(|()| json!(daemon.node().chain().height())),
        "get_topoheight" => no_params(p).map(|()| json!(daemon.node().chain().topoheight())),
        "get_stable_height" => no_params(p).map(|()| json!(daemon.node().chain().stable_height())),
        "get_stable_topoheight" => {
            no_params(p).map(|()| json!(daemon.node().chain().stable_topoheight()))
        }
        "get_difficulty" => no_params(p).map(|()| views::difficulty(daemon.node().difficulty())),
        "p2p_status" => no_params(p).map(|()| p2p_status(&daemon.node())),
        "get_balance" => get_balance(daemon, params(p)?),
        "validate_address" => validate_address(daemon, params(p)?),
        other => Err(RpcError {
            code: METHOD_NOT_FOUND,
            message: format!("method not found: {other:?}"),
        }),
    }
}

fn parse_hash(text: &str) -> Result<Hash, RpcError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| {
        RpcError::invalid_params(format!("invalid hash {text:?}: expected 64 hex characters"))
    })?;
    Ok(hash)
}

/// The key of `text`, which must be a normal address of the node's network.
fn address_key(node: &Node, text: &str) -> Result<PublicKey, RpcError> {
    Address::parse(text, node.network())
        .map(|a| a.public_key())
        .map_err(|e| {
            RpcError::invalid_params(format!(
                "invalid address {text:?}: {e}; expected a normal {} address",
                node.network()
            ))
        })
}

fn get_miner_work(daemon: &Daemon, args: MinerWorkParams) -> Result<Value, RpcError> {
    let mut header = BlockHeader::from_hex(&args.template)
        .map_err(|e| RpcError::invalid_params(format!("invalid template: {e}")))?;
    let node = daemon.node();
    if let Some(address) = &args.address {
        header.miner = address_key(&node, address)?;
    }
    Ok(json!({
        "algorithm": views::ALGORITHM,
        "miner_work": header.miner_work().to_hex(),
        "height": header.height,
        "difficulty": node.difficulty(),
        "topoheight": node.chain().topoheight(),
    }))
}

fn submit_block(daemon: &Daemon, args: SubmitParams) -> Result<Value, RpcError> {
    let mut header = BlockHeader::from_hex(&args.block_template)
        .map_err(|e| RpcError::invalid_params(format!("invalid block_template: {e}")))?;
    if let Some(work) = &args.miner_work {
        let work = MinerWork::from_hex(work)
            .map_err(|e| RpcError::invalid_params(format!("invalid miner_work: {e}")))?;
        header.apply_miner_work(&work);
    }
    // Hash before taking the lock: PoW is the slow part.
    let pow_hash = pow::hash(header.miner_work().as_bytes());
    let mut node = daemon.node();
    let record = Record::Submit {
        header: header.to_hex(),
        pow_hash,
        now_ms: now_ms(),
    };
    match daemon.commit(&mut node, record) {
        Ok(changes) => {
            tracing::info!(
                height = header.height,
                hash = %hex::encode(header.block_hash()),
                "block accepted"
            );
            daemon.publish(&node, &changes);
            Ok(Value::Bool(true))
        }
        Err(CommitError::Refused(reason)) => {
            tracing::info!(height = header.height, %reason, "block refused");
            Err(RpcError::internal(reason.to_string()))
        }
        Err(error @ CommitError::Journal(_)) => {
            tracing::error!(height = header.height, %error, "block not persisted; refused");
            Err(RpcError::internal(error.to_string()))
        }
    }
}

fn p2p_status(node: &Node) -> Value {
    let topoheight = node.chain().topoheight();
    json!({
        "peer_count": node.peer_count(),
        "max_peers": MAX_PEERS,
        "tag": null,
        "our_topoheight": topoheight,
        "best_topoheight": topoheight,
        "median_topoheight": topoheight,
        "peer_id": PEER_ID,
    })
}

fn get_balance(daemon: &Daemon, args: BalanceParams) -> Result<Value, RpcError> {
    let node = daemon.node();
    let key = address_key(&node, &args.address)?;
    if !args.asset.eq_ignore_ascii_case(TOS_ASSET) {
        return Err(RpcError::invalid_params(format!(
            "asset {} not found: the only asset is TOS ({TOS_ASSET})",
            args.asset
        )));
    }
    let (balance, topoheight) = node.chain().balance(&key).ok_or_else(|| {
        RpcError::internal(format!(
            "no balance found for {}: the account has never received TOS",
            args.address
        ))
    })?;
    Ok(json!({"balance": balance, "topoheight": topoheight}))
}

fn validate_address(daemon: &Daemon, args: ValidateParams) -> Result<Value, RpcError> {
    let network = daemon.node().network();
    // An address of the other prefix is well-formed but not valid here.
    let other = if network == Network::Mainnet {
        Network::Devnet
    } else {
        Network::Mainnet
    };
    let (same_network, outcome) = match Address::parse(&args.address, network) {
        Err(AddressError::WrongNetwork { .. }) => (false, Address::parse(&args.address, other)),
        outcome => (true, outcome),
    };
    let is_integrated = match outcome {
        Ok(_) => false,
        Err(AddressError::IntegratedNotAccepted) => true,
        Err(e) => {
            return Err(RpcError::invalid_params(format!(
                "invalid address {:?}: {e}",
                args.address
            )));
        }
    };
    let is_valid = same_network && (!is_integrated || args.allow_integrated);
    Ok(json!({"is_valid": is_valid, "is_integrated": is_integrated}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::node::DEVNET_MINER_KEY;
    use crate::devnet::rpc::answer;
    use tos_pool_common::difficulty::Difficulty;

    fn daemon() -> Daemon {
        let d = Difficulty::from_u64(1).expect("non-zero");
        Daemon::new(
            Node::new(Network::Devnet, DEVNET_MINER_KEY, d, now_ms()),
            true,
        )
    }

    fn run(daemon: &Daemon, body: &str) -> Value {
        answer(body.as_bytes(), |r| call(daemon, r)).expect("requests with an id get a reply")
    }

    #[test]
    fn every_method_answers_a_well_formed_request() {
        let d = daemon();
        let address = Address::new(DEVNET_MINER_KEY, Network::Devnet).to_string();
        let template = run(
            &d,
            &json!({"jsonrpc":"2.0","id":1,"method":"get_block_template","params":{"address":address}})
                .to_string(),
        );
        let template = template["result"]["template"]
            .as_str()
            .expect("template")
            .to_string();
        let requests = [
            json!({"method":"get_info"}),
            json!({"method":"get_miner_work","params":{"template":template}}),
            json!({"method":"submit_block","params":{"block_template":template}}),
            json!({"method":"get_block_at_topoheight","params":{"topoheight":1,"include_txs":false}}),
            json!({"method":"get_blocks_at_height","params":{"height":1,"include_txs":false,"max":1}}),
            json!({"method":"get_top_block"}),
            json!({"method":"get_height"}),
            json!({"method":"get_topoheight"}),
            json!({"method":"get_stable_height"}),
            json!({"method":"get_difficulty"}),
            json!({"method":"p2p_status"}),
            json!({"method":"get_balance","params":{"address":address,"asset":TOS_ASSET}}),
            json!({"method":"validate_address","params":{"address":address}}),
        ];
        for mut request in requests {
            request["jsonrpc"] = json!("2.0");
            request["id"] = json!(1);
            let reply = run(&d, &request.to_string());
            assert!(reply.get("result").is_some(), "{request} → {reply}");
        }
        let work = run(
            &d,
            &json!({"jsonrpc":"2.0","id":1,"method":"get_miner_work","params":{"template":template}})
                .to_string(),
        );
        assert_eq!(
            work["result"]["miner_work"].as_str().map(str::len),
            Some(224)
        );
    }

    #[test]
    fn mutated_requests_never_panic() {
        let d = daemon();
        let address = Address::new(DEVNET_MINER_KEY, Network::Devnet).to_string();
        let template = d
            .node()
            .template(DEVNET_MINER_KEY, now_ms())
            .header
            .to_hex();
        let seeds = [
            json!({"jsonrpc":"2.0","id":1,"method":"submit_block","params":{"block_template":template}}),
            json!({"jsonrpc":"2.0","id":1,"method":"get_balance","params":{"address":address,"asset":TOS_ASSET}}),
            json!({"jsonrpc":"2.0","id":1,"method":"get_blocks_at_height","params":{"height":0,"max":9}}),
            json!({"jsonrpc":"2.0","id":1,"method":"validate_address","params":{"address":address,"allow_integrated":true}}),
        ];
        let mut replies = 0;
        for seed in seeds {
            let bytes = seed.to_string().into_bytes();
            for i in 0..bytes.len() {
                for replacement in [b'0', b'"', b'}', b'9', 0xff] {
                    let mut mutated = bytes.clone();
                    mutated[i] = replacement;
                    if answer(&mutated, |r| call(&d, r)).is_some() {
                        replies += 1;
                    }
                }
            }
        }
        assert!(replies > 0);
    }
}
