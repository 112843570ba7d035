//! The WebSocket GetWork codec (browser and GetWork miners): one JSON request
//! per text frame, answers `{"id","result"}` or `{"id","result":null,
//! "error":{"code","message"}}`, new work pushed as `mining.notify`, hex with
//! `0x` (accepted with or without). Pure: a frame's text in, a typed
//! [`Request`](crate::session::Request) or a typed error out; typed
//! [`Output`](crate::session::Output)s in, frame texts out. Framing limits,
//! ping/pong and close codes belong to the connection task
//! (`server::websocket`).

mod decode;
mod encode;

pub use decode::{WsErrorKind, WsRequest, WsRequestError, decode_text};
pub use encode::{encode_answer, encode_malformed, encode_outputs, encode_push};

#[cfg(test)]
mod tests;
