//! One stream's ban sync: sends the slave every ban in force, then every
//! change, reading them from the master's [`BanList`](super::BanList) as the
//! slave takes them.
//!
//! The sync keeps the revision it has sent up to. It asks the list for the
//! changes after it a chunk at a time and queues them on the stream's ban
//! lane, waiting while the lane is full; then it sleeps until the list's
//! revision moves. A burst of bans, or a slave that reconnects to a long
//! list, therefore costs time, never the stream: nothing is dropped and
//! nothing is buffered beyond one chunk and the lane.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tos_pool_common::clock::unix_ms;
use tos_pool_proto::v1::{MasterMessage, master_message};

use super::bans::BanChange;
use super::outbound::BanLane;
use super::{Shared, lock};

/// Changes taken from the list under its lock at once.
pub const BAN_SYNC_CHUNK: usize = 256;

/// Aborts a stream's ban sync when the stream ends, however it ends.
pub(super) struct BanSyncTask(JoinHandle<()>);

impl Drop for BanSyncTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the ban sync of one stream; call it after the Welcome is queued.
pub(super) fn spawn(shared: Arc<Shared>, lane: BanLane) -> BanSyncTask {
    BanSyncTask(tokio::spawn(sync(shared, lane)))
}

async fn sync(shared: Arc<Shared>, lane: BanLane) {
    let mut revisions = shared.ban_revision.subscribe();
    let mut sent_up_to = 0;
    loop {
        // Seen before reading the list: a change made while we send wakes
        // the wait below.
        revisions.borrow_and_update();
        loop {
            let (changes, next) =
                lock(&shared.bans).changes_after(sent_up_to, unix_ms(), BAN_SYNC_CHUNK);
            sent_up_to = next;
            if changes.is_empty() {
                break;
            }
            for change in changes {
                if lane.send(frame(change)).await.is_err() {
                    return;
                }
            }
        }
        if revisions.changed().await.is_err() {
            return;
        }
    }
}

fn frame(change: BanChange) -> MasterMessage {
    let kind = match change {
        BanChange::Ban(ban) => master_message::Kind::Ban(ban),
        BanChange::Unban(unban) => master_message::Kind::Unban(unban),
    };
    MasterMessage { kind: Some(kind) }
}
