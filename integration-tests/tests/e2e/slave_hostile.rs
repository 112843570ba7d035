//! What a stranger can send a slave, and the bound on what it costs: each
//! test attacks a real slave over real sockets and checks the limit, not
//! just that nothing broke (docs/SECURITY.md).

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::cluster_support::{DEADLINE, address, start, tcp_miner, wait_until};

/// A flood of blank lines is consumed as it comes and counts as activity:
/// with a 1 s first-message deadline, 3 s of nothing but blank lines (8 MiB
/// of them) keep the connection, which then answers a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blank_line_flood_is_consumed_and_keeps_the_read_deadline() {
    let cluster = start(1, |config| {
        config.security.first_message_timeout = Duration::from_secs(1);
        config.security.max_request_size = 1024;
    })
    .await;
    let stratum = cluster.slave(0).expect("slave").doors().stratum;
    let socket = TcpStream::connect(stratum).await.expect("connect");
    let (read, mut write) = socket.into_split();
    let blanks = b" \r\n\n\t\n".repeat(256 * 1024 / 6);
    let flood = async {
        for _ in 0..30 {
            write.write_all(&blanks).await.expect("the slave reads on");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        write
            .write_all(b"{\"id\":7,\"method\":\"mining.ping\",\"params\":[]}\n")
            .await
            .expect("the slave reads on");
    };
    tokio::time::timeout(DEADLINE, flood)
        .await
        .expect("the flood is read as fast as it is sent");
    let mut lines = BufReader::new(read).lines();
    let answer = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("an answer in time")
        .expect("the socket reads")
        .expect("the connection is still open");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["id"], json!(7), "{answer}");
    assert_eq!(answer["result"], json!("pong"), "{answer}");
    let totals = cluster.slave(0).expect("slave").counters().snapshot();
    assert_eq!(
        totals.malformed_requests, 0,
        "blank lines are not malformed: {totals:?}"
    );
    cluster.shutdown().await;
}

/// Junk shares under ever new worker names: one connection gets only a few
/// logins, its refused shares create no worker or miner key in Redis, a
/// job the pool never issued is never forwarded, and the connection ends in
/// an invalid-share ban.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_junk_share_flood_creates_no_redis_keys_and_ends_in_a_ban() {
    let cluster = start(1, |config| {
        config.security.ban_invalid_percent = 50.0;
        config.security.ban_check_window = 400;
        config.security.max_shares_per_second = 0;
    })
    .await;
    let stratum = cluster.slave(0).expect("slave").doors().stratum;
    let junk = address(9);
    let miner = tcp_miner(stratum).await;
    miner.subscribe().await.expect("subscribe");
    miner
        .authorize(&format!("{junk}.w0"), "x")
        .await
        .expect("the first login");
    let job = miner.next_job(DEADLINE).await.expect("a job");
    let (mut logins, mut refused_logins, mut sent) = (1, 0, 0);
    for n in 1..10_000 {
        let login = format!("{junk}.w{n}");
        match miner
            .call("mining.authorize", Some(json!([login, "x"])))
            .await
        {
            Ok(_) => logins += 1,
            Err(_) if miner.is_closed() => break,
            Err(_) => refused_logins += 1,
        }
        // Alternately a job the pool never issued and a share for the real
        // job that misses its target: refused either way.
        let outcome = if n % 2 == 0 {
            miner.submit(&format!("junk-{n}"), n).await
        } else {
            miner
                .submit_bad_share(&job)
                .await
                .map(|(_, outcome)| outcome)
        };
        match outcome {
            Ok(outcome) => {
                assert!(!outcome.is_accepted(), "junk accepted: {outcome:?}");
                sent += 1;
            }
            Err(_) => break,
        }
    }
    assert_eq!(logins, 8, "one connection gets 8 logins");
    assert!(refused_logins > 0);
    miner
        .closed_within(DEADLINE)
        .await
        .expect("the invalid-share ban closes the connection");
    assert!(sent >= 400, "the ban came after the check window: {sent}");
    let slave = cluster.slave(0).expect("slave");
    assert_eq!(slave.counters().snapshot().bans, 1);

    // The low-difficulty half reached the ledger (the pool's counts) ...
    let ledger = cluster.master().expect("master").ledger().clone();
    wait_until("the refused shares are in the pool's counts", || {
        let ledger = ledger.clone();
        async move {
            let now = tos_pool_common::clock::unix_ms();
            ledger
                .pool_stats(now)
                .await
                .is_ok_and(|stats| stats.activity.shares.invalid >= 200)
        }
    })
    .await;
    // ... and left no key for the miner or any of its workers; the unknown
    // jobs never left the slave.
    let now = tos_pool_common::clock::unix_ms();
    assert_eq!(ledger.miner_stats(&junk, now).await.expect("read"), None);
    assert!(
        ledger
            .worker_stats(&junk, now)
            .await
            .expect("read")
            .is_empty(),
        "no worker of the junk miner exists"
    );
    let pool = ledger.pool_stats(now).await.expect("read");
    assert!(
        pool.activity.shares.invalid < sent,
        "only the low-difficulty half was forwarded: {pool:?}"
    );
    cluster.shutdown().await;
}

/// A slave takes at most `security.max_connections` connections from all
/// IPs together, and a ban closes the banned IP's connections and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slave_caps_its_connections_and_a_ban_closes_only_its_ip() {
    let cluster = start(1, |config| {
        config.security.max_connections = 3;
        config.security.max_connections_per_ip = 0;
        config.security.ban_malformed_requests = 1;
    })
    .await;
    let stratum = cluster.slave(0).expect("slave").doors().stratum;
    let from = |last: u8| async move {
        let source = std::net::IpAddr::from([127, 0, 0, last]);
        tos_pool_integration_tests::miners::StratumMiner::connect(
            stratum,
            tos_pool_integration_tests::miners::Transport::Tcp,
            crate::cluster_support::options().with_source(source),
        )
        .await
        .expect("connect")
    };
    let offender = from(2).await;
    let neighbour = from(3).await;
    let third = from(4).await;
    for miner in [&offender, &neighbour, &third] {
        assert_eq!(miner.ping().await.expect("ping"), json!("pong"));
    }
    let fourth = from(5).await;
    fourth
        .closed_within(DEADLINE)
        .await
        .expect("the fourth connection is refused");
    assert!(
        cluster
            .slave(0)
            .expect("slave")
            .counters()
            .snapshot()
            .connections_refused
            >= 1
    );

    offender.send_raw_text("garbage").await.expect("send");
    offender
        .closed_within(DEADLINE)
        .await
        .expect("the banned IP's connection closes");
    for miner in [&neighbour, &third] {
        assert_eq!(miner.ping().await.expect("ping"), json!("pong"));
        assert!(!miner.is_closed());
    }
    // The banned IP stays refused; once its connection is gone, its slot
    // goes to a new IP.
    let again = from(2).await;
    again.closed_within(DEADLINE).await.expect("still banned");
    drop((offender, again));
    let slave = cluster.slave(0).expect("slave");
    wait_until("the banned connection's slot is free", || async {
        slave.counters().snapshot().sessions == 2
    })
    .await;
    let newcomer = from(6).await;
    assert_eq!(newcomer.ping().await.expect("ping"), json!("pong"));
    cluster.shutdown().await;
}

/// Slowloris on every miner door: a connection that starts a request (a
/// partial line, a partial TLS hello, a partial WebSocket upgrade) and
/// never finishes it is closed within `security.first_message_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_first_messages_are_closed_on_every_door() {
    use tokio::io::AsyncReadExt;

    let cluster = start(1, |config| {
        config.security.first_message_timeout = Duration::from_secs(1);
    })
    .await;
    let doors = cluster.slave(0).expect("slave").doors();
    let mut attacks: Vec<(&str, std::net::SocketAddr, &[u8])> = vec![
        (
            "stratum",
            doors.stratum,
            b"{\"id\":1,\"method\":\"mining.subscr",
        ),
        ("stratum, nothing sent", doors.stratum, b""),
    ];
    if let Some(tls) = doors.stratum_tls {
        attacks.push(("stratum+tls", tls, &[0x16, 0x03, 0x01, 0x02]));
    }
    if let Some(ws) = doors.websocket {
        attacks.push(("ws", ws, b"GET / HTTP/1.1\r\nHost: slave\r\n"));
    }
    if let Some(xatum) = doors.xatum {
        attacks.push(("xatum", xatum, &[0x16, 0x03]));
    }
    assert!(
        attacks.len() >= 4,
        "the harness opens the TLS and WebSocket doors"
    );
    for (door, addr, partial) in attacks {
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        socket.write_all(partial).await.expect("write");
        let mut sink = [0u8; 256];
        let closed = tokio::time::timeout(DEADLINE, async {
            loop {
                match socket.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    // An error answer before closing is fine.
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the {door} door kept a half-sent request open"
        );
    }
    cluster.shutdown().await;
}
