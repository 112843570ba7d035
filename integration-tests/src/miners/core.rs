//! What every test miner owns whatever its protocol: the connection, the
//! task reading it, and where the next nonce search starts.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::task::JoinHandle;

use super::MinerError;
use super::connection::Connection;
use super::work::{Job, search_bad_share, search_share};

/// A connection with its reader task (aborted on drop) and a nonce cursor.
/// Dereferences to the [`Connection`].
pub(crate) struct MinerCore {
    connection: Arc<Connection>,
    reader: JoinHandle<()>,
    next_nonce: AtomicU64,
}

impl MinerCore {
    /// Owns a freshly spawned connection; searches start at nonce 0.
    pub(crate) fn new((connection, reader): (Arc<Connection>, JoinHandle<()>)) -> MinerCore {
        MinerCore {
            connection,
            reader,
            next_nonce: AtomicU64::new(0),
        }
    }

    /// Makes the next search start at `nonce`.
    pub(crate) fn start_at(&self, nonce: u64) {
        self.next_nonce.store(nonce, Ordering::Relaxed);
    }

    /// A nonce meeting the job's target, continuing where the last search
    /// stopped.
    pub(crate) async fn mine(&self, job: &Job) -> Result<u64, MinerError> {
        search_share(job, &self.next_nonce, self.connection.options().max_tries).await
    }

    /// A nonce whose hash misses the job's target.
    pub(crate) async fn bad_nonce(&self, job: &Job) -> Result<u64, MinerError> {
        search_bad_share(job, &self.next_nonce, self.connection.options().max_tries).await
    }
}

impl Deref for MinerCore {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.connection
    }
}

impl Drop for MinerCore {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
