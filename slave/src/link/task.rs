//! The link task: connects, says Hello, and then only moves messages and
//! time between the gRPC stream and the shared state. Protocol decisions live
//! in [`super::outbox`] and [`super::blocks`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;
use tonic::{Code, Request, Status, Streaming};
use tos_pool_proto::v1::slave_gateway_client::SlaveGatewayClient;
use tos_pool_proto::v1::{
    Goodbye, Hello, MasterMessage, SlaveMessage, master_message, slave_message,
};
use tos_pool_proto::{AUTHORIZATION_HEADER, MAX_MESSAGE_BYTES, bearer};

use super::config::LinkConfig;
use super::error::LinkError;
use super::handle::{LinkStatus, Shared, lock};
use super::inbound::{self, Inbound};
use super::outbox::{AckNotice, Welcomed};

/// Frames queued towards the gRPC stream. Small on purpose: shares wait in
/// the outbox, not here, so a block candidate is never stuck behind batches.
const STREAM_QUEUE: usize = 8;
/// Ban reports kept while the master is away.
const BANS_KEPT_OFFLINE: usize = 256;

/// How a session ended.
enum SessionEnd {
    /// Drained: Goodbye sent, stop for good.
    Closed,
    /// Lost after a Welcome; reconnect from the first backoff step.
    Lost(LinkError),
    /// The Welcome started a new boot: say Hello again at once.
    NewBoot,
}

/// Runs the link until it is closed or every handle is dropped.
pub(super) async fn run(
    shared: Arc<Shared>,
    config: LinkConfig,
    endpoint: Endpoint,
    mut events: mpsc::Receiver<SlaveMessage>,
) {
    let mut link = Link {
        shared,
        config,
        endpoint,
        offline_bans: VecDeque::new(),
    };
    let mut attempt: u32 = 0;
    loop {
        if link.should_stop() {
            break;
        }
        attempt = attempt.saturating_add(1);
        link.shared.connect_attempts.fetch_add(1, Ordering::Relaxed);
        link.shared
            .status
            .send_replace(LinkStatus::Connecting { attempt });
        let error = match link.session(&mut events).await {
            Ok(SessionEnd::Closed) => break,
            Ok(SessionEnd::NewBoot) => {
                link.went_down();
                attempt = 0;
                continue;
            }
            Ok(SessionEnd::Lost(error)) => {
                attempt = 1;
                error
            }
            Err(error) => error,
        };
        link.went_down();
        let retry_in = link
            .config
            .backoff
            .delay(attempt.saturating_sub(1), rand::random::<f64>());
        tracing::warn!(%error, attempt, retry_in_ms = retry_in.as_millis() as u64, "master link down");
        link.shared
            .status
            .send_replace(LinkStatus::Down { error, retry_in });
        if !link.wait_offline(retry_in, &mut events).await {
            break;
        }
    }
    link.went_down();
    link.shared.status.send_replace(LinkStatus::Closed);
    link.shared.finished.send_replace(true);
}

struct Link {
    shared: Arc<Shared>,
    config: LinkConfig,
    endpoint: Endpoint,
    offline_bans: VecDeque<SlaveMessage>,
}

impl Link {
    fn should_stop(&self) -> bool {
        let draining = self.shared.closing.borrow().is_some();
        *self.shared.stop.borrow() || self.drain_deadline_passed() || (draining && self.settled())
    }

    fn drain_deadline_passed(&self) -> bool {
        self.shared
            .closing
            .borrow()
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    fn went_down(&mut self) {
        self.shared.connected.store(false, Ordering::Relaxed);
        lock(&self.shared.outbox).on_disconnect();
        lock(&self.shared.blocks).on_disconnect();
    }

    /// Sleeps `delay` while the master is away, dropping advisory events and
    /// keeping ban reports. False when the link must stop instead.
    async fn wait_offline(
        &mut self,
        delay: Duration,
        events: &mut mpsc::Receiver<SlaveMessage>,
    ) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        let mut stop = self.shared.stop.subscribe();
        let mut closing = self.shared.closing.subscribe();
        loop {
            tokio::select! {
                () = &mut sleep => return !self.should_stop(),
                () = until_set(&mut stop) => return false,
                _ = closing.changed() => {
                    let deadline = *closing.borrow_and_update();
                    if self.should_stop() {
                        return false;
                    }
                    if let Some(deadline) = deadline {
                        let wake = tokio::time::Instant::from_std(deadline).min(sleep.deadline());
                        sleep.as_mut().reset(wake);
                    }
                }
                Some(event) = events.recv() => self.keep_offline(event),
            }
        }
    }

    fn keep_offline(&mut self, event: SlaveMessage) {
        if matches!(event.kind, Some(slave_message::Kind::Ban(_)))
            && self.offline_bans.len() < BANS_KEPT_OFFLINE
        {
            self.offline_bans.push_back(event);
        } else {
            self.shared.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn hello(&self) -> SlaveMessage {
        let (boot_id, resume_from_seq) = {
            let outbox = lock(&self.shared.outbox);
            (outbox.boot_id().to_owned(), outbox.acked())
        };
        let hello = Hello {
            slave_id: self.config.slave_id.clone(),
            boot_id,
            version: self.config.version.clone(),
            region: self.config.region.clone(),
            protocols: self.config.protocols.iter().map(|p| *p as i32).collect(),
            resume_from_seq,
        };
        SlaveMessage {
            kind: Some(slave_message::Kind::Hello(hello)),
        }
    }

    /// One stream: connect, Hello, Welcome, then traffic until it breaks or
    /// the drain ends it.
    async fn session(
        &mut self,
        events: &mut mpsc::Receiver<SlaveMessage>,
    ) -> Result<SessionEnd, LinkError> {
        let channel = self
            .endpoint
            .connect()
            .await
            .map_err(|error| LinkError::Transport(tos_pool_common::error::chain(&error)))?;
        let mut client = SlaveGatewayClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        send(&tx, self.hello()).await?;
        let mut request = Request::new(ReceiverStream::new(rx));
        let token = MetadataValue::try_from(bearer(&self.config.secret)).map_err(|_| {
            LinkError::Config {
                key: "master.secret",
                reason: "the secret holds characters not allowed in a header; use printable ASCII"
                    .to_owned(),
            }
        })?;
        request.metadata_mut().insert(AUTHORIZATION_HEADER, token);
        let mut inbound =
            tokio::time::timeout(self.config.welcome_timeout, client.connect(request))
                .await
                .map_err(|_| {
                    LinkError::Transport(format!(
                        "the master did not open the stream within {:?}",
                        self.config.welcome_timeout
                    ))
                })?
                .map_err(status_error)?
                .into_inner();
        let first = tokio::time::timeout(self.config.welcome_timeout, inbound.message())
            .await
            .map_err(|_| {
                LinkError::Protocol(format!(
                    "no Welcome within {:?} of Hello",
                    self.config.welcome_timeout
                ))
            })?
            .map_err(status_error)?;
        let Some(MasterMessage {
            kind: Some(master_message::Kind::Welcome(welcome)),
        }) = first
        else {
            return Err(LinkError::Protocol(
                "the first frame after Hello was not Welcome".to_owned(),
            ));
        };
        // Marked connected before the Welcome publishes `Connected`, so a
        // caller woken by the status sees `is_connected()` true.
        self.shared.connected.store(true, Ordering::Relaxed);
        let welcomed = inbound::apply(&self.shared, Inbound::Welcome(welcome));
        if matches!(welcomed, Some(Welcomed::NewBoot { .. })) {
            self.shared.connected.store(false, Ordering::Relaxed);
            return Ok(SessionEnd::NewBoot);
        }
        self.shared.welcomes.fetch_add(1, Ordering::Relaxed);
        let end = self
            .traffic(&tx, &mut inbound, events)
            .await
            .unwrap_or_else(SessionEnd::Lost);
        self.shared.connected.store(false, Ordering::Relaxed);
        Ok(end)
    }

    async fn traffic(
        &mut self,
        tx: &mpsc::Sender<SlaveMessage>,
        inbound: &mut Streaming<MasterMessage>,
        events: &mut mpsc::Receiver<SlaveMessage>,
    ) -> Result<SessionEnd, LinkError> {
        self.send_blocks(tx).await?;
        while let Some(ban) = self.offline_bans.pop_front() {
            send(tx, ban).await?;
        }
        // Replay: full batches now, the rest at the first flush tick.
        self.send_batches(tx, false).await?;
        let mut flush = ticker(self.flush_interval());
        let mut stats = ticker(self.stats_interval());
        let mut stop = self.shared.stop.subscribe();
        let mut closing = self.shared.closing.subscribe();
        let mut settings = self.shared.settings.subscribe();
        // A miner event waiting for room in the stream queue. It waits here,
        // not in an `.await` of the loop, so acks and jobs are still read
        // while the master works through a burst of events.
        let mut waiting_event: Option<SlaveMessage> = None;
        loop {
            let step = tokio::select! {
                biased;
                () = self.shared.block_ready.notified() => self.send_blocks(tx).await,
                frame = inbound.message() => match frame {
                    Ok(Some(frame)) => self.on_frame(frame),
                    Ok(None) => Err(LinkError::Transport("the master closed the stream".to_owned())),
                    Err(status) => Err(status_error(status)),
                },
                () = until_set(&mut stop) => return Ok(SessionEnd::Closed),
                () = self.shared.batch_ready.notified() => self.send_batches(tx, false).await,
                _ = flush.tick() => self.send_batches(tx, true).await,
                _ = stats.tick() => self.send_stats(tx).await,
                Some(event) = events.recv(), if waiting_event.is_none() => {
                    waiting_event = Some(event);
                    Ok(())
                }
                room = tx.reserve(), if waiting_event.is_some() => match (room, waiting_event.take()) {
                    (Ok(room), Some(event)) => {
                        room.send(event);
                        Ok(())
                    }
                    (Ok(_), None) => Ok(()),
                    (Err(_), event) => {
                        if event.is_some() {
                            self.shared.events_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(LinkError::Transport("the stream to the master ended".to_owned()))
                    }
                },
                _ = closing.changed() => { closing.borrow_and_update(); Ok(()) }
                _ = settings.changed() => {
                    settings.borrow_and_update();
                    flush = ticker(self.flush_interval());
                    stats = ticker(self.stats_interval());
                    Ok(())
                }
            };
            step?;
            if self.drain_step(tx).await? {
                return Ok(SessionEnd::Closed);
            }
        }
    }

    /// While draining: flush everything, and say Goodbye once all is acked
    /// or the deadline passed. True when the link is done.
    async fn drain_step(&mut self, tx: &mpsc::Sender<SlaveMessage>) -> Result<bool, LinkError> {
        if self.shared.closing.borrow().is_none() {
            return Ok(false);
        }
        self.send_batches(tx, true).await?;
        let settled = self.settled();
        if !settled && !self.drain_deadline_passed() {
            return Ok(false);
        }
        let goodbye = SlaveMessage {
            kind: Some(slave_message::Kind::Goodbye(Goodbye {
                reason: "draining".to_owned(),
            })),
        };
        let _ = send(tx, goodbye).await;
        tracing::info!(settled, "master link closed after drain");
        Ok(true)
    }

    fn settled(&self) -> bool {
        lock(&self.shared.outbox).is_settled() && lock(&self.shared.blocks).is_empty()
    }

    fn on_frame(&mut self, frame: MasterMessage) -> Result<(), LinkError> {
        let Some(kind) = frame.kind else {
            return Ok(());
        };
        let message = match kind {
            master_message::Kind::Welcome(welcome) => Inbound::Welcome(welcome),
            master_message::Kind::Job(job) => Inbound::Job(job),
            master_message::Kind::Ack(ack) => {
                let (notice, acked) = {
                    let mut outbox = lock(&self.shared.outbox);
                    let notice = outbox.on_ack(ack.up_to_seq);
                    if notice != AckNotice::Old {
                        self.shared.journal_acked(outbox.acked());
                    }
                    (notice, outbox.acked())
                };
                self.shared.acked.send_replace(acked);
                if let AckNotice::BeyondAssigned { acked, assigned } = notice {
                    tracing::error!(acked, assigned, "master acked shares this slave never sent");
                }
                return Ok(());
            }
            master_message::Kind::BlockResult(result) => Inbound::BlockResult(result),
            master_message::Kind::Ban(ban) => Inbound::Ban(ban),
            master_message::Kind::Unban(unban) => Inbound::Unban(unban),
            master_message::Kind::Drain(drain) => Inbound::Drain(drain),
            master_message::Kind::Settings(settings) => Inbound::Settings(settings),
            master_message::Kind::AccessLists(lists) => Inbound::AccessLists(lists),
        };
        if let Some(Welcomed::NewBoot { .. }) = inbound::apply(&self.shared, message) {
            return Err(LinkError::Protocol(
                "a Welcome in the middle of a stream started a new boot: saying Hello again"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    async fn send_blocks(&mut self, tx: &mpsc::Sender<SlaveMessage>) -> Result<(), LinkError> {
        let candidates = lock(&self.shared.blocks).take_unsent();
        for mut candidate in candidates {
            tracing::info!(
                request_id = candidate.request_id,
                job = %candidate.job_id,
                height = candidate.height,
                address = %candidate.address,
                "block candidate sent to the master"
            );
            candidate.sent_at_us = unix_us();
            send(
                tx,
                SlaveMessage {
                    kind: Some(slave_message::Kind::Block(candidate)),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Sends full batches, and with `partial` the last short one too.
    async fn send_batches(
        &mut self,
        tx: &mpsc::Sender<SlaveMessage>,
        partial: bool,
    ) -> Result<(), LinkError> {
        let max = usize::try_from(self.shared.batch_max.load(Ordering::Relaxed)).unwrap_or(1);
        loop {
            let batch = {
                let mut outbox = lock(&self.shared.outbox);
                if outbox.unsent_len() == 0 || (!partial && outbox.unsent_len() < max) {
                    return Ok(());
                }
                outbox.next_batch(max)
            };
            let Some(batch) = batch else {
                return Ok(());
            };
            send(
                tx,
                SlaveMessage {
                    kind: Some(slave_message::Kind::Shares(batch)),
                },
            )
            .await?;
        }
    }

    async fn send_stats(&mut self, tx: &mpsc::Sender<SlaveMessage>) -> Result<(), LinkError> {
        let source = lock(&self.shared.stats_source).clone();
        let Some(source) = source else {
            return Ok(());
        };
        let unacked = lock(&self.shared.outbox).unacked_len() as u64;
        let stats = super::wire::stats(source.report(), unacked, now_ms());
        send(
            tx,
            SlaveMessage {
                kind: Some(slave_message::Kind::Stats(stats)),
            },
        )
        .await
    }

    fn flush_interval(&self) -> Duration {
        let from_master = self
            .shared
            .settings
            .borrow()
            .as_ref()
            .map(|s| s.share_flush_interval_ms)
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        let interval = match from_master {
            Some(master) => master.min(self.config.share_flush_interval),
            None => self.config.share_flush_interval,
        };
        interval.max(Duration::from_millis(1))
    }

    fn stats_interval(&self) -> Duration {
        let ms = self
            .shared
            .settings
            .borrow()
            .as_ref()
            .map(|s| s.stats_interval_ms)
            .filter(|ms| *ms > 0)
            .unwrap_or(10_000);
        Duration::from_millis(ms.max(100))
    }
}

/// Ticks every `period`, the first time one period from now.
fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// Returns once the flag is set (or its sender is gone).
async fn until_set(flag: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

async fn send(tx: &mpsc::Sender<SlaveMessage>, message: SlaveMessage) -> Result<(), LinkError> {
    tx.send(message)
        .await
        .map_err(|_| LinkError::Transport("the stream to the master ended".to_owned()))
}

fn status_error(status: Status) -> LinkError {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => {
            LinkError::Unauthenticated(status.message().to_owned())
        }
        code => LinkError::Transport(format!("{code:?}: {}", status.message())),
    }
}

pub(super) use tos_pool_common::clock::unix_ms as now_ms;
use tos_pool_common::clock::unix_us;
