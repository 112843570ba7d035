//! The master↔slave contract of TOS Pool.
//!
//! `pool.proto` defines one long-lived bidirectional gRPC stream per slave
//! (`SlaveGateway.Connect`): slaves send hellos, share batches, block
//! candidates, miner events, stats and bans; the master answers with its
//! welcome, jobs, acks, block results, bans and settings. The code is generated
//! at build time without a system `protoc`. [`auth`] holds the bearer-token
//! helpers both sides use to authenticate the stream.
#![forbid(unsafe_code)]

pub mod auth;

pub use auth::{AUTHORIZATION_HEADER, bearer, parse_bearer, verify_bearer};

/// Generated messages, client and server of package `tos.pool.v1`.
///
/// Messages and fields carry the comments of `pool.proto`; a few generated
/// client and server items have none, hence the `allow`. There is no
/// `SlaveGatewayClient::connect(endpoint)` constructor (it would clash with the
/// `Connect` rpc): build a `tonic::transport::Channel` and pass it to
/// `SlaveGatewayClient::new` or `with_interceptor`.
#[allow(missing_docs)]
pub mod v1 {
    tonic::include_proto!("tos.pool.v1");
}

#[cfg(test)]
mod wire_tests;

#[cfg(test)]
mod stream_tests;
