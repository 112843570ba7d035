//! The protocol-neutral half of a connection: one [`Session`] plus what
//! surrounds it at run time. A request goes through the [`ShareGate`]'s
//! rate limit, the session core, hashing on the validation pool when the
//! core asks for it, and the master link; the one [`Verdict`] that comes out
//! is what the miner is answered, what the counters, metrics and events
//! record, and what the ban rule reads. The decisions themselves are pure
//! ([`super::gate`]); this file only carries them out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::link::{MinerEvent, MinerEventKind};
use crate::session::{
    Answer, JobPush, Judged, Output, PendingShare, Protocol, Reject, RejectCode, Request, Session,
    SessionConfig, Step, Verdict,
};
use crate::validation::{HashDecision, ValidationError};

use super::ServerContext;
use super::counters::{Counter, SessionView};
use super::gate::{self, ShareGate};

/// How long a block candidate's result is awaited for the log.
const BLOCK_RESULT_WAIT: Duration = Duration::from_secs(30);
/// Longest a valid share's answer waits for the share journal's sync; past
/// it the miner is told "pool busy" (the share may still be counted).
const JOURNAL_WAIT: Duration = Duration::from_secs(5);

/// What one request led to.
#[derive(Debug, Default)]
pub struct Turn {
    /// Miner-facing outputs, in order (answers and pushes).
    pub outputs: Vec<Output>,
    /// Close the connection after writing them, for this reason.
    pub close: Option<String>,
}

/// One miner connection's session and its run-time surroundings.
pub struct SessionDriver {
    ctx: Arc<ServerContext>,
    session: Session,
    ip: IpAddr,
    protocol: Protocol,
    gate: ShareGate,
    authorized: bool,
    /// The hashrate last put in the session registry.
    shown_hashrate: Option<f64>,
}

impl std::fmt::Debug for SessionDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionDriver")
            .field("session", &self.session.id())
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

impl SessionDriver {
    /// A new session through a door of `protocol` from `ip`, registered in
    /// the counters and reported to the master.
    pub fn new(
        ctx: Arc<ServerContext>,
        protocol: Protocol,
        ip: IpAddr,
        now_ms: u64,
    ) -> SessionDriver {
        let slave_index = ctx.link.slave_index().unwrap_or(0);
        let nonce = ctx.nonces.next(slave_index);
        let config = ctx.sessions.borrow().clone();
        let session = Session::new(config, protocol.door(), nonce, now_ms);
        ctx.counters.open_session(session.id());
        let driver = SessionDriver {
            gate: ShareGate::new(ctx.policy.config().max_shares_per_second, ctx.trust, now_ms),
            ctx,
            session,
            ip,
            protocol,
            authorized: false,
            shown_hashrate: None,
        };
        driver.event(MinerEventKind::Connected, now_ms);
        driver
    }

    /// The session's id.
    pub fn id(&self) -> u64 {
        self.session.id()
    }

    /// Reads the memory a job's push uses, the session core's and the
    /// driver's own (see [`Session::warm`]).
    pub fn warm(&self) -> u64 {
        let shown = self.shown_hashrate.map_or(0, f64::to_bits);
        self.session.warm() ^ shown ^ u64::from(self.authorized)
    }

    /// The session core, for reading.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Sends the door's transport keepalive every `every` (WebSocket ping).
    pub fn set_keepalive(&mut self, every: Option<Duration>, now_ms: u64) {
        self.session.set_keepalive(every, now_ms);
    }

    /// Handles one decoded request at `now_ms`, read from the socket at
    /// `read_at_us` (µs since the Unix epoch; it starts a block candidate's
    /// timed path).
    pub async fn request(&mut self, request: Request, now_ms: u64, read_at_us: u64) -> Turn {
        // An address the operator blacklisted while it was connected is
        // cut off at its next request.
        if let Some(turn) = self.blacklisted() {
            return turn;
        }
        let difficulty = self.session.difficulty();
        let step = if matches!(request, Request::Submit(_) | Request::SubmitHeader(_))
            && let Err(refused) = self.gate.admit(now_ms)
        {
            Step::Judged(Box::new(Judged::refused(refused)))
        } else {
            self.session.handle(request, now_ms)
        };
        let judged = match step {
            Step::Done(outputs) => {
                // A login with a blacklisted address is refused, whatever
                // the session core decided from the static config.
                if let Some(turn) = self.blacklisted() {
                    return turn;
                }
                self.note_login(now_ms);
                return Turn {
                    outputs,
                    close: None,
                };
            }
            Step::Judged(judged) => *judged,
            Step::Hash(pending) => self.hash(*pending, now_ms).await,
        };
        let verdict = self.forward(&judged, read_at_us).await;
        self.ctx
            .reports
            .share(self.session.login(), difficulty, verdict);
        let close = gate::ban_after(verdict, self.session.counters(), self.ctx.policy.config())
            .filter(|_| !self.ctx.policy.bans().is_whitelisted(self.ip))
            .map(|reason| {
                let address = self.session.login().map(|login| login.address.to_string());
                self.ctx.policy.ban(self.ip, reason, address, now_ms);
                self.ctx.counters.add(Counter::Ban);
                format!("banned: {}", reason.as_str())
            });
        Turn {
            outputs: vec![Output::Answer(verdict.answer())],
            close,
        }
    }

    /// The refusal and close when the session's address is on the
    /// operator's runtime blacklist.
    fn blacklisted(&self) -> Option<Turn> {
        let login = self.session.login()?;
        if !self.ctx.policy.bans().is_blacklisted(&login.address) {
            return None;
        }
        let message = "this address is blocked on this pool: mine to another address";
        tracing::info!(address = %login.address, ip = %self.ip, "blacklisted address refused");
        Some(Turn {
            outputs: vec![Output::Answer(Answer::Rejected(Reject::with_message(
                RejectCode::Unauthorized,
                message.to_owned(),
            )))],
            close: Some(format!("blacklisted address: {message}")),
        })
    }

    /// An empty message at `now_ms`: nothing to answer, but it keeps the
    /// connection's read deadline like any request.
    pub fn blank(&mut self, now_ms: u64) {
        self.session.note_request(now_ms);
    }

    /// Counts a request the codec could not read at `now_ms`; may ban the IP.
    pub fn malformed(&mut self, now_ms: u64) -> Option<String> {
        self.session.count_malformed(now_ms);
        self.ctx.counters.add(Counter::Malformed);
        let reason = self.ctx.policy.malformed(self.ip, now_ms)?;
        self.ctx.counters.add(Counter::Ban);
        Some(format!("banned: {}", reason.as_str()))
    }

    /// A new job (or the current one again, as a refresh).
    pub fn on_job(&mut self, job: Arc<crate::job::Job>, now_ms: u64) -> Vec<Output> {
        self.session.on_job(job, now_ms)
    }

    /// A new job for a writer that encodes the notify itself (see
    /// [`Session::push_job`]).
    pub fn push_job(&mut self, job: Arc<crate::job::Job>, now_ms: u64) -> Option<JobPush> {
        let pushed = self.session.push_job(job, now_ms);
        self.show_retarget();
        pushed
    }

    /// The hashrate shown for the session, refreshed when a retarget
    /// changed it.
    fn show_retarget(&mut self) {
        if self.authorized && self.session.hashrate() != self.shown_hashrate {
            self.update_view();
        }
    }

    /// The session's job refresh and vardiff retarget are the writer's
    /// (see [`Session::hand_timers_to_writer`]).
    pub fn hand_timers_to_writer(&mut self) {
        self.session.hand_timers_to_writer();
    }

    /// The writer's job refresh (see [`Session::refresh_job`]).
    pub fn refresh_job(&mut self, now_ms: u64) -> Option<JobPush> {
        let refreshed = self.session.refresh_job(now_ms);
        self.show_retarget();
        refreshed
    }

    /// New shared settings.
    pub fn on_config(&mut self, config: Arc<SessionConfig>) {
        self.session.set_config(config);
    }

    /// When the session next needs [`SessionDriver::on_timeout`], ms since
    /// the Unix epoch.
    pub fn poll_timeout(&self) -> u64 {
        self.session.poll_timeout()
    }

    /// Time passed: whatever fell due is done (see
    /// [`Session::handle_timeout`]); the hashrate shown for the session is
    /// refreshed when a retarget changed it.
    pub fn on_timeout(&mut self, now_ms: u64) -> Vec<Output> {
        let outputs = self.session.handle_timeout(now_ms);
        self.show_retarget();
        outputs
    }

    /// The slave is draining: what to tell the miner before closing.
    pub fn drain(&mut self) -> Vec<Output> {
        self.session.drain()
    }

    /// Reports the login the first time the session has one.
    fn note_login(&mut self, now_ms: u64) {
        if self.authorized {
            return;
        }
        let Some(login) = self.session.login() else {
            return;
        };
        self.ctx.reports.connected(login, self.protocol);
        self.authorized = true;
        self.update_view();
        self.event(MinerEventKind::Authorized, now_ms);
    }

    /// Hashes `pending` as the gate decides and has the session judge it.
    async fn hash(&mut self, pending: PendingShare, now_ms: u64) -> Judged {
        let decision = self.gate.hashing(&pending, rand::random::<f64>());
        let work = *pending.header().as_bytes();
        let hashed = match decision {
            HashDecision::Hash(_) => self.ctx.validation.hash(work).await,
            HashDecision::Optional => self.ctx.validation.try_hash(work).await,
        };
        match hashed {
            Ok(hash) => {
                let judged = self.session.complete_submit(pending, &hash, now_ms);
                self.gate.hashed(judged.verdict);
                judged
            }
            Err(ValidationError::Busy { .. }) => self.session.complete_unverified(pending, now_ms),
            Err(error) => {
                tracing::error!(%error, session = self.session.id(), "share not checked");
                Judged::refused(Verdict::Unchecked)
            }
        }
    }

    /// Hands a judged share's record and block to the master link and
    /// returns the final verdict: a valid share the link cannot take is
    /// "pool busy". With a share journal, a valid share is answered only
    /// once it is on disk (the block candidate does not wait for it).
    async fn forward(&mut self, judged: &Judged, read_at_us: u64) -> Verdict {
        let mut verdict = judged.verdict;
        let mut seq = 0;
        let mut journaled = None;
        if let Some(record) = &judged.record {
            match self.ctx.link.submit_journaled(record) {
                Ok((assigned, ticket)) => {
                    seq = assigned;
                    journaled = ticket;
                }
                Err(error) if verdict.is_valid() => {
                    tracing::warn!(%error, session = self.session.id(), "share not recorded");
                    verdict = gate::recorded(verdict, false);
                }
                // Statistics only: the miner has its answer either way.
                Err(error) => {
                    tracing::debug!(%error, session = self.session.id(), "refused share not recorded")
                }
            }
        }
        if let Some(candidate) = &judged.block {
            self.ctx.counters.add(Counter::Block);
            tracing::info!(
                job = %candidate.job_id,
                height = candidate.height,
                address = %candidate.address,
                worker = %candidate.worker,
                "block candidate found"
            );
            match self.ctx.link.submit_block(candidate, seq, read_at_us) {
                Ok(ticket) => {
                    tokio::spawn(async move {
                        match ticket.wait(BLOCK_RESULT_WAIT).await {
                            Ok(result) => tracing::info!(
                                accepted = result.accepted,
                                hash = %result.block_hash,
                                "block result from the master"
                            ),
                            Err(error) => tracing::warn!(%error, "no block result"),
                        }
                    });
                }
                Err(error) => tracing::error!(%error, "block candidate not handed to the link"),
            }
        }
        if let Some(ticket) = journaled
            && verdict.is_valid()
            && !ticket.wait(JOURNAL_WAIT).await
        {
            tracing::warn!(
                session = self.session.id(),
                "share not on disk in time: the share journal is failing or slow"
            );
            verdict = gate::recorded(verdict, false);
        }
        if let Some(counter) = gate::counter(verdict) {
            self.ctx.counters.add(counter);
        }
        verdict
    }

    fn update_view(&mut self) {
        self.shown_hashrate = self.session.hashrate();
        let login = self.session.login();
        self.ctx.counters.update_session(
            self.session.id(),
            SessionView {
                address: login.map(|login| login.address.to_string()),
                worker: login.map(|login| login.worker.clone()),
                hashrate: self.session.hashrate().unwrap_or(0.0),
            },
        );
    }

    fn event(&self, kind: MinerEventKind, now_ms: u64) {
        let login = self.session.login();
        self.ctx.link.miner_event(MinerEvent {
            kind,
            session_id: self.session.id(),
            address: login.map(|login| login.address.to_string()),
            worker: login.map(|login| login.worker.clone()),
            protocol: self.protocol,
            remote_ip: self.ip,
            at_ms: now_ms,
            user_agent: self.session.agent().map(str::to_owned),
        });
    }
}

impl Drop for SessionDriver {
    fn drop(&mut self) {
        self.ctx.counters.close_session(self.session.id());
        if self.authorized
            && let Some(login) = self.session.login()
        {
            self.ctx.reports.disconnected(login, self.protocol);
        }
        self.event(MinerEventKind::Disconnected, super::now_ms());
    }
}
