//! TOS Pool master. Placeholder: being written.
#![forbid(unsafe_code)]

pub mod ledger;
pub mod lifecycle;
pub mod pplns;
