//! The share checks, in order, and what a valid share or a block produces.

use super::*;

#[test]
fn a_share_before_login_is_unauthorized() {
    let mut session = stratum();
    subscribe(&mut session);
    session.on_job(job("1", 100), T0);
    let reject = refusal(&judged(submit(&mut session, "1", 1, T0)));
    assert_eq!(reject.code.code(), 24);
    assert_eq!(reject.message, "unauthorized worker");
}

#[test]
fn unknown_jobs_are_not_found_and_expired_ones_stale() {
    let mut session = mining_session();
    let reject = refusal(&judged(submit(&mut session, "nope", 1, T0)));
    assert_eq!(
        (reject.code.code(), reject.message.as_str()),
        (21, "job not found")
    );

    // Backlog of 3: jobs 1..=4 sent, job 1 drops out.
    for (id, height) in [("2", 101), ("3", 102), ("4", 103)] {
        session.on_job(job(id, height), T0);
    }
    let reject = refusal(&judged(submit(&mut session, "1", 1, T0)));
    assert_eq!(
        (reject.code.code(), reject.message.as_str()),
        (21, "stale share")
    );
    pending(submit(&mut session, "2", 1, T0));
    // The unknown job counts toward the invalid-share ban, the expired one not.
    let counters = session.counters();
    assert_eq!((counters.stale, counters.other_rejected), (1, 1));
    assert_eq!(counters.invalid(), 1);
}

#[test]
fn a_job_never_sent_to_this_session_is_not_found() {
    let mut session = stratum();
    subscribe(&mut session);
    // Job arrives before login, then a newer one: only "2" was ever sent.
    session.on_job(job("1", 100), T0);
    session.on_job(job("2", 101), T0);
    authorize(&mut session, ADDRESS);
    let reject = refusal(&judged(submit(&mut session, "1", 1, T0)));
    assert_eq!(reject.message, "job not found");
    pending(submit(&mut session, "2", 1, T0));
}

#[test]
fn the_same_nonce_twice_is_a_duplicate_even_while_hashing() {
    let mut session = mining_session();
    let first = pending(submit(&mut session, "1", 77, T0));
    let reject = refusal(&judged(submit(&mut session, "1", 77, T0 + 1)));
    assert_eq!(
        (reject.code.code(), reject.message.as_str()),
        (22, "duplicate share")
    );
    let outputs = session.complete_submit(first, &hash_of_difficulty(2_000), T0 + 2);
    assert!(accepted(&outputs), "{outputs:?}");
    let reject = refusal(&judged(submit(&mut session, "1", 77, T0 + 3)));
    assert_eq!(reject.code, RejectCode::Duplicate);
    // The same nonce on another job is a different share.
    session.on_job(job("2", 101), T0);
    pending(submit(&mut session, "2", 77, T0 + 4));
    assert_eq!(session.counters().duplicate, 2);
}

#[test]
fn duplicate_memory_is_bounded_per_job_and_dropped_with_it() {
    let mut session = mining_session();
    for nonce in 0..16 {
        pending(submit(&mut session, "1", nonce, T0));
    }
    let reject = refusal(&judged(submit(&mut session, "1", 16, T0)));
    assert_eq!(reject.code, RejectCode::Other);
    assert!(reject.message.contains("too many shares"));
    for (id, height) in [("2", 101), ("3", 102), ("4", 103)] {
        session.on_job(job(id, height), T0);
    }
    // Job 1 and its nonces are gone: stale, not duplicate.
    let reject = refusal(&judged(submit(&mut session, "1", 3, T0)));
    assert_eq!(reject.code, RejectCode::Stale);
}

#[test]
fn a_hash_above_the_share_target_is_low_difficulty() {
    let mut session = mining_session();
    let share = pending(submit(&mut session, "1", 5, T0));
    assert_eq!(share.share_target(), &target(1_000));
    let outputs = session.complete_submit(share, &hash_of_difficulty(999), T0);
    let reject = refusal(&outputs);
    assert_eq!(
        (reject.code.code(), reject.message.as_str()),
        (23, "low difficulty share")
    );
    assert_eq!(session.counters().low_difficulty, 1);
    assert_eq!(session.counters().invalid(), 1);
    assert_eq!(session.counters().valid, 0);
}

#[test]
fn a_valid_share_is_answered_and_forwarded() {
    let mut session = mining_session();
    let share = pending(submit(&mut session, "1", 0x0102_0304_0506_0708, T0 + 5));
    let mut expected = job("1", 100).miner_work;
    expected.set_extra_nonce(&session.nonce().extra_nonce);
    expected.set_nonce(0x0102_0304_0506_0708);
    assert_eq!(share.header(), &expected);
    assert_eq!(
        &share.header().as_bytes()[40..48],
        &[1, 2, 3, 4, 5, 6, 7, 8]
    );

    let outputs = session.complete_submit(share, &hash_of_difficulty(5_000), T0 + 9);
    assert_eq!(
        outputs,
        Judged {
            verdict: Verdict::Accepted,
            difficulty: 1_000,
            record: Some(ShareRecord {
                job_id: "1".into(),
                height: 100,
                address: ADDRESS.into(),
                worker: "rig1".into(),
                difficulty: 1_000,
                actual_difficulty: 5_000,
                timestamp_ms: T0 + 5,
                session_id: 1,
                verdict: Verdict::Accepted,
            }),
            block: None,
        }
    );
    assert_eq!(outputs.verdict.answer(), Answer::Accepted);
    assert_eq!(session.counters().valid, 1);
    assert_eq!(session.counters().consecutive_valid, 1);
}

#[test]
fn a_share_meeting_the_network_target_is_also_a_block() {
    let mut session = mining_session();
    let share = pending(submit(&mut session, "1", 9, T0 + 5));
    let header = *share.header();
    let hash = hash_of_difficulty(NETWORK_DIFFICULTY);
    let outputs = session.complete_submit(share, &hash, T0 + 6);
    assert_eq!(outputs.verdict, Verdict::Block, "{outputs:?}");
    assert!(accepted(&outputs));
    assert_eq!(
        outputs.record.as_ref().map(|record| record.verdict),
        Some(Verdict::Block)
    );
    assert_eq!(
        outputs.block,
        Some(BlockCandidate {
            job_id: "1".into(),
            height: 100,
            miner_work: header,
            pow_hash: hash,
            address: ADDRESS.into(),
            worker: "rig1".into(),
            share_difficulty: 1_000,
            found_at_ms: T0 + 5,
        })
    );
    assert_eq!(session.counters().blocks, 1);
}

#[test]
fn real_tos_hashes_are_judged_against_the_real_target() {
    let mut easy = config();
    easy.vardiff.min_difficulty = 1;
    easy.vardiff.initial_difficulty = 16;
    easy.max_shares_per_job = 1_000;
    let mut session = session_with(easy, Door::WebSocket, 3);
    session.on_job(job("1", 100), T0);
    authorize(&mut session, ADDRESS);
    let (mut valid, mut low) = (0, 0);
    for nonce in 0..64 {
        let share = pending(submit(&mut session, "1", nonce, T0));
        let hash = tos_pool_common::pow::hash(share.header().as_bytes());
        let meets = tos_pool_common::difficulty::meets_target(&hash, &target(16));
        let outputs = session.complete_submit(share, &hash, T0);
        if meets {
            valid += 1;
            assert!(accepted(&outputs), "{outputs:?}");
        } else {
            low += 1;
            assert_eq!(refusal(&outputs).code, RejectCode::LowDifficulty);
        }
    }
    assert!(valid > 0 && low > 0, "valid {valid}, low {low}");
    assert_eq!(session.counters().valid, valid);
}

#[test]
fn shares_are_judged_at_the_difficulty_their_job_was_sent_with() {
    let mut session = mining_session();
    let mut harder = config();
    harder.vardiff.min_difficulty = 4_000;
    session.set_config(Arc::new(harder));
    session.on_job(job("2", 101), T0);
    let old = pending(submit(&mut session, "1", 1, T0));
    let new = pending(submit(&mut session, "2", 1, T0));
    assert_eq!(old.difficulty(), 1_000);
    assert_eq!(new.difficulty(), 4_000);
    let hash = hash_of_difficulty(2_000);
    let judged_old = session.complete_submit(old, &hash, T0);
    assert!(accepted(&judged_old), "{judged_old:?}");
    let Some(record) = &judged_old.record else {
        panic!("expected a forwarded share, got {judged_old:?}");
    };
    assert_eq!(record.difficulty, 1_000);
    let refused = session.complete_submit(new, &hash, T0);
    assert_eq!(refusal(&refused).code, RejectCode::LowDifficulty);
}

#[test]
fn a_share_in_flight_survives_its_job_leaving_the_backlog() {
    let mut session = mining_session();
    let share = pending(submit(&mut session, "1", 1, T0));
    for (id, height) in [("2", 101), ("3", 102), ("4", 103)] {
        session.on_job(job(id, height), T0);
    }
    let outputs = session.complete_submit(share, &hash_of_difficulty(1_000), T0);
    assert!(accepted(&outputs), "{outputs:?}");
}

#[test]
fn a_share_of_another_session_is_refused() {
    let mut first = mining_session();
    let mut second = session_with(config(), Door::WebSocket, 2);
    let share = pending(submit(&mut first, "1", 1, T0));
    let outputs = second.complete_submit(share.clone(), &hash_of_difficulty(1_000), T0);
    assert_eq!(refusal(&outputs).code, RejectCode::Other);
    let outputs = second.complete_unverified(share, T0);
    assert_eq!(refusal(&outputs).code, RejectCode::Other);
    assert_eq!(second.counters().valid, 0);
}

#[test]
fn an_unverified_share_counts_at_its_share_difficulty() {
    let mut session = mining_session();
    let share = pending(submit(&mut session, "1", 1, T0));
    let outputs = session.complete_unverified(share, T0);
    assert!(accepted(&outputs), "{outputs:?}");
    let Some(record) = &outputs.record else {
        panic!("expected a forwarded share, got {outputs:?}");
    };
    assert_eq!(record.actual_difficulty, 1_000);
}

#[test]
fn a_refused_share_resets_the_valid_streak_but_a_stale_one_does_not() {
    let mut session = mining_session();
    for nonce in 0..3 {
        let share = pending(submit(&mut session, "1", nonce, T0));
        session.complete_submit(share, &hash_of_difficulty(1_000), T0);
    }
    assert_eq!(session.counters().consecutive_valid, 3);
    // Job "1" leaves the backlog: a share for it is stale, latency and not
    // the miner's fault.
    for (id, height) in [("2", 101), ("3", 102), ("4", 103)] {
        session.on_job(job(id, height), T0);
    }
    judged(submit(&mut session, "1", 9, T0));
    assert_eq!(session.counters().consecutive_valid, 3);
    // A job the pool never issued is.
    judged(submit(&mut session, "gone", 1, T0));
    assert_eq!(session.counters().consecutive_valid, 0);
    session.count_malformed(T0);
    let counters = *session.counters();
    assert_eq!(
        (
            counters.valid,
            counters.stale,
            counters.other_rejected,
            counters.malformed
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(counters.shares(), 5);
}
