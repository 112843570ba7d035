//! JSON-RPC 2.0 clients of a TOS daemon (TOS.md): [`DaemonClient`] speaks
//! HTTP POST with typed methods for what the pool needs, and
//! [`TemplateSubscription`] follows the daemon's `new_block_template` push over
//! WebSocket.
//!
//! The envelope (requests, replies, error objects) is pure code in
//! `envelope`; the transport only moves bytes with a deadline. Nothing a daemon
//! sends can panic: every surprise becomes an [`RpcError`].

mod client;
mod envelope;
mod error;
mod subscription;
mod transport;
mod types;

pub use client::DaemonClient;
pub use error::RpcError;
pub use subscription::{TemplateSubscription, websocket_url};
pub use transport::HttpTransport;
pub use types::{Balance, Block, BlockTemplate, DaemonInfo, P2pStatus, TOS_ASSET};

#[cfg(test)]
mod transport_tests;
