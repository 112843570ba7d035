//! Why a request to the upstream pool failed.

use crate::rpc::RpcError;

/// Why the upstream pool could not be built or a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The configuration lists no upstream.
    #[error("no upstream daemon is configured; set node.url or node.upstreams")]
    NoUpstreams,
    /// One upstream's URL or timeout cannot be used.
    #[error("upstream {name:?} is misconfigured: {source}")]
    Invalid {
        /// The upstream's name.
        name: String,
        /// What is wrong.
        source: RpcError,
    },
    /// A daemon answered, with an error or a result that cannot be read.
    #[error("upstream {upstream:?} answered: {source}")]
    Answered {
        /// The upstream that answered.
        upstream: String,
        /// Its answer.
        source: RpcError,
    },
    /// No upstream could be reached.
    #[error(
        "none of the {tried} upstream daemons could be reached; last failure: {last}. Check that the daemons run and node.upstreams is right"
    )]
    Unreachable {
        /// How many upstreams were tried.
        tried: usize,
        /// The last failure.
        last: RpcError,
    },
}

impl UpstreamError {
    /// The daemon's JSON-RPC error code, when one answered with an error.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            UpstreamError::Answered { source, .. } => source.rpc_code(),
            _ => None,
        }
    }
}
