//! TOS Pool master. Placeholder: being written.
#![forbid(unsafe_code)]

pub mod lifecycle;
pub mod pplns;
pub mod rpc;
pub mod upstream;
