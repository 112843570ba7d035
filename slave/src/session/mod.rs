//! The session core: one miner connection's state machine, shared by every
//! door (Stratum, WebSocket, Xatum). No I/O and no clock: each event (a
//! request, a new job, a tick, a drain) comes with the current time in ms since
//! the Unix epoch, and the answer is a list of [`Output`]s for the connection
//! to carry out, in order.
//!
//! States: connected → subscribed (Stratum, Xatum) → authorized. Work flows once
//! authorized (and subscribed where the door requires it): each job is sent
//! with the session's own extra_nonce and the share difficulty in force at that
//! moment, which is also what its shares are judged against.
//!
//! Hashing is not done here (it is CPU-heavy and runs on the validation pool).
//! A submit takes two steps:
//! 1. [`Session::handle`] makes the cheap checks in order: not subscribed (25),
//!    unauthorized (24), job unknown (21 "job not found") or older than the
//!    backlog (21 "stale share"), duplicate nonce (22). It answers at once
//!    ([`Step::Done`]) or gives a [`PendingShare`] to hash ([`Step::Hash`]).
//! 2. [`Session::complete_submit`] takes the hash: low difficulty (23), or
//!    valid (answer `true`, a [`ShareRecord`] to forward, vardiff fed), and a
//!    [`BlockCandidate`] too when the hash meets the network target.
//!
//! The nonce is remembered in step 1, so the same nonce sent twice while the
//! first is being hashed is a duplicate. Only valid shares are forwarded;
//! refused ones are counted in [`SessionCounters`].

mod config;
mod counters;
mod job;
mod output;
mod request;
mod share;

use std::sync::Arc;

use tos_pool_common::address::MinerLogin;
use tos_pool_common::difficulty::{difficulty_of_hash, meets_target};
use tos_pool_proto::v1::ShareOutcome as Outcome;

use crate::extranonce::SessionNonce;
use crate::vardiff::Vardiff;

pub use config::{
    AddressPolicy, AddressRefused, DEFAULT_MAX_SHARES_PER_JOB, SessionConfig, SessionConfigError,
};
pub use counters::SessionCounters;
pub use job::{JobError, JobTemplate};
pub use output::{Answer, CloseReason, Output, Reject, RejectCode, Subscribed, Work};
pub use request::{Login, Request, Submit};
pub use share::{BlockCandidate, PendingShare, ShareRecord};

use job::{JobBacklog, Lookup, SessionJob};

/// The miner-facing protocol a session came through; decides whether the
/// session must be opened (subscribe, handshake) before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Door {
    /// Stratum over TCP or TLS: `mining.subscribe` first.
    Stratum,
    /// WebSocket GetWork: no subscribe step.
    WebSocket,
    /// Xatum: `handshake` first.
    Xatum,
}

impl Door {
    /// Whether the session must subscribe before it may log in or submit.
    pub fn requires_subscribe(self) -> bool {
        matches!(self, Door::Stratum | Door::Xatum)
    }
}

/// What [`Session::handle`] decided.
#[derive(Debug)]
pub enum Step {
    /// Done: carry these out.
    Done(Vec<Output>),
    /// A share to hash; then call [`Session::complete_submit`]. Boxed: it
    /// travels to the validation pool and back.
    Hash(Box<PendingShare>),
}

/// One miner connection's state.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    door: Door,
    nonce: SessionNonce,
    subscribed: bool,
    agent: Option<String>,
    login: Option<MinerLogin>,
    vardiff: Vardiff,
    /// The share difficulty last announced with SetDifficulty.
    announced_difficulty: Option<u64>,
    /// The newest job from the master, sent or not.
    latest_job: Option<Arc<JobTemplate>>,
    jobs: JobBacklog,
    counters: SessionCounters,
}

impl Session {
    /// A new connection through `door` at `now_ms`, with its extra_nonce.
    pub fn new(
        config: Arc<SessionConfig>,
        door: Door,
        nonce: SessionNonce,
        now_ms: u64,
    ) -> Session {
        Session {
            vardiff: Vardiff::new(config.vardiff, now_ms),
            jobs: JobBacklog::new(config.job_backlog),
            config,
            door,
            nonce,
            subscribed: false,
            agent: None,
            login: None,
            announced_difficulty: None,
            latest_job: None,
            counters: SessionCounters::default(),
        }
    }

    /// The session's id, unique within this slave's boot.
    pub fn id(&self) -> u64 {
        self.nonce.session_id
    }

    /// The session's extra_nonce and extranonce1.
    pub fn nonce(&self) -> &SessionNonce {
        &self.nonce
    }

    /// The door the session came through.
    pub fn door(&self) -> Door {
        self.door
    }

    /// The miner software's self-description, once subscribed.
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref()
    }

    /// Who is mining, once authorized.
    pub fn login(&self) -> Option<&MinerLogin> {
        self.login.as_ref()
    }

    /// Whether the session may receive work and submit shares.
    pub fn is_ready(&self) -> bool {
        self.login.is_some() && (self.subscribed || !self.door.requires_subscribe())
    }

    /// The share difficulty the next job will carry.
    pub fn difficulty(&self) -> u64 {
        self.vardiff.difficulty()
    }

    /// Estimated hashrate (hashes per second) from the valid shares so far.
    pub fn hashrate(&self) -> Option<f64> {
        self.vardiff.hashrate()
    }

    /// What the session has done so far.
    pub fn counters(&self) -> &SessionCounters {
        &self.counters
    }

    /// Counts a request the codec could not read; the connection answers it
    /// (code 20) and the policy layer may ban on the count.
    pub fn count_malformed(&mut self) {
        self.counters.malformed += 1;
    }

    /// Takes new shared settings (the master sent new ones). Vardiff bounds
    /// apply at once; the new difficulty, if any, from the next job.
    pub fn set_config(&mut self, config: Arc<SessionConfig>) {
        self.vardiff.set_config(config.vardiff);
        self.jobs.set_capacity(config.job_backlog);
        self.config = config;
    }

    /// Handles a request received at `now_ms`.
    pub fn handle(&mut self, request: Request, now_ms: u64) -> Step {
        let outputs = match request {
            Request::Subscribe { agent } => self.subscribe(agent),
            Request::Authorize { login, .. } => self.authorize(login, now_ms),
            Request::Submit(submit) => return self.prepare_submit(submit, now_ms),
            Request::GetWork => vec![Output::Answer(self.get_work())],
            Request::Ping => vec![Output::Answer(Answer::Pong)],
            Request::ExtranonceSubscribe => vec![Output::Answer(Answer::Accepted)],
        };
        Step::Done(outputs)
    }

    /// A new job from the master: sent at once if the session is ready,
    /// otherwise kept for when it is.
    pub fn on_job(&mut self, job: Arc<JobTemplate>, _now_ms: u64) -> Vec<Output> {
        self.latest_job = Some(Arc::clone(&job));
        if !self.is_ready() {
            return Vec::new();
        }
        self.notify(&job)
    }

    /// Time passed: vardiff may retarget (the change shows with the next job).
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Output> {
        self.vardiff.tick(now_ms);
        Vec::new()
    }

    /// The slave is draining: tell the miner to reconnect, then close.
    pub fn drain(&mut self) -> Vec<Output> {
        vec![Output::Close(CloseReason::Draining)]
    }

    /// Step 2 of a submit: judges a [`PendingShare`] by its TOS Hash V3
    /// `pow_hash`, computed from [`PendingShare::header`].
    pub fn complete_submit(
        &mut self,
        share: PendingShare,
        pow_hash: &[u8; 32],
        now_ms: u64,
    ) -> Vec<Output> {
        if share.session_id != self.id() {
            return self.refuse(Reject::with_message(
                RejectCode::Other,
                "share belongs to another session",
            ));
        }
        if !meets_target(pow_hash, &share.share_target) {
            let mut record = self.rejected_record(
                &share.login,
                &share.job.job_id,
                share.job.height,
                share.received_at_ms,
                Outcome::LowDifficulty,
            );
            record.difficulty = share.difficulty;
            record.actual_difficulty = difficulty_of_hash(pow_hash).to_u64_saturating();
            return self.refuse_share(Reject::new(RejectCode::LowDifficulty), record);
        }
        let actual = difficulty_of_hash(pow_hash).to_u64_saturating();
        let mut outputs = self.accept(&share, actual, now_ms);
        if meets_target(pow_hash, &share.job.network_target) {
            self.counters.blocks += 1;
            outputs.push(Output::BlockCandidate(BlockCandidate {
                job_id: share.job.job_id.clone(),
                height: share.job.height,
                miner_work: share.header,
                pow_hash: *pow_hash,
                address: share.login.address.to_string(),
                worker: share.login.worker.clone(),
                share_difficulty: share.difficulty,
                found_at_ms: share.received_at_ms,
            }));
        }
        outputs
    }

    /// Step 2 of a submit without hashing (trust mode): accepted at its share
    /// difficulty. It can never be a block, so the caller must hash every share
    /// it wants checked for one.
    pub fn complete_unverified(&mut self, share: PendingShare, now_ms: u64) -> Vec<Output> {
        if share.session_id != self.id() {
            return self.refuse(Reject::with_message(
                RejectCode::Other,
                "share belongs to another session",
            ));
        }
        let difficulty = share.difficulty;
        self.accept(&share, difficulty, now_ms)
    }

    fn subscribe(&mut self, agent: Option<String>) -> Vec<Output> {
        self.subscribed = true;
        if agent.is_some() {
            self.agent = agent;
        }
        vec![Output::Answer(Answer::Subscribed(Subscribed {
            session_id: self.id(),
            extranonce1: self.nonce.extranonce1,
            difficulty: self.vardiff.difficulty(),
        }))]
    }

    fn authorize(&mut self, login: Login, now_ms: u64) -> Vec<Output> {
        if self.door.requires_subscribe() && !self.subscribed {
            return self.refuse(Reject::new(RejectCode::NotSubscribed));
        }
        let network = self.config.network;
        let parsed = match &login {
            Login::Combined(text) => MinerLogin::parse(text, network),
            Login::Parts { address, worker } => {
                MinerLogin::from_parts(address, worker.as_deref(), network)
            }
        };
        let login = match parsed {
            Ok(login) => login,
            Err(error) => {
                return self.refuse(Reject::with_message(
                    RejectCode::Unauthorized,
                    error.to_string(),
                ));
            }
        };
        if let Err(refused) = self.config.addresses.check(&login.address) {
            return self.refuse(Reject::with_message(
                RejectCode::Unauthorized,
                refused.to_string(),
            ));
        }
        let first = self.login.is_none();
        self.login = Some(login);
        let mut outputs = vec![Output::Answer(Answer::Accepted)];
        if first {
            // Vardiff measures from the moment shares can start.
            self.vardiff = Vardiff::new(self.config.vardiff, now_ms);
            if let Some(job) = self.latest_job.clone() {
                outputs.extend(self.notify(&job));
            }
        }
        outputs
    }

    fn get_work(&mut self) -> Answer {
        if self.door.requires_subscribe() && !self.subscribed {
            self.counters.unauthorized += 1;
            return Answer::Rejected(Reject::new(RejectCode::NotSubscribed));
        }
        if self.login.is_none() {
            self.counters.unauthorized += 1;
            return Answer::Rejected(Reject::new(RejectCode::Unauthorized));
        }
        match self.latest_job.clone() {
            Some(job) => Answer::Work(self.send(&job)),
            None => Answer::Rejected(Reject::with_message(
                RejectCode::Other,
                "no work yet: the pool is waiting for its first job, ask again shortly",
            )),
        }
    }

    fn prepare_submit(&mut self, submit: Submit, now_ms: u64) -> Step {
        if self.door.requires_subscribe() && !self.subscribed {
            return Step::Done(self.refuse(Reject::new(RejectCode::NotSubscribed)));
        }
        let Some(login) = self.login.clone() else {
            return Step::Done(self.refuse(Reject::new(RejectCode::Unauthorized)));
        };
        let max_nonces = self.config.max_shares_per_job;
        let job = match self.jobs.lookup(&submit.job_id) {
            Lookup::Live(job) => job,
            Lookup::Expired => {
                let record =
                    self.rejected_record(&login, &submit.job_id, 0, now_ms, Outcome::Stale);
                return Step::Done(self.refuse_share(Reject::new(RejectCode::Stale), record));
            }
            Lookup::Unknown => {
                let record =
                    self.rejected_record(&login, &submit.job_id, 0, now_ms, Outcome::Stale);
                let reject = Reject::with_message(RejectCode::Stale, "job not found");
                return Step::Done(self.refuse_share(reject, record));
            }
        };
        if job.nonces.contains(&submit.nonce) {
            let (height, difficulty) = (job.template.height, job.difficulty);
            let mut record =
                self.rejected_record(&login, &submit.job_id, height, now_ms, Outcome::Duplicate);
            record.difficulty = difficulty;
            return Step::Done(self.refuse_share(Reject::new(RejectCode::Duplicate), record));
        }
        if job.nonces.len() >= max_nonces {
            return Step::Done(self.refuse(Reject::with_message(
                RejectCode::Other,
                "too many shares for this job: raise your difficulty or wait for the next job",
            )));
        }
        job.nonces.insert(submit.nonce);
        let mut header = job.header(&self.nonce.extra_nonce);
        header.set_nonce(submit.nonce);
        Step::Hash(Box::new(PendingShare {
            session_id: self.nonce.session_id,
            job: Arc::clone(&job.template),
            header,
            difficulty: job.difficulty,
            share_target: job.target(),
            login,
            received_at_ms: now_ms,
        }))
    }

    /// Counts a refusal and answers it.
    fn refuse(&mut self, reject: Reject) -> Vec<Output> {
        let counters = &mut self.counters;
        match reject.code {
            RejectCode::Stale => counters.stale += 1,
            RejectCode::Duplicate => counters.duplicate += 1,
            RejectCode::LowDifficulty => counters.low_difficulty += 1,
            RejectCode::Other => counters.other_rejected += 1,
            RejectCode::Unauthorized | RejectCode::NotSubscribed => counters.unauthorized += 1,
        }
        if reject.code != RejectCode::Stale {
            counters.consecutive_valid = 0;
        }
        vec![Output::Answer(Answer::Rejected(reject))]
    }

    /// Counts and answers a refused share, and hands it to the ledger's
    /// invalid/stale counts.
    fn refuse_share(&mut self, reject: Reject, record: ShareRecord) -> Vec<Output> {
        let mut outputs = self.refuse(reject);
        outputs.push(Output::RecordRejected(record));
        outputs
    }

    /// The ledger record of a share refused before or after hashing.
    fn rejected_record(
        &self,
        login: &MinerLogin,
        job_id: &str,
        height: u64,
        at_ms: u64,
        outcome: Outcome,
    ) -> ShareRecord {
        ShareRecord {
            job_id: job_id.to_string(),
            height,
            address: login.address.to_string(),
            worker: login.worker.clone(),
            difficulty: 0,
            actual_difficulty: 0,
            timestamp_ms: at_ms,
            session_id: self.nonce.session_id,
            outcome,
        }
    }

    fn accept(&mut self, share: &PendingShare, actual: u64, now_ms: u64) -> Vec<Output> {
        self.counters.valid += 1;
        self.counters.consecutive_valid += 1;
        self.vardiff.record_share(share.difficulty, now_ms);
        vec![
            Output::Answer(Answer::Accepted),
            Output::ForwardShare(ShareRecord {
                job_id: share.job.job_id.clone(),
                height: share.job.height,
                address: share.login.address.to_string(),
                worker: share.login.worker.clone(),
                difficulty: share.difficulty,
                actual_difficulty: actual,
                timestamp_ms: share.received_at_ms,
                session_id: share.session_id,
                outcome: Outcome::Valid,
            }),
        ]
    }

    /// Sends `job` as a notification, announcing a changed difficulty first.
    fn notify(&mut self, job: &Arc<JobTemplate>) -> Vec<Output> {
        let first = self.jobs.is_empty();
        let mut work = self.send(job);
        work.clean |= first;
        let mut outputs = Vec::with_capacity(2);
        if self.announced_difficulty != Some(work.difficulty) {
            self.announced_difficulty = Some(work.difficulty);
            outputs.push(Output::SetDifficulty(work.difficulty));
        }
        outputs.push(Output::Notify(work));
        outputs
    }

    /// The session's work for `job`, entered in the backlog at the difficulty
    /// in force now (or as it was, if the job was already sent).
    fn send(&mut self, job: &Arc<JobTemplate>) -> Work {
        if let Some(sent) = self.jobs.get(&job.job_id) {
            return self.work_of(sent);
        }
        // Never ask more of a share than of a block: a block must count as a share.
        let difficulty = self
            .vardiff
            .difficulty()
            .min(job.network_difficulty.to_u64_saturating())
            .max(1);
        let entry = SessionJob {
            template: Arc::clone(job),
            difficulty,
            nonces: Default::default(),
        };
        let work = self.work_of(&entry);
        self.jobs.push(entry);
        work
    }

    /// What the miner is sent for a job of the backlog.
    fn work_of(&self, job: &SessionJob) -> Work {
        Work {
            job_id: job.template.job_id.clone(),
            header: job.header(&self.nonce.extra_nonce),
            target: job.target(),
            difficulty: job.difficulty,
            height: job.template.height,
            clean: job.template.clean,
        }
    }
}

#[cfg(test)]
mod tests;
