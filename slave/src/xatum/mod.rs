//! The Xatum codec: one JSON object per line (over TLS), ids that are
//! strings (numbers accepted and echoed as given), parameters that are
//! objects, hex with `0x` (accepted with or without). A session opens with
//! `handshake` (protocol `xatum/1.x`), then `authorize`; jobs are pushed as
//! `{"method":"job","result":{…}}`; `ping` is answered `{"method":"pong"}`.
//! Pure: bytes in, a typed [`Request`](crate::session::Request) or a typed
//! error out; typed [`Output`](crate::session::Output)s in, bytes out.
//!
//! Line framing and its size limit are Stratum's ([`crate::stratum::next_line`]).
//! A handshake for another protocol is [`XatumErrorKind::UnsupportedProtocol`]:
//! answer it, then close ([`XatumRequestError::is_fatal`]).

mod decode;
mod encode;

pub use decode::{XatumErrorKind, XatumRequest, XatumRequestError, parse_line};
pub use encode::{write_answer, write_malformed, write_outputs, write_push};

/// The protocol version this pool speaks.
pub const VERSION: &str = "1.0.0";
/// The protocol name this pool answers a handshake with.
pub const PROTOCOL: &str = "xatum/1.0";
/// What a handshake's `protocol` must start with.
pub const PROTOCOL_FAMILY: &str = "xatum/1.";

#[cfg(test)]
mod tests;
