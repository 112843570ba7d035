//! The real `tos-pool-master` binary with profiling enabled: it stays up,
//! serves every `/debug/pprof/` endpoint, its CPU profile and its jemalloc
//! heap profile decode as pprof protobuf with samples, and SIGTERM stops it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use prost::Message;
use tos_pool_common::profiling::pprof_format::Profile;

/// Kills the master (and then its Redis) if the test fails half-way.
struct Master {
    process: Child,
    _redis: Redis,
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A private `redis-server` on a free loopback port: the master's store of
/// record must be reachable for the master to start.
struct Redis(Child);

impl Redis {
    fn start() -> (Redis, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/ensure-deps installs it)");
        let redis = Redis(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        (redis, port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the master on the dev config with profiling on an ephemeral port
/// and returns it with the address it logged.
fn start_master() -> (Master, SocketAddr) {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/dev.yaml");
    let (redis, redis_port) = Redis::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tos-pool-master"))
        .args(["--config", config])
        .env(
            "TOS_POOL_REDIS_URL",
            format!("redis://127.0.0.1:{redis_port}/0"),
        )
        .env("TOS_POOL_MASTER_BIND", "127.0.0.1:0")
        .env("TOS_POOL_PROFILING_ENABLED", "true")
        .env("TOS_POOL_PROFILING_BIND", "127.0.0.1:0")
        .env("TOS_POOL_LOG_FORMAT", "json")
        .env("TOS_POOL_LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        // Sample every 1 KiB instead of 512 KiB so start-up allocations show.
        .env("_RJEM_MALLOC_CONF", "lg_prof_sample:10")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tos-pool-master");
    let stderr = child.stderr.take().expect("piped stderr");
    let master = Master {
        process: child,
        _redis: redis,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("profiling server listening") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the master logs its profiling address");
    let log: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    let address = log["fields"]["address"]
        .as_str()
        .or_else(|| log["address"].as_str())
        .unwrap_or_else(|| panic!("an address field in {line}"));
    (master, address.parse().expect("a socket address"))
}

/// Status, header block and body of one HTTP exchange.
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to the profiling server");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("set timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read reply");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    Reply {
        status,
        head,
        body: raw[end + 4..].to_vec(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, b"")
}

fn decode(reply: &Reply) -> Profile {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.head.contains("application/octet-stream"),
        "{}",
        reply.head
    );
    let mut raw = Vec::new();
    GzDecoder::new(reply.body.as_slice())
        .read_to_end(&mut raw)
        .expect("profiles are gzip-compressed");
    Profile::decode(raw.as_slice()).expect("a pprof Profile message")
}

fn string(profile: &Profile, index: i64) -> &str {
    &profile.string_table[usize::try_from(index).expect("non-negative index")]
}

fn sample_types(profile: &Profile) -> Vec<(&str, &str)> {
    profile
        .sample_type
        .iter()
        .map(|t| (string(profile, t.r#type), string(profile, t.unit)))
        .collect()
}

#[test]
fn the_master_serves_real_profiles_until_sigterm() {
    let (mut master, addr) = start_master();

    let index = get(addr, "/debug/pprof/").text();
    assert!(index.contains("heap profiling is active"), "{index}");
    assert!(
        get(addr, "/debug/pprof/cmdline")
            .text()
            .contains("tos-pool-master")
    );
    assert_eq!(get(addr, "/debug/pprof/symbol").text(), "num_symbols: 1\n");
    for name in ["block", "mutex", "trace"] {
        assert_eq!(get(addr, &format!("/debug/pprof/{name}")).status, 501);
    }
    let tasks = get(addr, "/debug/pprof/goroutine?debug=1").text();
    assert!(tasks.contains("[profiling-server]"), "{tasks}");
    assert!(
        !decode(&get(addr, "/debug/pprof/goroutine"))
            .sample
            .is_empty()
    );
    let threads = get(addr, "/debug/pprof/threadcreate?debug=1").text();
    assert!(threads.contains("tos-pool-master"), "{threads}");
    assert!(
        !decode(&get(addr, "/debug/pprof/threadcreate"))
            .sample
            .is_empty()
    );

    // The heap profile: jemalloc's samples, symbolised in the process.
    let heap = decode(&get(addr, "/debug/pprof/heap"));
    assert_eq!(sample_types(&heap), [("inuse_space", "bytes")]);
    assert!(!heap.sample.is_empty(), "start-up allocations were sampled");
    assert!(heap.sample.iter().all(|s| s.value[0] > 0));
    assert!(
        heap.function
            .iter()
            .any(|f| !string(&heap, f.name).is_empty()),
        "heap frames carry function names"
    );
    assert_eq!(
        decode(&get(addr, "/debug/pprof/allocs")).sample_type,
        heap.sample_type
    );

    // The CPU profile: keep the master busy (heap dumps and symbol lookups)
    // until the profile comes back.
    let (profile_tx, profile_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = profile_tx.send(get(addr, "/debug/pprof/profile?seconds=2"));
    });
    let mut cpu = None;
    for _ in 0..10_000 {
        if let Ok(reply) = profile_rx.try_recv() {
            cpu = Some(reply);
            break;
        }
        let _ = get(addr, "/debug/pprof/heap");
    }
    let cpu = cpu.unwrap_or_else(|| {
        profile_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the CPU profile returns")
    });
    let cpu = decode(&cpu);
    assert_eq!(
        sample_types(&cpu),
        [("samples", "count"), ("cpu", "nanoseconds")]
    );
    assert!(!cpu.sample.is_empty(), "the busy master was sampled");
    assert!(
        cpu.function
            .iter()
            .any(|f| !string(&cpu, f.name).is_empty()),
        "CPU frames carry function names"
    );
    let svg = get(addr, "/debug/pprof/flamegraph?seconds=1");
    assert_eq!(svg.status, 200);
    assert!(svg.text().contains("<svg"));

    let pid = master.process.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = master.process.try_wait().expect("wait for the master") {
            break status;
        }
        assert!(Instant::now() < deadline, "the master stops on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "clean exit: {status}");
}
