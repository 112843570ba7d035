//! TOS Pool slave. Placeholder: being written.
#![forbid(unsafe_code)]

pub mod app;
pub mod extranonce;
pub mod link;
pub mod ops;
pub mod policy;
pub mod server;
pub mod session;
pub mod stratum;
pub mod validation;
pub mod vardiff;
