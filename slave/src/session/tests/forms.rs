//! The forms miners written for other pools use: a login without a
//! subscribe or handshake, a difficulty of their own (`d=` password,
//! suggest/set_difficulty), a share named by its header.

use super::*;

fn authorize_with(session: &mut Session, password: &str) -> Vec<Output> {
    done(session.handle(
        Request::Authorize {
            login: Login::Combined(format!("{ADDRESS}.rig1")),
            password: Some(password.into()),
        },
        T0,
    ))
}

fn ask_difficulty(session: &mut Session, difficulty: u64) -> Vec<Output> {
    done(session.handle(Request::SetDifficulty { difficulty }, T0))
}

fn difficulties(outputs: &[Output]) -> Vec<u64> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::SetDifficulty(difficulty) => Some(*difficulty),
            _ => None,
        })
        .collect()
}

/// Valid shares at `difficulty`, one every 10 ms, and time past several
/// retargets: a free session's vardiff would have moved.
fn flood(session: &mut Session, job_id: &str, difficulty: u64) {
    for n in 0..12u64 {
        let share = pending(submit(session, job_id, n, T0 + n * 10));
        let judged = session.complete_submit(share, &hash_of_difficulty(difficulty), T0 + n * 10);
        assert!(accepted(&judged), "{judged:?}");
    }
    session.handle_timeout(T0 + 120_000);
}

#[test]
fn a_login_opens_the_session_without_subscribe_or_handshake() {
    for door in [Door::Stratum, Door::Xatum] {
        let mut session = session_with(config(), door, 1);
        session.on_job(job("1", 100), T0);
        let outputs = authorize(&mut session, ADDRESS);
        assert_eq!(outputs[0], Output::Answer(Answer::Accepted), "{door:?}");
        assert_eq!(difficulties(&outputs), vec![1_000]);
        assert_eq!(notified(&outputs).len(), 1, "work at once: {outputs:?}");
        assert!(session.is_ready());
        pending(submit(&mut session, "1", 5, T0));
    }
}

#[test]
fn a_password_difficulty_is_fixed_within_the_bounds() {
    let mut session = stratum();
    session.on_job(job("1", 100), T0);
    let outputs = authorize_with(&mut session, "x,d=50000");
    assert_eq!(difficulties(&outputs), vec![50_000]);
    assert_eq!(notified(&outputs)[0].target, target(50_000));
    flood(&mut session, "1", 50_000);
    assert_eq!(session.difficulty(), 50_000, "vardiff is off");
    let outputs = session.on_job(job("2", 101), T0 + 120_000);
    assert_eq!(notified(&outputs)[0].difficulty, 50_000);

    let mut low = session_with(config(), Door::Stratum, 2);
    authorize_with(&mut low, "d=5");
    assert_eq!(low.difficulty(), 100, "raised to min_difficulty");
}

#[test]
fn a_bad_password_difficulty_is_refused_with_what_to_send() {
    let mut session = stratum();
    let reject = rejection(&authorize_with(&mut session, "d=fast"));
    assert_eq!(reject.code, RejectCode::Unauthorized);
    assert!(reject.message.contains("d=NUMBER"), "{}", reject.message);
    assert!(session.login().is_none());
    assert!(!session.is_ready());
}

#[test]
fn a_suggested_difficulty_is_clamped_and_holds() {
    // Before the login: the first job carries it.
    let mut session = stratum();
    subscribe(&mut session);
    session.on_job(job("1", 100), T0);
    assert_eq!(
        ask_difficulty(&mut session, 7),
        vec![Output::Answer(Answer::Accepted)]
    );
    let outputs = authorize(&mut session, ADDRESS);
    assert_eq!(
        difficulties(&outputs),
        vec![100],
        "raised to min_difficulty"
    );

    // After it: from the next job, and vardiff leaves it there.
    assert_eq!(
        ask_difficulty(&mut session, 20_000),
        vec![Output::Answer(Answer::Accepted)],
        "nothing sent until the next job"
    );
    let outputs = session.on_job(job("2", 101), T0 + 1);
    assert_eq!(difficulties(&outputs), vec![20_000]);
    assert_eq!(notified(&outputs)[0].target, target(20_000));
    flood(&mut session, "2", 20_000);
    assert_eq!(session.difficulty(), 20_000);

    ask_difficulty(&mut session, u64::MAX);
    assert_eq!(
        session.difficulty(),
        1_000_000_000,
        "lowered to max_difficulty"
    );
}

#[test]
fn a_share_may_name_its_job_by_header() {
    let mut session = session_with(config(), Door::WebSocket, 3);
    let header_submit = |session: &mut Session, header: MinerWork, nonce: u64| {
        session.handle(Request::SubmitHeader(HeaderSubmit { header, nonce }), T0)
    };
    let before = notified(&session.on_job(job("1", 100), T0));
    assert!(before.is_empty());
    let foreign = MinerWork::new(&[1; 32], T0, 0, &[0; 32], &[0x8c; 32]);
    let reject = refusal(&judged(header_submit(&mut session, foreign, 1)));
    assert_eq!(reject.code, RejectCode::Unauthorized);

    let work = notified(&authorize(&mut session, ADDRESS)).remove(0);
    let mut sent_back = work.header;
    sent_back.set_nonce(0x1234);
    let share = pending(header_submit(&mut session, sent_back, 42));
    assert_eq!(share.job.job_id, "1");
    assert_eq!(share.header.nonce(), 42);
    let reject = refusal(&judged(header_submit(&mut session, work.header, 42)));
    assert_eq!(
        reject.code,
        RejectCode::Duplicate,
        "the same share by header"
    );

    // Another session's header for the same job is no job of this one.
    let mut other = session_with(config(), Door::WebSocket, 4);
    other.on_job(job("1", 100), T0);
    let theirs = notified(&authorize(&mut other, ADDRESS)).remove(0).header;
    let reject = refusal(&judged(header_submit(&mut session, theirs, 43)));
    assert_eq!(reject.code, RejectCode::Stale);
}
