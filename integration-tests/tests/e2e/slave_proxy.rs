//! Slaves behind a load balancer: PROXY protocol v1 and v2 on a real slave,
//! from trusted and untrusted loopback addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tos_pool_integration_tests::ports::quiet_port;

use crate::cluster_support::{DEADLINE, start, wait_until};

/// A TCP connection to `to` from the loopback address `127.0.0.{from}`.
async fn connect_from(from: u8, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::from([127, 0, 0, from]), 0))
        .expect("bind a loopback source");
    socket.connect(to).await.expect("connect")
}

/// Sends `bytes` then one ping, and returns the first line answered (or
/// `None` when the slave closed the connection first).
async fn ping_after(stream: TcpStream, bytes: &[u8]) -> Option<Value> {
    let (read, mut write) = stream.into_split();
    write.write_all(bytes).await.ok()?;
    write
        .write_all(b"{\"id\":5,\"method\":\"mining.ping\",\"params\":[]}\n")
        .await
        .ok()?;
    let mut lines = BufReader::new(read).lines();
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("an answer or a close in time")
        .ok()??;
    Some(serde_json::from_str(&line).expect("JSON"))
}

fn v2_header(source: [u8; 4], port: u16) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c]);
    bytes.extend_from_slice(&source);
    bytes.extend_from_slice(&[127, 0, 0, 1]);
    bytes.extend_from_slice(&port.to_be_bytes());
    bytes.extend_from_slice(&3333u16.to_be_bytes());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_headers_are_required_from_trusted_proxies_and_refused_from_others() {
    let cluster = start(1, |config| {
        config.slave.proxy_protocol = true;
        config.slave.trusted_proxies = vec!["127.0.0.2".to_owned()];
        config.security.first_message_timeout = Duration::from_secs(2);
        config.security.max_connections_per_ip = 0;
        config.security.ban_malformed_requests = 2;
    })
    .await;
    let slave = cluster.slave(0).expect("slave");
    let stratum = slave.doors().stratum;
    let pong = Some(json!({"id": 5, "result": "pong", "error": null}));

    // Through the balancer, v1 and v2: the miner is served.
    let v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 3333\r\n";
    assert_eq!(ping_after(connect_from(2, stratum).await, v1).await, pong);
    let v2 = v2_header([198, 51, 100, 9], 40001);
    assert_eq!(ping_after(connect_from(2, stratum).await, &v2).await, pong);
    // The balancer's own health check (LOCAL) is served as the balancer.
    let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
    assert_eq!(
        ping_after(connect_from(2, stratum).await, local).await,
        pong
    );

    // From the balancer without a header, or with a broken one: closed.
    assert_eq!(ping_after(connect_from(2, stratum).await, b"").await, None);
    let broken = b"PROXY TCP4 nonsense\r\n";
    assert_eq!(
        ping_after(connect_from(2, stratum).await, broken).await,
        None
    );
    // A header that never ends is closed within the first-message deadline.
    let mut slow = connect_from(2, stratum).await;
    slow.write_all(b"PROXY TCP4 203.0.").await.expect("write");
    let mut rest = [0u8; 16];
    let closed = tokio::time::timeout(
        DEADLINE,
        tokio::io::AsyncReadExt::read(&mut slow, &mut rest),
    )
    .await
    .expect("closed in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");

    // A miner that connects directly is served without a header ...
    assert_eq!(ping_after(connect_from(3, stratum).await, b"").await, pong);
    // ... and refused with one, which counts as malformed toward its ban
    // (counted while the IP has a connection open, as every malformed count).
    let open = connect_from(3, stratum).await;
    for _ in 0..2 {
        assert_eq!(ping_after(connect_from(3, stratum).await, v1).await, None);
    }
    drop(open);
    let now = tos_pool_common::clock::unix_ms();
    assert!(
        slave
            .link()
            .bans()
            .check(IpAddr::from([127, 0, 0, 3]), now)
            .is_some()
    );

    // A ban behind the balancer lands on the miner, not on the balancer.
    let offender = b"PROXY TCP4 203.0.113.66 127.0.0.1 40002 3333\r\n";
    let garbage = [&offender[..], b"garbage\n"].concat();
    let mut held = connect_from(2, stratum).await;
    held.write_all(offender).await.expect("write");
    for _ in 0..2 {
        // Answered with error 20 (or closed once the ban lands).
        let _ = ping_after(connect_from(2, stratum).await, &garbage).await;
    }
    wait_until("the miner behind the balancer is banned", || async {
        let now = tos_pool_common::clock::unix_ms();
        slave
            .link()
            .bans()
            .check(IpAddr::from([203, 0, 113, 66]), now)
            .is_some()
    })
    .await;
    let now = tos_pool_common::clock::unix_ms();
    assert!(
        slave
            .link()
            .bans()
            .check(IpAddr::from([127, 0, 0, 2]), now)
            .is_none()
    );
    assert_eq!(ping_after(connect_from(2, stratum).await, v1).await, pong);
    cluster.shutdown().await;
}

/// The status code of `GET path` on `addr`.
async fn http_status(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: slave\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut lines = BufReader::new(stream).lines();
    let status = lines
        .next_line()
        .await
        .expect("read")
        .expect("a status line");
    status
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status:?}"))
}

/// A drained slave first turns `/readyz` false and keeps serving its miners
/// for `slave.drain_grace`, so the balancer stops sending new ones before
/// the miners are told to reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_turns_readyz_false_before_telling_miners_to_reconnect() {
    let mut cluster = start(1, |config| {
        config.slave.drain_grace = Duration::from_secs(2);
    })
    .await;
    let slave = cluster.slave(0).expect("slave");
    let http = slave.http_addr();
    let stratum = slave.doors().stratum;
    wait_until("the slave is ready", || async {
        http_status(http, "/readyz").await == 200
    })
    .await;
    let miner = crate::cluster_support::tcp_miner(stratum).await;
    crate::cluster_support::log_in(
        &miner,
        &format!("{}.rig", crate::cluster_support::address(7)),
    )
    .await;

    let drain = tokio::spawn(async move {
        let report = cluster.drain_slave(0).await;
        (cluster, report)
    });
    wait_until("/readyz turns false", || async {
        http_status(http, "/readyz").await == 503
    })
    .await;
    // Still serving during the grace: the miner is not told to leave yet.
    assert_eq!(miner.ping().await.expect("ping"), json!("pong"));
    assert!(!miner.reconnect_requested());
    let (cluster, report) = drain.await.expect("the drain ends");
    let report = report.expect("the slave was running");
    assert_eq!(report.unacked_shares, 0, "{report:?}");
    miner
        .closed_within(DEADLINE)
        .await
        .expect("the miner is moved away");
    assert!(miner.reconnect_requested(), "told to reconnect");
    cluster.shutdown().await;
}

/// A renewed certificate is taken without a restart: new TLS connections get
/// it, and a session opened before keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_reaches_new_connections_and_spares_open_ones() {
    use tos_pool_integration_tests::miners::{StratumMiner, Transport};
    use tos_pool_integration_tests::tls::{TestCertificate, client_config_tls12_only};

    let cluster = start(1, |_| {}).await;
    let slave = cluster.slave(0).expect("slave");
    let tls_door = slave.doors().stratum_tls.expect("a Stratum TLS door");
    let before = crate::cluster_support::tls_miner(&cluster, tls_door).await;
    assert_eq!(before.ping().await.expect("ping"), json!("pong"));

    let renewed = TestCertificate::self_signed(&["localhost", "127.0.0.1"]).expect("a certificate");
    let config = cluster.slave_config(0);
    let (cert, key) = (
        config
            .slave
            .tls_cert
            .expect("the harness sets a certificate"),
        config.slave.tls_key.expect("and its key"),
    );
    std::fs::write(&cert, &renewed.cert_pem).expect("write the certificate");
    std::fs::write(&key, &renewed.key_pem).expect("write the key");
    assert_eq!(slave.reload_certificate().ok(), Some(true));

    let trusting_new = client_config_tls12_only(&renewed).expect("client config");
    let after = StratumMiner::connect(
        tls_door,
        Transport::tls(trusting_new),
        crate::cluster_support::options(),
    )
    .await
    .expect("a handshake with the renewed certificate");
    assert_eq!(after.ping().await.expect("ping"), json!("pong"));
    let old = cluster.certificate.as_ref().expect("the first certificate");
    let trusting_old = client_config_tls12_only(old).expect("client config");
    let stale = StratumMiner::connect(
        tls_door,
        Transport::tls(trusting_old),
        crate::cluster_support::options(),
    )
    .await;
    assert!(stale.is_err(), "the old certificate is no longer presented");
    assert_eq!(
        before.ping().await.expect("ping"),
        json!("pong"),
        "the open session stays"
    );

    // A broken file keeps the certificate in use.
    std::fs::write(&key, "not a key").expect("write");
    assert!(slave.reload_certificate().is_err());
    let again = StratumMiner::connect(
        tls_door,
        Transport::tls(client_config_tls12_only(&renewed).expect("client config")),
        crate::cluster_support::options(),
    )
    .await
    .expect("still the renewed certificate");
    assert_eq!(again.ping().await.expect("ping"), json!("pong"));
    cluster.shutdown().await;
}

/// A real HAProxy in front of two slaves, with PROXY protocol v2 and
/// `/readyz` health checks; killed when dropped.
struct Haproxy {
    child: std::process::Child,
    frontend: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn haproxy(backends: &[(SocketAddr, SocketAddr)]) -> Haproxy {
    let dir = tempfile::tempdir().expect("temp dir");
    let frontend = SocketAddr::from(([127, 0, 0, 1], quiet_port()));
    let mut config = format!(
        "global\n  maxconn 1000\n\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n\n\
         frontend stratum\n  bind {frontend}\n  default_backend slaves\n\n\
         backend slaves\n  balance leastconn\n  option httpchk\n  http-check send meth GET uri /readyz\n  http-check expect status 200\n"
    );
    for (index, (stratum, http)) in backends.iter().enumerate() {
        config.push_str(&format!(
            "  server slave{index} {stratum} send-proxy-v2 check port {} inter 200ms fall 1 rise 1\n",
            http.port()
        ));
    }
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("write the HAProxy config");
    let binary = ["/usr/sbin/haproxy", "haproxy"]
        .into_iter()
        .find(|candidate| {
            std::process::Command::new(candidate)
                .arg("-v")
                .output()
                .is_ok()
        })
        .expect("haproxy is installed (scripts/ensure-deps)");
    let child = std::process::Command::new(binary)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start haproxy");
    Haproxy {
        child,
        frontend,
        _dir: dir,
    }
}

/// Miners from several addresses mine through a real HAProxy in front of
/// two slaves: a ban lands on the miner, not on HAProxy; draining a slave
/// moves its miners to the other, and every share they were told was
/// accepted is in the ledger exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_behind_haproxy_are_seen_banned_and_moved_by_their_own_address() {
    use tos_pool_integration_tests::miners::{StratumMiner, Transport};

    let mut cluster = start(2, |config| {
        config.slave.proxy_protocol = true;
        config.slave.trusted_proxies = vec!["127.0.0.1".to_owned()];
        config.security.max_connections_per_ip = 0;
        config.security.ban_malformed_requests = 1;
        config.slave.drain_grace = Duration::from_millis(600);
    })
    .await;
    let backends: Vec<_> = cluster
        .slaves()
        .map(|slave| (slave.doors().stratum, slave.http_addr()))
        .collect();
    let balancer = haproxy(&backends);
    let through = |last: u8| {
        let source = IpAddr::from([127, 0, 0, last]);
        async move {
            StratumMiner::connect(
                balancer.frontend,
                Transport::Tcp,
                crate::cluster_support::options().with_source(source),
            )
            .await
        }
    };
    wait_until("HAProxy serves miners", || async {
        match through(9).await {
            Ok(miner) => miner.ping().await.is_ok(),
            Err(_) => false,
        }
    })
    .await;

    // Four miners from four addresses, spread over both slaves.
    let mut miners = Vec::new();
    for last in 10..14u8 {
        let miner = through(last).await.expect("connect through HAProxy");
        let login = format!("{}.rig", crate::cluster_support::address(last));
        crate::cluster_support::log_in(&miner, &login).await;
        miners.push((last, miner));
    }
    let mut accepted = std::collections::HashMap::new();
    for (last, miner) in &miners {
        *accepted.entry(*last).or_insert(0u64) +=
            crate::cluster_support::mine_shares(miner, 3).await;
    }

    // A miner that misbehaves is banned by its own address.
    let offender = through(20).await.expect("connect");
    offender.send_raw_text("garbage").await.expect("send");
    offender.closed_within(DEADLINE).await.expect("banned");
    let now = tos_pool_common::clock::unix_ms();
    for slave in cluster.slaves() {
        let bans = slave.link().bans();
        wait_until("the ban reaches every slave", || async {
            bans.check(
                IpAddr::from([127, 0, 0, 20]),
                tos_pool_common::clock::unix_ms(),
            )
            .is_some()
        })
        .await;
        assert!(
            bans.check(IpAddr::from([127, 0, 0, 1]), now).is_none(),
            "HAProxy is not banned"
        );
    }

    // Drain slave 0: its miners are told to reconnect, HAProxy sends them to
    // slave 1, and they go on mining there.
    let report = cluster.drain_slave(0).await.expect("slave 0 was running");
    assert_eq!(report.unacked_shares, 0, "{report:?}");
    let mut moved = Vec::new();
    for (last, miner) in miners {
        // A miner of the drained slave was told to reconnect and is closed
        // (HAProxy passes the close on a moment later): it reconnects.
        let gone = miner.reconnect_requested() || miner.is_closed() || miner.ping().await.is_err();
        if gone {
            let again = through(last).await.expect("reconnect through HAProxy");
            let login = format!("{}.rig", crate::cluster_support::address(last));
            crate::cluster_support::log_in(&again, &login).await;
            moved.push((last, again));
        } else {
            moved.push((last, miner));
        }
    }
    for (last, miner) in &moved {
        *accepted.entry(*last).or_insert(0) += crate::cluster_support::mine_shares(miner, 2).await;
    }
    for (last, count) in &accepted {
        let address = crate::cluster_support::address(*last);
        wait_until("every accepted share is in the ledger", || async {
            crate::cluster_support::ledger_valid(&cluster, &address, "rig").await >= *count
        })
        .await;
        assert_eq!(
            crate::cluster_support::ledger_valid(&cluster, &address, "rig").await,
            *count,
            "miner {last}: counted exactly once"
        );
    }
    drop(balancer);
    cluster.shutdown().await;
}
