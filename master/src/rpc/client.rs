//! Typed calls of the daemon methods the pool uses (TOS.md).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::RpcError;
use super::transport::HttpTransport;
use super::types::{Balance, Block, BlockTemplate, DaemonInfo, P2pStatus, TOS_ASSET};

/// A JSON-RPC client of one TOS daemon. Cheap to clone (shares connections).
#[derive(Debug, Clone)]
pub struct DaemonClient {
    transport: HttpTransport,
}

impl DaemonClient {
    /// A client of the daemon at `url` (`http://host:port/json_rpc`), with
    /// `timeout` on every request.
    pub fn new(url: &str, timeout: Duration) -> Result<DaemonClient, RpcError> {
        Ok(DaemonClient {
            transport: HttpTransport::new(url, timeout)?,
        })
    }

    /// The daemon's JSON-RPC URL.
    pub fn url(&self) -> &str {
        self.transport.url()
    }

    /// The deadline of one request.
    pub fn timeout(&self) -> Duration {
        self.transport.timeout()
    }

    /// Any method: `params` serializing to `null` (e.g. `()`) sends none.
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: P,
    ) -> Result<R, RpcError> {
        self.transport.call(method, params).await
    }

    /// `get_info`: height, difficulty, network and more.
    pub async fn get_info(&self) -> Result<DaemonInfo, RpcError> {
        self.call("get_info", ()).await
    }

    /// `get_block_template` for `address` (a normal address of the daemon's
    /// network).
    pub async fn get_block_template(&self, address: &str) -> Result<BlockTemplate, RpcError> {
        self.call("get_block_template", json!({ "address": address }))
            .await
    }

    /// `submit_block`: the template hex and the solved MinerWork hex; the
    /// daemon copies timestamp, nonce, extra_nonce and miner key from the
    /// MinerWork. `Ok(true)` when the daemon accepted the block.
    pub async fn submit_block(
        &self,
        template_hex: &str,
        miner_work_hex: &str,
    ) -> Result<bool, RpcError> {
        self.call(
            "submit_block",
            json!({ "block_template": template_hex, "miner_work": miner_work_hex }),
        )
        .await
    }

    /// `get_block_by_hash` without transactions. An unknown hash is the
    /// daemon's error (-32602), not `None`.
    pub async fn get_block_by_hash(&self, hash: &str) -> Result<Block, RpcError> {
        self.call(
            "get_block_by_hash",
            json!({ "hash": hash, "include_txs": false }),
        )
        .await
    }

    /// `get_blocks_at_height` without transactions.
    pub async fn get_blocks_at_height(&self, height: u64) -> Result<Vec<Block>, RpcError> {
        self.call(
            "get_blocks_at_height",
            json!({ "height": height, "include_txs": false }),
        )
        .await
    }

    /// `get_top_block`.
    pub async fn get_top_block(&self) -> Result<Block, RpcError> {
        self.call("get_top_block", ()).await
    }

    /// `get_height`.
    pub async fn get_height(&self) -> Result<u64, RpcError> {
        self.call("get_height", ()).await
    }

    /// `p2p_status` (an error when the daemon runs without P2P).
    pub async fn p2p_status(&self) -> Result<P2pStatus, RpcError> {
        self.call("p2p_status", ()).await
    }

    /// `get_balance` of `address` in TOS.
    pub async fn get_balance(&self, address: &str) -> Result<Balance, RpcError> {
        self.call(
            "get_balance",
            json!({ "address": address, "asset": TOS_ASSET }),
        )
        .await
    }
}
