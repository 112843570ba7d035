//! The Xatum door: the [`crate::xatum`] codec behind the [`LineCodec`] the
//! line framing drives. TLS only: the listener never opens without a
//! certificate.

use crate::session::Output;
use crate::stratum::{LineTooLong, RequestId, is_blank, next_line};
use crate::xatum::{
    XatumErrorKind, XatumRequestError, parse_line, write_malformed, write_outputs, write_push,
};

use super::line::{Line, LineCodec};

/// Xatum lines.
#[derive(Debug, Clone, Copy)]
pub struct XatumLines {
    max_line: usize,
}

impl XatumLines {
    /// Lines of at most `max_line` bytes (`security.max_request_size`).
    pub fn new(max_line: usize) -> XatumLines {
        XatumLines { max_line }
    }
}

impl LineCodec for XatumLines {
    type Id = RequestId;
    type Malformed = XatumRequestError;

    fn decode(
        &self,
        buf: &[u8],
    ) -> Result<Option<(Line<RequestId, XatumRequestError>, usize)>, usize> {
        let (line, used) = match next_line(buf, self.max_line) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(LineTooLong { max }) => return Err(max),
        };
        if is_blank(line) {
            return Ok(Some((Line::Blank, used)));
        }
        let line = match parse_line(line) {
            Ok(request) => Line::Request(request.id, request.request),
            Err(error) => Line::Malformed(error),
        };
        Ok(Some((line, used)))
    }

    fn max_line(&self) -> usize {
        self.max_line
    }

    fn write_outputs(&self, out: &mut Vec<u8>, id: &RequestId, outputs: &[Output]) {
        write_outputs(out, id, outputs);
    }

    fn write_pushes(&self, out: &mut Vec<u8>, outputs: &[Output]) {
        for output in outputs {
            write_push(out, output);
        }
    }

    fn write_malformed(&self, out: &mut Vec<u8>, malformed: &XatumRequestError) {
        write_malformed(out, malformed);
    }

    fn write_oversized(&self, out: &mut Vec<u8>, max: usize) {
        write_malformed(
            out,
            &XatumRequestError {
                id: RequestId::Null,
                kind: XatumErrorKind::BadParams {
                    method: "request",
                    reason: format!(
                        "line longer than {max} bytes (security.max_request_size): send one JSON request per line"
                    ),
                },
            },
        );
    }

    fn is_fatal(&self, malformed: &XatumRequestError) -> bool {
        malformed.is_fatal()
    }
}
