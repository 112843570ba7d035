//! TOS Pool master. Placeholder: being written.
#![forbid(unsafe_code)]

pub mod jobs;
pub mod lifecycle;
pub mod pplns;
pub mod rpc;
pub mod upstream;
