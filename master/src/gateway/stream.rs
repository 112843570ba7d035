//! One slave's stream, from Hello to its end: a task that moves frames
//! between the slave, the ledger, the block path and the fan-out of jobs.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tonic::{Status, Streaming};
use tos_pool_common::clock::{unix_ms, unix_us};
use tos_pool_proto::v1::{
    Ack, BlockCandidate, Hello, MasterMessage, ShareBatch, SlaveMessage, Welcome, master_message,
    slave_message,
};

use super::outbound::{Outbox, PushError};
use super::registry::SlaveInfo;
use super::{Shared, ban_sync, lock};
use crate::blocks::CandidateSource;
use crate::ledger::LedgerError;

/// Share batches waiting for the stream's ledger writer at most; beyond it
/// the stream stops reading (the slave's own buffer holds its shares). Also
/// the most batches the writer sends to Redis in one pipeline.
const BATCHES_QUEUED: usize = 4;

/// Who is on the other end of a registered stream.
#[derive(Debug, Clone)]
struct Slave {
    slave_id: String,
    boot_id: String,
    index: u32,
    stream_id: u64,
}

/// Frees the slave's index when its stream task ends, however it ends.
struct Registered {
    shared: Arc<Shared>,
    index: u32,
    stream_id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.shared.registry).release(self.index, self.stream_id);
    }
}

/// Runs one stream to its end.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut inbound: Streaming<SlaveMessage>,
    outbox: Outbox,
    peer: Option<SocketAddr>,
) {
    let hello = match first_hello(&shared, &mut inbound).await {
        Ok(hello) => hello,
        Err(status) => {
            tracing::warn!(peer = ?peer, reason = status.message(), "slave stream refused");
            outbox.close(status);
            return;
        }
    };
    let acked_seq = match shared
        .ledger
        .acked_seq(&hello.slave_id, &hello.boot_id)
        .await
    {
        Ok(seq) => seq,
        Err(error) => {
            tracing::warn!(slave = %hello.slave_id, %error, "cannot read the slave's ack point");
            outbox.close(Status::unavailable(format!(
                "the share ledger is unavailable ({error}): reconnect later"
            )));
            return;
        }
    };
    // Subscribe before reading the current job, so no job falls in between.
    let feed = shared.feed.subscribe();
    let info = SlaveInfo::new(
        hello.slave_id.clone(),
        hello.boot_id.clone(),
        hello.region.clone(),
        hello.version.clone(),
        unix_ms(),
    );
    let registration = lock(&shared.registry).register(info, outbox.closer());
    let _registered = Registered {
        shared: shared.clone(),
        index: registration.index,
        stream_id: registration.stream_id,
    };
    for old in registration.superseded {
        tracing::warn!(slave = %hello.slave_id, "slave reconnected: closing its older stream");
        old.close(Status::aborted(
            "superseded by a newer stream of the same slave_id",
        ));
    }
    let slave = Slave {
        slave_id: hello.slave_id,
        boot_id: hello.boot_id,
        index: registration.index,
        stream_id: registration.stream_id,
    };
    tracing::info!(
        slave = %slave.slave_id,
        boot = %slave.boot_id,
        index = slave.index,
        acked_seq,
        region = %hello.region,
        peer = ?peer,
        "slave connected"
    );
    let welcome = Welcome {
        slave_index: slave.index,
        acked_seq,
        master_version: env!("CARGO_PKG_VERSION").to_owned(),
        network: shared.network.to_string(),
        settings: Some(shared.settings.clone()),
    };
    // Welcome and the current job on a fresh queue; the bans follow on
    // their own lane, only once the Welcome is queued ahead of them.
    let mut greeting = vec![frame(master_message::Kind::Welcome(welcome))];
    if let Some(job) = lock(&shared.current_job).clone() {
        greeting.push(frame(master_message::Kind::Job(job)));
    }
    for message in greeting {
        if !deliver(&outbox, &slave, message) {
            return;
        }
    }
    let _ban_sync = ban_sync::spawn(shared.clone(), outbox.ban_lane());
    let _access_sync = super::access::spawn(shared.clone(), outbox.ban_lane());
    let end = serve(&shared, &slave, inbound, &outbox, feed, acked_seq).await;
    tracing::info!(slave = %slave.slave_id, index = slave.index, reason = end, "slave stream ended");
}

/// Waits for the stream's first frame, which must be a usable Hello.
async fn first_hello(
    shared: &Shared,
    inbound: &mut Streaming<SlaveMessage>,
) -> Result<Hello, Status> {
    let first = tokio::time::timeout(shared.slave_timeout, inbound.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no Hello within master.slave_timeout"))??;
    let Some(SlaveMessage {
        kind: Some(slave_message::Kind::Hello(hello)),
    }) = first
    else {
        return Err(Status::invalid_argument(
            "the first frame of a stream must be Hello",
        ));
    };
    if hello.slave_id.trim().is_empty() || hello.boot_id.trim().is_empty() {
        return Err(Status::invalid_argument(
            "Hello needs a slave_id and a boot_id: set slave.id, or let the slave use its host name",
        ));
    }
    Ok(hello)
}

/// The stream's main loop; returns why it ended.
///
/// Share batches go to the stream's own ledger writer ([`write_batches`]),
/// in order, so that while Redis stores one batch the loop keeps reading:
/// a block candidate behind a batch goes to the block path at once, not
/// after the write.
async fn serve(
    shared: &Arc<Shared>,
    slave: &Slave,
    mut inbound: Streaming<SlaveMessage>,
    outbox: &Outbox,
    mut feed: broadcast::Receiver<MasterMessage>,
    acked_seq: u64,
) -> &'static str {
    let (acked, _) = watch::channel(acked_seq);
    let (batches, queued) = mpsc::channel(BATCHES_QUEUED);
    let mut writer = WriterTask(tokio::spawn(write_batches(
        shared.clone(),
        slave.clone(),
        queued,
        outbox.clone(),
        acked.clone(),
    )));
    let mut silent_until = Instant::now() + shared.slave_timeout;
    loop {
        tokio::select! {
            written = &mut writer.0 => {
                return match written {
                    Ok(Ok(())) => "stream closed",
                    Ok(Err(status)) => {
                        outbox.close(status);
                        "closed by the master"
                    }
                    Err(error) => {
                        tracing::error!(slave = %slave.slave_id, %error, "the stream's ledger writer failed");
                        outbox.close(Status::internal(
                            "the master's ledger writer failed: reconnect and replay from Welcome.acked_seq",
                        ));
                        "closed by the master"
                    }
                };
            }
            () = shared.shutdown.stopped() => {
                outbox.close(Status::unavailable("the master is shutting down: reconnect and resume"));
                return "master shutting down";
            }
            () = outbox.closed() => return "stream closed",
            () = sleep_until(silent_until) => {
                outbox.close(Status::deadline_exceeded(
                    "nothing heard from the slave within master.slave_timeout: reconnect",
                ));
                return "slave silent";
            }
            fanned = feed.recv() => match fanned {
                Ok(message) => {
                    if !deliver(outbox, slave, message) {
                        return "slave too slow";
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Jobs supersede each other: the current one, sent as
                    // clean so miners drop what they had, is all it missed.
                    tracing::warn!(slave = %slave.slave_id, missed, "slave fell behind the job feed: sending the current job");
                    let current = lock(&shared.current_job).clone();
                    if let Some(mut job) = current {
                        job.clean = true;
                        if !deliver(outbox, slave, frame(master_message::Kind::Job(job))) {
                            return "slave too slow";
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return "master shutting down",
            },
            received = inbound.message() => {
                let message = match received {
                    Ok(Some(message)) => message,
                    Ok(None) => return "slave closed the stream",
                    Err(status) => {
                        tracing::warn!(
                            slave = %slave.slave_id,
                            code = ?status.code(),
                            reason = status.message(),
                            "cannot read the slave's stream"
                        );
                        outbox.close(Status::new(
                            status.code(),
                            format!("the master could not read a frame ({}): reconnect and resume", status.message()),
                        ));
                        return "stream broke";
                    }
                };
                silent_until = Instant::now() + shared.slave_timeout;
                match handle(shared, slave, message, outbox, &acked, &batches).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Goodbye: the batches read before it are stored and
                        // acked before the stream ends.
                        drop(batches);
                        return match (&mut writer.0).await {
                            Ok(Err(status)) => {
                                outbox.close(status);
                                "closed by the master"
                            }
                            _ => "goodbye",
                        };
                    }
                    Err(status) => {
                        outbox.close(status);
                        return "closed by the master";
                    }
                }
            }
        }
    }
}

/// Handles one frame from the slave. `Ok(false)` ends the stream cleanly;
/// an error ends it with that status.
async fn handle(
    shared: &Arc<Shared>,
    slave: &Slave,
    message: SlaveMessage,
    outbox: &Outbox,
    acked: &watch::Sender<u64>,
    batches: &mpsc::Sender<ShareBatch>,
) -> Result<bool, Status> {
    let Some(kind) = message.kind else {
        return Ok(true);
    };
    match kind {
        slave_message::Kind::Hello(_) => {
            return Err(Status::invalid_argument(
                "Hello is only allowed as the first frame",
            ));
        }
        slave_message::Kind::Shares(batch) => {
            if batches.send(batch).await.is_err() {
                // The writer ended; the loop reads why on its next turn.
                return Ok(true);
            }
        }
        slave_message::Kind::Block(candidate) => {
            spawn_block(shared, slave, candidate, outbox, acked.subscribe());
        }
        slave_message::Kind::Miner(event) => {
            lock(&shared.registry).record_miner_event(
                slave.index,
                slave.stream_id,
                &event,
                unix_ms(),
            );
        }
        slave_message::Kind::Stats(stats) => {
            lock(&shared.registry).record_stats(slave.index, slave.stream_id, &stats, unix_ms());
        }
        slave_message::Kind::Ban(report)
            if report.ip.parse().is_ok_and(|ip| shared.is_whitelisted(ip)) =>
        {
            tracing::debug!(slave = %slave.slave_id, ip = %report.ip, "ban of a whitelisted IP not shared");
        }
        slave_message::Kind::Ban(report) => {
            let (ban, revision) = {
                let mut bans = lock(&shared.bans);
                (bans.report(&report, unix_ms()), bans.revision())
            };
            if let Some(ban) = ban {
                shared.bans_changed(revision);
                tracing::info!(
                    slave = %slave.slave_id,
                    ip = %ban.ip,
                    reason = %ban.reason,
                    until_ms = ban.until_ms,
                    "ban shared with every slave"
                );
            }
        }
        slave_message::Kind::Goodbye(goodbye) => {
            tracing::info!(slave = %slave.slave_id, reason = %goodbye.reason, "slave says goodbye");
            return Ok(false);
        }
    }
    Ok(true)
}

/// Aborts the stream's ledger writer when the stream ends, however it ends:
/// a batch it had not stored yet is replayed by the slave on its next stream.
struct WriterTask(JoinHandle<Result<(), Status>>);

impl Drop for WriterTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The stream's ledger writer: stores its share batches in the order they
/// were read and acks them. The batches queued while Redis stored the last
/// ones go to the ledger together ([`Ledger::record_batches`]: one round
/// trip, run in order). Ends with `Ok` when the batches run out or the
/// stream is gone, with the status that must end the stream when a batch
/// cannot be stored.
///
/// [`Ledger::record_batches`]: crate::ledger::Ledger::record_batches
async fn write_batches(
    shared: Arc<Shared>,
    slave: Slave,
    mut batches: mpsc::Receiver<ShareBatch>,
    outbox: Outbox,
    acked: watch::Sender<u64>,
) -> Result<(), Status> {
    let mut pending = Vec::with_capacity(BATCHES_QUEUED);
    while batches.recv_many(&mut pending, BATCHES_QUEUED).await > 0 {
        let results = shared
            .ledger
            .record_batches(&slave.slave_id, &slave.boot_id, &pending, unix_ms())
            .await;
        // One ack per stored batch, as when they were written one by one;
        // the batches stored before a failure are acked before the stream
        // ends, so the slave need not replay them.
        for (batch, result) in pending.iter().zip(results) {
            let up_to_seq = match result {
                Ok(outcome) => outcome.acked_seq,
                Err(error) => return Err(refusal(&slave, batch, error)),
            };
            acked.send_replace(up_to_seq);
            let ack = frame(master_message::Kind::Ack(Ack { up_to_seq }));
            if !deliver(&outbox, &slave, ack) {
                return Ok(());
            }
        }
        pending.clear();
    }
    Ok(())
}

/// The status that ends the stream when `batch` cannot be stored.
fn refusal(slave: &Slave, batch: &ShareBatch, error: LedgerError) -> Status {
    tracing::warn!(slave = %slave.slave_id, first_seq = batch.first_seq, %error, "share batch not stored");
    match error {
        LedgerError::Gap { .. } | LedgerError::Contended { .. } => Status::aborted(format!(
            "{error}: reconnect and replay from Welcome.acked_seq"
        )),
        LedgerError::MalformedBatch { .. } => Status::invalid_argument(error.to_string()),
        _ => Status::unavailable(format!(
            "{error}: reconnect and replay from Welcome.acked_seq"
        )),
    }
}

/// Hands a block candidate to the block path on its own task, so that
/// shares keep flowing while the block is submitted.
fn spawn_block(
    shared: &Arc<Shared>,
    slave: &Slave,
    candidate: BlockCandidate,
    outbox: &Outbox,
    acked: watch::Receiver<u64>,
) {
    let blocks = shared.blocks.clone();
    let outbox = outbox.clone();
    let source = CandidateSource {
        slave_id: slave.slave_id.clone(),
        acked,
        received_at_us: unix_us(),
    };
    let slave_id = slave.slave_id.clone();
    tokio::spawn(async move {
        let result = blocks.handle(candidate, source).await;
        if outbox
            .push(frame(master_message::Kind::BlockResult(result)))
            .is_err()
        {
            tracing::warn!(slave = %slave_id, "block result not delivered: the stream is gone");
        }
    });
}

/// Queues a frame; on a full queue closes the stream. False when the stream
/// is over.
fn deliver(outbox: &Outbox, slave: &Slave, message: MasterMessage) -> bool {
    match outbox.push(message) {
        Ok(()) => true,
        Err(PushError::Full) => {
            tracing::warn!(slave = %slave.slave_id, "slave does not read its stream: disconnecting it");
            outbox.close(Status::resource_exhausted(
                "the slave did not read its stream: reconnect and resume",
            ));
            false
        }
        Err(PushError::Closed) => false,
    }
}

fn frame(kind: master_message::Kind) -> MasterMessage {
    MasterMessage { kind: Some(kind) }
}
