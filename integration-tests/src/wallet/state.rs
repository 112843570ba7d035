//! The wallet's books kept in a file across restarts, as a real wallet keeps
//! its history on disk. The whole ledger (balance, nonce, transactions,
//! injected faults and refusals) and the internal chain's topoheight are
//! written after every change, before the request that made it is answered:
//! to a temporary file, synced, then renamed over the state file, so a kill
//! at any moment leaves either the old state or the new one.

use std::fs::File;
use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use super::ledger::Ledger;

/// Format version written in every state file.
pub const STATE_VERSION: u32 = 1;

/// Why the state file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file (or its directory) could not be read, written or synced.
    #[error("wallet state {path}: {source}")]
    Io {
        /// The state file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a wallet state.
    #[error("wallet state {path} is not valid: {reason}")]
    Invalid {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file belongs to another wallet.
    #[error(
        "wallet state {path} belongs to wallet {stored}, not {asked}: use the same --address or another --state"
    )]
    OtherWallet {
        /// The state file.
        path: PathBuf,
        /// The address it holds.
        stored: String,
        /// The address asked for.
        asked: String,
    },
}

/// What the file holds.
#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    internal_topoheight: u64,
    ledger: Ledger,
}

/// [`Snapshot`] as written, borrowing the ledger.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    internal_topoheight: u64,
    ledger: &'a Ledger,
}

/// The state file and the bytes last written to it.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    written: Mutex<Vec<u8>>,
}

impl StateFile {
    /// A state file at `path`, not read yet.
    pub fn new(path: PathBuf) -> StateFile {
        StateFile {
            path,
            written: Mutex::new(Vec::new()),
        }
    }

    /// The ledger and internal topoheight saved at `path`, or `None` when
    /// there is no file yet. A file of another wallet than `address` is an
    /// error.
    pub fn load(&self, address: &str) -> Result<Option<(Ledger, u64)>, StateError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let invalid = |reason: String| StateError::Invalid {
            path: self.path.clone(),
            reason,
        };
        let snapshot: Snapshot =
            serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if snapshot.version != STATE_VERSION {
            return Err(invalid(format!(
                "version {} is not {STATE_VERSION}",
                snapshot.version
            )));
        }
        if snapshot.ledger.address() != address {
            return Err(StateError::OtherWallet {
                path: self.path.clone(),
                stored: snapshot.ledger.address().to_string(),
                asked: address.to_string(),
            });
        }
        *self.written.lock().unwrap_or_else(PoisonError::into_inner) = bytes;
        Ok(Some((snapshot.ledger, snapshot.internal_topoheight)))
    }

    /// Writes `ledger` and `internal_topoheight` unless they are what the
    /// file already holds: temporary file, fsync, rename, fsync of the
    /// directory.
    pub fn save(&self, ledger: &Ledger, internal_topoheight: u64) -> Result<(), StateError> {
        let snapshot = SnapshotRef {
            version: STATE_VERSION,
            internal_topoheight,
            ledger,
        };
        let bytes = serde_json::to_vec_pretty(&snapshot).map_err(|e| StateError::Invalid {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if *written == bytes {
            return Ok(());
        }
        write_atomically(&self.path, &bytes).map_err(|source| StateError::Io {
            path: self.path.clone(),
            source,
        })?;
        *written = bytes;
        Ok(())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let temporary = dir.join(name);
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    File::open(dir)?.sync_all()
}

/// The locked ledger. When it was borrowed mutably (or
/// [`mark_changed`](Self::mark_changed)), dropping it saves the state file,
/// so every change is on disk before the request that made it is answered.
#[derive(Debug)]
pub struct LedgerGuard<'a> {
    ledger: MutexGuard<'a, Ledger>,
    state: Option<&'a StateFile>,
    internal_topoheight: &'a AtomicU64,
    changed: bool,
}

impl<'a> LedgerGuard<'a> {
    /// Locks `ledger`; `state` is where changes go, if anywhere.
    pub fn lock(
        ledger: &'a Mutex<Ledger>,
        state: Option<&'a StateFile>,
        internal_topoheight: &'a AtomicU64,
    ) -> LedgerGuard<'a> {
        LedgerGuard {
            // A panic while holding the lock cannot leave the ledger
            // half-updated in a way that matters to tests: keep serving.
            ledger: ledger.lock().unwrap_or_else(PoisonError::into_inner),
            state,
            internal_topoheight,
            changed: false,
        }
    }

    /// Saves the state on drop even if the ledger itself did not change
    /// (the internal topoheight did).
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }
}

impl Deref for LedgerGuard<'_> {
    type Target = Ledger;

    fn deref(&self) -> &Ledger {
        &self.ledger
    }
}

impl DerefMut for LedgerGuard<'_> {
    fn deref_mut(&mut self) -> &mut Ledger {
        self.changed = true;
        &mut self.ledger
    }
}

impl Drop for LedgerGuard<'_> {
    fn drop(&mut self) {
        let Some(state) = self.state.filter(|_| self.changed) else {
            return;
        };
        let topoheight = self.internal_topoheight.load(Ordering::SeqCst);
        if let Err(error) = state.save(&self.ledger, topoheight) {
            tracing::error!(%error, "wallet state not saved");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::ledger::{FeePolicy, Transfer};
    use tos_pool_common::address::Address;
    use tos_pool_common::network::Network;

    fn address(n: u8) -> String {
        Address::new([n; 32], Network::Devnet).to_string()
    }

    fn ledger() -> Ledger {
        Ledger::new(Network::Devnet, address(1), 1_000_000, FeePolicy::default())
    }

    #[test]
    fn a_changed_ledger_is_saved_on_drop_and_loads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = StateFile::new(dir.path().join("wallet.json"));
        assert!(state.load(&address(1)).expect("no file yet").is_none());
        let lock = Mutex::new(ledger());
        let topoheight = AtomicU64::new(0);
        {
            // Reading alone writes nothing.
            let guard = LedgerGuard::lock(&lock, Some(&state), &topoheight);
            assert_eq!(guard.balance(), 1_000_000);
        }
        assert!(!state.path.exists());
        {
            let mut guard = LedgerGuard::lock(&lock, Some(&state), &topoheight);
            let transfer = Transfer {
                asset: crate::wallet::TOS_ASSET.to_string(),
                amount: 500,
                destination: address(2),
                extra_data: None,
            };
            guard
                .build_transaction(vec![transfer], None, true, 4)
                .expect("broadcast");
        }
        {
            let mut guard = LedgerGuard::lock(&lock, Some(&state), &topoheight);
            topoheight.store(9, Ordering::SeqCst);
            guard.mark_changed();
        }
        let again = StateFile::new(state.path.clone());
        let (loaded, internal) = again.load(&address(1)).expect("loads").expect("saved");
        let original = lock.lock().expect("not poisoned");
        assert_eq!(loaded.balance(), original.balance());
        assert_eq!(loaded.nonce(), 1);
        assert_eq!(loaded.transactions(), original.transactions());
        assert_eq!(internal, 9);
        assert!(!dir.path().join("wallet.json.tmp").exists());
    }

    #[test]
    fn a_file_of_another_wallet_or_not_a_state_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wallet.json");
        let state = StateFile::new(path.clone());
        state.save(&ledger(), 0).expect("saves");
        assert!(matches!(
            state.load(&address(3)),
            Err(StateError::OtherWallet { .. })
        ));
        std::fs::write(&path, b"{\"version\":1").expect("writes");
        assert!(matches!(
            state.load(&address(1)),
            Err(StateError::Invalid { .. })
        ));
    }
}
