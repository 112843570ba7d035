//! The session core's outputs as Xatum lines, exactly as PROTOCOLS.md shows.

use serde::Serialize;

use super::decode::XatumRequestError;
use super::{PROTOCOL, VERSION};
use crate::jsonrpc::{Failure, Success};
use crate::session::{Answer, CloseReason, Output, RejectCode, Work};
use crate::stratum::RequestId;

/// The handshake result.
#[derive(Serialize)]
struct Handshake {
    version: &'static str,
    protocol: &'static str,
    session_id: String,
    difficulty: u64,
}

/// A pushed job's `result`.
#[derive(Serialize)]
struct Job<'a> {
    id: &'a str,
    header_hash: String,
    target: String,
    height: u64,
    difficulty: u64,
    clean: bool,
}

/// `{"method":…,"result":…}`: a job push.
#[derive(Serialize)]
struct PushResult<'a, R: Serialize> {
    method: &'a str,
    result: R,
}

/// `{"method":…,"params":…}`: any other push.
#[derive(Serialize)]
struct PushParams<'a, P: Serialize> {
    method: &'a str,
    params: P,
}

/// `{"method":"pong"}`.
#[derive(Serialize)]
struct Bare<'a> {
    method: &'a str,
}

/// The final message before a drain closes the connection.
#[derive(Serialize)]
struct Reconnect<'a> {
    reason: &'a str,
}

fn write_line(out: &mut Vec<u8>, value: &impl Serialize) {
    // Writing to a Vec cannot fail, and every type here serializes (no maps
    // with non-string keys, no fallible Serialize impls).
    serde_json::to_writer(&mut *out, value).expect("serializing an Xatum line into a Vec");
    out.push(b'\n');
}

fn job(work: &Work) -> Job<'_> {
    Job {
        id: &work.job_id,
        header_hash: format!("0x{}", work.header.to_hex()),
        target: format!("0x{}", work.target.to_hex()),
        height: work.height,
        difficulty: work.difficulty,
        clean: work.clean,
    }
}

/// Appends the answer to request `id`.
pub fn write_answer(out: &mut Vec<u8>, id: &RequestId, answer: &Answer) {
    match answer {
        Answer::Subscribed(opened) => write_line(
            out,
            &Success {
                id,
                result: Handshake {
                    version: VERSION,
                    protocol: PROTOCOL,
                    session_id: format!("0x{:016x}", opened.session_id),
                    difficulty: opened.difficulty,
                },
            },
        ),
        Answer::Accepted => write_line(out, &Success { id, result: true }),
        Answer::Pong => write_line(out, &Bare { method: "pong" }),
        Answer::Work(work) => write_line(
            out,
            &Success {
                id,
                result: job(work),
            },
        ),
        Answer::Rejected(reject) => {
            let message = match reject.code {
                RejectCode::NotSubscribed => "not subscribed: send handshake (or authorize) first",
                _ => &reject.message,
            };
            write_error(out, id, reject.code.code(), message);
        }
    }
}

/// Appends a push for `output`. Returns false (and writes nothing) for
/// outputs Xatum has no line for (the difficulty travels inside each job).
pub fn write_push(out: &mut Vec<u8>, output: &Output) -> bool {
    match output {
        Output::Notify(work) => write_line(
            out,
            &PushResult {
                method: "job",
                result: job(work),
            },
        ),
        Output::Close(reason @ CloseReason::Draining) => write_line(
            out,
            &PushParams {
                method: "reconnect",
                params: Reconnect {
                    reason: &reason.to_string(),
                },
            },
        ),
        Output::Answer(_)
        | Output::SetDifficulty(_)
        | Output::Keepalive
        | Output::Close(CloseReason::Idle) => return false,
    }
    true
}

/// Appends every miner-facing output of one event: the answer carries `id`.
pub fn write_outputs(out: &mut Vec<u8>, id: &RequestId, outputs: &[Output]) {
    for output in outputs {
        match output {
            Output::Answer(answer) => write_answer(out, id, answer),
            other => {
                write_push(out, other);
            }
        }
    }
}

/// Appends the code-20 answer to a line that could not be read.
pub fn write_malformed(out: &mut Vec<u8>, error: &XatumRequestError) {
    write_error(out, &error.id, RejectCode::Other.code(), &error.to_string());
}

fn write_error(out: &mut Vec<u8>, id: &RequestId, code: u16, message: &str) {
    write_line(out, &Failure::new(id, code, message));
}
