//! Line framing over the connection's read buffer.

use super::decode::{RequestError, StratumRequest, parse_request};

/// A line longer than allowed: the connection is closed with this reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "request line is longer than {max} bytes (security.max_request_size): send one JSON request per line"
)]
pub struct LineTooLong {
    /// The limit in bytes.
    pub max: usize,
}

/// One line read from the buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A request the session core understands.
    Request(StratumRequest),
    /// A line that is not: answer with code 20 and count it.
    Malformed(RequestError),
    /// A line of nothing but white space: consumed, not answered.
    Blank,
}

/// The Stratum reader: splits lines and parses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StratumCodec {
    max_line: usize,
}

impl StratumCodec {
    /// A codec refusing lines longer than `max_line` bytes (newline excluded).
    pub fn new(max_line: usize) -> StratumCodec {
        StratumCodec { max_line }
    }

    /// The longest line accepted, in bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Reads the next request from the start of `buf`.
    ///
    /// `Ok(None)`: no complete line yet, read more. `Ok(Some((decoded, n)))`:
    /// drop the first `n` bytes of `buf` (a blank line is its own
    /// [`Decoded::Blank`], so the buffer never keeps a run of them). `Err`:
    /// the line is too long.
    pub fn decode(&self, buf: &[u8]) -> Result<Option<(Decoded, usize)>, LineTooLong> {
        let Some((line, used)) = next_line(buf, self.max_line)? else {
            return Ok(None);
        };
        if is_blank(line) {
            return Ok(Some((Decoded::Blank, used)));
        }
        let decoded = match parse_request(line) {
            Ok(request) => Decoded::Request(request),
            Err(error) => Decoded::Malformed(error),
        };
        Ok(Some((decoded, used)))
    }
}

/// The first line of `buf`, without its newline, and how many bytes to drop
/// with it. A blank line is returned like any other ([`is_blank`]), so a
/// run of them is consumed one by one and never piles up in the buffer.
/// `Ok(None)`: no complete line yet. `Err`: the line (complete or not) is
/// longer than `max_line` bytes. Shared by every line-framed protocol.
pub fn next_line(buf: &[u8], max_line: usize) -> Result<Option<(&[u8], usize)>, LineTooLong> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > max_line {
            Err(LineTooLong { max: max_line })
        } else {
            Ok(None)
        };
    };
    if end > max_line {
        return Err(LineTooLong { max: max_line });
    }
    Ok(Some((&buf[..end], end + 1)))
}

/// Whether a line holds nothing but white space (`\r` included).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}
