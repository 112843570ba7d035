//! The session core's outputs as Stratum lines, exactly as PROTOCOLS.md shows.

use serde::Serialize;

use super::EXTRANONCE2_SIZE;
use super::decode::{RequestError, RequestId};
use crate::session::{Answer, CloseReason, Output, RejectCode, Work};

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

/// Appends `value` and a newline to `out`.
fn write_line(out: &mut Vec<u8>, value: &impl Serialize) {
    // Writing to a Vec cannot fail, and every type here serializes (no maps
    // with non-string keys, no fallible Serialize impls).
    serde_json::to_writer(&mut *out, value).expect("serializing a Stratum line into a Vec");
    out.push(b'\n');
}

/// Appends the answer to request `id`.
pub fn write_answer(out: &mut Vec<u8>, id: &RequestId, answer: &Answer) {
    match answer {
        Answer::Subscribed(subscribed) => {
            let sid = format!("{:016x}", subscribed.session_id);
            let result = (
                [("mining.notify", &sid), ("mining.set_difficulty", &sid)],
                hex::encode(subscribed.extranonce1),
                EXTRANONCE2_SIZE,
            );
            write_line(out, &ok(id, result));
        }
        Answer::Accepted => write_line(out, &ok(id, true)),
        Answer::Pong => write_line(out, &ok(id, "pong")),
        Answer::Work(work) => write_line(out, &ok(id, notify_params(work))),
        Answer::Rejected(reject) => {
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
        Output::Notify(work) => write_line(
            out,
            &Notification {
                id: (),
                method: "mining.notify",
                params: notify_params(work),
            },
        ),
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
/// pushes are notifications.
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
