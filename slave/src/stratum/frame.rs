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
    /// drop the first `n` bytes of `buf` (blank lines before the request are
    /// skipped and counted in `n`). `Err`: the line is too long.
    pub fn decode(&self, buf: &[u8]) -> Result<Option<(Decoded, usize)>, LineTooLong> {
        let mut start = 0;
        loop {
            let rest = &buf[start..];
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                return if rest.len() > self.max_line {
                    Err(LineTooLong { max: self.max_line })
                } else {
                    Ok(None)
                };
            };
            if end > self.max_line {
                return Err(LineTooLong { max: self.max_line });
            }
            let line = &rest[..end];
            start += end + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let decoded = match parse_request(line) {
                Ok(request) => Decoded::Request(request),
                Err(error) => Decoded::Malformed(error),
            };
            return Ok(Some((decoded, start)));
        }
    }
}
