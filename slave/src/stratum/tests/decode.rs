//! Requests from miners.

use super::*;

const ADDRESS: &str = "tos1qsl6sj2u0gp37tr6drrq964rd4d8gnaxnezgytmt0cfltnp2wsgqqak28je";

#[test]
fn subscribe() {
    let parsed = request(r#"{"id":1,"method":"mining.subscribe","params":["tosminer/1.0.0"]}"#);
    assert_eq!(parsed.id, RequestId::from(1));
    assert_eq!(
        parsed.request,
        Request::Subscribe {
            agent: Some("tosminer/1.0.0".into())
        }
    );
    let bare = request(r#"{"id":1,"method":"mining.subscribe","params":[]}"#);
    assert_eq!(bare.request, Request::Subscribe { agent: None });
    let no_params = request(r#"{"id":1,"method":"mining.subscribe"}"#);
    assert_eq!(no_params.request, Request::Subscribe { agent: None });
}

#[test]
fn authorize_with_login_and_password() {
    let line = format!(r#"{{"id":2,"method":"mining.authorize","params":["{ADDRESS}.rig1","x"]}}"#);
    let parsed = request(&line);
    assert_eq!(parsed.id, RequestId::from(2));
    assert_eq!(
        parsed.request,
        Request::Authorize {
            login: Login::Combined(format!("{ADDRESS}.rig1")),
            password: Some("x".into()),
        }
    );
}

#[test]
fn authorize_with_address_worker_and_password() {
    let line =
        format!(r#"{{"id":2,"method":"mining.authorize","params":["{ADDRESS}","rig1","x"]}}"#);
    assert_eq!(
        request(&line).request,
        Request::Authorize {
            login: Login::Parts {
                address: ADDRESS.into(),
                worker: Some("rig1".into()),
            },
            password: Some("x".into()),
        }
    );
}

#[test]
fn authorize_refuses_other_shapes() {
    for params in [
        "[]",
        "[1,\"x\"]",
        "[\"a\",\"b\",\"c\",\"d\"]",
        "{\"login\":\"a\"}",
    ] {
        let line = format!(r#"{{"id":2,"method":"mining.authorize","params":{params}}}"#);
        let error = refused(&line);
        assert_eq!(error.id, RequestId::from(2), "{params}");
        assert!(
            matches!(error.kind, RequestErrorKind::BadParams { .. }),
            "{params}"
        );
    }
}

#[test]
fn submit_with_four_params() {
    let parsed = request(
        r#"{"id":3,"method":"mining.submit","params":["tos1x.rig1","j1","00000000","0102030405060708"]}"#,
    );
    assert_eq!(parsed.id, RequestId::from(3));
    assert_eq!(
        parsed.request,
        Request::Submit(Submit {
            job_id: "j1".into(),
            nonce: 0x0102_0304_0506_0708,
        })
    );
}

#[test]
fn submit_with_three_params_and_0x() {
    let parsed =
        request(r#"{"id":3,"method":"mining.submit","params":["w","j1","0xFFEEDDCCBBAA9988"]}"#);
    assert_eq!(
        parsed.request,
        Request::Submit(Submit {
            job_id: "j1".into(),
            nonce: 0xffee_ddcc_bbaa_9988,
        })
    );
}

#[test]
fn submit_refuses_bad_nonces() {
    for nonce in [
        "\"010203040506070\"",
        "\"01020304050607080\"",
        "\"0x01020304050607\"",
        "\"+102030405060708\"",
        "\"010203040506070g\"",
        "\"\"",
        "12345",
    ] {
        let line =
            format!(r#"{{"id":3,"method":"mining.submit","params":["w","j1","00",{nonce}]}}"#);
        let error = refused(&line);
        assert!(
            matches!(
                error.kind,
                RequestErrorKind::BadParams {
                    method: "mining.submit",
                    ..
                }
            ),
            "{nonce}"
        );
        assert!(error.to_string().contains("nonce"), "{error}");
    }
    let error = refused(r#"{"id":3,"method":"mining.submit","params":["w","j1"]}"#);
    assert!(
        error.to_string().contains("expected [worker, job_id"),
        "{error}"
    );
    let error =
        refused(r#"{"id":3,"method":"mining.submit","params":["w",null,"0102030405060708"]}"#);
    assert!(error.to_string().contains("job_id"), "{error}");
}

#[test]
fn ping_and_extranonce_subscribe() {
    let ping = request(r#"{"id":9,"method":"mining.ping","params":[]}"#);
    assert_eq!((ping.id, ping.request), (RequestId::from(9), Request::Ping));
    let extranonce = request(r#"{"id":4,"method":"mining.extranonce.subscribe","params":[]}"#);
    assert_eq!(extranonce.request, Request::ExtranonceSubscribe);
}

#[test]
fn ids_are_kept_as_given() {
    let text_id = request(r#"{"id":"abc","method":"mining.ping"}"#);
    assert_eq!(text_id.id, RequestId::Text("abc".into()));
    let big = request(r#"{"id":18446744073709551615,"method":"mining.ping"}"#);
    assert_eq!(big.id, RequestId::from(u64::MAX));
    let negative = request(r#"{"id":-5,"method":"mining.ping"}"#);
    assert_eq!(negative.id, RequestId::Number((-5).into()));
    let missing = request(r#"{"method":"mining.ping"}"#);
    assert_eq!(missing.id, RequestId::Null);
}

#[test]
fn bad_json_and_unknown_methods_are_typed_errors() {
    let error = refused("{\"id\":1,\"method\":");
    assert!(matches!(error.kind, RequestErrorKind::BadJson(_)));
    assert_eq!(error.id, RequestId::Null);
    assert!(matches!(
        refused("[1,2,3]").kind,
        RequestErrorKind::BadJson(_)
    ));
    assert!(matches!(
        refused("\u{0}\u{1}").kind,
        RequestErrorKind::BadJson(_)
    ));

    let error = refused(r#"{"id":7,"method":"eth_getBalance","params":[]}"#);
    assert_eq!(error.id, RequestId::from(7));
    assert_eq!(
        error.kind,
        RequestErrorKind::UnknownMethod("eth_getBalance".into())
    );
    let error = refused(r#"{"id":8,"params":[]}"#);
    assert_eq!(
        (error.id, error.kind),
        (RequestId::from(8), RequestErrorKind::MissingMethod)
    );
}
