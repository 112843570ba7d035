//! TOS Pool slave. Placeholder: being written.
#![forbid(unsafe_code)]
