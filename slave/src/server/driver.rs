//! The protocol-neutral half of a connection: one [`Session`] plus what
//! surrounds it at run time (the share rate, trust sampling, hashing on the
//! validation pool, forwarding to the master link, counters and bans). Every
//! door's framing task (Stratum lines here; WebSocket frames and Xatum later)
//! drives one of these and only encodes what it returns.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tos_pool_common::metrics::ShareOutcome;
use tos_pool_proto::v1::{BlockCandidate, MinerEvent, MinerEventKind, MinerProtocol};

use crate::policy::{ShareRate, judge_shares};
use crate::session::{
    Answer, Door, JobTemplate, Output, PendingShare, Reject, RejectCode, Request, Session,
    SessionConfig, Step,
};
use crate::validation::{HashDecision, TrustPolicy, ValidationError};

use super::ServerContext;
use super::counters::{Counter, SessionView};
use super::report::{REASON_POOL_BUSY, REASON_RATE_LIMITED, judged};

/// How long a block candidate's result is awaited for the log.
const BLOCK_RESULT_WAIT: Duration = Duration::from_secs(30);

/// The message a miner gets when the master link cannot take its share.
pub const POOL_BUSY: &str = "pool busy, share not recorded";

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
    protocol: MinerProtocol,
    rate: ShareRate,
    trust: TrustPolicy,
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
    /// A new session through `door` from `ip`, registered in the counters and
    /// reported to the master.
    pub fn new(
        ctx: Arc<ServerContext>,
        door: Door,
        protocol: MinerProtocol,
        ip: IpAddr,
        now_ms: u64,
    ) -> SessionDriver {
        let slave_index = ctx.link.slave_index().unwrap_or(0);
        let nonce = ctx.nonces.next(slave_index);
        let config = ctx.sessions.borrow().clone();
        let session = Session::new(config, door, nonce, now_ms);
        ctx.counters.open_session(session.id());
        let driver = SessionDriver {
            rate: ShareRate::new(ctx.policy.config().max_shares_per_second, now_ms),
            trust: TrustPolicy::new(ctx.trust),
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

    /// The session core, for reading.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Handles one decoded request at `now_ms`, read from the socket at
    /// `read_at_us` (µs since the Unix epoch; it starts a block candidate's
    /// timed path).
    pub async fn request(&mut self, request: Request, now_ms: u64, read_at_us: u64) -> Turn {
        let is_submit = matches!(request, Request::Submit(_));
        if is_submit && !self.rate.allow(now_ms) {
            self.ctx.counters.add(Counter::RateLimited);
            self.ctx.reports.share(
                self.session.login(),
                self.session.difficulty(),
                ShareOutcome::Invalid,
                Some(REASON_RATE_LIMITED),
            );
            return Turn {
                outputs: vec![rejected(
                    "too many shares per second (security.max_shares_per_second): raise your difficulty",
                )],
                close: None,
            };
        }
        let before = *self.session.counters();
        let difficulty = self.session.difficulty();
        let outputs = match self.session.handle(request, now_ms) {
            Step::Done(outputs) => outputs,
            Step::Hash(pending) => self.judge(*pending, now_ms).await,
        };
        let after = *self.session.counters();
        for _ in before.stale..after.stale {
            self.ctx.counters.add(Counter::Stale);
        }
        for _ in before.invalid()..after.invalid() {
            self.ctx.counters.add(Counter::Invalid);
        }
        let outputs = self.forward(outputs, read_at_us).await;
        if is_submit && let Some(outcome) = judged(&before, &after) {
            let (outcome, reason) = if outputs.iter().any(is_pool_busy) {
                (ShareOutcome::Invalid, Some(REASON_POOL_BUSY))
            } else {
                (outcome, None)
            };
            let login = self.session.login();
            self.ctx.reports.share(login, difficulty, outcome, reason);
        }
        if !self.authorized
            && let Some(login) = self.session.login()
        {
            self.ctx.reports.connected(login, self.protocol);
            self.authorized = true;
            self.update_view();
            self.event(MinerEventKind::Authorized, now_ms);
        }
        let mut close = None;
        if is_submit && let Some(reason) = judge_shares(&after, self.ctx.policy.config()) {
            let address = self.session.login().map(|login| login.address.to_string());
            self.ctx.policy.ban(self.ip, reason, address, now_ms);
            self.ctx.counters.add(Counter::Ban);
            close = Some(format!("banned: {}", reason.as_str()));
        }
        Turn { outputs, close }
    }

    /// Counts a request the codec could not read; may ban the IP.
    pub fn malformed(&mut self, now_ms: u64) -> Option<String> {
        self.session.count_malformed();
        self.ctx.counters.add(Counter::Malformed);
        let reason = self.ctx.policy.malformed(self.ip, now_ms)?;
        self.ctx.counters.add(Counter::Ban);
        Some(format!("banned: {}", reason.as_str()))
    }

    /// A new job (or the current one again, as a refresh).
    pub fn on_job(&mut self, job: Arc<JobTemplate>, now_ms: u64) -> Vec<Output> {
        self.session.on_job(job, now_ms)
    }

    /// New shared settings.
    pub fn on_config(&mut self, config: Arc<SessionConfig>) {
        self.session.set_config(config);
    }

    /// Time passed: vardiff may retarget; the hashrate estimate is refreshed.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Output> {
        let outputs = self.session.on_tick(now_ms);
        // Most sessions are idle: rebuilding their view each second would
        // only encode the same address again.
        if self.authorized && self.session.hashrate() != self.shown_hashrate {
            self.update_view();
        }
        outputs
    }

    /// The slave is draining: what to tell the miner before closing.
    pub fn drain(&mut self) -> Vec<Output> {
        self.session.drain()
    }

    async fn judge(&mut self, pending: PendingShare, now_ms: u64) -> Vec<Output> {
        let decision = if self.ctx.trust.threshold == 0 {
            HashDecision::Hash(crate::validation::Required::TrustOff)
        } else {
            let network = self
                .ctx
                .link
                .job(pending.job_id())
                .map_or(0.0, |job| job.network_difficulty.to_f64());
            self.trust
                .decide(pending.difficulty(), network, rand::random::<f64>())
        };
        let work = *pending.header().as_bytes();
        let hashed = match decision {
            HashDecision::Hash(_) => self.ctx.validation.hash(work).await,
            HashDecision::Optional => self.ctx.validation.try_hash(work).await,
        };
        match hashed {
            Ok(hash) => {
                let outputs = self.session.complete_submit(pending, &hash, now_ms);
                let valid = outputs
                    .iter()
                    .any(|output| matches!(output, Output::ForwardShare(_)));
                self.trust.record(valid);
                outputs
            }
            Err(ValidationError::Busy { .. }) => self.session.complete_unverified(pending, now_ms),
            Err(error) => {
                tracing::error!(%error, session = self.session.id(), "share not checked");
                vec![rejected(
                    "the pool cannot check shares right now: try again shortly",
                )]
            }
        }
    }

    /// Sends shares and block candidates to the master link and returns the
    /// miner-facing outputs; a share the link cannot take turns the answer
    /// into "pool busy".
    async fn forward(&mut self, outputs: Vec<Output>, read_at_us: u64) -> Vec<Output> {
        let mut result = Vec::with_capacity(outputs.len());
        let mut seq = 0;
        for output in outputs {
            match output {
                Output::ForwardShare(record) => {
                    match self.ctx.link.submit_share(record.to_proto(0)).await {
                        Ok(assigned) => {
                            seq = assigned;
                            self.ctx.counters.add(Counter::Valid);
                        }
                        Err(error) => {
                            tracing::warn!(%error, session = self.session.id(), "share not recorded");
                            self.ctx.counters.add(Counter::Busy);
                            for answer in result.iter_mut() {
                                if matches!(answer, Output::Answer(Answer::Accepted)) {
                                    *answer = rejected(POOL_BUSY);
                                }
                            }
                        }
                    }
                }
                Output::RecordRejected(record) => {
                    // Statistics only: the miner already has its answer, and a
                    // full buffer must not hold up valid shares.
                    if let Err(error) = self.ctx.link.submit_share(record.to_proto(0)).await {
                        tracing::debug!(%error, session = self.session.id(), "refused share not recorded");
                    }
                }
                Output::BlockCandidate(candidate) => {
                    self.ctx.counters.add(Counter::Block);
                    tracing::info!(
                        job = %candidate.job_id,
                        height = candidate.height,
                        address = %candidate.address,
                        worker = %candidate.worker,
                        "block candidate found"
                    );
                    let candidate = BlockCandidate {
                        read_at_us,
                        ..candidate.to_proto(0, seq)
                    };
                    match self.ctx.link.submit_block(candidate).await {
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
                        Err(error) => {
                            tracing::error!(%error, "block candidate not handed to the link")
                        }
                    }
                }
                other => result.push(other),
            }
        }
        result
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
            kind: kind as i32,
            session_id: self.session.id(),
            address: login.map(|l| l.address.to_string()).unwrap_or_default(),
            worker: login.map(|l| l.worker.clone()).unwrap_or_default(),
            protocol: self.protocol as i32,
            remote_ip: self.ip.to_string(),
            at_ms: now_ms,
            user_agent: self.session.agent().unwrap_or_default().to_owned(),
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

fn is_pool_busy(output: &Output) -> bool {
    matches!(output, Output::Answer(Answer::Rejected(reject)) if reject.message == POOL_BUSY)
}

fn rejected(message: &str) -> Output {
    Output::Answer(Answer::Rejected(Reject::with_message(
        RejectCode::Other,
        message,
    )))
}
