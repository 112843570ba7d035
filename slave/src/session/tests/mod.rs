//! The session core driven step by step with made-up times.

mod config;
mod flow;
mod forms;
mod shares;

use std::sync::Arc;
use std::time::Duration;

use tos_pool_common::difficulty::{Difficulty, Target};
use tos_pool_common::header::MinerWork;
use tos_pool_common::network::Network;

use super::*;
use crate::extranonce::{SALT_LENGTH, session_nonce};
use crate::vardiff::VardiffConfig;

/// A devnet address (the TOS.md key pair).
const ADDRESS: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";
/// A mainnet address: the wrong network for these sessions.
const MAINNET_ADDRESS: &str = "tos1qsl6sj2u0gp37tr6drrq964rd4d8gnaxnezgytmt0cfltnp2wsgqqak28je";
/// Start of every test's clock, ms since the epoch.
const T0: u64 = 1_700_000_000_000;
const NETWORK_DIFFICULTY: u64 = 1_000_000;

fn config() -> SessionConfig {
    SessionConfig {
        network: Network::Devnet,
        vardiff: VardiffConfig {
            enabled: true,
            initial_difficulty: 1_000,
            min_difficulty: 100,
            max_difficulty: 1_000_000_000,
            target_time: Duration::from_secs(5),
            retarget: Duration::from_secs(30),
            variance_percent: 30.0,
        },
        job_backlog: 3,
        max_shares_per_job: 16,
        addresses: AddressPolicy::default(),
        timers: SessionTimers {
            first_message_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            job_refresh: Duration::from_secs(30),
        },
    }
}

fn session_with(config: SessionConfig, door: Door, id: u64) -> Session {
    let nonce = session_nonce(7, id, &[9; SALT_LENGTH]);
    Session::new(Arc::new(config), door, nonce, T0)
}

fn stratum() -> Session {
    session_with(config(), Door::Stratum, 1)
}

fn job(id: &str, height: u64) -> Arc<Job> {
    let difficulty = Difficulty::from_u64(NETWORK_DIFFICULTY).expect("non-zero");
    let work = MinerWork::new(&[height as u8; 32], T0, 0, &[0; 32], &[0x8c; 32]);
    Arc::new(Job::new(id, height, work, difficulty))
}

/// The outputs of a request that is not a share.
fn done(step: Step) -> Vec<Output> {
    match step {
        Step::Done(outputs) => outputs,
        Step::Judged(judged) => panic!("expected an answer, got a judged share: {judged:?}"),
        Step::Hash(share) => panic!("expected an answer, got a share to hash: {share:?}"),
    }
}

/// The verdict of a share judged without hashing.
fn judged(step: Step) -> Judged {
    match step {
        Step::Judged(judged) => *judged,
        Step::Done(outputs) => panic!("expected a judged share, got {outputs:?}"),
        Step::Hash(share) => panic!("expected a judged share, got a share to hash: {share:?}"),
    }
}

/// The share of a request that must need hashing.
fn pending(step: Step) -> PendingShare {
    match step {
        Step::Hash(share) => *share,
        Step::Judged(judged) => panic!("expected a share to hash, got {judged:?}"),
        Step::Done(outputs) => panic!("expected a share to hash, got {outputs:?}"),
    }
}

/// The rejection in the outputs of a request that is not a share.
fn rejection(outputs: &[Output]) -> Reject {
    match outputs {
        [Output::Answer(Answer::Rejected(reject))] => reject.clone(),
        other => panic!("expected one rejection, got {other:?}"),
    }
}

/// The miner's refusal of a judged share. A refused share of a logged-in
/// miner for the ledger's counts (stale, duplicate, low difficulty) must
/// carry its record with the same verdict; no other refusal may.
fn refusal(judged: &Judged) -> Reject {
    let recorded = matches!(
        judged.verdict,
        Verdict::Stale | Verdict::Duplicate | Verdict::LowDifficulty
    );
    match &judged.record {
        Some(record) => {
            assert!(
                recorded,
                "only stale, duplicate and low difficulty shares are recorded: {judged:?}"
            );
            assert_eq!(record.verdict, judged.verdict, "{judged:?}");
        }
        None => assert!(!recorded, "a refused share must be recorded: {judged:?}"),
    }
    assert_eq!(judged.block, None, "{judged:?}");
    match judged.verdict.answer() {
        Answer::Rejected(reject) => reject,
        other => panic!("expected a refusal, got {other:?} for {judged:?}"),
    }
}

/// Whether a judged share is answered `true`.
fn accepted(judged: &Judged) -> bool {
    judged.verdict.answer() == Answer::Accepted
}

fn subscribe(session: &mut Session) -> Vec<Output> {
    done(session.handle(
        Request::Subscribe {
            agent: Some("tosminer/1.0.0".into()),
        },
        T0,
    ))
}

fn authorize(session: &mut Session, login: &str) -> Vec<Output> {
    done(session.handle(
        Request::Authorize {
            login: Login::Combined(login.into()),
            password: Some("x".into()),
        },
        T0,
    ))
}

/// A subscribed, authorized Stratum session that was sent job "1".
fn mining_session() -> Session {
    let mut session = stratum();
    subscribe(&mut session);
    session.on_job(job("1", 100), T0);
    authorize(&mut session, &format!("{ADDRESS}.rig1"));
    session
}

fn submit(session: &mut Session, job_id: &str, nonce: u64, now_ms: u64) -> Step {
    session.handle(
        Request::Submit(Submit {
            job_id: job_id.into(),
            nonce,
        }),
        now_ms,
    )
}

/// A hash whose difficulty is at least `difficulty` (and close to it).
fn hash_of_difficulty(difficulty: u64) -> [u8; 32] {
    Difficulty::from_u64(difficulty)
        .expect("non-zero")
        .target()
        .0
}

fn target(difficulty: u64) -> Target {
    Difficulty::from_u64(difficulty).expect("non-zero").target()
}

fn notified(outputs: &[Output]) -> Vec<Work> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Notify(work) => Some(work.clone()),
            _ => None,
        })
        .collect()
}
