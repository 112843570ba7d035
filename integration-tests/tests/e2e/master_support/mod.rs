//! What the master's end-to-end tests share: a cluster of a devnet emulator,
//! a private Redis and the master in-process on port 0, and a test slave
//! that speaks `pool.proto` directly with the generated client.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status, Streaming};
use tos_pool_common::address::Address;
use tos_pool_common::clock::unix_ms as now_ms;
use tos_pool_common::clock::unix_us;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::difficulty::{Difficulty, Target, meets_target};
use tos_pool_common::header::MinerWork;
use tos_pool_common::network::Network;
use tos_pool_common::pow;
use tos_pool_common::telemetry::Telemetry;
use tos_pool_integration_tests::devnet::{DEVNET_MINER_KEY, Devnet, DevnetConfig, DevnetHandle};
use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_master::app::MasterHandle;
use tos_pool_proto::auth::{AUTHORIZATION_HEADER, bearer};
use tos_pool_proto::v1::slave_gateway_client::SlaveGatewayClient;
use tos_pool_proto::v1::{
    BlockCandidate, Hello, Job, MasterMessage, MinerProtocol, Share, ShareBatch, ShareOutcome,
    SlaveMessage, Welcome, master_message, slave_message,
};

/// The gateway token of every test cluster.
pub const SECRET: &str = "test-secret-0123456789";

/// Longest a test waits for anything.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The pool's address: the devnet key pair's, whose key the emulator signs
/// blocks with.
pub fn pool_address() -> String {
    Address::new(DEVNET_MINER_KEY, Network::Devnet).to_string()
}

/// A miner address made of one repeated key byte.
pub fn miner_address(byte: u8) -> String {
    Address::new([byte; 32], Network::Devnet).to_string()
}

/// A valid master config for `devnet` and `redis`: gateway on 127.0.0.1:0
/// in plaintext, fast polling, unlocker every 50 ms with depths 2 and 5.
pub fn master_config(devnet: &DevnetHandle, redis: &RedisServer) -> Config {
    let mut config = Config {
        network: Network::Devnet,
        ..Config::default()
    };
    config.pool.fee_address = pool_address();
    config.pool.fee_percent = 1.0;
    config.node.url = devnet.url();
    config.node.health_check_interval = Duration::from_millis(200);
    config.redis.url = redis.url();
    config.master.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    config.master.secret = SECRET.to_owned();
    config.master.allow_plaintext = true;
    config.mining.job_refresh_interval = Duration::from_millis(100);
    config.unlocker.interval = Duration::from_millis(50);
    config.unlocker.immature_depth = 2;
    config.unlocker.mature_depth = 5;
    config.api.enabled = false;
    config
        .validate_for(Role::Master)
        .expect("the test config is valid");
    config
}

/// A devnet emulator (paused when `produce_blocks` is false), a Redis and a
/// master.
pub struct Cluster {
    /// The daemon emulator.
    pub devnet: DevnetHandle,
    /// The private Redis.
    pub redis: RedisServer,
    /// The master's config.
    pub config: Config,
    /// The running master.
    pub master: MasterHandle,
}

impl Cluster {
    /// Starts a cluster; `tweak` may change the config before the master
    /// starts.
    pub async fn start(produce_blocks: bool, tweak: impl FnOnce(&mut Config)) -> Cluster {
        let devnet = Devnet::start(DevnetConfig {
            produce_blocks,
            block_interval: Duration::from_millis(500),
            ..DevnetConfig::default()
        })
        .await
        .expect("the devnet emulator starts");
        let redis = RedisServer::start().expect("redis-server starts");
        let mut config = master_config(&devnet, &redis);
        tweak(&mut config);
        let master = MasterHandle::start(&config, Telemetry::disabled())
            .await
            .expect("the master starts");
        Cluster {
            devnet,
            redis,
            config,
            master,
        }
    }

    /// The gateway's plaintext URL.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.master.gateway_addr())
    }

    /// Sets the network difficulty of the emulator.
    pub fn set_difficulty(&self, difficulty: u64) {
        self.devnet
            .set_difficulty(Difficulty::from_u64(difficulty).expect("not zero"));
    }
}

/// A Hello of `slave_id`/`boot_id` resuming after `resume_from_seq`.
pub fn hello(slave_id: &str, boot_id: &str, resume_from_seq: u64) -> SlaveMessage {
    SlaveMessage {
        kind: Some(slave_message::Kind::Hello(Hello {
            slave_id: slave_id.to_owned(),
            boot_id: boot_id.to_owned(),
            version: "0.1.0".to_owned(),
            region: "test".to_owned(),
            protocols: vec![MinerProtocol::Stratum as i32],
            resume_from_seq,
        })),
    }
}

/// One valid share.
pub fn share(seq: u64, job: &Job, address: &str, difficulty: u64) -> Share {
    Share {
        seq,
        job_id: job.job_id.clone(),
        height: job.height,
        address: address.to_owned(),
        worker: "rig".to_owned(),
        difficulty,
        actual_difficulty: difficulty,
        outcome: ShareOutcome::Valid as i32,
        timestamp_ms: tos_pool_common::clock::unix_ms(),
        session_id: 1,
    }
}

/// A batch of consecutive shares.
pub fn batch(shares: Vec<Share>) -> SlaveMessage {
    let first_seq = shares.first().map_or(0, |share| share.seq);
    let last_seq = shares.last().map_or(0, |share| share.seq);
    SlaveMessage {
        kind: Some(slave_message::Kind::Shares(ShareBatch {
            first_seq,
            last_seq,
            shares,
        })),
    }
}

/// A slave stream opened with the generated client.
pub struct TestSlave {
    outbound: mpsc::Sender<SlaveMessage>,
    inbound: Streaming<MasterMessage>,
}

/// A channel to `url`, over TLS trusting `ca_pem` when given.
pub async fn channel(url: &str, ca_pem: Option<&str>) -> Channel {
    let mut endpoint = Endpoint::from_shared(url.to_owned()).expect("the URL is valid");
    if let Some(ca_pem) = ca_pem {
        endpoint = endpoint
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(ca_pem))
                    .domain_name("localhost"),
            )
            .expect("the client TLS config is valid");
    }
    within(endpoint.connect())
        .await
        .expect("the gateway accepts connections")
}

impl TestSlave {
    /// Opens a stream on `channel` with `token` (none when `None`) and sends
    /// `first`.
    pub async fn open(
        channel: Channel,
        token: Option<&str>,
        first: SlaveMessage,
    ) -> Result<TestSlave, Status> {
        let (outbound, receiver) = mpsc::channel(1024);
        outbound
            .send(first)
            .await
            .expect("the request stream is open");
        let mut request = Request::new(ReceiverStream::new(receiver));
        if let Some(token) = token {
            let value = MetadataValue::try_from(bearer(token)).expect("the token is ASCII");
            request.metadata_mut().insert(AUTHORIZATION_HEADER, value);
        }
        let mut client = SlaveGatewayClient::new(channel);
        let inbound = within(client.connect(request)).await?.into_inner();
        Ok(TestSlave { outbound, inbound })
    }

    /// Opens a stream with the right token and returns it with its Welcome.
    pub async fn join(
        url: &str,
        slave_id: &str,
        boot_id: &str,
        resume: u64,
    ) -> (TestSlave, Welcome) {
        let channel = channel(url, None).await;
        Self::join_on(channel, slave_id, boot_id, resume).await
    }

    /// [`TestSlave::join`] on an existing channel.
    pub async fn join_on(
        channel: Channel,
        slave_id: &str,
        boot_id: &str,
        resume: u64,
    ) -> (TestSlave, Welcome) {
        let mut slave = TestSlave::open(channel, Some(SECRET), hello(slave_id, boot_id, resume))
            .await
            .expect("the gateway accepts the stream");
        let welcome = match slave.next().await {
            Ok(Some(master_message::Kind::Welcome(welcome))) => welcome,
            other => panic!("the first frame is not a Welcome: {other:?}"),
        };
        (slave, welcome)
    }

    /// Sends a frame.
    pub async fn send(&self, message: SlaveMessage) {
        self.outbound
            .send(message)
            .await
            .expect("the request stream is open");
    }

    /// Sends a frame; false when the stream has ended (the master closed it).
    pub async fn try_send(&self, message: SlaveMessage) -> bool {
        self.outbound.send(message).await.is_ok()
    }

    /// The next frame from the master (`Ok(None)` at the end of the stream).
    pub async fn next(&mut self) -> Result<Option<master_message::Kind>, Status> {
        let message = within(self.inbound.message()).await?;
        Ok(message.and_then(|message| message.kind))
    }

    /// Reads frames until `pick` takes one; panics at the deadline or at the
    /// end of the stream.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(master_message::Kind) -> Option<T>) -> T {
        loop {
            match self.next().await {
                Ok(Some(kind)) => {
                    if let Some(found) = pick(kind) {
                        return found;
                    }
                }
                other => panic!("the stream ended while waiting: {other:?}"),
            }
        }
    }

    /// The next job the master sends.
    pub async fn next_job(&mut self) -> Job {
        self.until(|kind| match kind {
            master_message::Kind::Job(job) => Some(job),
            _ => None,
        })
        .await
    }

    /// Reads frames until an Ack of at least `seq`.
    pub async fn acked(&mut self, seq: u64) -> u64 {
        self.until(|kind| match kind {
            master_message::Kind::Ack(ack) if ack.up_to_seq >= seq => Some(ack.up_to_seq),
            _ => None,
        })
        .await
    }

    /// The first job for the block after `devnet`'s tip at network
    /// difficulty 1 (set by the caller), which the block tests mine.
    pub async fn tip_job(&mut self, devnet: &DevnetHandle) -> Job {
        let height = devnet.top().height + 1;
        loop {
            let job = self.next_job().await;
            if job.height == height && job.network_difficulty == "1" {
                return job;
            }
        }
    }

    /// Sends one batch of valid shares for `job`, one per `(address,
    /// difficulty)`, numbered on from `*seq`, and waits for their ack; the
    /// acked seq.
    pub async fn send_shares(
        &mut self,
        seq: &mut u64,
        job: &Job,
        credits: &[(impl AsRef<str>, u64)],
    ) -> u64 {
        let shares = credits
            .iter()
            .map(|(address, difficulty)| {
                *seq += 1;
                share(*seq, job, address.as_ref(), *difficulty)
            })
            .collect();
        self.send(batch(shares)).await;
        self.acked(*seq).await
    }
}

/// `future`, or a panic when it takes longer than [`DEADLINE`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("it happens before the deadline")
}

/// Polls `check` until it gives a value, or panics at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Mines `job` for real: the slave's extra_nonce, then nonces from
/// `first_nonce` until the TOS Hash V3 of the MinerWork meets the job's
/// network target.
pub fn mine_block(job: &Job, slave_index: u32, first_nonce: u64) -> (MinerWork, [u8; 32]) {
    let mut work = MinerWork::from_bytes(&job.miner_work).expect("a job carries 112 bytes");
    let mut extra_nonce = [0u8; 32];
    extra_nonce[..4].copy_from_slice(&slave_index.to_be_bytes());
    extra_nonce[4] = 0x5a;
    work.set_extra_nonce(&extra_nonce);
    let target = Target(
        job.network_target
            .as_slice()
            .try_into()
            .expect("a job carries a 32-byte target"),
    );
    let mut hasher = pow::Hasher::new();
    for nonce in first_nonce.. {
        work.set_nonce(nonce);
        let pow_hash = hasher.hash(work.as_bytes());
        if meets_target(&pow_hash, &target) {
            return (work, pow_hash);
        }
    }
    unreachable!("some nonce meets difficulty 1")
}

/// The candidate a slave sends for `work` on `job`, found by `finder`
/// (worker "rig") whose share went out as `share_seq`; stamped as read and
/// sent now.
pub fn block_candidate(
    request_id: u64,
    job: &Job,
    (work, pow_hash): (&MinerWork, [u8; 32]),
    finder: &str,
    share_seq: u64,
) -> BlockCandidate {
    BlockCandidate {
        request_id,
        job_id: job.job_id.clone(),
        height: job.height,
        miner_work: work.as_bytes().to_vec(),
        pow_hash: pow_hash.to_vec(),
        address: finder.to_owned(),
        worker: "rig".to_owned(),
        share_difficulty: 1,
        found_at_ms: now_ms(),
        share_seq,
        read_at_us: unix_us(),
        sent_at_us: unix_us(),
    }
}
