//! TOS Pool master. Placeholder: being written.
#![forbid(unsafe_code)]

pub mod pplns;
