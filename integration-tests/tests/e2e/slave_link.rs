//! The slave's master link against a fake master: real gRPC on loopback,
//! plaintext and TLS. The fake master checks the token, welcomes, sends jobs
//! and bans, stores share batches by seq (its store outlives restarts, as
//! Redis would), acks them, answers block candidates, and can be killed and
//! restarted on the same port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use tos_pool_common::header::MinerWork;
use tos_pool_integration_tests::tls::TestCertificate;
use tos_pool_proto::v1::slave_gateway_server::{SlaveGateway, SlaveGatewayServer};
use tos_pool_proto::v1::{
    Ack, Ban, BlockCandidate, BlockResult, Hello, Job, MasterMessage, Settings, Share,
    SlaveMessage, Welcome, master_message, slave_message,
};
use tos_pool_proto::{AUTHORIZATION_HEADER, verify_bearer};
use tos_pool_slave::link::{self, Backoff, LinkConfig, LinkError, LinkHandle, LinkStatus};
use tos_pool_slave::session::{self, ShareRecord, Verdict};

const SECRET: &str = "the-right-secret-0123";
const DEADLINE: Duration = Duration::from_secs(20);

/// What the fake master has seen; survives restarts.
#[derive(Default)]
struct Store {
    hellos: Vec<Hello>,
    refused: usize,
    /// Stored shares by seq (one slave boot per test).
    shares: BTreeMap<u64, Share>,
    /// Shares that arrived again after they were stored.
    replayed: usize,
    /// Seqs that arrived out of order (a gap): must stay empty.
    gaps: Vec<u64>,
    /// Shares received while not storing (lost by the "crash").
    dropped: usize,
    /// Frames in arrival order: "batch" or "block".
    arrivals: Vec<&'static str>,
    blocks: Vec<BlockCandidate>,
}

/// The sending end of one stream to a slave.
type Outbound = mpsc::Sender<Result<MasterMessage, Status>>;

#[derive(Clone)]
struct FakeMaster {
    store: Arc<Mutex<Store>>,
    /// Bumped on every change of the store, to wait on.
    changed: Arc<watch::Sender<u64>>,
    /// Store and ack batches (false: receive and forget, as a master that
    /// crashes before writing).
    storing: Arc<AtomicBool>,
    /// Ack stored batches.
    acking: Arc<AtomicBool>,
    /// Open streams' senders; dropped on kill.
    streams: Arc<Mutex<Vec<Outbound>>>,
    /// Stream reader tasks; aborted on kill.
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

fn frame(kind: master_message::Kind) -> Result<MasterMessage, Status> {
    Ok(MasterMessage { kind: Some(kind) })
}

fn job(id: &str, height: u64) -> Job {
    Job {
        job_id: id.to_owned(),
        height,
        topoheight: height,
        miner_work: vec![0u8; 112],
        network_difficulty: "1000".to_owned(),
        network_target: Vec::new(),
        clean: true,
        created_at_ms: 1,
        algorithm: "tos/v3".to_owned(),
    }
}

impl FakeMaster {
    fn new() -> FakeMaster {
        FakeMaster {
            store: Arc::default(),
            changed: Arc::new(watch::Sender::new(0)),
            storing: Arc::new(AtomicBool::new(true)),
            acking: Arc::new(AtomicBool::new(true)),
            streams: Arc::default(),
            readers: Arc::default(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Store)) {
        change(&mut self.store.lock().expect("store lock is never poisoned"));
        self.changed.send_modify(|version| *version += 1);
    }

    fn read<T>(&self, read: impl FnOnce(&Store) -> T) -> T {
        read(&self.store.lock().expect("store lock is never poisoned"))
    }

    /// Waits until `condition` holds on the store.
    async fn wait_for(&self, what: &str, condition: impl Fn(&Store) -> bool) {
        let mut changed = self.changed.subscribe();
        tokio::time::timeout(DEADLINE, async {
            loop {
                if self.read(&condition) {
                    return;
                }
                changed
                    .changed()
                    .await
                    .expect("the master outlives the test");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for the master to see {what}"));
    }

    /// Sends `message` on every open stream.
    async fn broadcast(&self, kind: master_message::Kind) {
        let streams = self.streams.lock().expect("lock").clone();
        for stream in streams {
            let _ = stream.send(frame(kind.clone())).await;
        }
    }

    /// Ends every open stream, as a crashed master would.
    fn cut_streams(&self) {
        self.streams.lock().expect("lock").clear();
        for reader in self.readers.lock().expect("lock").drain(..) {
            reader.abort();
        }
    }

    fn on_batch(&self, first: u64, shares: Vec<Share>) -> Option<u64> {
        let storing = self.storing.load(Ordering::SeqCst);
        let mut high = 0;
        self.update(|store| {
            store.arrivals.push("batch");
            if !storing {
                store.dropped += shares.len();
                return;
            }
            for (offset, share) in shares.into_iter().enumerate() {
                let seq = share.seq;
                assert_eq!(seq, first + offset as u64, "batch seqs are consecutive");
                let stored = store.shares.keys().next_back().copied().unwrap_or(0);
                if seq <= stored {
                    store.replayed += 1;
                } else if seq == stored + 1 {
                    store.shares.insert(seq, share);
                } else {
                    store.gaps.push(seq);
                }
            }
            high = store.shares.keys().next_back().copied().unwrap_or(0);
        });
        (storing && self.acking.load(Ordering::SeqCst)).then_some(high)
    }
}

#[tonic::async_trait]
impl SlaveGateway for FakeMaster {
    type ConnectStream = ReceiverStream<Result<MasterMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<SlaveMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let authorized = request
            .metadata()
            .get(AUTHORIZATION_HEADER)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| verify_bearer(value, SECRET));
        if !authorized {
            self.update(|store| store.refused += 1);
            return Err(Status::unauthenticated("missing or wrong bearer token"));
        }
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        self.streams.lock().expect("lock").push(tx.clone());
        let master = self.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                let Some(kind) = message.kind else { continue };
                match kind {
                    slave_message::Kind::Hello(hello) => {
                        let acked_seq = master
                            .read(|s| s.shares.keys().next_back().copied())
                            .unwrap_or(0);
                        master.update(|store| store.hellos.push(hello));
                        let welcome = Welcome {
                            slave_index: 5,
                            acked_seq,
                            master_version: "test".to_owned(),
                            network: "devnet".to_owned(),
                            settings: Some(Settings {
                                job_backlog: 4,
                                stats_interval_ms: 60_000,
                                ..Settings::default()
                            }),
                        };
                        let _ = tx.send(frame(master_message::Kind::Welcome(welcome))).await;
                        let _ = tx
                            .send(frame(master_message::Kind::Job(job("job-1", 10))))
                            .await;
                    }
                    slave_message::Kind::Shares(batch) => {
                        if let Some(up_to_seq) = master.on_batch(batch.first_seq, batch.shares) {
                            let ack = master_message::Kind::Ack(Ack { up_to_seq });
                            let _ = tx.send(frame(ack)).await;
                        }
                    }
                    slave_message::Kind::Block(candidate) => {
                        let result = BlockResult {
                            request_id: candidate.request_id,
                            accepted: true,
                            block_hash: "ab".repeat(32),
                            reason: String::new(),
                            height: candidate.height,
                        };
                        master.update(|store| {
                            store.arrivals.push("block");
                            store.blocks.push(candidate);
                        });
                        let _ = tx
                            .send(frame(master_message::Kind::BlockResult(result)))
                            .await;
                    }
                    _ => {}
                }
            }
        });
        self.readers.lock().expect("lock").push(reader);
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A running fake master server.
struct Running {
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Running {
    async fn start(master: &FakeMaster, addr: SocketAddr, tls: Option<&Identity>) -> Running {
        let incoming = bind(addr).await;
        let addr = incoming
            .local_addr()
            .expect("bound listener has an address");
        let mut builder = Server::builder();
        if let Some(identity) = tls {
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity.clone()))
                .expect("the test identity is valid");
        }
        let router = builder.add_service(SlaveGatewayServer::new(master.clone()));
        let server = tokio::spawn(async move {
            let _ = router.serve_with_incoming(incoming).await;
        });
        Running { addr, server }
    }

    /// Stops accepting and cuts every stream.
    fn kill(self, master: &FakeMaster) -> SocketAddr {
        self.server.abort();
        master.cut_streams();
        self.addr
    }
}

/// Binds `addr`, retrying while the old listener of a killed server is
/// still being closed.
async fn bind(addr: SocketAddr) -> TcpIncoming {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match TcpIncoming::bind(addr) {
            Ok(incoming) => return incoming,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::task::yield_now().await;
            }
            Err(error) => panic!("could not bind {addr}: {error}"),
        }
    }
}

fn link_config(url: String, secret: &str) -> LinkConfig {
    LinkConfig {
        master_url: url,
        secret: secret.to_owned(),
        slave_id: "test-slave".to_owned(),
        share_batch_size: 4,
        share_flush_interval: Duration::from_millis(5),
        max_unacked_shares: 1_000,
        backoff: Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        },
        ..LinkConfig::default()
    }
}

fn share(n: u64) -> ShareRecord {
    ShareRecord {
        job_id: format!("job-{n}"),
        height: 10,
        address: "tst1example".to_owned(),
        worker: "rig".to_owned(),
        difficulty: 1_000,
        actual_difficulty: 1_000,
        timestamp_ms: 0,
        session_id: 1,
        verdict: Verdict::Accepted,
    }
}

async fn wait_status(link: &LinkHandle, what: &str, condition: impl Fn(&LinkStatus) -> bool) {
    let mut status = link.status();
    tokio::time::timeout(DEADLINE, status.wait_for(|status| condition(status)))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for the link to be {what}"))
        .expect("the link outlives the test");
}

async fn wait_connected(link: &LinkHandle) {
    wait_status(link, "connected", |s| {
        matches!(s, LinkStatus::Connected { .. })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_jobs_bans_and_shares_flow_over_plaintext() {
    let master = FakeMaster::new();
    let running = Running::start(&master, "127.0.0.1:0".parse().expect("addr"), None).await;
    let link = link::spawn(link_config(format!("http://{}", running.addr), SECRET))
        .expect("config is valid");
    let mut jobs = link.jobs();
    wait_connected(&link).await;
    assert!(link.is_connected());
    assert_eq!(link.slave_index(), Some(5));

    tokio::time::timeout(DEADLINE, jobs.wait_for(|job| job.is_some()))
        .await
        .expect("a job arrives")
        .expect("link alive");
    let job = link.jobs().borrow().clone().expect("the job");
    assert_eq!((job.job_id.as_str(), job.height), ("job-1", 10));

    let hello = master.read(|s| s.hellos[0].clone());
    assert_eq!(hello.slave_id, "test-slave");
    assert_eq!(hello.boot_id, link.boot_id());
    assert_eq!(hello.resume_from_seq, 0);

    let mut bans = link.bans().subscribe();
    master
        .broadcast(master_message::Kind::Ban(Ban {
            ip: "192.0.2.7".to_owned(),
            reason: "invalid share ratio".to_owned(),
            until_ms: u64::MAX,
        }))
        .await;
    tokio::time::timeout(DEADLINE, bans.recv())
        .await
        .expect("the ban arrives")
        .expect("ban channel open");
    assert!(
        link.bans()
            .check("192.0.2.7".parse().expect("ip"), 0)
            .is_some()
    );

    for n in 1..=10 {
        assert_eq!(link.submit_share(&share(n)), Ok(n));
    }
    master.wait_for("10 shares", |s| s.shares.len() == 10).await;
    let mut acked = link.acked();
    tokio::time::timeout(DEADLINE, acked.wait_for(|acked| *acked == 10))
        .await
        .expect("every share is acked")
        .expect("link alive");
    assert_eq!(link.counters().unacked_shares, 0);
    master.read(|s| {
        for (seq, share) in &s.shares {
            assert_eq!(share.job_id, format!("job-{seq}"));
        }
        assert!(s.gaps.is_empty());
        assert_eq!(s.replayed, 0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_across_a_master_restart_arrive_exactly_once() {
    let master = FakeMaster::new();
    let running = Running::start(&master, "127.0.0.1:0".parse().expect("addr"), None).await;
    let link = link::spawn(link_config(format!("http://{}", running.addr), SECRET))
        .expect("config is valid");
    wait_connected(&link).await;

    for n in 1..=8 {
        link.submit_share(&share(n)).expect("room in the buffer");
    }
    master
        .wait_for("the first 8 shares", |s| s.shares.len() == 8)
        .await;

    // The master now receives batches but "crashes" before storing them.
    master.storing.store(false, Ordering::SeqCst);
    for n in 9..=12 {
        link.submit_share(&share(n)).expect("room in the buffer");
    }
    master
        .wait_for("shares lost in the crash", |s| s.dropped >= 4)
        .await;
    let addr = running.kill(&master);
    wait_status(&link, "down", |s| matches!(s, LinkStatus::Down { .. })).await;
    assert!(!link.is_connected());

    // Miners keep submitting while the master is away.
    for n in 13..=20 {
        link.submit_share(&share(n)).expect("room in the buffer");
    }
    assert!(link.counters().unacked_shares >= 12);

    master.storing.store(true, Ordering::SeqCst);
    let _running = Running::start(&master, addr, None).await;
    master
        .wait_for("all 20 shares", |s| s.shares.len() == 20)
        .await;

    master.read(|s| {
        assert!(s.gaps.is_empty(), "no seq was skipped: {:?}", s.gaps);
        let seqs: Vec<u64> = s.shares.keys().copied().collect();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        for (seq, share) in &s.shares {
            assert_eq!(
                share.job_id,
                format!("job-{seq}"),
                "seq {seq} carries its own share"
            );
        }
        let second = s.hellos.last().expect("a second hello");
        assert_eq!(
            second.boot_id, s.hellos[0].boot_id,
            "same boot, same sequence"
        );
        assert_eq!(second.resume_from_seq, 8);
    });
    assert!(link.counters().reconnects >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_retried_with_backoff() {
    let master = FakeMaster::new();
    let running = Running::start(&master, "127.0.0.1:0".parse().expect("addr"), None).await;
    let link = link::spawn(link_config(
        format!("http://{}", running.addr),
        "wrong-secret-0123456",
    ))
    .expect("config is valid");
    wait_status(&link, "refused", |s| {
        matches!(
            s,
            LinkStatus::Down {
                error: LinkError::Unauthenticated(_),
                ..
            }
        )
    })
    .await;
    master
        .wait_for("three refused attempts", |s| s.refused >= 3)
        .await;
    assert!(!link.is_connected());
    assert!(link.counters().connect_attempts >= 3);
    assert!(master.read(|s| s.hellos.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_refuses_shares_when_the_master_never_acks() {
    let master = FakeMaster::new();
    master.acking.store(false, Ordering::SeqCst);
    let running = Running::start(&master, "127.0.0.1:0".parse().expect("addr"), None).await;
    let mut config = link_config(format!("http://{}", running.addr), SECRET);
    config.max_unacked_shares = 5;
    let link = link::spawn(config).expect("config is valid");
    wait_connected(&link).await;
    for n in 1..=5 {
        assert_eq!(link.submit_share(&share(n)), Ok(n));
    }
    master
        .wait_for("the 5 shares", |s| s.shares.len() == 5)
        .await;
    assert_eq!(
        link.submit_share(&share(6)),
        Err(LinkError::Backlogged { unacked: 5 })
    );
    assert_eq!(link.counters().shares_refused, 1);
    assert_eq!(link.counters().unacked_shares, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_candidate_skips_the_share_batches() {
    let master = FakeMaster::new();
    let running = Running::start(&master, "127.0.0.1:0".parse().expect("addr"), None).await;
    let mut config = link_config(format!("http://{}", running.addr), SECRET);
    // Shares wait for a full batch of 100 or a minute.
    config.share_batch_size = 100;
    config.share_flush_interval = Duration::from_secs(60);
    let link = link::spawn(config).expect("config is valid");
    wait_connected(&link).await;
    let mut last = 0;
    for n in 1..=3 {
        last = link.submit_share(&share(n)).expect("room");
    }
    let candidate = session::BlockCandidate {
        job_id: "job-1".to_owned(),
        height: 10,
        miner_work: MinerWork::from_bytes(&[0u8; 112]).expect("112 bytes"),
        pow_hash: [0; 32],
        address: "tst1example".to_owned(),
        worker: "rig".to_owned(),
        share_difficulty: 1_000,
        found_at_ms: 0,
    };
    let ticket = link
        .submit_block(&candidate, last, 0)
        .expect("room for the block");
    let result = ticket.wait(DEADLINE).await.expect("the master answers");
    assert!(result.accepted);
    assert_eq!(result.height, 10);
    master.read(|s| {
        assert_eq!(
            s.arrivals,
            ["block"],
            "the block came alone, before any batch"
        );
        assert_eq!(s.blocks[0].share_seq, 3);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_speaks_tls_with_a_pinned_certificate_and_drains() {
    let certificate = TestCertificate::self_signed(&["localhost"]).expect("a test certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, _key) = certificate
        .write_to(dir.path())
        .expect("write the PEM files");
    let identity = Identity::from_pem(&certificate.cert_pem, &certificate.key_pem);

    let master = FakeMaster::new();
    let running = Running::start(
        &master,
        "127.0.0.1:0".parse().expect("addr"),
        Some(&identity),
    )
    .await;
    let mut config = link_config(format!("https://{}", running.addr), SECRET);
    config.master_ca = Some(ca);
    config.master_server_name = Some("localhost".to_owned());
    config.share_flush_interval = Duration::from_secs(60);
    config.share_batch_size = 100;
    let link = link::spawn(config).expect("config is valid");
    wait_connected(&link).await;
    for n in 1..=3 {
        link.submit_share(&share(n)).expect("room");
    }
    // The drain flushes the partial batch and waits for its ack.
    link.flush_and_close(Instant::now() + DEADLINE)
        .await
        .expect("every share is acked before the deadline");
    assert_eq!(master.read(|s| s.shares.len()), 3);
    wait_status(&link, "closed", |s| *s == LinkStatus::Closed).await;
    assert_eq!(link.submit_share(&share(4)), Err(LinkError::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused() {
    let certificate = TestCertificate::self_signed(&["localhost"]).expect("a test certificate");
    let other = TestCertificate::self_signed(&["localhost"]).expect("a test certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, _key) = other.write_to(dir.path()).expect("write the PEM files");
    let identity = Identity::from_pem(&certificate.cert_pem, &certificate.key_pem);

    let master = FakeMaster::new();
    let running = Running::start(
        &master,
        "127.0.0.1:0".parse().expect("addr"),
        Some(&identity),
    )
    .await;
    let mut config = link_config(format!("https://{}", running.addr), SECRET);
    config.master_ca = Some(ca);
    config.master_server_name = Some("localhost".to_owned());
    let link = link::spawn(config).expect("config is valid");
    wait_status(&link, "refused", |s| {
        matches!(
            s,
            LinkStatus::Down {
                error: LinkError::Transport(_),
                ..
            }
        )
    })
    .await;
    assert!(master.read(|s| s.hellos.is_empty()));
}
