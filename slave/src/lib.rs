//! TOS Pool slave. Placeholder: being written.
#![forbid(unsafe_code)]

pub mod extranonce;
pub mod session;
pub mod stratum;
pub mod vardiff;
