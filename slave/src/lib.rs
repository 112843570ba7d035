//! TOS Pool slave. Placeholder: being written.
#![forbid(unsafe_code)]

pub mod link;
pub mod validation;
