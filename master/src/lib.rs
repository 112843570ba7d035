//! TOS Pool master. Placeholder: being written.
#![forbid(unsafe_code)]

pub mod app;
pub mod blocks;
pub mod gateway;
pub mod jobs;
pub mod ledger;
pub mod lifecycle;
pub mod pplns;
pub mod rpc;
pub mod unlocker;
pub mod upstream;
