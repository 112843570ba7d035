//! The Stratum codec (what `tosminer` speaks): newline-delimited JSON-RPC 1.0
//! style. Pure: bytes in, a typed [`Request`](crate::session::Request) or a
//! typed error out; typed [`Output`](crate::session::Output)s in, bytes out. No
//! sockets, no clock, no session state.
//!
//! Reading: [`StratumCodec::decode`] looks for the next complete line in the
//! connection's buffer. A line longer than `security.max_request_size` is a
//! [`LineTooLong`] error: close the connection with that reason. A line that
//! is not a request we know is [`Decoded::Malformed`]: answer it with
//! [`write_malformed`] (code 20) and count it toward the malformed-request ban.
//!
//! Writing: [`write_replies`] turns the session core's outputs for one request
//! into lines: the answer carries the request's id (kept exactly as given,
//! number or string) and is written in the request's [`Dialect`] (plain,
//! ethproxy, EthereumStratum), pushes are notifications with `"id":null`.

mod decode;
mod dialects;
mod encode;
mod frame;

pub use decode::{
    Dialect, ReplyTo, RequestError, RequestErrorKind, RequestId, StratumRequest, parse_nonce,
    parse_request,
};
pub(crate) use decode::{authorize_params, truncated};
pub use dialects::ETHEREUM_STRATUM;
pub(crate) use dialects::header_param;
pub use encode::{
    NotifyTemplate, write_answer, write_answer_in, write_malformed, write_outputs, write_push,
    write_replies,
};
pub use frame::{Decoded, LineTooLong, StratumCodec, is_blank, next_line};

/// `extranonce2` size announced in the subscribe answer; the miner's value is
/// ignored.
pub const EXTRANONCE2_SIZE: u8 = 4;

#[cfg(test)]
mod tests;
