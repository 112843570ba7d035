//! A plain HTTP/1.1 client for the `/debug/pprof/` endpoints and the checks a
//! real binary's profiling server must pass. Shared by the profiling tests of
//! the master, the slave and `integration-tests` (each includes this file with
//! `#[path]`, since the binaries' own tests cannot depend on this crate).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use prost::Message;
use tos_pool_common::profiling::pprof_format::Profile;

/// Status, header block and body of one HTTP exchange.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Reply {
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

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, b"")
}

/// A gzip-compressed pprof protobuf reply, decoded.
pub fn decode(reply: &Reply) -> Profile {
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

pub fn string(profile: &Profile, index: i64) -> &str {
    &profile.string_table[usize::try_from(index).expect("non-negative index")]
}

pub fn function_names(profile: &Profile) -> Vec<&str> {
    profile
        .function
        .iter()
        .map(|f| string(profile, f.name))
        .collect()
}

pub fn sample_types(profile: &Profile) -> Vec<(&str, &str)> {
    profile
        .sample_type
        .iter()
        .map(|t| (string(profile, t.r#type), string(profile, t.unit)))
        .collect()
}

/// Kills the process if a test fails half-way.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` (JSON logs on stderr, profiling on an ephemeral loopback
/// port) and returns it with the address its profiling server logged.
pub fn spawn_profiled(mut command: Command) -> (Process, SocketAddr) {
    let mut child = command
        .env("TOS_POOL_PROFILING_ENABLED", "true")
        .env("TOS_POOL_PROFILING_BIND", "127.0.0.1:0")
        .env("TOS_POOL_LOG_FORMAT", "json")
        .env("TOS_POOL_LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        // Sample every 1 KiB instead of 512 KiB so start-up allocations show.
        .env("_RJEM_MALLOC_CONF", "lg_prof_sample:10")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the binary");
    let stderr = child.stderr.take().expect("piped stderr");
    let process = Process(child);
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
        .expect("the binary logs its profiling address");
    let log: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    let address = log["fields"]["address"]
        .as_str()
        .or_else(|| log["address"].as_str())
        .unwrap_or_else(|| panic!("an address field in {line}"));
    (process, address.parse().expect("a socket address"))
}

/// Every endpoint of a real binary (jemalloc, named tasks and threads)
/// answers, and its heap and CPU profiles decode with samples in them.
pub fn check_every_profile(addr: SocketAddr, binary: &str) {
    let index = get(addr, "/debug/pprof/").text();
    assert!(index.contains("heap profiling is active"), "{index}");
    assert!(get(addr, "/debug/pprof/cmdline").text().contains(binary));
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
    assert!(threads.contains(binary), "{threads}");
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

    // The CPU profile: keep the process busy (heap dumps and symbol lookups)
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
    assert!(!cpu.sample.is_empty(), "the busy process was sampled");
    assert!(
        cpu.function
            .iter()
            .any(|f| !string(&cpu, f.name).is_empty()),
        "CPU frames carry function names"
    );
    let svg = get(addr, "/debug/pprof/flamegraph?seconds=1");
    assert_eq!(svg.status, 200);
    assert!(svg.text().contains("<svg"));
}

/// Sends SIGTERM and expects a clean exit.
pub fn stop_with_sigterm(process: &mut Process) {
    let pid = process.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = process.0.try_wait().expect("wait for the process") {
            break status;
        }
        assert!(Instant::now() < deadline, "the process stops on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "clean exit: {status}");
}
