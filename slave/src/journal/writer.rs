//! The journal's writer thread: appends records, makes them durable in
//! groups (one `fdatasync` for every share that arrived meanwhile), and
//! rewrites the file when acked records make up most of it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::codec::{self, MAGIC, Record};
use super::replay::BootState;

/// The file is rewritten with only its held shares once it is larger than
/// this and than [`COMPACT_RATIO`] times what it holds.
pub const COMPACT_MIN_BYTES: u64 = 4 * 1024 * 1024;
/// See [`COMPACT_MIN_BYTES`].
pub const COMPACT_RATIO: u64 = 4;
/// Wait before retrying after a failed write or sync.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What the link asks of the journal, in the order of the outbox.
#[derive(Debug)]
pub(super) enum Command {
    /// A share was numbered `seq`; `index` counts appends since start.
    Append {
        index: u64,
        seq: u64,
        share: Vec<u8>,
    },
    /// The master acked every seq up to this one.
    Acked(u64),
    /// A new boot: the held shares are renumbered 1..n under it.
    NewBoot(String),
}

/// How far the journal is durable, published after every sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Durability {
    /// Every append up to this index is on disk.
    pub index: u64,
    /// The last write or sync failed; the writer retries.
    pub failing: bool,
}

/// Counters of the journal, for `/metrics`.
#[derive(Debug, Default)]
pub struct JournalCounters {
    /// Syncs to disk.
    pub syncs: AtomicU64,
    /// Failed writes or syncs.
    pub errors: AtomicU64,
    /// Rewrites of the file.
    pub compactions: AtomicU64,
    /// Bytes of a torn last record dropped when the journal was opened.
    pub torn_bytes: AtomicU64,
}

/// The writer: the file, what it holds, and where durability is published.
pub(super) struct Writer {
    path: PathBuf,
    file: File,
    file_len: u64,
    state: BootState,
    pending: Vec<u8>,
    fsync_interval: Duration,
    durable: watch::Sender<Durability>,
    counters: Arc<JournalCounters>,
    /// Held for the writer's life: a second slave on this journal is refused.
    _lock: File,
}

/// What one round of commands needs written.
#[derive(Default)]
struct Round {
    rewrite: bool,
    appended: Option<u64>,
}

impl Writer {
    /// Writes `state` as a fresh file at `path` (atomically) and returns
    /// the writer that appends to it.
    pub(super) fn create(
        path: &Path,
        state: BootState,
        lock: File,
        fsync_interval: Duration,
        durable: watch::Sender<Durability>,
        counters: Arc<JournalCounters>,
    ) -> io::Result<Writer> {
        let file = rewrite(path, &state)?;
        let file_len = file.metadata()?.len();
        Ok(Writer {
            path: path.to_owned(),
            file,
            file_len,
            state,
            pending: Vec::new(),
            fsync_interval,
            durable,
            counters,
            _lock: lock,
        })
    }

    /// Runs until every sender is gone.
    pub(super) fn run(mut self, commands: Receiver<Command>) {
        let mut last_sync = Instant::now();
        while let Ok(first) = commands.recv() {
            let mut round = Round::default();
            self.apply(first, &mut round);
            let until = last_sync + self.fsync_interval;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match commands.recv_timeout(left) {
                    Ok(command) => self.apply(command, &mut round),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            while let Ok(command) = commands.try_recv() {
                self.apply(command, &mut round);
            }
            last_sync = Instant::now();
            self.commit(&round);
        }
        // Acks written since the last share are worth keeping too.
        let _ = self.write_pending(true);
    }

    fn apply(&mut self, command: Command, round: &mut Round) {
        match command {
            Command::Append { index, seq, share } => {
                codec::encode_share(seq, &share, &mut self.pending);
                self.state.held.push((seq, share));
                round.appended = Some(index);
            }
            Command::Acked(up_to) => {
                if up_to > self.state.acked {
                    self.state.acked = up_to;
                    let released = self.state.held.partition_point(|(seq, _)| *seq <= up_to);
                    self.state.held.drain(..released);
                    codec::encode(&Record::Acked(up_to), &mut self.pending);
                }
            }
            Command::NewBoot(boot_id) => {
                self.state.boot_id = boot_id;
                self.state.acked = 0;
                for ((seq, _), new_seq) in self.state.held.iter_mut().zip(1..) {
                    *seq = new_seq;
                }
                round.rewrite = true;
            }
        }
    }

    /// Writes the round and publishes its durability, retrying until the
    /// disk takes it.
    fn commit(&mut self, round: &Round) {
        let mut rewrite = round.rewrite || self.worth_compacting();
        loop {
            let written = if rewrite {
                self.compact()
            } else {
                self.write_pending(round.appended.is_some())
            };
            match written {
                Ok(()) => break,
                Err(error) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        path = %self.path.display(),
                        %error,
                        "cannot write the share journal; miners wait for their answers until it works again"
                    );
                    self.durable.send_modify(|durable| durable.failing = true);
                    std::thread::sleep(RETRY_AFTER);
                    // A failed append may have left part of a record: start
                    // the file again from what it must hold.
                    rewrite = true;
                }
            }
        }
        self.durable.send_modify(|durable| {
            durable.failing = false;
            if let Some(index) = round.appended {
                durable.index = durable.index.max(index);
            }
        });
    }

    fn write_pending(&mut self, sync: bool) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.file_len += self.pending.len() as u64;
            self.pending.clear();
        }
        if sync {
            self.file.sync_data()?;
            self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn worth_compacting(&self) -> bool {
        if self.file_len <= COMPACT_MIN_BYTES {
            return false;
        }
        let held: u64 = self
            .state
            .held
            .iter()
            .map(|(_, share)| share.len() as u64 + 17)
            .sum();
        self.file_len > COMPACT_RATIO * held
    }

    fn compact(&mut self) -> io::Result<()> {
        self.file = rewrite(&self.path, &self.state)?;
        self.file_len = self.file.metadata()?.len();
        self.pending.clear();
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Writes `state` to `path` through a temporary file renamed over it, and
/// returns the new file open for appending.
fn rewrite(path: &Path, state: &BootState) -> io::Result<File> {
    let mut bytes = MAGIC.to_vec();
    codec::encode(&Record::boot(&state.slave_id, &state.boot_id), &mut bytes);
    codec::encode(&Record::Acked(state.acked), &mut bytes);
    for (seq, share) in &state.held {
        codec::encode_share(*seq, share, &mut bytes);
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(file)
}
