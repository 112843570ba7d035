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

/// Most shares one `ShareBatch` may carry (`slave.share_batch_size` is
/// capped at this). Every other frame is small and of fixed shape: no frame
/// grows with the number of miners on a slave (stats are counters, miner
/// events go one per frame).
pub const MAX_SHARES_PER_BATCH: u32 = 10_000;

/// Longest job id a slave accepts from the master, bytes. Every share a
/// slave forwards carries the id of a job it was sent (a share for an id the
/// pool never issued is never forwarded), so this bounds the one string of a
/// share that is not a bech32 address or a worker name.
pub const MAX_JOB_ID_BYTES: usize = 64;

/// Largest frame either end of the stream decodes or encodes, bytes. A share
/// encodes to under 280 bytes even with a 100-character address and a
/// 32-byte worker name, so a full batch of [`MAX_SHARES_PER_BATCH`] stays
/// under half of it. Both ends
/// set it explicitly rather than rely on tonic's default; a bigger frame
/// ends the stream with an error naming the limit instead of looping
/// through reconnects.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

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
