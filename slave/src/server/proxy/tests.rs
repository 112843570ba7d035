//! The PROXY header's measure and address: v1 and v2, every address family,
//! truncated and oversized headers, and arbitrary bytes never panicking.

use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

/// A whole header followed by the miner's first bytes.
fn with_payload(header: &[u8]) -> Vec<u8> {
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n");
    bytes
}

fn read(bytes: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    match measure(bytes) {
        Start::Header(len) => client_address(&bytes[..len]),
        other => panic!("expected a whole header, got {other:?}"),
    }
}

/// A v2 header: version 2, `command`, `family_protocol`, then `body`.
fn v2(command: u8, family_protocol: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = V2_SIGNATURE.to_vec();
    bytes.push(0x20 | command);
    bytes.push(family_protocol);
    bytes.extend_from_slice(&u16::try_from(body.len()).expect("short body").to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

fn v2_ipv4(source: [u8; 4], port: u16) -> Vec<u8> {
    let mut body = source.to_vec();
    body.extend_from_slice(&[10, 0, 0, 1]);
    body.extend_from_slice(&port.to_be_bytes());
    body.extend_from_slice(&3333u16.to_be_bytes());
    body
}

#[test]
fn v1_carries_tcp4_tcp6_and_unknown() {
    let tcp4 = b"PROXY TCP4 203.0.113.7 10.0.0.1 40000 3333\r\n";
    assert_eq!(measure(&with_payload(tcp4)), Start::Header(tcp4.len()));
    assert_eq!(
        read(&with_payload(tcp4)),
        Ok(Some(addr("203.0.113.7:40000")))
    );
    let tcp6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 3333\r\n";
    assert_eq!(
        read(&with_payload(tcp6)),
        Ok(Some(addr("[2001:db8::7]:40000")))
    );
    assert_eq!(read(b"PROXY UNKNOWN\r\n"), Ok(None));
    assert!(matches!(
        read(b"PROXY TCP4 not.an.ip 10.0.0.1 1 2\r\n"),
        Err(ProxyError::Malformed(_))
    ));
}

#[test]
fn v2_carries_ipv4_ipv6_local_and_unknown_families_and_ignores_tlvs() {
    let ipv4 = v2(1, 0x11, &v2_ipv4([198, 51, 100, 9], 50_000));
    assert_eq!(measure(&with_payload(&ipv4)), Start::Header(ipv4.len()));
    assert_eq!(
        read(&with_payload(&ipv4)),
        Ok(Some(addr("198.51.100.9:50000")))
    );

    let mut body = "2001:db8::9"
        .parse::<std::net::Ipv6Addr>()
        .expect("v6")
        .octets()
        .to_vec();
    body.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .expect("v6")
            .octets(),
    );
    body.extend_from_slice(&50_001u16.to_be_bytes());
    body.extend_from_slice(&3333u16.to_be_bytes());
    assert_eq!(
        read(&v2(1, 0x21, &body)),
        Ok(Some(addr("[2001:db8::9]:50001")))
    );

    // A health check from the proxy itself, and an unspecified family.
    assert_eq!(read(&v2(0, 0x00, &[])), Ok(None));
    assert_eq!(read(&v2(1, 0x00, &[])), Ok(None));

    // TLVs after the addresses (an ALPN and a NOOP) change nothing.
    let mut with_tlvs = v2_ipv4([198, 51, 100, 10], 1);
    with_tlvs.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2', 0x04, 0x00, 0x00]);
    assert_eq!(
        read(&v2(1, 0x11, &with_tlvs)),
        Ok(Some(addr("198.51.100.10:1")))
    );
}

#[test]
fn a_partial_header_waits_and_a_miners_own_bytes_are_no_header() {
    let tcp4 = b"PROXY TCP4 203.0.113.7 10.0.0.1 40000 3333\r\n";
    for end in 1..tcp4.len() {
        assert_eq!(measure(&tcp4[..end]), Start::Incomplete, "{end} bytes");
    }
    let ipv4 = v2(1, 0x11, &v2_ipv4([1, 2, 3, 4], 5));
    for end in 1..ipv4.len() {
        assert_eq!(measure(&ipv4[..end]), Start::Incomplete, "{end} bytes");
    }
    for first in [
        &b"{\"id\":1}"[..],
        b"GET / HTTP/1.1",
        &[0x16, 0x03, 0x01],
        b"PROXX",
        b"\r\n\r\nX",
    ] {
        assert_eq!(measure(first), Start::NoHeader, "{first:?}");
    }
    assert_eq!(measure(b""), Start::NoHeader);
}

#[test]
fn oversized_headers_are_refused() {
    let mut long_v1 = b"PROXY TCP4 ".to_vec();
    long_v1.resize(MAX_V1_HEADER, b'1');
    assert_eq!(
        measure(&long_v1),
        Start::Refused(ProxyError::TooLong { max: MAX_V1_HEADER })
    );
    let mut huge_v2 = V2_SIGNATURE.to_vec();
    huge_v2.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    assert_eq!(
        measure(&huge_v2),
        Start::Refused(ProxyError::TooLong { max: MAX_V2_HEADER })
    );
    let mut version_3 = V2_SIGNATURE.to_vec();
    version_3.extend_from_slice(&[0x31, 0x11, 0x00, 0x0c]);
    assert!(matches!(
        measure(&version_3),
        Start::Refused(ProxyError::Malformed(_))
    ));
}

#[test]
fn trusted_proxies_are_ips_and_cidrs() {
    let trusted = TrustedProxies::new(&[
        "10.0.0.0/8".to_owned(),
        "192.168.1.1".to_owned(),
        "2001:db8:1::/48".to_owned(),
        "not an ip".to_owned(),
    ]);
    for ip in [
        "10.200.3.4",
        "192.168.1.1",
        "2001:db8:1:ffff::1",
        "::ffff:10.0.0.9",
    ] {
        assert!(trusted.contains(ip.parse().expect("ip")), "{ip}");
    }
    for ip in ["11.0.0.1", "192.168.1.2", "2001:db8:2::1", "127.0.0.1"] {
        assert!(!trusted.contains(ip.parse().expect("ip")), "{ip}");
    }
    assert!(!TrustedProxies::default().contains("10.0.0.1".parse().expect("ip")));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        if let Start::Header(len) = measure(&bytes) {
            prop_assert!(len <= bytes.len());
            let _ = client_address(&bytes[..len]);
        }
    }

    #[test]
    fn headers_after_a_signature_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..600),
        v2_header in any::<bool>(),
    ) {
        let mut bytes = if v2_header { V2_SIGNATURE.to_vec() } else { V1_PREFIX.to_vec() };
        bytes.extend_from_slice(&tail);
        if let Start::Header(len) = measure(&bytes) {
            prop_assert!(len <= bytes.len());
            let _ = client_address(&bytes[..len]);
        }
    }
}
