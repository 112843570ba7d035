//! `tos-pool-dev`, the README's first command, starts the local cluster,
//! prints every endpoint and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn tos_pool_dev_prints_its_endpoints_and_stops_on_sigterm() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/dev.yaml");
    let workdir = tempfile::tempdir().expect("temp dir");
    let master = free_port();
    let local = |port: u16| format!("127.0.0.1:{port}");
    // The second slave takes these ports + 100; pick first-slave ports whose
    // +100 is very likely free too.
    let (stratum, tls, http) = (free_port(), free_port(), free_port());
    let (ws, wss, xatum) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tos-pool-dev"))
        .arg("--config")
        .arg(&config)
        .current_dir(workdir.path())
        .env(
            "TOS_POOL_REDIS_URL",
            format!("redis://127.0.0.1:{}/0", free_port()),
        )
        .env(
            "TOS_POOL_NODE_URL",
            format!("http://127.0.0.1:{}/json_rpc", free_port()),
        )
        .env(
            "TOS_POOL_PAYOUTS_WALLET_RPC",
            format!("http://127.0.0.1:{}/json_rpc", free_port()),
        )
        .env("TOS_POOL_MASTER_BIND", local(master))
        .env(
            "TOS_POOL_SLAVE_MASTER_URL",
            format!("http://127.0.0.1:{master}"),
        )
        .env("TOS_POOL_SLAVE_STRATUM_BIND", local(stratum))
        .env("TOS_POOL_SLAVE_STRATUM_TLS_BIND", local(tls))
        .env("TOS_POOL_SLAVE_HTTP_BIND", local(http))
        .env("TOS_POOL_SLAVE_WEBSOCKET_BIND", local(ws))
        .env("TOS_POOL_SLAVE_WEBSOCKET_TLS_BIND", local(wss))
        .env("TOS_POOL_SLAVE_XATUM_BIND", local(xatum))
        .env("TOS_POOL_API_BIND", local(free_port()))
        .env("TOS_POOL_PROFILING_ENABLED", "false")
        .env("TOS_POOL_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tos-pool-dev");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(DEADLINE) {
            Ok(line) => {
                let done = line.contains("Stop with Ctrl-C");
                seen.push(line);
                if done {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("no endpoints printed: {seen:#?}");
            }
        }
    }
    let text = seen.join("\n");
    for expected in [
        format!("stratum+tcp://127.0.0.1:{stratum}"),
        format!("stratum+ssl://127.0.0.1:{tls}"),
        format!("stratum+tcp://127.0.0.1:{}", stratum + 100),
        format!("http://127.0.0.1:{master}"),
        "devnet".to_owned(),
        "wallet".to_owned(),
        "redis://".to_owned(),
        format!("ws://127.0.0.1:{ws}/"),
        format!("wss://127.0.0.1:{wss}/"),
        format!("xatum+tls://127.0.0.1:{xatum}"),
        format!("ws://127.0.0.1:{}/", ws + 100),
    ] {
        assert!(text.contains(&expected), "{expected} missing from:\n{text}");
    }
    assert!(
        workdir
            .path()
            .join("target/dev-cluster/tls/slave.crt")
            .exists(),
        "a self-signed certificate was made"
    );

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("tos-pool-dev did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
}
