//! Watch-only sessions (`tos-loadgen --watch`): idle Stratum sessions over
//! plain TCP that subscribe, authorize and then only note when each pushed
//! job arrives. The job id is found with a byte scan of the line, not by
//! the test miner's JSON decoding, transcript and job queue: at 19,000
//! sessions a process and a job a second, the full miner spends more on a
//! notify than the pool does, and falls seconds behind the pushes it is
//! meant to time.

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::session::{
    Next, Shared, closed, connect_slot, new_report, open_failed, opened, route, stopped,
};
use super::tally::MinerReport;
use crate::miners::{Endpoint, Protocol, Transport, connect_tcp};

/// Longest line taken from the pool: a notify is about 400 bytes.
const MAX_LINE: usize = 16 * 1024;

/// Whether `--watch` can serve sessions to this endpoint (plain-TCP Stratum).
pub fn can_watch(endpoint: &Endpoint) -> bool {
    endpoint.protocol == Protocol::Stratum && matches!(endpoint.transport, Transport::Tcp)
}

/// What one line from the pool is, as far as a watcher cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// `mining.notify` of this job id.
    Job(&'a str),
    /// The answer to request `id`: accepted (`true`, or a subscribe's
    /// result) or refused (an error, or `false`).
    Answer { id: u64, ok: bool },
    /// Anything else (`mining.set_difficulty`, …).
    Other,
}

/// Reads one line (without its newline). A notify, the line that comes
/// sessions × jobs times, is found by a byte scan (the pool writes its
/// fields in a fixed order, the job id first); anything else, a few lines
/// a session, is parsed as JSON.
pub fn scan_line(line: &[u8]) -> Seen<'_> {
    const NOTIFY: &[u8] = br#"{"id":null,"method":"mining.notify","params":[""#;
    if let Some(rest) = line.strip_prefix(NOTIFY) {
        let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
        return match std::str::from_utf8(&rest[..end]) {
            Ok(id) => Seen::Job(id),
            Err(_) => Seen::Other,
        };
    }
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else {
        return Seen::Other;
    };
    let Some(id) = message.get("id").and_then(serde_json::Value::as_u64) else {
        return Seen::Other;
    };
    let refused = message.get("error").is_some_and(|error| !error.is_null())
        || matches!(
            message.get("result"),
            None | Some(serde_json::Value::Null | serde_json::Value::Bool(false))
        );
    Seen::Answer { id, ok: !refused }
}

/// Complete lines at the front of `buf`, each handed to `on_line` without
/// its newline; returns the bytes used.
fn each_line(buf: &[u8], mut on_line: impl FnMut(&[u8])) -> usize {
    let mut used = 0;
    while let Some(end) = buf[used..].iter().position(|&b| b == b'\n') {
        let line = &buf[used..used + end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            on_line(line);
        }
        used += end + 1;
    }
    used
}

/// One session's jobs: the job given at login is not a push; a job sent
/// again (the pool's refresh) is not a new one.
#[derive(Default)]
struct Pushed {
    latest: String,
    seen_login_job: bool,
}

impl Pushed {
    fn on_job(&mut self, job_id: &str, at: Instant, shared: &Shared) {
        if self.latest == job_id {
            return;
        }
        if self.seen_login_job {
            shared.fanout.record(job_id, at);
        }
        self.seen_login_job = true;
        self.latest.clear();
        self.latest.push_str(job_id);
    }
}

/// Runs watch-only session `index` until `stop` turns true.
pub(crate) async fn run_watcher(
    index: usize,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> MinerReport {
    let mut report = new_report(index, &shared);
    for attempt in index.. {
        let opened_now = tokio::select! {
            opened = open(attempt, &shared, &report) => opened,
            _ = stopped(&mut stop) => break,
        };
        let (stream, buf) = match opened_now {
            Ok(connection) => connection,
            Err(error) => match open_failed(error, &mut report, &shared, &mut stop).await {
                Next::Reconnect => continue,
                Next::Stop => break,
            },
        };
        opened(&mut report, &shared);
        let by_pool = tokio::select! {
            biased;
            _ = stopped(&mut stop) => false,
            () = watch_jobs(stream, buf, &shared) => true,
        };
        if let Next::Stop = closed(by_pool, &mut report, &shared, &mut stop).await {
            break;
        }
    }
    report
}

/// Connects, subscribes and authorizes; returns the stream and what was
/// read past the two answers (the login job, usually).
async fn open(
    index: usize,
    shared: &Shared,
    report: &MinerReport,
) -> Result<(TcpStream, Vec<u8>), String> {
    let settings = &shared.settings;
    let _slot = connect_slot(shared).await?;
    let (endpoint, source) = route(index, settings);
    let login = async {
        let mut stream = connect_tcp(endpoint.addr, source)
            .await
            .map_err(|e| format!("connecting to {}: {e}", endpoint.addr))?;
        let hello = format!(
            "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"tos-loadgen/watch\"]}}\n\
             {{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{}.{}\",\"x\"]}}\n",
            report.address, report.worker
        );
        stream
            .write_all(hello.as_bytes())
            .await
            .map_err(|e| format!("sending the login: {e}"))?;
        let mut buf = Vec::with_capacity(1024);
        let mut answered = 0;
        let mut at = 0;
        loop {
            if stream
                .read_buf(&mut buf)
                .await
                .map_err(|e| format!("reading the login answers: {e}"))?
                == 0
            {
                return Err("the pool closed the connection during login".to_owned());
            }
            while answered < 2 {
                let Some(end) = buf[at..].iter().position(|&b| b == b'\n') else {
                    break;
                };
                let line = &buf[at..at + end];
                at += end + 1;
                if let Seen::Answer { id, ok } = scan_line(line.strip_suffix(b"\r").unwrap_or(line))
                {
                    answered += 1;
                    if !ok {
                        return Err(format!(
                            "request {id} refused: {}",
                            String::from_utf8_lossy(line)
                        ));
                    }
                }
            }
            if answered == 2 {
                // What came after the answers (the login job, usually) is
                // the watch loop's.
                buf.drain(..at);
                return Ok((stream, buf));
            }
            if buf.len() - at > MAX_LINE {
                return Err(format!("no login answer within {MAX_LINE} bytes"));
            }
        }
    };
    tokio::time::timeout(settings.timeout, login)
        .await
        .map_err(|_| format!("login not answered within {:?}", settings.timeout))?
}

/// Notes every job pushed until the connection ends.
async fn watch_jobs(mut stream: TcpStream, mut buf: Vec<u8>, shared: &Shared) {
    let mut pushed = Pushed::default();
    loop {
        let at = Instant::now();
        let used = each_line(&buf, |line| {
            if let Seen::Job(id) = scan_line(line) {
                pushed.on_job(id, at, shared);
            }
        });
        buf.drain(..used);
        if buf.len() > MAX_LINE {
            tracing::warn!("a line from the pool longer than {MAX_LINE} bytes");
            return;
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notify_names_its_job() {
        let line = br#"{"id":null,"method":"mining.notify","params":["a1b2","00ff","0f",7,true]}"#;
        assert_eq!(scan_line(line), Seen::Job("a1b2"));
    }

    #[test]
    fn answers_are_told_apart_from_refusals() {
        assert_eq!(
            scan_line(br#"{"id":2,"result":true,"error":null}"#),
            Seen::Answer { id: 2, ok: true }
        );
        assert_eq!(
            scan_line(br#"{"id":1,"result":[[["mining.notify","01"]],"ab",24],"error":null}"#),
            Seen::Answer { id: 1, ok: true }
        );
        assert_eq!(
            scan_line(br#"{"id":2,"result":null,"error":[24,"unauthorized",null]}"#),
            Seen::Answer { id: 2, ok: false }
        );
        assert_eq!(
            scan_line(br#"{"id":2,"result":false,"error":null}"#),
            Seen::Answer { id: 2, ok: false }
        );
        // Keys in another order (a server that sorts them).
        assert_eq!(
            scan_line(br#"{"error":null,"id":2,"result":true}"#),
            Seen::Answer { id: 2, ok: true }
        );
        assert_eq!(
            scan_line(br#"{"id":null,"method":"mining.set_difficulty","params":[1]}"#),
            Seen::Other
        );
    }

    #[test]
    fn lines_are_cut_at_newlines_and_a_partial_one_waits() {
        let mut lines = Vec::new();
        let used = each_line(b"one\r\n\ntwo\nthr", |line| lines.push(line.to_vec()));
        assert_eq!(lines, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(used, 10);
    }
}
