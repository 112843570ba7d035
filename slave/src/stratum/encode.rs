//! The session core's outputs as Stratum lines, exactly as PROTOCOLS.md shows.

use std::io::Write as _;

use serde::Serialize;

use super::EXTRANONCE2_SIZE;
use super::decode::{Dialect, ReplyTo, RequestError, RequestId};
use super::dialects::ETHEREUM_STRATUM;
use crate::session::{Answer, CloseReason, Output, RejectCode, Work};
use tos_pool_common::header::MinerWork;

/// `{"id":…,"result":…,"error":…}`: field order as on the wire.
#[derive(Serialize)]
struct Response<'a, R: Serialize> {
    id: &'a RequestId,
    result: R,
    error: Option<(u16, &'a str, ())>,
}

/// `{"id":null,"method":…,"params":…}`.
#[derive(Serialize)]
struct Notification<'a, P: Serialize> {
    id: (),
    method: &'a str,
    params: P,
}

/// `mining.notify` params: `[job id, MinerWork hex, target hex, height, clean]`.
fn notify_params(work: &Work) -> (&str, String, String, u64, bool) {
    (
        &work.job_id,
        work.header.to_hex(),
        work.target.to_hex(),
        work.height,
        work.clean,
    )
}

/// Appends the `mining.notify` line of `work`: the same bytes serde writes
/// for `{"id":null,"method":"mining.notify","params":[…]}`, but with the hex
/// written straight into `out` instead of through two temporary strings.
/// Returns where in `out` the MinerWork's hex starts.
fn write_notify(out: &mut Vec<u8>, work: &Work) -> usize {
    out.extend_from_slice(br#"{"id":null,"method":"mining.notify","params":["#);
    // The job id is the master's; serde escapes it as JSON requires.
    serde_json::to_writer(&mut *out, &work.job_id).expect("serializing a string into a Vec");
    out.extend_from_slice(b",\"");
    let header_at = out.len();
    push_hex(out, work.header.as_bytes());
    out.extend_from_slice(b"\",\"");
    push_hex(out, work.target.as_bytes());
    out.extend_from_slice(b"\",");
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{}", work.height);
    out.extend_from_slice(if work.clean {
        b",true]}\n"
    } else {
        b",false]}\n"
    });
    header_at
}

/// One job's `mining.notify` line at one share difficulty, encoded once and
/// copied for each session with the session's extra_nonce written into its
/// place: the one line every session gets for every job, so the JSON, the
/// job's hex and the target (a 256-bit division) are paid per job and
/// difficulty, not sessions × jobs times.
#[derive(Debug, Clone)]
pub struct NotifyTemplate {
    line: Vec<u8>,
    /// Where the extra_nonce's 64 hex digits start in `line`.
    extra_nonce_at: usize,
}

impl NotifyTemplate {
    /// The line of `work` (its extra_nonce is replaced per session).
    pub fn new(work: &Work) -> NotifyTemplate {
        let mut line = Vec::with_capacity(400);
        let header_at = write_notify(&mut line, work);
        NotifyTemplate {
            line,
            extra_nonce_at: header_at + 2 * MinerWork::EXTRA_NONCE_OFFSET,
        }
    }

    /// Appends the line for the session whose extra_nonce is `extra_nonce`:
    /// the bytes [`write_push`] writes for that session's work.
    pub fn write(&self, out: &mut Vec<u8>, extra_nonce: &[u8; 32]) {
        let start = out.len();
        out.extend_from_slice(&self.line);
        let at = start + self.extra_nonce_at;
        if let Some(digits) = out.get_mut(at..at + 2 * extra_nonce.len()) {
            write_hex(digits, extra_nonce);
        }
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lower-case hex digits.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(2 * bytes.len());
    for byte in bytes {
        out.push(HEX_DIGITS[usize::from(byte >> 4)]);
        out.push(HEX_DIGITS[usize::from(byte & 0x0f)]);
    }
}

/// Writes `bytes` as lower-case hex digits over `digits` (twice as long).
fn write_hex(digits: &mut [u8], bytes: &[u8]) {
    for (pair, byte) in digits.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
}

/// Appends `value` and a newline to `out`.
fn write_line(out: &mut Vec<u8>, value: &impl Serialize) {
    // Writing to a Vec cannot fail, and every type here serializes (no maps
    // with non-string keys, no fallible Serialize impls).
    serde_json::to_writer(&mut *out, value).expect("serializing a Stratum line into a Vec");
    out.push(b'\n');
}

/// `eth_getWork` result: `["0x<MinerWork>", "<job id>", "0x<target>",
/// "0x<height>"]`, the ethproxy layout with the job id in the seed's place.
fn eth_work(work: &Work) -> (String, &str, String, String) {
    (
        format!("0x{}", work.header.to_hex()),
        &work.job_id,
        format!("0x{}", work.target.to_hex()),
        format!("0x{:x}", work.height),
    )
}

/// Appends the answer to request `id` (plain Stratum).
pub fn write_answer(out: &mut Vec<u8>, id: &RequestId, answer: &Answer) {
    write_answer_in(out, id, Dialect::Stratum, answer);
}

/// Appends the answer to request `id` in `dialect`: an EthereumStratum
/// subscribe and an ethproxy `eth_getWork` have shapes of their own.
pub fn write_answer_in(out: &mut Vec<u8>, id: &RequestId, dialect: Dialect, answer: &Answer) {
    match (answer, dialect) {
        (Answer::Subscribed(subscribed), Dialect::EthereumStratum) => {
            let sid = format!("{:016x}", subscribed.session_id);
            let result = (
                ("mining.notify", &sid, ETHEREUM_STRATUM),
                hex::encode(subscribed.extranonce1),
            );
            write_line(out, &ok(id, result));
        }
        (Answer::Work(work), Dialect::EthProxy) => write_line(out, &ok(id, eth_work(work))),
        (Answer::Subscribed(subscribed), _) => {
            let sid = format!("{:016x}", subscribed.session_id);
            let result = (
                [("mining.notify", &sid), ("mining.set_difficulty", &sid)],
                hex::encode(subscribed.extranonce1),
                EXTRANONCE2_SIZE,
            );
            write_line(out, &ok(id, result));
        }
        (Answer::Accepted, _) => write_line(out, &ok(id, true)),
        (Answer::Pong, _) => write_line(out, &ok(id, "pong")),
        (Answer::Work(work), _) => write_line(out, &ok(id, notify_params(work))),
        (Answer::Rejected(reject), _) => {
            write_error(out, id, reject.code.code(), &reject.message);
        }
    }
}

/// Appends a notification for a push output. Returns false (and writes
/// nothing) for outputs Stratum has no line for.
pub fn write_push(out: &mut Vec<u8>, output: &Output) -> bool {
    match output {
        Output::SetDifficulty(difficulty) => write_line(
            out,
            &Notification {
                id: (),
                method: "mining.set_difficulty",
                params: [difficulty],
            },
        ),
        Output::Notify(work) => {
            write_notify(out, work);
        }
        Output::Close(CloseReason::Draining) => write_line(
            out,
            &Notification {
                id: (),
                method: "client.reconnect",
                params: [(); 0],
            },
        ),
        Output::Answer(_) | Output::Keepalive | Output::Close(CloseReason::Idle) => return false,
    }
    true
}

/// Appends every miner-facing output of one event: answers carry `id`,
/// pushes are notifications (plain Stratum).
pub fn write_outputs(out: &mut Vec<u8>, id: &RequestId, outputs: &[Output]) {
    write_replies(
        out,
        &ReplyTo {
            id: id.clone(),
            dialect: Dialect::Stratum,
        },
        outputs,
    );
}

/// Appends every miner-facing output of one event: answers go to `reply`
/// in its dialect, pushes are notifications (the same in every dialect:
/// `tosminer` takes its work from `mining.notify` in all three modes).
pub fn write_replies(out: &mut Vec<u8>, reply: &ReplyTo, outputs: &[Output]) {
    for output in outputs {
        match output {
            Output::Answer(answer) => write_answer_in(out, &reply.id, reply.dialect, answer),
            other => {
                write_push(out, other);
            }
        }
    }
}

/// Appends the code-20 answer to a line that could not be read.
pub fn write_malformed(out: &mut Vec<u8>, error: &RequestError) {
    write_error(out, &error.id, RejectCode::Other.code(), &error.to_string());
}

fn ok<'a, R: Serialize>(id: &'a RequestId, result: R) -> Response<'a, R> {
    Response {
        id,
        result,
        error: None,
    }
}

fn write_error(out: &mut Vec<u8>, id: &RequestId, code: u16, message: &str) {
    write_line(
        out,
        &Response {
            id,
            result: (),
            error: Some((code, message, ())),
        },
    );
}
