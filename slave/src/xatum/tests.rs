//! Every Xatum message of PROTOCOLS.md, malformed input, and a property that
//! nothing a miner sends panics the codec.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::session::{
    Answer, CloseReason, Login, Output, Reject, RejectCode, Request, Submit, Subscribed, Work,
};
use crate::stratum::RequestId;

fn request(line: &str) -> XatumRequest {
    parse_line(line.as_bytes()).unwrap_or_else(|error| panic!("{line}: {error}"))
}

fn refused(line: &str) -> XatumRequestError {
    match parse_line(line.as_bytes()) {
        Ok(request) => panic!("{line} was accepted as {request:?}"),
        Err(error) => error,
    }
}

/// The single line `write` appended, parsed.
fn line(write: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut out = Vec::new();
    write(&mut out);
    assert!(out.ends_with(b"\n"), "one line");
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
    serde_json::from_slice(&out).expect("the codec writes JSON")
}

fn work() -> Work {
    crate::test_work::sample_work(0xcd, 1_000_000)
}

#[test]
fn handshake_authorize_submit_and_ping() {
    let handshake = request(
        r#"{"id":"1","method":"handshake","params":{"version":"1.0.0","protocol":"xatum/1.0"}}"#,
    );
    assert_eq!(handshake.id, RequestId::Text("1".into()));
    assert!(matches!(
        handshake.request,
        Request::Subscribe { agent: Some(_) }
    ));
    // Any xatum/1.x is accepted; numeric ids too.
    let newer = request(r#"{"id":7,"method":"handshake","params":{"protocol":"xatum/1.3"}}"#);
    assert_eq!(newer.id, RequestId::from(7));
    let authorize = request(
        r#"{"id":"2","method":"authorize","params":{"address":"tos1abc","worker":"rig1"}}"#,
    );
    assert_eq!(
        authorize.request,
        Request::Authorize {
            login: Login::Parts {
                address: "tos1abc".into(),
                worker: Some("rig1".into()),
            },
            password: None,
        }
    );
    let expected = Request::Submit(Submit {
        job_id: "j42".into(),
        nonce: 0xff00_0000_0000_0001,
    });
    for nonce in [
        "0xff00000000000001",
        "ff00000000000001",
        "0XFF00000000000001",
    ] {
        let line = format!(
            r#"{{"id":"3","method":"submit","params":{{"job_id":"j42","nonce":"{nonce}"}}}}"#
        );
        assert_eq!(request(&line).request, expected, "{nonce}");
    }
    assert_eq!(
        request(r#"{"id":"4","method":"ping"}"#).request,
        Request::Ping
    );
}

#[test]
fn another_protocol_is_refused_and_closes() {
    let refusal = refused(
        r#"{"id":"1","method":"handshake","params":{"version":"2.0.0","protocol":"xatum/2.0"}}"#,
    );
    assert!(refusal.is_fatal());
    assert!(refusal.to_string().contains("xatum/2.0"));
    let answer = line(|out| write_malformed(out, &refusal));
    assert_eq!(answer["id"], "1");
    assert_eq!(answer["error"]["code"], 20);
    let missing = refused(r#"{"id":"1","method":"handshake","params":{"version":"1.0.0"}}"#);
    assert!(!missing.is_fatal());
}

#[test]
fn malformed_lines_say_what_to_send() {
    assert!(matches!(refused("{").kind, XatumErrorKind::BadJson(_)));
    assert!(matches!(
        refused("\"text\"").kind,
        XatumErrorKind::BadJson(_)
    ));
    assert_eq!(refused(r#"{"id":"1"}"#).kind, XatumErrorKind::MissingMethod);
    assert!(matches!(
        refused(r#"{"id":"1","method":"getwork"}"#).kind,
        XatumErrorKind::UnknownMethod(_)
    ));
    for bad in [
        r#"{"id":"5","method":"submit","params":["j42","0x0000000000000001"]}"#,
        r#"{"id":"5","method":"submit","params":{"job_id":"j42"}}"#,
        r#"{"id":"5","method":"submit","params":{"job_id":"j42","nonce":"0x01"}}"#,
        r#"{"id":"5","method":"submit","params":{"job_id":[],"nonce":"0x0000000000000001"}}"#,
        r#"{"id":"5","method":"authorize","params":{"worker":"rig1"}}"#,
        r#"{"id":"5","method":"authorize","params":{"address":7}}"#,
    ] {
        let error = refused(bad);
        assert!(
            matches!(error.kind, XatumErrorKind::BadParams { .. }),
            "{bad}"
        );
        assert_eq!(error.id, RequestId::Text("5".into()));
        assert!(!error.is_fatal());
    }
}

#[test]
fn answers_and_pushes_are_as_protocols_md_shows() {
    let id = RequestId::Text("1".into());
    let opened = Subscribed {
        session_id: 0x1234,
        extranonce1: [0; 8],
        difficulty: 1_000_000,
    };
    assert_eq!(
        line(|out| write_answer(out, &id, &Answer::Subscribed(opened))),
        json!({"id": "1", "result": {"version": "1.0.0", "protocol": "xatum/1.0",
            "session_id": "0x0000000000001234", "difficulty": 1_000_000}})
    );
    assert_eq!(
        line(|out| write_answer(out, &RequestId::Text("2".into()), &Answer::Accepted)),
        json!({"id": "2", "result": true})
    );
    assert_eq!(
        line(|out| write_answer(
            out,
            &RequestId::Text("3".into()),
            &Answer::Rejected(Reject::new(RejectCode::Duplicate))
        )),
        json!({"id": "3", "result": null, "error": {"code": 22, "message": "duplicate share"}})
    );
    assert_eq!(
        line(|out| write_answer(out, &RequestId::Text("4".into()), &Answer::Pong)),
        json!({"method": "pong"})
    );
    let before = line(|out| {
        write_answer(
            out,
            &id,
            &Answer::Rejected(Reject::new(RejectCode::NotSubscribed)),
        )
    });
    assert_eq!(before["error"]["code"], 25);
    assert!(
        before["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("handshake"))
    );
    let work = work();
    assert_eq!(
        line(|out| assert!(write_push(out, &Output::Notify(work.clone())))),
        json!({"method": "job", "result": {"id": "j42",
            "header_hash": format!("0x{}", "cd".repeat(112)),
            "target": format!("0x{}", work.target.to_hex()),
            "height": 123_456, "difficulty": 1_000_000, "clean": true}})
    );
    let drain = line(|out| assert!(write_push(out, &Output::Close(CloseReason::Draining))));
    assert_eq!(drain["method"], "reconnect");
    let mut out = Vec::new();
    assert!(!write_push(&mut out, &Output::SetDifficulty(5)));
    assert!(out.is_empty());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        if let Err(error) = parse_line(&bytes) {
            let mut out = Vec::new();
            write_malformed(&mut out, &error);
            prop_assert!(out.ends_with(b"\n"));
        }
    }

    #[test]
    fn random_requests_never_panic(
        id in prop_oneof![Just("\"1\""), Just("2"), Just("null"), Just("[]")],
        method in prop_oneof![
            Just("handshake"), Just("authorize"), Just("submit"), Just("ping"), Just("other"),
        ],
        fields in proptest::collection::vec(
            (
                prop_oneof![
                    Just("protocol"), Just("version"), Just("address"), Just("worker"),
                    Just("job_id"), Just("nonce"),
                ],
                prop_oneof![
                    Just("null".to_string()), Just("7".to_string()), Just("[]".to_string()),
                    "\"[0-9a-fxX/.]{0,20}\"", Just("\"xatum/1.0\"".to_string()),
                ],
            ),
            0..6,
        ),
    ) {
        let params: Vec<String> =
            fields.iter().map(|(name, value)| format!("\"{name}\":{value}")).collect();
        let text = format!(
            r#"{{"id":{id},"method":"{method}","params":{{{}}}}}"#,
            params.join(",")
        );
        match parse_line(text.as_bytes()) {
            Ok(request) => prop_assert!(method != "other", "{request:?}"),
            Err(error) => {
                let mut out = Vec::new();
                write_malformed(&mut out, &error);
                prop_assert!(!out.is_empty());
            }
        }
    }
}
