//! Every WebSocket GetWork message of PROTOCOLS.md, malformed input, and a
//! property that nothing a miner sends panics the codec.

use proptest::prelude::*;
use serde_json::{Value, json};
use tos_pool_common::header::MinerWork;

use super::*;
use crate::session::{
    Answer, CloseReason, HeaderSubmit, Login, Output, Reject, RejectCode, Request, Submit, Work,
};
use crate::stratum::RequestId;

fn request(text: &str) -> WsRequest {
    decode_text(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn refused(text: &str) -> WsRequestError {
    match decode_text(text) {
        Ok(request) => panic!("{text} was accepted as {request:?}"),
        Err(error) => error,
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("the codec writes JSON")
}

fn work() -> Work {
    crate::test_work::sample_work(0xab, 1000)
}

#[test]
fn authorize_getwork_submit_and_their_mining_aliases() {
    let login = Request::Authorize {
        login: Login::Combined("tos1address.workername".into()),
        password: None,
    };
    let authorize = request(r#"{"id":1,"method":"authorize","params":["tos1address.workername"]}"#);
    assert_eq!(
        (authorize.id, authorize.request),
        (RequestId::from(1), login.clone())
    );
    let alias =
        request(r#"{"id":1,"method":"mining.authorize","params":["tos1address.workername","x"]}"#);
    assert_eq!(
        alias.request,
        Request::Authorize {
            login: Login::Combined("tos1address.workername".into()),
            password: Some("x".into()),
        }
    );
    for method in ["getwork", "mining.getwork"] {
        let text = format!(r#"{{"id":2,"method":"{method}","params":[]}}"#);
        assert_eq!(request(&text).request, Request::GetWork);
    }
    let submit = Request::Submit(Submit {
        job_id: "j42".into(),
        nonce: 0x0102_0304_0506_0708,
    });
    for text in [
        r#"{"id":3,"method":"submit","params":["j42","0x0102030405060708"]}"#,
        r#"{"id":3,"method":"submit","params":["j42","0102030405060708"]}"#,
        r#"{"id":3,"method":"mining.submit","params":["rig1","j42","0x0102030405060708"]}"#,
        r#"{"id":3,"method":"mining.submit","params":["rig1","j42","00000000","0102030405060708"]}"#,
    ] {
        assert_eq!(request(text).request, submit, "{text}");
    }
    assert_eq!(
        request(r#"{"id":"p","method":"ping"}"#).request,
        Request::Ping
    );
}

#[test]
fn go_pool_forms_subscribe_tos_get_and_submit_work() {
    assert_eq!(
        request(r#"{"id":1,"method":"subscribe","params":["miner/2"]}"#).request,
        Request::Subscribe {
            agent: Some("miner/2".into())
        }
    );
    assert_eq!(
        request(r#"{"id":1,"method":"mining.subscribe"}"#).request,
        Request::Subscribe { agent: None }
    );
    assert_eq!(
        request(r#"{"id":2,"method":"tos_getWork","params":[]}"#).request,
        Request::GetWork
    );
    assert_eq!(
        request(r#"{"id":3,"method":"tos_submitWork","params":["j42","00000000000000ff"]}"#)
            .request,
        Request::Submit(Submit {
            job_id: "j42".into(),
            nonce: 0xff
        })
    );
    let header = "ab".repeat(112);
    for (method, nonce, header) in [
        (
            "tos_submitWork",
            "0x00000000000000ff",
            format!("0x{header}"),
        ),
        ("submit", "00000000000000ff", header.clone()),
    ] {
        let text = format!(r#"{{"id":4,"method":"{method}","params":["{nonce}","{header}"]}}"#);
        assert_eq!(
            request(&text).request,
            Request::SubmitHeader(HeaderSubmit {
                header: MinerWork::from([0xab; 112]),
                nonce: 0xff
            }),
            "{text}"
        );
    }
    let bad_nonce = format!(r#"{{"id":4,"method":"tos_submitWork","params":["0xff","{header}"]}}"#);
    assert!(refused(&bad_nonce).to_string().contains("16 hex digits"));

    let subscribed = crate::session::Subscribed {
        session_id: 0x1f,
        extranonce1: [0; 8],
        difficulty: 1000,
    };
    assert_eq!(
        json(&encode_answer(
            &RequestId::from(1),
            &Answer::Subscribed(subscribed)
        )),
        json!({"id": 1, "result": [[["mining.notify", "000000000000001f"]], 31]})
    );
}

#[test]
fn malformed_requests_say_what_to_send() {
    let bad_json = refused("{not json");
    assert_eq!(bad_json.id, RequestId::Null);
    assert!(matches!(bad_json.kind, WsErrorKind::BadJson(_)));
    assert!(matches!(refused("[1,2]").kind, WsErrorKind::BadJson(_)));
    assert_eq!(refused(r#"{"id":4}"#).kind, WsErrorKind::MissingMethod);
    let unknown = refused(r#"{"id":5,"method":"mining.configure","params":[]}"#);
    assert_eq!(unknown.id, RequestId::from(5));
    assert!(matches!(unknown.kind, WsErrorKind::UnknownMethod(_)));
    for text in [
        r#"{"id":6,"method":"submit","params":["j42"]}"#,
        r#"{"id":6,"method":"submit","params":["j42","0x01"]}"#,
        r#"{"id":6,"method":"submit","params":["j42",7]}"#,
        r#"{"id":6,"method":"submit","params":[[],"0102030405060708"]}"#,
        r#"{"id":6,"method":"submit","params":{"job":"j42"}}"#,
        r#"{"id":6,"method":"authorize","params":[]}"#,
        r#"{"id":6,"method":"authorize","params":[7]}"#,
    ] {
        let error = refused(text);
        assert!(
            matches!(error.kind, WsErrorKind::BadParams { .. }),
            "{text}"
        );
        assert_eq!(error.id, RequestId::from(6));
    }
    let answer = json(&encode_malformed(&unknown));
    assert_eq!(answer["id"], 5);
    assert_eq!(answer["result"], Value::Null);
    assert_eq!(answer["error"]["code"], 20);
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("getwork"))
    );
}

#[test]
fn answers_are_as_protocols_md_shows() {
    let id = RequestId::from(1);
    assert_eq!(
        encode_answer(&id, &Answer::Accepted),
        r#"{"id":1,"result":true}"#
    );
    let work = work();
    let getwork = json(&encode_answer(
        &RequestId::from(2),
        &Answer::Work(work.clone()),
    ));
    assert_eq!(
        getwork,
        json!({"id": 2, "result": {
            "headerHash": format!("0x{}", "ab".repeat(112)),
            "target": format!("0x{}", work.target.to_hex()),
            "height": 123_456, "jobId": "j42", "difficulty": 1000}})
    );
    let rejected = encode_answer(
        &RequestId::from(3),
        &Answer::Rejected(Reject::new(RejectCode::LowDifficulty)),
    );
    assert_eq!(
        rejected,
        r#"{"id":3,"result":null,"error":{"code":23,"message":"low difficulty share"}}"#
    );
    assert_eq!(
        encode_answer(&id, &Answer::Pong),
        r#"{"id":1,"result":"pong"}"#
    );
}

#[test]
fn new_work_is_pushed_as_mining_notify_with_the_sessions_target() {
    let work = work();
    let push = encode_push(&Output::Notify(work.clone())).expect("a push");
    assert_eq!(
        json(&push),
        json!({"method": "mining.notify", "params": ["j42",
            format!("0x{}", "ab".repeat(112)), format!("0x{}", work.target.to_hex()),
            123_456, true]})
    );
    assert!(json(&push).get("id").is_none());
    assert_eq!(encode_push(&Output::SetDifficulty(5)), None);
    assert_eq!(encode_push(&Output::Close(CloseReason::Draining)), None);
    let mut frames = Vec::new();
    encode_outputs(
        &mut frames,
        &RequestId::from(7),
        &[
            Output::Answer(Answer::Accepted),
            Output::SetDifficulty(1000),
            Output::Notify(work),
        ],
    );
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0], r#"{"id":7,"result":true}"#);
}

proptest! {
    #[test]
    fn random_text_never_panics(text in "\\PC{0,512}") {
        if let Err(error) = decode_text(&text) {
            prop_assert!(json(&encode_malformed(&error))["error"]["code"] == 20);
        }
    }

    #[test]
    fn random_requests_never_panic(
        id in prop_oneof![Just("1"), Just("\"x\""), Just("null"), Just("1.5")],
        method in prop_oneof![
            Just("authorize"), Just("getwork"), Just("submit"), Just("ping"),
            Just("mining.submit"), Just("other"),
        ],
        params in proptest::collection::vec(
            prop_oneof![
                Just("null".to_string()), Just("7".to_string()), Just("[]".to_string()),
                Just("{}".to_string()), "\"[0-9a-fxX]{0,20}\"", "\"\\\\u[0-9a-f]{4}\"",
            ],
            0..6,
        ),
    ) {
        let text = format!(r#"{{"id":{id},"method":"{method}","params":[{}]}}"#, params.join(","));
        match decode_text(&text) {
            Ok(request) => prop_assert!(method != "other", "{request:?}"),
            Err(error) => prop_assert!(!encode_malformed(&error).is_empty()),
        }
    }
}
