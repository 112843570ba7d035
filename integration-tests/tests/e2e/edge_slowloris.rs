//! Slow and idle clients on every server that is not a miner door: the
//! master's API, the profiling server, the slave's operations server and the
//! slave gateway (plaintext and TLS) each close a half-sent request within
//! the configured timeout, the HTTP servers answer a request that takes too
//! long with 503 and refuse connections beyond their cap, and a healthy
//! slave stream outlives every one of these deadlines.

use crate::master_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use master_support::{Cluster, TestSlave, batch, share};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tos_pool_common::config::{Config, ProfilingConfig};
use tos_pool_common::http::HttpLimits;
use tos_pool_common::profiling;
use tos_pool_common::shutdown::ShutdownTrigger;
use tos_pool_common::telemetry::Telemetry;
use tos_pool_integration_tests::tls::TestCertificate;
use tos_pool_slave::link::{self, LinkConfig};
use tos_pool_slave::ops::{self, OpsState};
use tos_pool_slave::server::{MinerReports, SlaveCounters};
use tos_pool_slave::validation::ValidationPool;

/// The header timeout every HTTP server gets here.
const HEADER_TIMEOUT: Duration = Duration::from_millis(500);
/// The request timeout every HTTP server gets here.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// The gateway's handshake timeout here.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);
/// The gateway's idle timeout here (pings every 200 ms keep slaves in).
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a test waits for a server to act on a deadline of about a second.
const GENEROUS: Duration = Duration::from_secs(15);
/// The admin password of the API here.
const PASSWORD: &str = "slowloris-admin-password";

fn short_limits(config: &mut Config) {
    config.http.header_timeout = HEADER_TIMEOUT;
    config.http.request_timeout = REQUEST_TIMEOUT;
    config.http.max_connections = 4;
    config.master.handshake_timeout = HANDSHAKE_TIMEOUT;
    config.master.keepalive_interval = Duration::from_millis(200);
    config.master.idle_timeout = IDLE_TIMEOUT;
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn limits() -> HttpLimits {
    HttpLimits {
        header_timeout: HEADER_TIMEOUT,
        request_timeout: REQUEST_TIMEOUT,
        max_connections: 4,
    }
}

/// Connects to `addr` and sends `bytes`, then nothing more.
async fn half_sent(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write the first part");
    stream
}

/// Reads until the server closes `stream`; returns what it sent and how
/// long that took from `since`. Panics if it is still open after
/// [`GENEROUS`].
async fn closed(mut stream: TcpStream, since: Instant) -> (String, Duration) {
    let mut received = Vec::new();
    let read = tokio::time::timeout(GENEROUS, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server left a half-sent request open");
    (
        String::from_utf8_lossy(&received).into_owned(),
        since.elapsed(),
    )
}

/// A half-sent request head on `addr` is closed after `timeout`, with no
/// answer.
async fn slowloris_is_closed(addr: SocketAddr, what: &str) {
    let started = Instant::now();
    let stream = half_sent(addr, b"GET /metrics HTTP/1.1\r\nHost: pool\r\nX-Slow: ").await;
    let (answer, after) = closed(stream, started).await;
    assert!(
        after >= HEADER_TIMEOUT,
        "{what}: closed before its header timeout"
    );
    assert!(
        !answer.contains(" 200 "),
        "{what}: a half-sent request was answered: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_closes_slow_requests_answers_late_ones_503_and_caps_connections() {
    let cluster = Cluster::start(true, |config| {
        short_limits(config);
        config.api.enabled = true;
        config.api.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        config.api.admin_password = Some(PASSWORD.to_owned());
    })
    .await;
    let api = cluster.master.api_addr().expect("the API is on");

    // Four half-sent requests hold every slot of a fresh server: the fifth
    // connection is refused at once; their header timeout frees the slots.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(half_sent(api, b"GET /health HTTP/1.1\r\n").await);
    }
    let fifth = TcpStream::connect(api).await.expect("connect");
    let (answer, _) = closed(fifth, Instant::now()).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("http.max_connections"), "{answer}");
    for stream in held {
        let (answer, _) = closed(stream, Instant::now()).await;
        assert!(!answer.contains(" 200 "), "{answer}");
    }

    slowloris_is_closed(api, "API").await;

    // A connection that sends nothing at all is closed too.
    let started = Instant::now();
    let silent = TcpStream::connect(api).await.expect("connect");
    let (_, after) = closed(silent, started).await;
    assert!(after >= HEADER_TIMEOUT);

    // A body that never arrives: the request is answered 503 at its timeout.
    let head = format!(
        "POST /api/admin/bans HTTP/1.1\r\nHost: pool\r\nAuthorization: Bearer {PASSWORD}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"ip\":"
    );
    let started = Instant::now();
    let slow_body = half_sent(api, head.as_bytes()).await;
    let (answer, after) = closed(slow_body, started).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("http.request_timeout"), "{answer}");
    assert!(after >= REQUEST_TIMEOUT);

    // Whole requests are still served.
    let stats = client()
        .get(format!("http://{api}/api/stats"))
        .send()
        .await
        .expect("the API answers a whole request");
    assert!(stats.status().is_success(), "{}", stats.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profiling_server_closes_a_half_sent_request() {
    let stop = ShutdownTrigger::new();
    let listener = stop.listener();
    let config = ProfilingConfig {
        enabled: true,
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        allow_remote: false,
    };
    let server = profiling::serve(&config, limits(), async move { listener.stopped().await })
        .await
        .expect("the profiling server starts");
    slowloris_is_closed(server.local_addr, "profiling").await;
    stop.stop();
    tokio::time::timeout(GENEROUS, server.stopped())
        .await
        .expect("the server stops")
        .expect("cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slave_operations_server_closes_a_half_sent_request() {
    let cluster = Cluster::start(true, short_limits).await;
    let mut config = cluster.config.clone();
    config.slave.master_url = cluster.gateway_url();
    config.slave.id = Some("ops-test".to_owned());
    let link = link::spawn(LinkConfig::from_config(&config)).expect("the link starts");
    let reports = MinerReports::new(Telemetry::disabled(), "ops-test", "test");
    let state = OpsState {
        counters: Arc::new(SlaveCounters::new()),
        link,
        draining: tokio::sync::watch::channel(false).1,
        validation: ValidationPool::new(1, 16).expect("a hashing worker"),
        reports,
    };
    let listener = ops::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    let stop = ShutdownTrigger::new();
    let server = tokio::spawn(ops::serve_with(listener, state, limits(), stop.listener()));
    slowloris_is_closed(addr, "slave operations").await;
    let ready = client()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("the operations server answers a whole request");
    assert!(ready.status().is_success());
    stop.stop();
    tokio::time::timeout(GENEROUS, server)
        .await
        .expect("the server stops")
        .expect("cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_closes_a_half_sent_preface_and_keeps_a_quiet_slave() {
    let cluster = Cluster::start(true, short_limits).await;
    let gateway = cluster.master.gateway_addr();

    // Half the HTTP/2 preface, then nothing: closed at the handshake timeout.
    let started = Instant::now();
    let stream = half_sent(gateway, b"PRI * HTTP/2.0\r\n").await;
    let (_, after) = closed(stream, started).await;
    assert!(after >= HANDSHAKE_TIMEOUT);

    // A slave that only answers pings outlives both deadlines several times.
    let (mut slave, _) = TestSlave::join(&cluster.gateway_url(), "quiet", "boot", 0).await;
    let job = slave.next_job().await;
    tokio::time::sleep(IDLE_TIMEOUT * 3).await;
    let address = master_support::miner_address(9);
    slave.send(batch(vec![share(1, &job, &address, 10)])).await;
    assert_eq!(
        slave.acked(1).await,
        1,
        "the quiet slave's stream is still open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_closes_a_half_sent_tls_handshake() {
    let certificate = TestCertificate::self_signed(&["localhost"]).expect("certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert_path, key_path) = certificate.write_to(dir.path()).expect("PEM files written");
    let cluster = Cluster::start(true, |config| {
        short_limits(config);
        config.master.tls_cert = Some(cert_path);
        config.master.tls_key = Some(key_path);
        config.master.allow_plaintext = false;
    })
    .await;
    // The first bytes of a ClientHello record announcing 512 bytes.
    let started = Instant::now();
    let stream = half_sent(
        cluster.master.gateway_addr(),
        &[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ],
    )
    .await;
    let (_, after) = closed(stream, started).await;
    assert!(after >= HANDSHAKE_TIMEOUT);

    // A real slave still gets in over TLS.
    let url = format!("https://localhost:{}", cluster.master.gateway_addr().port());
    let secure = master_support::channel(&url, Some(&certificate.cert_pem)).await;
    let (_slave, welcome) = TestSlave::join_on(secure, "eu-tls", "boot", 0).await;
    assert_eq!(welcome.network, "devnet");
}
