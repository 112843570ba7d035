//! The session core: one miner connection's state machine, shared by every
//! door (Stratum, WebSocket, Xatum). No I/O and no clock: each event (a
//! request, a new job, a timeout, a drain) comes with the current time in ms
//! since the Unix epoch, and the answer is a list of [`Output`]s for the
//! connection to carry out, in order. [`Session::poll_timeout`] says when the
//! session next needs the time (read deadline, vardiff retarget, job refresh,
//! keepalive); the connection sleeps until then and calls
//! [`Session::handle_timeout`].
//!
//! States: connected → subscribed (Stratum, Xatum) → authorized. A login
//! opens the session too, so a miner that authorizes without subscribing
//! (or without a Xatum handshake) is subscribed by it. Work flows once
//! authorized: each job is sent with the session's own extra_nonce and the
//! share difficulty in force at that moment, which is also what its shares
//! are judged against. A miner may fix its share difficulty (a `d=NUMBER`
//! password, `mining.suggest_difficulty`, a client-sent
//! `mining.set_difficulty`): held within the pool's bounds, vardiff off for
//! the session, in force from the next job.
//!
//! Hashing is not done here (it is CPU-heavy and runs on the validation pool).
//! A submit takes two steps:
//! 1. [`Session::handle`] makes the cheap checks in order: not subscribed (25),
//!    unauthorized (24), job unknown (21 "job not found") or older than the
//!    backlog (21 "stale share"), duplicate nonce (22). It judges the share at
//!    once ([`Step::Judged`]) or gives a [`PendingShare`] to hash ([`Step::Hash`]).
//! 2. [`Session::complete_submit`] takes the hash: low difficulty (23), or
//!    valid (vardiff fed, a [`ShareRecord`] to forward), and a
//!    [`BlockCandidate`] too when the hash meets the network target.
//!
//! Either way the share ends as one [`Judged`]: its [`Verdict`], from which
//! the answer, the counters, the metrics and the ledger record are all read.
//! The nonce is remembered in step 1, so the same nonce sent twice while the
//! first is being hashed is a duplicate.

mod clock;
mod config;
mod counters;
mod difficulty;
mod job;
mod output;
mod request;
mod share;
mod verdict;

use std::sync::Arc;
use std::time::Duration;

use tos_pool_common::address::MinerLogin;
use tos_pool_common::difficulty::{difficulty_of_hash, meets_target};

use crate::extranonce::SessionNonce;
use crate::job::Job;
use crate::vardiff::Vardiff;

pub use clock::SessionTimers;
pub use config::{
    AddressPolicy, AddressRefused, DEFAULT_MAX_SHARES_PER_JOB, PoolSettings, SessionConfig,
    SessionConfigError,
};
pub use counters::SessionCounters;
pub use difficulty::{password_difficulty, requested_difficulty};
pub use output::{Answer, CloseReason, JobPush, Output, Reject, RejectCode, Subscribed, Work};
pub use request::{HeaderSubmit, Login, Request, Submit};
pub use share::{BlockCandidate, Judged, PendingShare, ShareRecord};
pub use verdict::Verdict;

use clock::Clock;
use job::{Lookup, SentJobs, SessionJob, share_target};

/// Logins one connection may use: a new address or worker name counts, the
/// same login again does not. Past it, `authorize` is refused (24), so one
/// connection cannot spread shares over an unbounded number of workers.
pub const MAX_LOGINS_PER_CONNECTION: u32 = 8;

/// Longest miner software description kept (bytes, cut at a character
/// boundary): it travels to the master with every connection event.
pub const MAX_AGENT_LENGTH: usize = 64;

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
    /// Whether the session must be opened (subscribe, handshake, or a login,
    /// which opens it too) before it may submit.
    pub fn requires_subscribe(self) -> bool {
        matches!(self, Door::Stratum | Door::Xatum)
    }
}

/// A miner-facing protocol and its transport: what a door serves, named in
/// events, metrics and the master's session list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Stratum over plain TCP.
    Stratum,
    /// Stratum over TLS.
    StratumTls,
    /// WebSocket GetWork (ws).
    WebSocket,
    /// WebSocket GetWork over TLS (wss).
    WebSocketTls,
    /// Xatum (always TLS).
    Xatum,
}

impl Protocol {
    /// The session door the protocol speaks.
    pub fn door(self) -> Door {
        match self {
            Protocol::Stratum | Protocol::StratumTls => Door::Stratum,
            Protocol::WebSocket | Protocol::WebSocketTls => Door::WebSocket,
            Protocol::Xatum => Door::Xatum,
        }
    }

    /// The same protocol over TLS.
    pub fn over_tls(self) -> Protocol {
        match self {
            Protocol::Stratum | Protocol::StratumTls => Protocol::StratumTls,
            Protocol::WebSocket | Protocol::WebSocketTls => Protocol::WebSocketTls,
            Protocol::Xatum => Protocol::Xatum,
        }
    }

    /// The label in events and metrics: `stratum`, `stratum+tls`, `ws`,
    /// `wss`, `xatum`.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Stratum => "stratum",
            Protocol::StratumTls => "stratum+tls",
            Protocol::WebSocket => "ws",
            Protocol::WebSocketTls => "wss",
            Protocol::Xatum => "xatum",
        }
    }
}

/// What [`Session::handle`] decided.
#[derive(Debug)]
pub enum Step {
    /// A request that is not a share: carry these out.
    Done(Vec<Output>),
    /// A share judged without hashing (refused by a cheap check). Boxed
    /// like [`Step::Hash`]: a step is small and a judged share is not.
    Judged(Box<Judged>),
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
    /// Distinct logins used so far ([`MAX_LOGINS_PER_CONNECTION`]).
    logins: u32,
    vardiff: Vardiff,
    /// The share difficulty last announced with SetDifficulty.
    announced_difficulty: Option<u64>,
    /// The newest job from the master, sent or not.
    latest_job: Option<Arc<Job>>,
    jobs: SentJobs,
    counters: SessionCounters,
    clock: Clock,
    /// The job refresh and the vardiff retarget are done from outside (a
    /// writer thread refreshes all its sessions at once, and retargets each
    /// when it pushes a job): [`Session::poll_timeout`] leaves them out, so
    /// an idle session's task is not woken for them.
    timed_by_writer: bool,
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
            jobs: SentJobs::new(config.job_backlog),
            config,
            door,
            nonce,
            subscribed: false,
            agent: None,
            login: None,
            logins: 0,
            announced_difficulty: None,
            latest_job: None,
            counters: SessionCounters::default(),
            clock: Clock::new(now_ms),
            timed_by_writer: false,
        }
    }

    /// Sends a transport keepalive every `every` from `now_ms` (a door's
    /// WebSocket ping); `None` for doors without one.
    pub fn set_keepalive(&mut self, every: Option<Duration>, now_ms: u64) {
        self.clock.set_keepalive(every, now_ms);
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

    /// Reads one word of each part of the session a job's push uses (the
    /// newest job, the backlog's ends, the clock, vardiff, the
    /// extra_nonce) and returns them folded into a number of no meaning.
    /// A writer calls it for several sessions before pushing to any, so
    /// that their memory is fetched at once instead of one cache miss at a
    /// time ([`crate::server::push`]).
    pub fn warm(&self) -> u64 {
        let latest = self
            .latest_job
            .as_ref()
            .map_or(0, |job| u64::try_from(Arc::as_ptr(job).addr()).unwrap_or(0));
        latest
            ^ self.announced_difficulty.unwrap_or(0)
            ^ self.jobs.warm()
            ^ self.clock.warm()
            ^ self.vardiff.warm()
            ^ u64::from(self.nonce.extra_nonce[0])
            ^ u64::from(self.login.is_some())
    }

    /// Estimated hashrate (hashes per second) from the valid shares so far.
    pub fn hashrate(&self) -> Option<f64> {
        self.vardiff.hashrate()
    }

    /// What the session has done so far.
    pub fn counters(&self) -> &SessionCounters {
        &self.counters
    }

    /// Notes a message that is no request (a blank line) at `now_ms`: it
    /// moves the read deadline like a request, and nothing else.
    pub fn note_request(&mut self, now_ms: u64) {
        self.clock.request(now_ms);
    }

    /// Counts a request the codec could not read at `now_ms`; the connection
    /// answers it (code 20) and the policy layer may ban on the count. It
    /// still counts as a request for the read deadline.
    pub fn count_malformed(&mut self, now_ms: u64) {
        self.clock.request(now_ms);
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
        self.clock.request(now_ms);
        let outputs = match request {
            Request::Subscribe { agent } => self.subscribe(agent),
            Request::Authorize { login, password } => self.authorize(login, password, now_ms),
            Request::Submit(submit) => return self.prepare_submit(submit, now_ms),
            Request::SubmitHeader(submit) => return self.prepare_header_submit(submit, now_ms),
            Request::SetDifficulty { difficulty } => {
                self.vardiff.fix(difficulty);
                vec![Output::Answer(Answer::Accepted)]
            }
            Request::GetWork => vec![Output::Answer(self.get_work(now_ms))],
            Request::Ping => vec![Output::Answer(Answer::Pong)],
            Request::ExtranonceSubscribe | Request::HashrateReport => {
                vec![Output::Answer(Answer::Accepted)]
            }
        };
        Step::Done(outputs)
    }

    /// The newest job this session was given (sent, or kept until it is
    /// ready).
    pub fn latest_job(&self) -> Option<&Arc<Job>> {
        self.latest_job.as_ref()
    }

    /// A new job from the master: sent at once if the session is ready,
    /// otherwise kept for when it is.
    pub fn on_job(&mut self, job: Arc<Job>, now_ms: u64) -> Vec<Output> {
        self.latest_job = Some(Arc::clone(&job));
        if !self.is_ready() {
            return Vec::new();
        }
        self.notify(&job, now_ms)
    }

    /// [`Session::on_job`] for a writer that encodes the notify itself from
    /// a line made once per job ([`JobPush`]): the same bookkeeping, without
    /// building the session's [`Work`]. `None` when nothing is sent (the
    /// session is not ready).
    pub fn push_job(&mut self, job: Arc<Job>, now_ms: u64) -> Option<JobPush> {
        self.writer_retarget(now_ms);
        let push = self.is_ready().then(|| self.enter(&job, now_ms));
        self.latest_job = Some(job);
        push
    }

    /// When the session next needs [`Session::handle_timeout`], ms since the
    /// Unix epoch: the earliest of the read deadline, the keepalive, and,
    /// once the miner is logged in, the vardiff retarget and (with a job
    /// sent) the job refresh. Calling early is harmless.
    pub fn poll_timeout(&self) -> u64 {
        let clock = self.clock.next_ms(&self.config.timers, self.refreshing());
        if self.login.is_some() && !self.timed_by_writer {
            clock.min(self.vardiff.next_retarget_ms())
        } else {
            clock
        }
    }

    /// Time passed: whatever fell due by `now_ms` is done. The read deadline
    /// closes the session ([`CloseReason::Idle`]); vardiff may retarget (the
    /// change shows with the next job); the current job may be sent again;
    /// a keepalive may be due ([`Output::Keepalive`]).
    pub fn handle_timeout(&mut self, now_ms: u64) -> Vec<Output> {
        let due = self
            .clock
            .due(now_ms, &self.config.timers, self.refreshing());
        if due.read {
            return vec![Output::Close(CloseReason::Idle)];
        }
        if self.login.is_some() {
            self.vardiff.tick(now_ms);
        }
        let mut outputs = Vec::new();
        if due.refresh
            && let Some(job) = self.latest_job.clone()
        {
            outputs.extend(self.notify(&job, now_ms));
        }
        if due.keepalive {
            outputs.push(Output::Keepalive);
        }
        outputs
    }

    /// Whether the job refresh is armed: work flows and there is a job.
    fn refreshing(&self) -> bool {
        self.latest_job.is_some() && self.is_ready() && !self.timed_by_writer
    }

    /// From now on the job refresh and the vardiff retarget are the
    /// caller's, not deadlines of [`Session::poll_timeout`]: the caller
    /// pushes every job ([`Session::push_job`]) and refreshes the current
    /// one ([`Session::refresh_job`]), and each of those retargets first
    /// when the retarget is due. A new difficulty shows with the next job
    /// either way, so the miner sees the same; only the hashrate estimate
    /// may wait for that job.
    pub fn hand_timers_to_writer(&mut self) {
        self.timed_by_writer = true;
    }

    /// The writer's job refresh: the newest job
    /// ([`Session::latest_job`]) sent again (at the difficulty it was sent
    /// at), as [`Session::push_job`] gives it; `None` when the session has
    /// nothing to refresh.
    pub fn refresh_job(&mut self, now_ms: u64) -> Option<JobPush> {
        if !self.is_ready() {
            return None;
        }
        self.writer_retarget(now_ms);
        let job = self.latest_job.clone()?;
        Some(self.enter(&job, now_ms))
    }

    /// A retarget that fell due, for a session whose writer keeps its
    /// timers.
    fn writer_retarget(&mut self, now_ms: u64) {
        if self.timed_by_writer && self.login.is_some() {
            self.vardiff.tick(now_ms);
        }
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
    ) -> Judged {
        if share.session_id != self.id() {
            return self.judge(Judged::refused(Verdict::WrongSession));
        }
        let actual = difficulty_of_hash(pow_hash).to_u64_saturating();
        if !meets_target(pow_hash, &share.share_target) {
            let mut record = self.rejected_record(
                &share.login,
                &share.job.job_id,
                share.job.height,
                share.received_at_ms,
                Verdict::LowDifficulty,
            );
            record.difficulty = share.difficulty;
            record.actual_difficulty = actual;
            return self.refuse_share(record);
        }
        if !meets_target(pow_hash, &share.job.network_target) {
            return self.accept(&share, actual, Verdict::Accepted, now_ms);
        }
        let mut judged = self.accept(&share, actual, Verdict::Block, now_ms);
        judged.block = Some(BlockCandidate {
            job_id: share.job.job_id.clone(),
            height: share.job.height,
            miner_work: share.header,
            pow_hash: *pow_hash,
            address: share.login.address.to_string(),
            worker: share.login.worker.clone(),
            share_difficulty: share.difficulty,
            found_at_ms: share.received_at_ms,
        });
        judged
    }

    /// Step 2 of a submit without hashing (trust mode): accepted at its share
    /// difficulty. It can never be a block, so the caller must hash every share
    /// it wants checked for one.
    pub fn complete_unverified(&mut self, share: PendingShare, now_ms: u64) -> Judged {
        if share.session_id != self.id() {
            return self.judge(Judged::refused(Verdict::WrongSession));
        }
        let difficulty = share.difficulty;
        self.accept(&share, difficulty, Verdict::Accepted, now_ms)
    }

    fn subscribe(&mut self, agent: Option<String>) -> Vec<Output> {
        self.subscribed = true;
        if let Some(agent) = agent {
            self.agent = Some(truncated(agent, MAX_AGENT_LENGTH));
        }
        vec![Output::Answer(Answer::Subscribed(Subscribed {
            session_id: self.id(),
            extranonce1: self.nonce.extranonce1,
            difficulty: self.vardiff.difficulty(),
        }))]
    }

    fn authorize(&mut self, login: Login, password: Option<String>, now_ms: u64) -> Vec<Output> {
        let fixed = match password.as_deref().map(password_difficulty) {
            Some(Err(reason)) => {
                return self.refuse(Reject::with_message(RejectCode::Unauthorized, reason));
            }
            Some(Ok(fixed)) => fixed,
            None => None,
        };
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
        if self.login.as_ref() != Some(&login) {
            if self.logins >= MAX_LOGINS_PER_CONNECTION {
                return self.refuse(Reject::with_message(
                    RejectCode::Unauthorized,
                    format!(
                        "too many logins on one connection ({MAX_LOGINS_PER_CONNECTION}): open one connection per worker"
                    ),
                ));
            }
            self.logins += 1;
        }
        self.login = Some(login);
        // A login opens the session: miners written for other pools log in
        // without subscribing (or without a handshake).
        self.subscribed = true;
        if let Some(difficulty) = fixed {
            self.vardiff.fix(difficulty);
        }
        let mut outputs = vec![Output::Answer(Answer::Accepted)];
        if first {
            // Vardiff measures from the moment shares can start.
            self.vardiff.restart(now_ms);
            if let Some(job) = self.latest_job.clone() {
                outputs.extend(self.notify(&job, now_ms));
            }
        }
        outputs
    }

    fn get_work(&mut self, now_ms: u64) -> Answer {
        if self.door.requires_subscribe() && !self.subscribed {
            self.counters.unauthorized += 1;
            return Answer::Rejected(Reject::new(RejectCode::NotSubscribed));
        }
        if self.login.is_none() {
            self.counters.unauthorized += 1;
            return Answer::Rejected(Reject::new(RejectCode::Unauthorized));
        }
        match self.latest_job.clone() {
            Some(job) => {
                self.clock.job_sent(now_ms, &self.config.timers);
                Answer::Work(self.send(&job))
            }
            None => Answer::Rejected(Reject::with_message(
                RejectCode::Other,
                "no work yet: the pool is waiting for its first job, ask again shortly",
            )),
        }
    }

    /// The login a share is credited to, or the refusal of a share sent
    /// before the session may submit.
    fn admit_share(&mut self) -> Result<MinerLogin, Step> {
        if self.door.requires_subscribe() && !self.subscribed {
            return Err(Step::Judged(Box::new(
                self.judge(Judged::refused(Verdict::NotSubscribed)),
            )));
        }
        match self.login.clone() {
            Some(login) => Ok(login),
            None => Err(Step::Judged(Box::new(
                self.judge(Judged::refused(Verdict::Unauthorized)),
            ))),
        }
    }

    /// A share named by its header: judged as a share for the job (live or
    /// expired) whose header it is, or as for an unknown job.
    fn prepare_header_submit(&mut self, submit: HeaderSubmit, now_ms: u64) -> Step {
        let login = match self.admit_share() {
            Ok(login) => login,
            Err(refused) => return refused,
        };
        let Some(job_id) = self
            .jobs
            .job_of_header(&self.nonce.extra_nonce, &submit.header)
        else {
            return Step::Judged(Box::new(self.judge(Judged::refused(Verdict::UnknownJob))));
        };
        let submit = Submit {
            job_id,
            nonce: submit.nonce,
        };
        self.submit_for_job(login, submit, now_ms)
    }

    fn prepare_submit(&mut self, submit: Submit, now_ms: u64) -> Step {
        match self.admit_share() {
            Ok(login) => self.submit_for_job(login, submit, now_ms),
            Err(refused) => refused,
        }
    }

    /// The checks of a share from a session that may submit.
    fn submit_for_job(&mut self, login: MinerLogin, submit: Submit, now_ms: u64) -> Step {
        let max_nonces = self.config.max_shares_per_job;
        let job = match self.jobs.lookup(&submit.job_id) {
            Lookup::Live(job) => job,
            // Recorded with the job's own id and height, never the
            // miner's text.
            Lookup::Expired(job) => {
                let record =
                    self.rejected_record(&login, &job.job_id, job.height, now_ms, Verdict::Stale);
                return Step::Judged(Box::new(self.refuse_share(record)));
            }
            // Never recorded: the id is the miner's own text, and a share
            // the pool never asked for is no one's stale share.
            Lookup::Unknown => {
                return Step::Judged(Box::new(self.judge(Judged::refused(Verdict::UnknownJob))));
            }
        };
        if job.has_nonce(submit.nonce) {
            let (height, difficulty) = (job.template.height, job.difficulty);
            let mut record =
                self.rejected_record(&login, &submit.job_id, height, now_ms, Verdict::Duplicate);
            record.difficulty = difficulty;
            return Step::Judged(Box::new(self.refuse_share(record)));
        }
        if job.nonce_count() >= max_nonces {
            return Step::Judged(Box::new(
                self.judge(Judged::refused(Verdict::TooManyForJob)),
            ));
        }
        job.add_nonce(submit.nonce);
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

    /// Counts and answers a refused request that is not a share (a login
    /// or a getwork before it may be made).
    fn refuse(&mut self, reject: Reject) -> Vec<Output> {
        self.counters.unauthorized += 1;
        self.counters.consecutive_valid = 0;
        vec![Output::Answer(Answer::Rejected(reject))]
    }

    /// Counts a judged share.
    fn judge(&mut self, judged: Judged) -> Judged {
        self.counters.count(judged.verdict);
        judged
    }

    /// A refused share with its ledger record (the invalid and stale counts).
    fn refuse_share(&mut self, record: ShareRecord) -> Judged {
        self.judge(Judged {
            verdict: record.verdict,
            difficulty: record.difficulty,
            record: Some(record),
            block: None,
        })
    }

    /// The ledger record of a share refused before or after hashing.
    fn rejected_record(
        &self,
        login: &MinerLogin,
        job_id: &str,
        height: u64,
        at_ms: u64,
        verdict: Verdict,
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
            verdict,
        }
    }

    /// A valid share (`verdict` is `Accepted` or `Block`): counted, fed to
    /// vardiff, and recorded for crediting.
    fn accept(
        &mut self,
        share: &PendingShare,
        actual: u64,
        verdict: Verdict,
        now_ms: u64,
    ) -> Judged {
        self.vardiff.record_share(share.difficulty, now_ms);
        self.judge(Judged {
            verdict,
            difficulty: share.difficulty,
            record: Some(ShareRecord {
                job_id: share.job.job_id.clone(),
                height: share.job.height,
                address: share.login.address.to_string(),
                worker: share.login.worker.clone(),
                difficulty: share.difficulty,
                actual_difficulty: actual,
                timestamp_ms: share.received_at_ms,
                session_id: share.session_id,
                verdict,
            }),
            block: None,
        })
    }

    /// Sends `job` as a notification, announcing a changed difficulty first;
    /// the next refresh is a full period from `now_ms`.
    fn notify(&mut self, job: &Arc<Job>, now_ms: u64) -> Vec<Output> {
        let push = self.enter(job, now_ms);
        let mut outputs = Vec::with_capacity(2);
        if push.announce_difficulty {
            outputs.push(Output::SetDifficulty(push.difficulty));
        }
        let mut work = self.work(job, push.difficulty);
        work.clean = push.clean;
        outputs.push(Output::Notify(work));
        outputs
    }

    /// Enters `job` as sent at `now_ms`: in the backlog at the difficulty in
    /// force now (or as it was, if the job was already sent), the refresh a
    /// full period away, the difficulty noted as announced.
    fn enter(&mut self, job: &Arc<Job>, now_ms: u64) -> JobPush {
        self.clock.job_sent(now_ms, &self.config.timers);
        let first = self.jobs.is_empty();
        let difficulty = self.enter_in_backlog(job);
        let announce_difficulty = self.announced_difficulty != Some(difficulty);
        self.announced_difficulty = Some(difficulty);
        JobPush {
            difficulty,
            announce_difficulty,
            clean: job.clean || first,
        }
    }

    /// The share difficulty `job` is sent at: as it was if it was already
    /// sent, else the difficulty in force now, with the job entered in the
    /// backlog.
    fn enter_in_backlog(&mut self, job: &Arc<Job>) -> u64 {
        if let Some(sent) = self.jobs.get(job) {
            return sent.difficulty;
        }
        // Never ask more of a share than of a block: a block must count as a share.
        let difficulty = self
            .vardiff
            .difficulty()
            .min(job.network_difficulty.to_u64_saturating())
            .max(1);
        self.jobs.push(SessionJob {
            template: Arc::clone(job),
            difficulty,
            nonces: None,
        });
        difficulty
    }

    /// The session's work for `job`, entered in the backlog (see
    /// [`Session::enter_in_backlog`]).
    fn send(&mut self, job: &Arc<Job>) -> Work {
        let difficulty = self.enter_in_backlog(job);
        self.work(job, difficulty)
    }

    /// What the miner is sent for `job` at `difficulty`.
    fn work(&self, job: &Job, difficulty: u64) -> Work {
        Work::of(job, difficulty, job.clean, &self.nonce.extra_nonce)
    }
}

impl Work {
    /// `job` as sent at share `difficulty` to a session with `extra_nonce`.
    pub fn of(job: &Job, difficulty: u64, clean: bool, extra_nonce: &[u8; 32]) -> Work {
        let mut header = job.miner_work;
        header.set_extra_nonce(extra_nonce);
        Work {
            job_id: job.job_id.clone(),
            header,
            target: share_target(difficulty),
            difficulty,
            height: job.height,
            clean,
        }
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncated(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests;
