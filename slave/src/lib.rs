//! A slave of a TOS Pool cluster: the edge miners connect to. The pure
//! session core (`session`, `vardiff`, `extranonce`) sits behind thin protocol
//! codecs (`stratum`, `websocket`, `xatum`); `server` runs the listeners and connection tasks,
//! `validation` hashes shares on a bounded worker pool, `policy` applies the
//! security rules, `link` is the authenticated gRPC stream to the master, and
//! `ops` serves health and metrics. `app` wires it all together.
#![forbid(unsafe_code)]

pub mod app;
pub mod extranonce;
pub mod job;
pub mod journal;
pub mod jsonrpc;
pub mod link;
pub mod ops;
pub mod policy;
pub mod server;
pub mod session;
pub mod stratum;
#[cfg(test)]
mod test_work;
pub mod validation;
pub mod vardiff;
pub mod websocket;
pub mod xatum;
