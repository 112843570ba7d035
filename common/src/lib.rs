//! What the master and the slaves share: the TOS chain primitives (TOS Hash V3,
//! difficulty and targets, bech32 addresses, the block header and the 112-byte
//! MinerWork), the one configuration schema for both roles, logging setup,
//! the pprof profiling server, and the start and stop both binaries share
//! (`launch`, `shutdown`).
//!
//! The names `pow::hash`, `difficulty`, `address::Address` and
//! `header::{BlockHeader, MinerWork}` are a public contract: tools outside the
//! workspace call them.
#![forbid(unsafe_code)]

pub mod address;
pub mod clock;
pub mod config;
pub mod difficulty;
pub mod error;
pub mod header;
pub mod http;
pub mod launch;
pub mod limits;
pub mod metrics;
pub mod network;
pub mod pow;
pub mod profiling;
pub mod shutdown;
pub mod telemetry;
