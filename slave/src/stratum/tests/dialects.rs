//! The forms of `tosminer`'s three modes and of miners written for other
//! pools: decoded, answered, and refused with a reason when malformed.

use tos_pool_common::header::MinerWork;

use super::*;
use crate::session::{Answer, HeaderSubmit, Output, Subscribed, Work};

const LOGIN: &str = "tst1address.rig1";

fn header_hex() -> String {
    "ab".repeat(112)
}

fn replies(line: &str, outputs: &[Output]) -> String {
    let parsed = request(line);
    let mut out = Vec::new();
    write_replies(&mut out, &parsed.reply_to(), outputs);
    text(&out).to_string()
}

fn work() -> Work {
    crate::test_work::sample_work(0xab, 1000)
}

#[test]
fn the_five_parameter_submit_carries_the_nonce_last() {
    let parsed = request(
        r#"{"id":4,"method":"mining.submit","params":["w","j9","00000001","6553f100","00000000000000ff"]}"#,
    );
    assert_eq!(parsed.dialect, Dialect::Stratum);
    assert_eq!(
        parsed.request,
        Request::Submit(Submit {
            job_id: "j9".into(),
            nonce: 0xff
        })
    );
    let error =
        refused(r#"{"id":4,"method":"mining.submit","params":["w","j9","00","6553f100","zz"]}"#);
    assert!(error.to_string().contains("16 hex digits"), "{error}");
    let error = refused(r#"{"id":4,"method":"mining.submit","params":["w","j","a","b","c","d"]}"#);
    assert!(error.to_string().contains("ntime"), "{error}");
}

#[test]
fn suggest_and_set_difficulty_ask_for_a_difficulty() {
    for method in ["mining.suggest_difficulty", "mining.set_difficulty"] {
        for (params, difficulty) in [("[5000]", 5000), ("[0.5]", 1), ("[\"2048\"]", 2048)] {
            let line = format!(r#"{{"id":3,"method":"{method}","params":{params}}}"#);
            assert_eq!(
                request(&line).request,
                Request::SetDifficulty { difficulty },
                "{line}"
            );
        }
        for params in ["[]", "[0]", "[-1]", "[\"fast\"]", "[null]"] {
            let line = format!(r#"{{"id":3,"method":"{method}","params":{params}}}"#);
            let error = refused(&line);
            assert!(error.to_string().contains("positive number"), "{error}");
            assert_eq!(error.id, RequestId::from(3));
        }
    }
    assert_eq!(
        replies(
            r#"{"id":3,"method":"mining.suggest_difficulty","params":[5000]}"#,
            &[Output::Answer(Answer::Accepted)]
        ),
        "{\"id\":3,\"result\":true,\"error\":null}\n"
    );
}

#[test]
fn ethproxy_logs_in_gets_and_submits_work() {
    // tosminer leaves out a password of "x".
    let login = request(&format!(
        r#"{{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["{LOGIN}"]}}"#
    ));
    assert_eq!(login.dialect, Dialect::EthProxy);
    assert_eq!(
        login.request,
        Request::Authorize {
            login: Login::Combined(LOGIN.into()),
            password: None
        }
    );
    let with_password = request(&format!(
        r#"{{"id":1,"method":"eth_submitLogin","params":["{LOGIN}","d=9000"]}}"#
    ));
    assert!(matches!(
        with_password.request,
        Request::Authorize { password: Some(ref password), .. } if password == "d=9000"
    ));

    let hashrate = r#"{"id":6,"method":"eth_submitHashrate","params":["0x1e8480","0xab"]}"#;
    assert_eq!(request(hashrate).request, Request::HashrateReport);
    assert_eq!(
        replies(hashrate, &[Output::Answer(Answer::Accepted)]),
        "{\"id\":6,\"result\":true,\"error\":null}\n"
    );

    let get_work = r#"{"id":2,"method":"eth_getWork","params":[]}"#;
    assert_eq!(request(get_work).request, Request::GetWork);
    let answer = replies(get_work, &[Output::Answer(Answer::Work(work()))]);
    let value: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(value["id"], 2);
    assert_eq!(value["result"][0], format!("0x{}", header_hex()));
    assert_eq!(value["result"][1], "j42");
    assert_eq!(value["result"][2], format!("0x{}", work().target.to_hex()));
    assert_eq!(value["result"][3], "0x1e240");

    for header in [header_hex(), format!("0x{}", header_hex())] {
        let line = format!(
            r#"{{"id":5,"method":"eth_submitWork","params":["0x00000000000000ff","{header}","0x{}"]}}"#,
            "00".repeat(32)
        );
        assert_eq!(
            request(&line).request,
            Request::SubmitHeader(HeaderSubmit {
                header: MinerWork::from([0xab; 112]),
                nonce: 0xff
            })
        );
    }
    let by_job = r#"{"id":5,"method":"eth_submitWork","params":["00000000000000ff","j42"]}"#;
    assert_eq!(
        request(by_job).request,
        Request::Submit(Submit {
            job_id: "j42".into(),
            nonce: 0xff
        })
    );
    for bad in [
        r#"{"id":5,"method":"eth_submitWork","params":["00000000000000ff"]}"#,
        r#"{"id":5,"method":"eth_submitWork","params":["0xff","j42"]}"#,
        r#"{"id":5,"method":"eth_submitWork","params":["00000000000000ff",[1]]}"#,
        r#"{"id":5,"method":"eth_submitLogin","params":[]}"#,
    ] {
        let error = refused(bad);
        assert!(
            matches!(error.kind, RequestErrorKind::BadParams { .. }),
            "{bad}: {error}"
        );
    }
}

#[test]
fn ethereum_stratum_subscribes_nicehash_style() {
    let line = r#"{"id":1,"method":"mining.subscribe","params":["tosminer/1.0.0","EthereumStratum/1.0.0"]}"#;
    let parsed = request(line);
    assert_eq!(parsed.dialect, Dialect::EthereumStratum);
    assert_eq!(
        parsed.request,
        Request::Subscribe {
            agent: Some("tosminer/1.0.0".into())
        }
    );
    let subscribed = Subscribed {
        session_id: 0x1f,
        extranonce1: [1, 2, 3, 4, 5, 6, 7, 0xff],
        difficulty: 1000,
    };
    assert_eq!(
        replies(line, &[Output::Answer(Answer::Subscribed(subscribed))]),
        "{\"id\":1,\"result\":[[\"mining.notify\",\"000000000000001f\",\"EthereumStratum/1.0.0\"],\"01020304050607ff\"],\"error\":null}\n"
    );
    // Work is pushed as in plain Stratum: tosminer reads mining.notify in every mode.
    let pushed = replies(line, &[Output::Notify(work())]);
    assert!(
        pushed.starts_with("{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"j42\",\"abab"),
        "{pushed}"
    );
    assert_eq!(
        request(r#"{"id":1,"method":"mining.subscribe","params":["tosminer/1.0.0"]}"#).dialect,
        Dialect::Stratum
    );
}
