//! `tos-pool-dev`, the README's first command, starts the local cluster,
//! prints every endpoint and stops cleanly on SIGTERM; it serves profiling
//! when its config turns it on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tos_pool_integration_tests::ports::quiet_port_spanning;
use tos_pool_integration_tests::process::stop_with_sigterm;

const DEADLINE: Duration = Duration::from_secs(60);

/// Launch attempts before a port taken by someone else fails the test.
const ATTEMPTS: usize = 3;

/// The first slave's ports of one `tos-pool-dev` run.
struct DevPorts {
    master: u16,
    stratum: u16,
    tls: u16,
    ws: u16,
    wss: u16,
    xatum: u16,
    /// The profiling server's, when the launch turned it on.
    profiling: Option<u16>,
}

/// How one launch ended before its endpoint list was complete.
enum LaunchFailure {
    /// Another process took one of the ports between choice and bind.
    PortTaken(String),
    /// Anything else: the launcher's stderr and what it printed.
    Failed(String),
}

/// A running `tos-pool-dev` on free ports, serving profiling when
/// `profiling`, and the lines it printed up to its endpoint list's end. A
/// launch that loses a port to another process is tried again on new ports.
fn start_dev(workdir: &Path, profiling: bool) -> (Child, DevPorts, Vec<String>) {
    for attempt in 1..=ATTEMPTS {
        match launch_dev(workdir, profiling) {
            Ok(started) => return started,
            Err(LaunchFailure::PortTaken(report)) if attempt < ATTEMPTS => {
                eprintln!("attempt {attempt} lost a port, trying new ones:\n{report}");
            }
            Err(LaunchFailure::PortTaken(report) | LaunchFailure::Failed(report)) => {
                panic!("tos-pool-dev did not start: {report}")
            }
        }
    }
    unreachable!("the last attempt returns or panics")
}

fn launch_dev(
    workdir: &Path,
    profiling: bool,
) -> Result<(Child, DevPorts, Vec<String>), LaunchFailure> {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/dev.yaml");
    let local = |port: u16| format!("127.0.0.1:{port}");
    // Each slave after the first binds the first's ports + 100.
    let take = || quiet_port_spanning(&[0, 100]);
    let ports = DevPorts {
        master: take(),
        stratum: take(),
        tls: take(),
        ws: take(),
        wss: take(),
        xatum: take(),
        profiling: profiling.then(take),
    };
    let (redis, node, wallet) = (take(), take(), take());
    let (slave_http, api) = (take(), take());
    let stderr_path = workdir.join("tos-pool-dev.stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("create the stderr file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tos-pool-dev"));
    command
        .arg("--config")
        .arg(&config)
        .current_dir(workdir)
        .env("TOS_POOL_REDIS_URL", format!("redis://127.0.0.1:{redis}/0"))
        .env(
            "TOS_POOL_NODE_URL",
            format!("http://127.0.0.1:{node}/json_rpc"),
        )
        .env(
            "TOS_POOL_PAYOUTS_WALLET_RPC",
            format!("http://127.0.0.1:{wallet}/json_rpc"),
        )
        .env("TOS_POOL_MASTER_BIND", local(ports.master))
        .env(
            "TOS_POOL_SLAVE_MASTER_URL",
            format!("http://127.0.0.1:{}", ports.master),
        )
        .env("TOS_POOL_SLAVE_STRATUM_BIND", local(ports.stratum))
        .env("TOS_POOL_SLAVE_STRATUM_TLS_BIND", local(ports.tls))
        .env("TOS_POOL_SLAVE_HTTP_BIND", local(slave_http))
        .env("TOS_POOL_SLAVE_WEBSOCKET_BIND", local(ports.ws))
        .env("TOS_POOL_SLAVE_WEBSOCKET_TLS_BIND", local(ports.wss))
        .env("TOS_POOL_SLAVE_XATUM_BIND", local(ports.xatum))
        .env("TOS_POOL_API_BIND", local(api))
        .env("TOS_POOL_PROFILING_ENABLED", profiling.to_string())
        .env("TOS_POOL_LOG_LEVEL", "warn");
    if let Some(port) = ports.profiling {
        command.env("TOS_POOL_PROFILING_BIND", local(port));
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start tos-pool-dev");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end even after the test stops listening: a closed
        // pipe would fail the launcher's later writes.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(DEADLINE) {
            Ok(line) => {
                let done = line.contains("Stop with Ctrl-C");
                seen.push(line);
                if done {
                    return Ok((child, ports, seen));
                }
            }
            Err(ended) => {
                let how = match ended {
                    mpsc::RecvTimeoutError::Timeout => {
                        let _ = child.kill();
                        format!("no endpoint list within {DEADLINE:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => "its stdout closed".to_owned(),
                };
                let status = child.wait().map(|status| status.to_string());
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                let report =
                    format!("{how}; exit {status:?}\nprinted: {seen:#?}\nstderr:\n{stderr}");
                return Err(if stderr.contains("in use") {
                    LaunchFailure::PortTaken(report)
                } else {
                    LaunchFailure::Failed(report)
                });
            }
        }
    }
}

/// Sends SIGTERM and waits for a clean exit.
fn stop_dev(mut child: Child) {
    let status = stop_with_sigterm(&mut child, DEADLINE)
        .expect("signal and wait")
        .expect("tos-pool-dev stops after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn tos_pool_dev_prints_its_endpoints_and_stops_on_sigterm() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let (child, ports, seen) = start_dev(workdir.path(), false);
    let DevPorts {
        master,
        stratum,
        tls,
        ws,
        wss,
        xatum,
        profiling: _,
    } = ports;
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

    assert!(
        !text.contains("profiling"),
        "profiling is off, so not served:\n{text}"
    );
    stop_dev(child);
}

#[test]
fn tos_pool_dev_serves_profiling_when_its_config_enables_it() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let (child, ports, seen) = start_dev(workdir.path(), true);
    let profiling = ports.profiling.expect("a profiling port was chosen");
    let text = seen.join("\n");
    let place = format!("http://127.0.0.1:{profiling}/debug/pprof/");
    assert!(text.contains(&place), "{place} missing from:\n{text}");
    let mut stream = TcpStream::connect(("127.0.0.1", profiling)).expect("profiling listens");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("set a read timeout");
    stream
        .write_all(b"GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send a request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read the reply");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("profile"), "{reply}");
    stop_dev(child);
}
