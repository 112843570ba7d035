//! The floor server: what pushing jobs to Stratum sessions costs with
//! nothing else in the way, to measure the slave's push path against
//! (docs/BENCHMARKS.md, "The push floor"). No async runtime: a few login
//! threads accept connections and answer `mining.subscribe` and
//! `mining.authorize` on blocking sockets; then each session belongs to one
//! of the writer threads (two by default, each owning half the sockets),
//! which for every job writes each of its sessions its own `mining.notify`
//! (the job's line with that session's extra_nonce in the MinerWork) with
//! one blocking write. A job comes every `job_interval`. It does not take
//! shares: it serves idle sessions (`tos-loadgen --rate 0`) only.

mod login;
mod notify;
mod writer;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tos_pool_common::difficulty::{Difficulty, Target};
use tos_pool_common::header::MinerWork;

pub use login::{LoginError, login};
pub use notify::{NotifyTemplate, extra_nonce_of};
pub use writer::JobWrites;

use writer::Command;

/// How the floor server runs.
#[derive(Debug, Clone)]
pub struct FloorConfig {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Writer threads; sessions are dealt to them in turn.
    pub writers: usize,
    /// Threads accepting connections and answering logins.
    pub login_threads: usize,
    /// Time between jobs.
    pub job_interval: Duration,
    /// Jobs to push before stopping (0: no end).
    pub jobs: u64,
    /// The share difficulty announced and used for every session's target.
    pub difficulty: u64,
    /// A login's read deadline, and every write's.
    pub socket_timeout: Duration,
}

/// One job's fan-out over all writers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFanout {
    /// The job's id.
    pub job_id: String,
    /// Sessions written to.
    pub written: u64,
    /// Sessions dropped because the write failed.
    pub dropped: u64,
    /// From publishing the job to the last session's write.
    pub last_write: Duration,
}

/// Runs the floor server on `listener`; `on_job` hears each job's fan-out
/// once every writer has pushed it. Returns after `config.jobs` jobs (never
/// with 0).
pub fn serve(
    listener: TcpListener,
    config: &FloorConfig,
    on_job: impl Fn(&JobFanout) + Send + Sync + 'static,
) -> std::io::Result<()> {
    let writers = config.writers.max(1);
    let current: Arc<Mutex<Option<Arc<NotifyTemplate>>>> = Arc::new(Mutex::new(None));
    let (reports, fanouts) = mpsc::channel::<(String, JobWrites)>();
    let mut senders = Vec::with_capacity(writers);
    for index in 0..writers {
        let (sender, commands) = mpsc::channel();
        senders.push(sender);
        let reports = reports.clone();
        std::thread::Builder::new()
            .name(format!("floor-writer-{index}"))
            .spawn(move || {
                writer::run(commands, |template, writes| {
                    let _ = reports.send((template.job_id.clone(), writes));
                });
            })?;
    }
    drop(reports);
    let on_job = Arc::new(on_job);
    std::thread::Builder::new()
        .name("floor-tally".to_owned())
        .spawn(move || tally(fanouts, writers, &*on_job))?;

    let numbers = Arc::new(AtomicU64::new(0));
    for index in 0..config.login_threads.max(1) {
        let listener = listener.try_clone()?;
        let current = Arc::clone(&current);
        let senders = senders.clone();
        let numbers = Arc::clone(&numbers);
        let config = config.clone();
        std::thread::Builder::new()
            .name(format!("floor-login-{index}"))
            .spawn(move || accept(&listener, &config, &numbers, &current, &senders))?;
    }

    let target = Difficulty::from_u64(config.difficulty.max(1))
        .map(|difficulty| difficulty.target())
        .unwrap_or(Target([0xff; 32]));
    let start = Instant::now();
    let mut height = 0;
    loop {
        height += 1;
        let due = start
            + config
                .job_interval
                .saturating_mul(u32::try_from(height).unwrap_or(u32::MAX));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if config.jobs != 0 && height > config.jobs {
            // The last job's writes have had an interval to finish.
            return Ok(());
        }
        let template = Arc::new(NotifyTemplate::new(
            &format!("f{height}"),
            &job_work(height),
            &target,
            height,
        ));
        // Held while the job goes to every writer, so a session logging in
        // meanwhile gets either this job at login or its push, never neither.
        let mut shown = current.lock().unwrap_or_else(PoisonError::into_inner);
        *shown = Some(Arc::clone(&template));
        let published = Instant::now();
        for sender in &senders {
            let _ = sender.send(Command::Job(Arc::clone(&template), published));
        }
    }
}

/// The MinerWork of job `height`: a work hash made of the height, the time
/// now, and a zero extra_nonce (each session's is written in when sent).
fn job_work(height: u64) -> MinerWork {
    let mut work_hash = [0x5a; 32];
    work_hash[..8].copy_from_slice(&height.to_be_bytes());
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    MinerWork::new(&work_hash, now_ms, 0, &[0; 32], &[0x6c; 32])
}

/// Accepts connections and logs them in, one at a time, until the listener
/// fails.
fn accept(
    listener: &TcpListener,
    config: &FloorConfig,
    numbers: &AtomicU64,
    current: &Mutex<Option<Arc<NotifyTemplate>>>,
    writers: &[Sender<Command>],
) {
    let mut line = Vec::with_capacity(512);
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let number = numbers.fetch_add(1, Ordering::Relaxed);
        let setup = stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(Some(config.socket_timeout)))
            .and_then(|()| stream.set_write_timeout(Some(config.socket_timeout)));
        if let Err(error) = setup {
            tracing::debug!(%error, "socket setup failed");
            continue;
        }
        if let Err(error) = login(&stream, number, config.difficulty) {
            tracing::debug!(%error, session = number, "login failed");
            continue;
        }
        let shown = current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(template) = shown.as_ref() {
            template.write_for(&extra_nonce_of(number), &mut line);
            if std::io::Write::write_all(&mut &stream, &line).is_err() {
                continue;
            }
        }
        let writer = usize::try_from(number).unwrap_or(0) % writers.len().max(1);
        if let Some(sender) = writers.get(writer) {
            let _ = sender.send(Command::Session(stream, number));
        }
    }
}

/// Sums each job's writes over the writers and hands the total to `on_job`.
fn tally(
    fanouts: mpsc::Receiver<(String, JobWrites)>,
    writers: usize,
    on_job: &dyn Fn(&JobFanout),
) {
    let mut open: Vec<(JobFanout, usize)> = Vec::new();
    for (job_id, writes) in fanouts {
        let at = match open.iter().position(|(job, _)| job.job_id == job_id) {
            Some(at) => at,
            None => {
                open.push((
                    JobFanout {
                        job_id,
                        written: 0,
                        dropped: 0,
                        last_write: Duration::ZERO,
                    },
                    0,
                ));
                open.len() - 1
            }
        };
        let Some((job, heard)) = open.get_mut(at) else {
            continue;
        };
        job.written += writes.written;
        job.dropped += writes.dropped;
        job.last_write = job.last_write.max(writes.last_write);
        *heard += 1;
        if *heard == writers {
            let (job, _) = open.remove(at);
            on_job(&job);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;
    use std::sync::mpsc;

    use serde_json::Value;

    use super::*;

    fn read_json(reader: &mut BufReader<TcpStream>) -> Value {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("a line from the floor server");
        serde_json::from_str(&line).expect("JSON")
    }

    #[test]
    fn sessions_log_in_and_get_every_job_with_their_own_extra_nonce() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = FloorConfig {
            bind: addr,
            writers: 2,
            login_threads: 1,
            job_interval: Duration::from_millis(300),
            jobs: 6,
            difficulty: 3,
            socket_timeout: Duration::from_secs(10),
        };
        let (fanouts, heard) = mpsc::channel();
        let fanouts = Mutex::new(fanouts);
        let server = std::thread::spawn(move || {
            serve(listener, &config, move |job| {
                let _ = fanouts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .send(job.clone());
            })
        });
        let mut miners = Vec::new();
        for _ in 0..3 {
            let stream = TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut writer = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            writer
                .write_all(b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"t\"]}\n")
                .expect("subscribe");
            let subscribed = read_json(&mut reader);
            assert_eq!(subscribed["id"], 1);
            let extranonce1 = subscribed["result"][1].as_str().expect("hex").to_owned();
            assert_eq!(subscribed["result"][2], 4);
            writer
                .write_all(
                    b"{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"a.w\",\"x\"]}\n",
                )
                .expect("authorize");
            assert_eq!(read_json(&mut reader)["result"], true);
            let difficulty = read_json(&mut reader);
            assert_eq!(difficulty["method"], "mining.set_difficulty");
            assert_eq!(difficulty["params"][0], 3);
            miners.push((reader, extranonce1));
        }
        // Every session gets each later job, with its own extra_nonce.
        let mut last_job = vec![String::new(); miners.len()];
        for _ in 0..3 {
            for (index, (reader, extranonce1)) in miners.iter_mut().enumerate() {
                let notify = read_json(reader);
                assert_eq!(notify["method"], "mining.notify");
                let job_id = notify["params"][0].as_str().expect("id").to_owned();
                assert_ne!(job_id, last_job[index]);
                let work =
                    MinerWork::from_hex(notify["params"][1].as_str().expect("hex")).expect("work");
                assert_eq!(hex::encode(&work.extra_nonce()[..8]), *extranonce1);
                last_job[index] = job_id;
            }
        }
        assert_ne!(miners[0].1, miners[1].1);
        let job = heard
            .recv_timeout(Duration::from_secs(10))
            .expect("a job's fan-out");
        assert_eq!(job.dropped, 0);
        drop(miners);
        server.join().expect("server thread").expect("served");
    }
}
