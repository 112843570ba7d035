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
        let Some((line, used)) = next_line(buf, self.max_line)? else {
            return Ok(None);
        };
        let decoded = match parse_request(line) {
            Ok(request) => Decoded::Request(request),
            Err(error) => Decoded::Malformed(error),
        };
        Ok(Some((decoded, used)))
    }
}

/// The next non-blank line at the start of `buf`, without its newline, and
/// how many bytes to drop with it (blank lines before it included).
/// `Ok(None)`: no complete line yet. `Err`: a line (complete or not) is
/// longer than `max_line` bytes. Shared by every line-framed protocol.
pub fn next_line(buf: &[u8], max_line: usize) -> Result<Option<(&[u8], usize)>, LineTooLong> {
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return if rest.len() > max_line {
                Err(LineTooLong { max: max_line })
            } else {
                Ok(None)
            };
        };
        if end > max_line {
            return Err(LineTooLong { max: max_line });
        }
        let line = &rest[..end];
        start += end + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return Ok(Some((line, start)));
    }
}
