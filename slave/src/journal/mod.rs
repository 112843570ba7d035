//! The slave's share journal: an append-only file of the shares the master
//! has not acked yet, so that a slave killed (`kill -9`, a host crash)
//! loses none of the shares it answered "accepted".
//!
//! The link writes, in the order of its outbox, every share it numbers
//! (`Share` records), the master's acks (`Acked`) and each new boot
//! (`Boot`). A writer thread appends them and syncs the file once for all
//! the shares that arrived since the last sync; a share's miner gets its
//! answer only after that sync ([`DurableTicket`]). On start the journal is
//! read back: the slave says Hello with the same boot id and resume point,
//! and the master's `Welcome.acked_seq` tells which held shares to send
//! again. The file is rewritten with only the held shares when acked ones
//! make up most of it, so it stays about as large as the unacked buffer.
//!
//! Enabled by `slave.journal_path`; `slave.journal_fsync_interval` spaces
//! the syncs (0 = sync as soon as the previous one is done).

mod codec;
mod replay;
mod writer;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use prost::Message;
use tokio::sync::watch;
use tos_pool_proto::v1::Share;

pub use codec::{CodecError, MAGIC, MAX_RECORD_BYTES, Parsed, Record, encode, encode_share, parse};
pub use replay::{BootState, replay};
pub use writer::{COMPACT_MIN_BYTES, COMPACT_RATIO, Durability, JournalCounters};

use writer::{Command, Writer};

/// Settings of the journal (`slave.journal_path`,
/// `slave.journal_fsync_interval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// The journal file; its directory must exist.
    pub path: PathBuf,
    /// Least time between two syncs; shares arriving meanwhile share one.
    pub fsync_interval: Duration,
}

/// A journal that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file or its lock cannot be opened, read or written.
    #[error("share journal {path}: cannot {action}: {error}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The system's error.
        error: std::io::Error,
    },
    /// Another process holds the journal.
    #[error(
        "share journal {path} is in use by another process: each slave needs its own \
         slave.journal_path"
    )]
    InUse {
        /// The journal file.
        path: PathBuf,
    },
    /// The journal belongs to another slave id: its shares may already be
    /// counted under that id, and resending them under this one would
    /// count them twice.
    #[error(
        "share journal {path} belongs to slave {journal:?}, but this slave is {configured:?}: \
         set slave.id back to {journal:?}, or move the file aside once that slave's shares \
         are accounted for"
    )]
    OtherSlave {
        /// The journal file.
        path: PathBuf,
        /// The slave id in the journal.
        journal: String,
        /// This slave's id.
        configured: String,
    },
    /// The file is damaged beyond a torn last record.
    #[error(
        "share journal {path} is damaged ({reason}); the slave will not guess which \
         shares it held: move the file aside to start with an empty journal, and keep \
         it to count what it held"
    )]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The boot a journal resumed.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// The boot id to say Hello with.
    pub boot_id: String,
    /// Highest seq the master acked, as far as the journal knows.
    pub acked: u64,
    /// Shares after it, numbered `acked + 1, …`.
    pub held: Vec<Share>,
    /// True when the boot came from the file, false for a new one.
    pub resumed: bool,
    /// Bytes of a torn last record dropped.
    pub torn_bytes: usize,
}

/// The link's side of the journal. Calls must be made in the outbox's
/// order (under its lock), so the file replays to the same state.
#[derive(Debug)]
pub struct Journal {
    commands: mpsc::Sender<Command>,
    appended: AtomicU64,
    durable: watch::Receiver<Durability>,
    counters: Arc<JournalCounters>,
}

impl Journal {
    /// Opens (or creates) the journal of slave `slave_id`, reads back its
    /// boot, rewrites the file clean and starts the writer thread.
    /// `new_boot` names the boot when the file holds none. A journal of
    /// another slave id is refused.
    pub fn open(
        config: &JournalConfig,
        slave_id: &str,
        new_boot: impl FnOnce() -> String,
    ) -> Result<(Journal, Restored), JournalError> {
        let path = config.path.as_path();
        let io = |action| {
            move |error| JournalError::Io {
                path: path.to_owned(),
                action,
                error,
            }
        };
        let lock = lock_file(path)?;
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(io("read it")(error)),
        };
        let corrupt = |reason: String| JournalError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let parsed = parse(&bytes).map_err(|error| corrupt(error.to_string()))?;
        let replayed = replay(parsed.records).map_err(corrupt)?;
        if let Some(state) = replayed.as_ref().filter(|state| state.slave_id != slave_id) {
            return Err(JournalError::OtherSlave {
                path: path.to_owned(),
                journal: state.slave_id.clone(),
                configured: slave_id.to_owned(),
            });
        }
        let resumed = replayed.is_some();
        let state = replayed.unwrap_or_else(|| BootState::fresh(slave_id.to_owned(), new_boot()));
        let held = state
            .held
            .iter()
            .map(|(seq, bytes)| {
                Share::decode(bytes.as_slice())
                    .map(|share| Share { seq: *seq, ..share })
                    .map_err(|error| corrupt(format!("share seq {seq} does not decode: {error}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let restored = Restored {
            boot_id: state.boot_id.clone(),
            acked: state.acked,
            held,
            resumed,
            torn_bytes: parsed.torn_bytes,
        };
        let counters = Arc::new(JournalCounters::default());
        counters
            .torn_bytes
            .store(parsed.torn_bytes as u64, Ordering::Relaxed);
        let (durable_tx, durable) = watch::channel(Durability::default());
        let writer = Writer::create(
            path,
            state,
            lock,
            config.fsync_interval,
            durable_tx,
            counters.clone(),
        )
        .map_err(io("write it"))?;
        let (commands, received) = mpsc::channel();
        std::thread::Builder::new()
            .name("share-journal".to_owned())
            .spawn(move || writer.run(received))
            .map_err(io("start its writer thread"))?;
        Ok((
            Journal {
                commands,
                appended: AtomicU64::new(0),
                durable,
                counters,
            },
            restored,
        ))
    }

    /// Journals share `seq` (protobuf bytes, seq 0); the ticket resolves
    /// once it is on disk.
    pub fn append(&self, seq: u64, share: Vec<u8>) -> DurableTicket {
        let index = self.appended.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = self.commands.send(Command::Append { index, seq, share });
        DurableTicket {
            index,
            durable: self.durable.clone(),
        }
    }

    /// The master acked every seq up to `up_to`.
    pub fn acked(&self, up_to: u64) {
        let _ = self.commands.send(Command::Acked(up_to));
    }

    /// A new boot started with the held shares renumbered 1..n.
    pub fn new_boot(&self, boot_id: &str) {
        let _ = self.commands.send(Command::NewBoot(boot_id.to_owned()));
    }

    /// The journal's counters.
    pub fn counters(&self) -> &JournalCounters {
        &self.counters
    }
}

/// A journaled share's wait for the disk.
#[derive(Debug)]
pub struct DurableTicket {
    index: u64,
    durable: watch::Receiver<Durability>,
}

impl DurableTicket {
    /// True once the share is on disk; false when the journal is failing
    /// or `timeout` passed first (the share may still be written and
    /// counted later).
    pub async fn wait(mut self, timeout: Duration) -> bool {
        let index = self.index;
        let waited = tokio::time::timeout(
            timeout,
            self.durable
                .wait_for(|durable| durable.index >= index || durable.failing),
        )
        .await;
        matches!(waited, Ok(Ok(durable)) if durable.index >= index)
    }
}

/// Takes `{path}.lock`, so that two slaves never write one journal.
fn lock_file(path: &Path) -> Result<File, JournalError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|error| JournalError::Io {
            path: path.to_owned(),
            action: "open its lock file",
            error,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::InUse {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(error)) => Err(JournalError::Io {
            path: path.to_owned(),
            action: "lock it",
            error,
        }),
    }
}

#[cfg(test)]
mod tests;
