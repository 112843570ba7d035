//! Every Stratum message of PROTOCOLS.md, and malformed input.

mod decode;
mod dialects;
mod encode;
mod frame;
mod fuzz;

use super::*;
use crate::session::{Login, Request, Submit};

/// Parses a line that must be a valid request.
fn request(line: &str) -> StratumRequest {
    parse_request(line.as_bytes()).unwrap_or_else(|error| panic!("{line}: {error}"))
}

/// Parses a line that must be refused.
fn refused(line: &str) -> RequestError {
    match parse_request(line.as_bytes()) {
        Ok(request) => panic!("{line} was accepted as {request:?}"),
        Err(error) => error,
    }
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("the codec writes UTF-8")
}
