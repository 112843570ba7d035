//! The master↔slave contract of TOS Pool. [`auth`] holds the bearer-token
//! helpers both sides use to authenticate the slave stream.
#![forbid(unsafe_code)]

pub mod auth;

pub use auth::{AUTHORIZATION_HEADER, bearer, parse_bearer, verify_bearer};
