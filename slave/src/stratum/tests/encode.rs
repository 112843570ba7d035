//! Answers and notifications, byte for byte as PROTOCOLS.md shows them.

use super::*;
use crate::session::{Answer, CloseReason, Output, Reject, RejectCode, Subscribed, Work};

fn answer(id: RequestId, answer: &Answer) -> String {
    let mut out = Vec::new();
    write_answer(&mut out, &id, answer);
    text(&out).to_string()
}

fn push(output: &Output) -> String {
    let mut out = Vec::new();
    assert!(write_push(&mut out, output), "{output:?} is a push");
    text(&out).to_string()
}

fn work() -> Work {
    crate::test_work::sample_work(0xab, 1000)
}

#[test]
fn subscribe_result() {
    let subscribed = Subscribed {
        session_id: 0x1f,
        extranonce1: [1, 2, 3, 4, 5, 6, 7, 0xff],
        difficulty: 1000,
    };
    assert_eq!(
        answer(RequestId::from(1), &Answer::Subscribed(subscribed)),
        "{\"id\":1,\"result\":[[[\"mining.notify\",\"000000000000001f\"],[\"mining.set_difficulty\",\"000000000000001f\"]],\"01020304050607ff\",4],\"error\":null}\n"
    );
}

#[test]
fn true_and_pong_results() {
    assert_eq!(
        answer(RequestId::from(2), &Answer::Accepted),
        "{\"id\":2,\"result\":true,\"error\":null}\n"
    );
    assert_eq!(
        answer(RequestId::from(9), &Answer::Pong),
        "{\"id\":9,\"result\":\"pong\",\"error\":null}\n"
    );
}

#[test]
fn rejections_carry_code_and_message() {
    let cases = [
        (RejectCode::Other, 20, "other error"),
        (RejectCode::Stale, 21, "stale share"),
        (RejectCode::Duplicate, 22, "duplicate share"),
        (RejectCode::LowDifficulty, 23, "low difficulty share"),
        (RejectCode::Unauthorized, 24, "unauthorized worker"),
        (RejectCode::NotSubscribed, 25, "not subscribed"),
    ];
    for (code, number, message) in cases {
        assert_eq!(
            answer(RequestId::from(3), &Answer::Rejected(Reject::new(code))),
            format!("{{\"id\":3,\"result\":null,\"error\":[{number},\"{message}\",null]}}\n")
        );
    }
    let not_found = Reject::with_message(RejectCode::Stale, "job not found");
    assert_eq!(
        answer(RequestId::from(3), &Answer::Rejected(not_found)),
        "{\"id\":3,\"result\":null,\"error\":[21,\"job not found\",null]}\n"
    );
}

#[test]
fn string_ids_are_echoed_unchanged() {
    assert_eq!(
        answer(RequestId::Text("a\"b".into()), &Answer::Accepted),
        "{\"id\":\"a\\\"b\",\"result\":true,\"error\":null}\n"
    );
    assert_eq!(
        answer(RequestId::Null, &Answer::Accepted),
        "{\"id\":null,\"result\":true,\"error\":null}\n"
    );
}

#[test]
fn notify_and_set_difficulty() {
    let work = work();
    let line = push(&Output::Notify(work.clone()));
    assert_eq!(
        line,
        format!(
            "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"j42\",\"{}\",\"{}\",123456,true]}}\n",
            "ab".repeat(112),
            work.target.to_hex()
        )
    );
    assert_eq!(work.target.to_hex().len(), 64);
    assert!(work.target.to_hex().starts_with("00418937"));
    assert_eq!(
        push(&Output::SetDifficulty(1000)),
        "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1000]}\n"
    );
}

#[test]
fn drain_is_client_reconnect() {
    assert_eq!(
        push(&Output::Close(CloseReason::Draining)),
        "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[]}\n"
    );
}

#[test]
fn outputs_of_one_event_in_order() {
    let mut out = Vec::new();
    write_outputs(
        &mut out,
        &RequestId::from(2),
        &[
            Output::Answer(Answer::Accepted),
            Output::SetDifficulty(1000),
            Output::Notify(work()),
        ],
    );
    let lines: Vec<&str> = text(&out).lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "{\"id\":2,\"result\":true,\"error\":null}");
    assert!(lines[1].contains("mining.set_difficulty"));
    assert!(lines[2].starts_with("{\"id\":null,\"method\":\"mining.notify\""));
}

#[test]
fn outputs_without_a_stratum_line_are_not_written() {
    let mut out = Vec::new();
    assert!(!write_push(&mut out, &Output::Keepalive));
    assert!(!write_push(&mut out, &Output::Close(CloseReason::Idle)));
    write_outputs(
        &mut out,
        &RequestId::from(3),
        &[Output::Answer(Answer::Accepted), Output::Keepalive],
    );
    assert_eq!(text(&out), "{\"id\":3,\"result\":true,\"error\":null}\n");
}

#[test]
fn malformed_requests_get_code_20_with_the_reason() {
    let error = refused(r#"{"id":7,"method":"mining.bogus"}"#);
    let mut out = Vec::new();
    write_malformed(&mut out, &error);
    let line = text(&out);
    assert!(
        line.starts_with("{\"id\":7,\"result\":null,\"error\":[20,\"unknown method"),
        "{line}"
    );
    assert!(line.ends_with(",null]}\n"), "{line}");

    let error = refused("not json");
    let mut out = Vec::new();
    write_malformed(&mut out, &error);
    assert!(text(&out).starts_with("{\"id\":null,\"result\":null,\"error\":[20,"));
}

#[test]
fn getwork_answer_uses_the_notify_params() {
    let line = answer(RequestId::from(5), &Answer::Work(work()));
    assert!(
        line.starts_with("{\"id\":5,\"result\":[\"j42\",\"abab"),
        "{line}"
    );
    assert!(line.ends_with(",123456,true],\"error\":null}\n"), "{line}");
}

#[test]
fn a_notify_template_writes_each_sessions_line_byte_for_byte() {
    let mut template_work = work();
    template_work.header.set_extra_nonce(&[0; 32]);
    template_work.job_id = "job \"7\"".into();
    let template = NotifyTemplate::new(&template_work);
    for (session, clean) in [(1u8, true), (0xfe, false)] {
        let mut extra_nonce = [0u8; 32];
        for (i, byte) in extra_nonce.iter_mut().enumerate() {
            *byte = session.wrapping_mul(i as u8 + 1);
        }
        let mut session_work = template_work.clone();
        session_work.header.set_extra_nonce(&extra_nonce);
        session_work.clean = clean;
        let template = if clean {
            template.clone()
        } else {
            let mut unclean = template_work.clone();
            unclean.clean = false;
            NotifyTemplate::new(&unclean)
        };
        let mut out = b"before".to_vec();
        template.write(&mut out, &extra_nonce);
        assert_eq!(
            text(&out[6..]),
            push(&Output::Notify(session_work)),
            "session {session}"
        );
    }
}
