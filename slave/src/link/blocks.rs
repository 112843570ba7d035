//! Block candidates on their way to the master, without I/O: each gets a
//! request id, waits to be sent (skipping the share batches), and is matched
//! with the master's `BlockResult` by that id.

use std::collections::BTreeMap;

use tokio::sync::oneshot;
use tos_pool_proto::v1::{BlockCandidate, BlockResult};

/// Too many candidates are waiting for the master; the newest is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeskFull {
    /// Candidates waiting.
    pub pending: usize,
}

#[derive(Debug)]
struct Pending {
    candidate: BlockCandidate,
    sent: bool,
    reply: oneshot::Sender<BlockResult>,
}

/// Candidates waiting to be sent or answered, by request id.
#[derive(Debug)]
pub struct BlockDesk {
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    capacity: usize,
}

impl BlockDesk {
    /// An empty desk holding at most `capacity` unanswered candidates.
    pub fn new(capacity: usize) -> BlockDesk {
        BlockDesk {
            next_id: 1,
            pending: BTreeMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Gives `candidate` the next request id and queues it for sending;
    /// returns the id and where the master's answer will arrive.
    pub fn submit(
        &mut self,
        mut candidate: BlockCandidate,
    ) -> Result<(u64, oneshot::Receiver<BlockResult>), DeskFull> {
        self.prune_abandoned();
        if self.pending.len() >= self.capacity {
            return Err(DeskFull {
                pending: self.pending.len(),
            });
        }
        let request_id = self.next_id;
        self.next_id += 1;
        candidate.request_id = request_id;
        let (reply, answer) = oneshot::channel();
        self.pending.insert(
            request_id,
            Pending {
                candidate,
                sent: false,
                reply,
            },
        );
        Ok((request_id, answer))
    }

    /// Candidates not yet sent on the current stream, oldest first, now
    /// marked sent.
    pub fn take_unsent(&mut self) -> Vec<BlockCandidate> {
        self.pending
            .values_mut()
            .filter(|pending| !pending.sent)
            .map(|pending| {
                pending.sent = true;
                pending.candidate.clone()
            })
            .collect()
    }

    /// Hands the master's answer to whoever submitted the candidate; false
    /// when no candidate has that request id (already answered or unknown).
    pub fn on_result(&mut self, result: BlockResult) -> bool {
        match self.pending.remove(&result.request_id) {
            Some(pending) => {
                // The submitter may have stopped waiting; the result is logged
                // by the link either way.
                let _ = pending.reply.send(result);
                true
            }
            None => false,
        }
    }

    /// The stream ended before answers came: send the unanswered
    /// candidates again on the next one (the master ignores a block it
    /// already submitted).
    pub fn on_disconnect(&mut self) {
        self.prune_abandoned();
        for pending in self.pending.values_mut() {
            pending.sent = false;
        }
    }

    /// Candidates waiting to be sent or answered.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Forgets candidates whose submitter stopped waiting (dropped its
    /// ticket) and that were already sent once.
    fn prune_abandoned(&mut self) {
        self.pending
            .retain(|_, pending| !(pending.sent && pending.reply.is_closed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(job: &str) -> BlockCandidate {
        BlockCandidate {
            job_id: job.to_owned(),
            ..BlockCandidate::default()
        }
    }

    fn result(request_id: u64) -> BlockResult {
        BlockResult {
            request_id,
            accepted: true,
            ..BlockResult::default()
        }
    }

    #[test]
    fn candidates_get_distinct_ids_and_are_sent_once() {
        let mut desk = BlockDesk::new(4);
        let (a, _ra) = desk.submit(candidate("a")).unwrap();
        let (b, _rb) = desk.submit(candidate("b")).unwrap();
        assert_ne!(a, b);
        let sent = desk.take_unsent();
        assert_eq!(
            sent.iter().map(|c| c.request_id).collect::<Vec<_>>(),
            [a, b]
        );
        assert!(desk.take_unsent().is_empty());
    }

    #[test]
    fn a_result_reaches_its_submitter() {
        let mut desk = BlockDesk::new(4);
        let (a, mut ra) = desk.submit(candidate("a")).unwrap();
        let (b, mut rb) = desk.submit(candidate("b")).unwrap();
        desk.take_unsent();
        assert!(desk.on_result(result(b)));
        assert_eq!(rb.try_recv().unwrap().request_id, b);
        assert!(ra.try_recv().is_err(), "a is still waiting");
        assert!(!desk.on_result(result(b)), "answered once");
        assert!(desk.on_result(result(a)));
        assert!(desk.is_empty());
    }

    #[test]
    fn unanswered_candidates_are_resent_after_a_reconnect() {
        let mut desk = BlockDesk::new(4);
        let (a, _ra) = desk.submit(candidate("a")).unwrap();
        desk.take_unsent();
        desk.on_disconnect();
        assert_eq!(desk.take_unsent()[0].request_id, a);
    }

    #[test]
    fn abandoned_candidates_free_their_place() {
        let mut desk = BlockDesk::new(1);
        let (_a, ra) = desk.submit(candidate("a")).unwrap();
        assert_eq!(
            desk.submit(candidate("b")).unwrap_err(),
            DeskFull { pending: 1 }
        );
        desk.take_unsent();
        drop(ra);
        assert!(desk.submit(candidate("b")).is_ok());
        assert_eq!(desk.len(), 1);
    }
}
