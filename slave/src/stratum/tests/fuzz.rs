//! Nothing a miner sends may panic the codec.

use proptest::prelude::*;

use super::*;

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let codec = StratumCodec::new(512);
        let mut buf = bytes.as_slice();
        while let Ok(Some((decoded, used))) = codec.decode(buf) {
            prop_assert!(used > 0 && used <= buf.len());
            if let Decoded::Malformed(error) = decoded {
                let mut out = Vec::new();
                write_malformed(&mut out, &error);
                prop_assert!(out.ends_with(b"\n"));
            }
            buf = &buf[used..];
        }
    }

    #[test]
    fn random_requests_never_panic(
        id in prop_oneof![Just("1".to_string()), Just("\"x\"".to_string()), Just("null".to_string()), Just("1.5".to_string())],
        method in prop_oneof![
            Just("mining.subscribe"), Just("mining.authorize"), Just("mining.submit"),
            Just("mining.ping"), Just("mining.extranonce.subscribe"), Just("other"),
        ],
        params in proptest::collection::vec(
            prop_oneof![
                Just("null".to_string()), Just("7".to_string()), Just("[]".to_string()),
                Just("{}".to_string()), "\"[0-9a-fxX]{0,20}\"", "\"\\\\u[0-9a-f]{4}\"",
            ],
            0..6,
        ),
    ) {
        let line = format!("{{\"id\":{id},\"method\":\"{method}\",\"params\":[{}]}}", params.join(","));
        if let Ok(request) = parse_request(line.as_bytes()) {
            let mut out = Vec::new();
            write_answer(&mut out, &request.id, &crate::session::Answer::Accepted);
            prop_assert!(out.ends_with(b"\n"));
        }
    }

    #[test]
    fn every_nonce_round_trips(nonce in any::<u64>(), prefix in prop_oneof![Just(""), Just("0x")]) {
        let line = format!(
            "{{\"id\":1,\"method\":\"mining.submit\",\"params\":[\"w\",\"j\",\"{prefix}{nonce:016x}\"]}}"
        );
        let parsed = parse_request(line.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.request, Request::Submit(Submit { job_id: "j".into(), nonce }));
    }
}
