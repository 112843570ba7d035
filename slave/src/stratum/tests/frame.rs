//! Line framing: partial lines, several lines, blank lines, the size limit.

use super::*;

const PING: &[u8] = b"{\"id\":9,\"method\":\"mining.ping\",\"params\":[]}";

fn line(bytes: &[u8]) -> Vec<u8> {
    let mut line = bytes.to_vec();
    line.push(b'\n');
    line
}

#[test]
fn waits_for_a_complete_line() {
    let codec = StratumCodec::new(4096);
    assert_eq!(codec.decode(b""), Ok(None));
    assert_eq!(codec.decode(PING), Ok(None));
}

#[test]
fn reads_lines_one_at_a_time() {
    let codec = StratumCodec::new(4096);
    let mut buf = line(PING);
    buf.extend_from_slice(
        b"\r\n  \n{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\r\n{\"id\":",
    );
    let (first, used) = codec.decode(&buf).expect("fits").expect("complete");
    assert_eq!(used, PING.len() + 1);
    let Decoded::Request(first) = first else {
        panic!("{first:?}");
    };
    assert_eq!(first.request, Request::Ping);
    buf.drain(..used);
    // Blank lines come one by one, so a run of them never piles up.
    for blank in [2, 3] {
        let (decoded, used) = codec.decode(&buf).expect("fits").expect("complete");
        assert_eq!((decoded, used), (Decoded::Blank, blank));
        buf.drain(..used);
    }
    // A trailing \r is JSON whitespace.
    let (second, used) = codec.decode(&buf).expect("fits").expect("complete");
    let Decoded::Request(second) = second else {
        panic!("{second:?}");
    };
    assert_eq!(second.request, Request::Subscribe { agent: None });
    buf.drain(..used);
    assert_eq!(buf, b"{\"id\":");
    assert_eq!(codec.decode(&buf), Ok(None));
}

#[test]
fn a_bad_line_is_malformed_and_consumed() {
    let codec = StratumCodec::new(4096);
    let (decoded, used) = codec.decode(b"hello\n").expect("fits").expect("complete");
    assert_eq!(used, 6);
    assert!(matches!(decoded, Decoded::Malformed(_)));
}

#[test]
fn lines_over_the_limit_are_an_error() {
    let codec = StratumCodec::new(512);
    let exactly = format!(
        "{{\"id\":1,\"method\":\"mining.ping\",\"params\":[\"{}\"]}}",
        "a".repeat(512 - 45)
    );
    assert_eq!(exactly.len(), 512);
    assert!(matches!(
        codec.decode(&line(exactly.as_bytes())),
        Ok(Some((Decoded::Request(_), 513)))
    ));
    let over = format!("{exactly} ");
    assert_eq!(
        codec.decode(&line(over.as_bytes())),
        Err(LineTooLong { max: 512 })
    );
    // No newline yet but already too long: no need to wait for the rest.
    assert_eq!(codec.decode(&[b'x'; 513]), Err(LineTooLong { max: 512 }));
    assert_eq!(codec.decode(&[b'x'; 512]), Ok(None));
    assert!(
        LineTooLong { max: 512 }
            .to_string()
            .contains("security.max_request_size")
    );
}
