//! The session core's outputs as WebSocket text frames, exactly as
//! PROTOCOLS.md shows: hex with `0x`, errors as `{"code","message"}`.

use serde::Serialize;

use super::decode::WsRequestError;
use crate::jsonrpc::{Failure, Success};
use crate::session::{Answer, Output, RejectCode, Work};
use crate::stratum::RequestId;

/// The `getwork` result.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GetWork<'a> {
    header_hash: String,
    target: String,
    height: u64,
    job_id: &'a str,
    difficulty: u64,
}

/// The `subscribe` result, as miners written for the Go pool read it:
/// `[[["mining.notify", "<session id, 16 hex digits>"]], <session id>]`.
fn subscribed(session_id: u64) -> ([(&'static str, String); 1], u64) {
    (
        [("mining.notify", format!("{session_id:016x}"))],
        session_id,
    )
}

/// `{"method":…,"params":…}`: a push (no id).
#[derive(Serialize)]
struct Push<'a, P: Serialize> {
    method: &'a str,
    params: P,
}

fn to_text(value: &impl Serialize) -> String {
    // Every type here serializes (no maps with non-string keys, no fallible
    // Serialize impls), so this cannot fail.
    serde_json::to_string(value).expect("serializing a WebSocket message")
}

fn prefixed(hex: String) -> String {
    format!("0x{hex}")
}

/// The answer to request `id`.
pub fn encode_answer(id: &RequestId, answer: &Answer) -> String {
    match answer {
        Answer::Accepted => to_text(&Success { id, result: true }),
        Answer::Pong => to_text(&Success { id, result: "pong" }),
        Answer::Work(work) => to_text(&Success {
            id,
            result: GetWork {
                header_hash: prefixed(work.header.to_hex()),
                target: prefixed(work.target.to_hex()),
                height: work.height,
                job_id: &work.job_id,
                difficulty: work.difficulty,
            },
        }),
        Answer::Subscribed(opened) => to_text(&Success {
            id,
            result: subscribed(opened.session_id),
        }),
        Answer::Rejected(reject) => failure(id, reject.code.code(), &reject.message),
    }
}

/// The frame for a push output, or `None` for outputs that are not sent as
/// text: shares and blocks are forwarded by the caller, the difficulty
/// travels inside each job's target, and a drain is a close frame.
pub fn encode_push(output: &Output) -> Option<String> {
    match output {
        Output::Notify(work) => Some(to_text(&Push {
            method: "mining.notify",
            params: notify_params(work),
        })),
        Output::Answer(_) | Output::SetDifficulty(_) | Output::Keepalive | Output::Close(_) => None,
    }
}

/// Every text frame of one event, in order: the answer carries `id`.
pub fn encode_outputs(frames: &mut Vec<String>, id: &RequestId, outputs: &[Output]) {
    for output in outputs {
        match output {
            Output::Answer(answer) => frames.push(encode_answer(id, answer)),
            other => frames.extend(encode_push(other)),
        }
    }
}

/// The code-20 answer to a frame that could not be read.
pub fn encode_malformed(error: &WsRequestError) -> String {
    failure(&error.id, RejectCode::Other.code(), &error.to_string())
}

/// `mining.notify` params: `[jobId, "0x<header>", "0x<target>", height, clean]`.
fn notify_params(work: &Work) -> (&str, String, String, u64, bool) {
    (
        &work.job_id,
        prefixed(work.header.to_hex()),
        prefixed(work.target.to_hex()),
        work.height,
        work.clean,
    )
}

fn failure(id: &RequestId, code: u16, message: &str) -> String {
    to_text(&Failure::new(id, code, message))
}
