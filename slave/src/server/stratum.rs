//! The Stratum door: the [`crate::stratum`] codec behind the [`LineCodec`]
//! the line connection task drives.

use crate::session::Output;
use crate::stratum::{
    Decoded, ReplyTo, RequestError, RequestErrorKind, RequestId, StratumCodec, write_malformed,
    write_push, write_replies,
};

use super::line::{Line, LineCodec};

/// Stratum lines (TCP and TLS alike).
#[derive(Debug, Clone, Copy)]
pub struct StratumLines(StratumCodec);

impl StratumLines {
    /// Lines of at most `max_line` bytes (`security.max_request_size`).
    pub fn new(max_line: usize) -> StratumLines {
        StratumLines(StratumCodec::new(max_line))
    }
}

impl LineCodec for StratumLines {
    type Id = ReplyTo;
    type Malformed = RequestError;

    fn decode(&self, buf: &[u8]) -> Result<Option<(Line<ReplyTo, RequestError>, usize)>, usize> {
        match self.0.decode(buf) {
            Ok(None) => Ok(None),
            Ok(Some((Decoded::Request(request), used))) => {
                let reply = request.reply_to();
                Ok(Some((Line::Request(reply, request.request), used)))
            }
            Ok(Some((Decoded::Malformed(error), used))) => Ok(Some((Line::Malformed(error), used))),
            Ok(Some((Decoded::Blank, used))) => Ok(Some((Line::Blank, used))),
            Err(too_long) => Err(too_long.max),
        }
    }

    fn max_line(&self) -> usize {
        self.0.max_line()
    }

    fn write_outputs(&self, out: &mut Vec<u8>, reply: &ReplyTo, outputs: &[Output]) {
        write_replies(out, reply, outputs);
    }

    fn write_pushes(&self, out: &mut Vec<u8>, outputs: &[Output]) {
        // Pushes are the same in every dialect.
        for output in outputs {
            write_push(out, output);
        }
    }

    fn write_malformed(&self, out: &mut Vec<u8>, malformed: &RequestError) {
        write_malformed(out, malformed);
    }

    fn write_oversized(&self, out: &mut Vec<u8>, max: usize) {
        write_malformed(
            out,
            &RequestError {
                id: RequestId::Null,
                kind: RequestErrorKind::BadParams {
                    method: "request",
                    reason: format!(
                        "line longer than {max} bytes (security.max_request_size): send one JSON request per line"
                    ),
                },
            },
        );
    }
}
