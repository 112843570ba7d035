//! Opening, logging in, work fan-out, and the requests around shares.

use super::*;

#[test]
fn stratum_subscribe_authorize_then_difficulty_and_work() {
    let mut session = stratum();
    let answer = subscribe(&mut session);
    assert_eq!(
        answer,
        vec![Output::Answer(Answer::Subscribed(Subscribed {
            session_id: 1,
            extranonce1: session.nonce().extranonce1,
            difficulty: 1_000,
        }))]
    );
    assert_eq!(session.agent(), Some("tosminer/1.0.0"));
    // A job before login waits.
    assert!(session.on_job(job("1", 100), T0).is_empty());

    let outputs = authorize(&mut session, &format!("{ADDRESS}.rig1"));
    let mut expected_header = job("1", 100).miner_work;
    expected_header.set_extra_nonce(&session.nonce().extra_nonce);
    assert_eq!(
        outputs,
        vec![
            Output::Answer(Answer::Accepted),
            Output::SetDifficulty(1_000),
            Output::Notify(Work {
                job_id: "1".into(),
                header: expected_header,
                target: target(1_000),
                difficulty: 1_000,
                height: 100,
                clean: true,
            }),
        ]
    );
    let login = session.login().expect("authorized");
    assert_eq!(login.address.to_string(), ADDRESS);
    assert_eq!(login.worker, "rig1");
    assert!(session.is_ready());
}

#[test]
fn later_jobs_are_notified_without_repeating_the_difficulty() {
    let mut session = mining_session();
    let mut second = (*job("2", 101)).clone();
    second.clean = false;
    let outputs = session.on_job(Arc::new(second), T0 + 1_000);
    let [Output::Notify(work)] = outputs.as_slice() else {
        panic!("expected one notify, got {outputs:?}");
    };
    assert_eq!(work.job_id, "2");
    assert!(!work.clean, "clean follows the job after the first");
    assert_eq!(work.header.extra_nonce(), session.nonce().extra_nonce);
}

#[test]
fn no_two_sessions_get_the_same_header_for_a_job() {
    let mut headers = std::collections::HashSet::new();
    for id in 1..=50 {
        let mut session = session_with(config(), Door::WebSocket, id);
        session.on_job(job("1", 100), T0);
        let outputs = authorize(&mut session, ADDRESS);
        let work = notified(&outputs);
        assert_eq!(work.len(), 1);
        assert!(headers.insert(*work[0].header.as_bytes()), "session {id}");
    }
}

#[test]
fn stratum_and_xatum_must_open_before_submitting() {
    for door in [Door::Stratum, Door::Xatum] {
        let mut session = session_with(config(), door, 1);
        let reject = refusal(&judged(submit(&mut session, "1", 5, T0)));
        assert_eq!(reject.code, RejectCode::NotSubscribed);
        assert_eq!(reject.code.code(), 25);
        assert_eq!(reject.message, "not subscribed");
        assert_eq!(session.counters().unauthorized, 1);
        assert!(session.login().is_none());
        assert!(!session.is_ready());
    }
}

#[test]
fn websocket_logs_in_without_subscribing() {
    let mut session = session_with(config(), Door::WebSocket, 1);
    assert_eq!(
        authorize(&mut session, ADDRESS),
        vec![Output::Answer(Answer::Accepted)]
    );
    assert_eq!(session.login().expect("authorized").worker, "default");
}

#[test]
fn a_bad_login_is_refused_with_its_reason() {
    let mut session = stratum();
    subscribe(&mut session);
    let reject = rejection(&authorize(&mut session, MAINNET_ADDRESS));
    assert_eq!(reject.code, RejectCode::Unauthorized);
    assert!(reject.message.contains("mainnet"), "{}", reject.message);

    let mut typo = ADDRESS.to_string();
    typo.replace_range(10..11, "q");
    let reject = rejection(&authorize(&mut session, &typo));
    assert!(reject.message.contains("checksum"), "{}", reject.message);

    let reject = rejection(&authorize(&mut session, &format!("{ADDRESS}.bad worker")));
    assert!(reject.message.contains("worker"), "{}", reject.message);
    assert_eq!(session.counters().unauthorized, 3);
    assert!(session.login().is_none());
}

#[test]
fn address_and_worker_may_come_apart() {
    let mut session = stratum();
    subscribe(&mut session);
    let outputs = done(session.handle(
        Request::Authorize {
            login: Login::Parts {
                address: ADDRESS.into(),
                worker: Some("rig7".into()),
            },
            password: None,
        },
        T0,
    ));
    assert_eq!(outputs, vec![Output::Answer(Answer::Accepted)]);
    assert_eq!(session.login().expect("authorized").worker, "rig7");
}

#[test]
fn black_and_white_lists_decide_who_may_log_in() {
    let mut blocked = config();
    blocked.addresses = AddressPolicy::new(Network::Devnet, &[ADDRESS.into()], &[]).expect("valid");
    let mut session = session_with(blocked, Door::WebSocket, 1);
    let reject = rejection(&authorize(&mut session, &format!("{ADDRESS}.rig")));
    assert_eq!(reject.code, RejectCode::Unauthorized);
    assert_eq!(reject.message, AddressRefused::Blacklisted.to_string());

    let other = tos_pool_common::address::Address::new([1; 32], Network::Devnet).to_string();
    let mut listed = config();
    listed.addresses =
        AddressPolicy::new(Network::Devnet, &[], std::slice::from_ref(&other)).expect("valid");
    let mut session = session_with(listed.clone(), Door::WebSocket, 2);
    let reject = rejection(&authorize(&mut session, ADDRESS));
    assert_eq!(reject.message, AddressRefused::NotWhitelisted.to_string());
    let mut session = session_with(listed, Door::WebSocket, 3);
    assert_eq!(
        authorize(&mut session, &other),
        vec![Output::Answer(Answer::Accepted)]
    );
}

#[test]
fn ping_and_extranonce_subscribe_are_answered() {
    let mut session = stratum();
    assert_eq!(
        done(session.handle(Request::Ping, T0)),
        vec![Output::Answer(Answer::Pong)]
    );
    assert_eq!(
        done(session.handle(Request::ExtranonceSubscribe, T0)),
        vec![Output::Answer(Answer::Accepted)]
    );
}

#[test]
fn getwork_needs_a_login_and_a_job() {
    let mut session = session_with(config(), Door::WebSocket, 1);
    let reject = rejection(&done(session.handle(Request::GetWork, T0)));
    assert_eq!(reject.code, RejectCode::Unauthorized);
    authorize(&mut session, ADDRESS);
    let reject = rejection(&done(session.handle(Request::GetWork, T0)));
    assert_eq!(reject.code, RejectCode::Other);
    assert!(reject.message.contains("no work yet"));

    session.on_job(job("1", 100), T0);
    let outputs = done(session.handle(Request::GetWork, T0));
    let [Output::Answer(Answer::Work(work))] = outputs.as_slice() else {
        panic!("expected work, got {outputs:?}");
    };
    assert_eq!(work.job_id, "1");
    assert_eq!(work.difficulty, 1_000);
    assert_eq!(work.header.extra_nonce(), session.nonce().extra_nonce);
    // The work handed out takes shares.
    pending(submit(&mut session, "1", 42, T0));
}

#[test]
fn drain_closes_with_a_reason() {
    let mut session = mining_session();
    assert_eq!(session.drain(), vec![Output::Close(CloseReason::Draining)]);
    assert!(CloseReason::Draining.to_string().contains("reconnect"));
}

#[test]
fn share_difficulty_never_exceeds_the_network_difficulty() {
    let mut easy_chain = config();
    easy_chain.vardiff.initial_difficulty = 5_000_000;
    let mut session = session_with(easy_chain, Door::WebSocket, 1);
    authorize(&mut session, ADDRESS);
    let outputs = session.on_job(job("1", 100), T0);
    let work = &notified(&outputs)[0];
    assert_eq!(work.difficulty, NETWORK_DIFFICULTY);
    assert_eq!(work.target, target(NETWORK_DIFFICULTY));
}

#[test]
fn a_resent_job_keeps_the_difficulty_it_was_sent_at() {
    let mut session = mining_session();
    let mut harder = config();
    harder.vardiff.min_difficulty = 4_000;
    session.set_config(Arc::new(harder));
    let outputs = session.on_job(job("1", 100), T0 + 500);
    assert_eq!(notified(&outputs)[0].difficulty, 1_000);
    let outputs = session.on_job(job("2", 101), T0 + 1_000);
    assert_eq!(
        outputs.first(),
        Some(&Output::SetDifficulty(4_000)),
        "a new difficulty is announced before the job that carries it"
    );
    assert_eq!(notified(&outputs)[0].difficulty, 4_000);
}

#[test]
fn vardiff_raises_a_fast_miners_difficulty_from_the_next_job() {
    let mut roomy = config();
    roomy.max_shares_per_job = 1_000;
    let mut session = session_with(roomy, Door::Stratum, 1);
    subscribe(&mut session);
    session.on_job(job("1", 100), T0);
    authorize(&mut session, ADDRESS);
    let mut now = T0;
    let mut nonce = 0;
    // 10 shares a second at difficulty 1000: 50× too fast for a 5 s target.
    while session.difficulty() == 1_000 && now < T0 + 30_000 {
        now += 100;
        nonce += 1;
        let share = pending(submit(&mut session, "1", nonce, now));
        session.complete_submit(share, &hash_of_difficulty(1_000), now);
    }
    let raised = session.difficulty();
    assert!(raised > 1_000, "difficulty stayed at 1000");
    // Shares of the job already sent are still judged at 1000.
    let share = pending(submit(&mut session, "1", 999_999, now));
    assert_eq!(share.difficulty(), 1_000);
    let outputs = session.on_job(job("2", 101), now + 1);
    assert_eq!(outputs[0], Output::SetDifficulty(raised));
    assert_eq!(notified(&outputs)[0].target, target(raised));
}

#[test]
fn timeouts_lower_a_silent_miners_difficulty() {
    let mut session = mining_session();
    for window in 1..=4 {
        let now = session.poll_timeout();
        assert_eq!(
            now,
            T0 + window * 30_000,
            "the retarget (and refresh) deadline"
        );
        let outputs = session.handle_timeout(now);
        assert!(
            !outputs.contains(&Output::Close(CloseReason::Idle)),
            "{outputs:?}"
        );
    }
    assert!(session.difficulty() < 1_000);
    assert!(session.difficulty() >= 100);
}

#[test]
fn a_quiet_connection_wakes_only_for_its_read_deadline() {
    let mut session = stratum();
    session.on_job(job("1", 100), T0);
    // Not logged in: no vardiff and no refresh, only the first-message deadline.
    assert_eq!(session.poll_timeout(), T0 + 10_000);
    assert_eq!(session.handle_timeout(T0 + 9_999), Vec::new());
    assert_eq!(
        session.handle_timeout(T0 + 10_000),
        vec![Output::Close(CloseReason::Idle)]
    );
}

#[test]
fn each_request_moves_the_read_deadline_to_the_idle_timeout() {
    let mut session = stratum();
    done(session.handle(Request::Ping, T0 + 1_000));
    assert_eq!(session.poll_timeout(), T0 + 601_000);
    session.count_malformed(T0 + 2_000);
    assert_eq!(session.poll_timeout(), T0 + 602_000);
}

#[test]
fn the_current_job_is_sent_again_after_the_refresh_period() {
    let mut session = mining_session();
    // Job "1" was sent at login (T0); a new job at T0 + 20 s moves the refresh.
    session.on_job(job("2", 101), T0 + 20_000);
    assert_eq!(
        session.poll_timeout(),
        T0 + 30_000,
        "the vardiff retarget comes first"
    );
    assert_eq!(session.handle_timeout(T0 + 30_000), Vec::new());
    assert_eq!(session.poll_timeout(), T0 + 50_000);
    let outputs = session.handle_timeout(T0 + 50_000);
    let work = notified(&outputs);
    assert_eq!(work.len(), 1, "{outputs:?}");
    assert_eq!(work[0].job_id, "2");
    assert_eq!(session.poll_timeout(), T0 + 60_000);
}

#[test]
fn a_pushed_job_is_entered_as_a_notified_one() {
    // The same session driven twice: once through `on_job`, once through
    // the writer's `push_job`; the backlog and the answers must agree.
    let mut notified_session = mining_session();
    let mut pushed_session = mining_session();
    let second = job("2", 101);
    let outputs = notified_session.on_job(Arc::clone(&second), T0 + 1_000);
    let push = pushed_session
        .push_job(Arc::clone(&second), T0 + 1_000)
        .expect("a logged-in session is sent the job");
    let work = notified(&outputs);
    assert_eq!(work.len(), 1);
    assert_eq!(push.difficulty, work[0].difficulty);
    assert_eq!(push.clean, work[0].clean);
    assert_eq!(
        push.announce_difficulty,
        outputs
            .iter()
            .any(|output| matches!(output, Output::SetDifficulty(_)))
    );
    assert_eq!(
        Work::of(
            &second,
            push.difficulty,
            push.clean,
            &pushed_session.nonce().extra_nonce
        ),
        work[0]
    );
    assert_eq!(
        pushed_session.poll_timeout(),
        notified_session.poll_timeout()
    );
    assert!(matches!(
        submit(&mut pushed_session, "2", 7, T0 + 2_000),
        Step::Hash(_)
    ));
    // A session not logged in keeps the job for later and is sent nothing.
    let mut fresh = stratum();
    assert_eq!(fresh.push_job(second, T0), None);
}

#[test]
fn a_session_timed_by_its_writer_wakes_only_for_its_read_deadline() {
    let mut session = mining_session();
    session.hand_timers_to_writer();
    session.on_job(job("2", 101), T0 + 20_000);
    assert_eq!(
        session.poll_timeout(),
        T0 + 600_000,
        "the read deadline: neither the retarget at T0 + 30 s nor the refresh at T0 + 50 s"
    );
    let push = session
        .refresh_job(T0 + 25_000)
        .expect("the current job again");
    assert_eq!(
        session.latest_job().map(|job| job.job_id.as_str()),
        Some("2")
    );
    assert!(!push.announce_difficulty);
    // The retarget that fell due at T0 + 30 s is made when the next job is
    // pushed, and the job carries its difficulty: no shares, so lower.
    let push = session
        .push_job(job("3", 102), T0 + 31_000)
        .expect("a logged-in session is sent the job");
    assert!(push.difficulty < 1_000, "{push:?}");
    assert!(push.announce_difficulty);
    assert_eq!(
        stratum().refresh_job(T0),
        None,
        "nothing to refresh before login"
    );
}

#[test]
fn keepalives_come_at_their_period() {
    let mut session = session_with(config(), Door::WebSocket, 1);
    session.set_keepalive(Some(Duration::from_secs(5)), T0);
    assert_eq!(session.poll_timeout(), T0 + 5_000);
    assert_eq!(session.handle_timeout(T0 + 5_000), vec![Output::Keepalive]);
    assert_eq!(session.poll_timeout(), T0 + 10_000);
}

#[test]
fn one_connection_may_use_only_a_few_logins() {
    let mut session = session_with(config(), Door::WebSocket, 1);
    for n in 0..MAX_LOGINS_PER_CONNECTION {
        let outputs = authorize(&mut session, &format!("{ADDRESS}.rig{n}"));
        assert_eq!(outputs[0], Output::Answer(Answer::Accepted), "login {n}");
    }
    // The same login again is no new one; a new one is refused.
    let last = format!("{ADDRESS}.rig{}", MAX_LOGINS_PER_CONNECTION - 1);
    assert_eq!(
        authorize(&mut session, &last)[0],
        Output::Answer(Answer::Accepted)
    );
    let reject = rejection(&authorize(&mut session, &format!("{ADDRESS}.other")));
    assert_eq!(reject.code, RejectCode::Unauthorized);
    assert!(reject.message.contains("too many logins"), "{reject}");
    assert_eq!(
        session.login().map(|login| login.worker.as_str()),
        Some(last.rsplit('.').next().unwrap_or_default())
    );
}

#[test]
fn a_long_agent_is_cut_at_a_character_boundary() {
    let mut session = stratum();
    done(session.handle(
        Request::Subscribe {
            agent: Some("é".repeat(MAX_AGENT_LENGTH)),
        },
        T0,
    ));
    let agent = session.agent().expect("an agent");
    assert!(agent.len() <= MAX_AGENT_LENGTH && agent.len() >= MAX_AGENT_LENGTH - 1);
    assert!(agent.chars().all(|c| c == 'é'));
}
