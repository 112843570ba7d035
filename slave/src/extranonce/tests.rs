use std::collections::HashSet;

use tos_pool_common::header::MinerWork;

use super::*;

const SALT: [u8; SALT_LENGTH] = [7; SALT_LENGTH];

fn job_work() -> MinerWork {
    MinerWork::new(&[0xab; 32], 1_700_000_000_000, 0, &[0; 32], &[0xcd; 32])
}

#[test]
fn layout_is_index_counter_salt_then_free_bytes() {
    let nonce = session_nonce(0x0102_0304, 0x1112_1314_1516_1718, &SALT);
    assert_eq!(&nonce.extra_nonce[0..4], &[1, 2, 3, 4]);
    assert_eq!(
        &nonce.extra_nonce[4..12],
        &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
    );
    assert_eq!(&nonce.extra_nonce[12..30], &SALT);
    assert_eq!(&nonce.extra_nonce[30..32], &[0, 0]);
}

#[test]
fn no_two_sessions_get_the_same_header_or_start_nonce() {
    let source = ExtraNonceSource::new(SALT);
    let other_slave = ExtraNonceSource::new(SALT);
    let mut headers = HashSet::new();
    let mut starts = HashSet::new();
    let mut ids = HashSet::new();
    for _ in 0..5_000 {
        for (source, index) in [(&source, 0), (&other_slave, 1)] {
            let nonce = source.next(index);
            let mut work = job_work();
            work.set_extra_nonce(&nonce.extra_nonce);
            assert!(headers.insert(*work.as_bytes()), "header repeated");
            if index == 0 {
                assert!(starts.insert(nonce.extranonce1), "extranonce1 repeated");
                assert!(ids.insert(nonce.session_id), "session id repeated");
            }
        }
    }
}

#[test]
fn a_restarted_slave_gets_new_headers() {
    let before = ExtraNonceSource::new(SALT).next(3);
    let after = ExtraNonceSource::new([8; SALT_LENGTH]).next(3);
    assert_eq!(before.session_id, after.session_id);
    assert_ne!(before.extra_nonce, after.extra_nonce);
    assert_ne!(before.extranonce1, after.extranonce1);
}

#[test]
fn start_nonces_are_spread_apart() {
    let a = u64::from_le_bytes(session_nonce(0, 1, &SALT).extranonce1);
    let b = u64::from_le_bytes(session_nonce(0, 2, &SALT).extranonce1);
    // Consecutive sessions start far apart, not one nonce from each other.
    assert!(a.abs_diff(b) > 1 << 32);
}

#[test]
fn random_salts_differ() {
    let a = ExtraNonceSource::with_random_salt().next(0);
    let b = ExtraNonceSource::with_random_salt().next(0);
    assert_ne!(a.extra_nonce, b.extra_nonce);
}
