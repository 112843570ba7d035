//! The share-ledger side of the link protocol, without I/O: sequence numbers,
//! the bounded buffer of unacked shares, and what to send or replay next.
//!
//! Shares are numbered 1, 2, 3, … within one `(slave_id, boot_id)`. Every
//! share stays in the buffer until the master acks it (`Ack.up_to_seq`); on a
//! new stream the master's `Welcome.acked_seq` says where to resume and
//! everything after it is sent again. The master recognises a replayed seq,
//! so each share is counted exactly once.
//!
//! When the master's mark went back below what it had acked (Redis lost its
//! last writes, a replica took over, the mark expired), the master cannot
//! take the held shares under their numbers: it refuses the gap. The outbox
//! then starts a new boot and numbers the held shares 1..n under it; the
//! shares between the two marks were acked and then lost by the master, and
//! are reported, never resent (the slave no longer holds them).

use std::collections::VecDeque;

use prost::Message;
use tos_pool_proto::v1::{Share, ShareBatch};

/// Most bytes of shares one batch carries, whatever its count: half the
/// frame limit, so a batch can never be refused for its size and resent
/// forever. Every share is bounded (its job id by `MAX_JOB_ID_BYTES`, its
/// worker name and address by the login rules), so a full batch of the
/// largest shares stays under it anyway; this holds even if a share grows.
pub const MAX_BATCH_BYTES: usize = tos_pool_proto::MAX_MESSAGE_BYTES / 2;

/// The buffer of unacked shares is full: the master has not acked for a
/// while. The caller must refuse the share rather than lose it silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// Shares waiting for an ack.
    pub unacked: usize,
}

/// What a `Welcome` or an `Ack` did to the buffer, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckNotice {
    /// The ack was in range.
    Applied {
        /// Shares forgotten because of it.
        released: usize,
    },
    /// The ack was not newer than one already applied: nothing changed.
    Old,
    /// The master acked seqs this slave never assigned (its state is from
    /// another boot or it is confused): everything assigned was released
    /// and numbering goes on after the acked seq.
    BeyondAssigned {
        /// The seq the master acked.
        acked: u64,
        /// The highest seq this slave assigned.
        assigned: u64,
    },
}

/// What a `Welcome` decided for the shares this slave holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Welcomed {
    /// The master's mark is within what this slave assigned: the shares up
    /// to it are released and the rest is sent again under the same boot.
    Resume {
        /// Shares forgotten because the master holds them.
        released: usize,
    },
    /// The master holds seqs this slave never assigned (a journal older than
    /// the master's mark, or another process with this boot id): every held
    /// share is released and numbering goes on after the master's mark, so
    /// no new share falls at or below it and is taken for a replay.
    Jumped {
        /// The master's mark.
        master: u64,
        /// The highest seq this slave had assigned.
        assigned: u64,
    },
    /// The master's mark is below what it acked before: it lost data. A
    /// new boot was started and the held shares renumbered 1..n under it;
    /// the link must say Hello again with the new boot id.
    NewBoot {
        /// The master's mark.
        master: u64,
        /// The highest seq the master had acked.
        acked: u64,
        /// Shares the master acked and then lost (`acked - master`): the
        /// slave no longer holds them.
        lost: u64,
        /// Held shares renumbered under the new boot.
        renumbered: usize,
        /// The boot id that ended.
        old_boot_id: String,
    },
}

/// Sequence numbers and unacked shares of one slave boot.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// The boot the seqs belong to (sent in Hello).
    boot_id: String,
    /// Highest seq the master acked; the buffer starts at `acked + 1`.
    acked: u64,
    /// Highest seq sent on the current stream (≥ `acked`).
    sent: u64,
    /// Shares `acked + 1 ..= acked + unacked.len()`, in order.
    unacked: VecDeque<Share>,
    /// Most shares held before [`Outbox::push`] refuses.
    capacity: usize,
}

impl Outbox {
    /// An empty outbox of boot `boot_id` holding at most `capacity` unacked
    /// shares (at least 1).
    pub fn new(boot_id: String, capacity: usize) -> Outbox {
        Outbox {
            boot_id,
            acked: 0,
            sent: 0,
            unacked: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The outbox of a boot resumed from the journal: the master acked up
    /// to `acked`, and `held` are the shares after it, in seq order. `None`
    /// when `held` is not numbered `acked + 1, acked + 2, …`.
    pub fn restore(
        boot_id: String,
        acked: u64,
        held: Vec<Share>,
        capacity: usize,
    ) -> Option<Outbox> {
        let numbered = held
            .iter()
            .zip(acked + 1..)
            .all(|(share, seq)| share.seq == seq);
        numbered.then(|| Outbox {
            boot_id,
            acked,
            sent: acked,
            unacked: held.into(),
            capacity: capacity.max(1),
        })
    }

    /// The boot the seqs belong to.
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// Numbers `share` with the next seq and keeps it until acked; returns
    /// the seq. Refuses when the buffer is full.
    pub fn push(&mut self, mut share: Share) -> Result<u64, Full> {
        if self.unacked.len() >= self.capacity {
            return Err(Full {
                unacked: self.unacked.len(),
            });
        }
        let seq = self.last_assigned() + 1;
        share.seq = seq;
        self.unacked.push_back(share);
        Ok(seq)
    }

    /// Highest seq assigned so far (0 before the first share).
    pub fn last_assigned(&self) -> u64 {
        self.acked + self.unacked.len() as u64
    }

    /// Highest seq the master acked.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Shares kept until the master acks them.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// Shares not yet sent on the current stream.
    pub fn unsent_len(&self) -> usize {
        usize::try_from(self.last_assigned() - self.sent).unwrap_or(usize::MAX)
    }

    /// True when every assigned share was acked.
    pub fn is_settled(&self) -> bool {
        self.unacked.is_empty()
    }

    /// The next batch of at most `max` unsent shares (at least one), marked
    /// sent; `None` when nothing is waiting.
    pub fn next_batch(&mut self, max: usize) -> Option<ShareBatch> {
        let unsent = self.unsent_len();
        if unsent == 0 {
            return None;
        }
        let start = usize::try_from(self.sent - self.acked).unwrap_or(usize::MAX);
        let mut bytes = 0;
        let shares: Vec<Share> = self
            .unacked
            .range(start..start + unsent.min(max.max(1)))
            .take_while(|share| {
                // A share's field in the batch: its bytes plus tag and length.
                bytes += share.encoded_len() + 4;
                bytes <= MAX_BATCH_BYTES
            })
            .cloned()
            .collect();
        // At least one share, so the stream always moves.
        let shares = if shares.is_empty() {
            self.unacked.range(start..start + 1).cloned().collect()
        } else {
            shares
        };
        let count = shares.len();
        let first_seq = self.sent + 1;
        self.sent += count as u64;
        Some(ShareBatch {
            first_seq,
            last_seq: self.sent,
            shares,
        })
    }

    /// The master durably stored every seq ≤ `up_to`: forget those shares.
    pub fn on_ack(&mut self, up_to: u64) -> AckNotice {
        if up_to <= self.acked {
            return AckNotice::Old;
        }
        let assigned = self.last_assigned();
        let notice = if up_to > assigned {
            AckNotice::BeyondAssigned {
                acked: up_to,
                assigned,
            }
        } else {
            AckNotice::Applied {
                released: usize::try_from(up_to - self.acked).unwrap_or(usize::MAX),
            }
        };
        // Beyond what was assigned, numbering goes on after the master's
        // mark: a new share at or below it would be taken for a replay.
        let released = usize::try_from(up_to - self.acked).unwrap_or(usize::MAX);
        self.unacked.drain(..released.min(self.unacked.len()));
        self.acked = up_to;
        self.sent = self.sent.max(self.acked);
        notice
    }

    /// A new stream was welcomed with the master's `acked_seq`: decide from
    /// it what is resent and under which boot (see [`Welcomed`]). `new_boot`
    /// gives the id of a new boot when one is needed.
    pub fn on_welcome(&mut self, acked_seq: u64, new_boot: impl FnOnce() -> String) -> Welcomed {
        let assigned = self.last_assigned();
        let welcomed = if acked_seq < self.acked {
            let old_boot_id = std::mem::replace(&mut self.boot_id, new_boot());
            for (share, seq) in self.unacked.iter_mut().zip(1..) {
                share.seq = seq;
            }
            let welcomed = Welcomed::NewBoot {
                master: acked_seq,
                acked: self.acked,
                lost: self.acked - acked_seq,
                renumbered: self.unacked.len(),
                old_boot_id,
            };
            self.acked = 0;
            welcomed
        } else if acked_seq > assigned {
            self.unacked.clear();
            self.acked = acked_seq;
            Welcomed::Jumped {
                master: acked_seq,
                assigned,
            }
        } else {
            let released = usize::try_from(acked_seq - self.acked).unwrap_or(usize::MAX);
            self.unacked.drain(..released.min(self.unacked.len()));
            self.acked = acked_seq;
            Welcomed::Resume { released }
        };
        self.sent = self.acked;
        welcomed
    }

    /// The stream ended: nothing counts as sent any more.
    pub fn on_disconnect(&mut self) {
        self.sent = self.acked;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_cut_by_bytes_as_well_as_by_count() {
        let mut outbox = Outbox::new("b1".to_owned(), 1_000);
        let share = Share {
            job_id: "j".repeat(60_000),
            ..Share::default()
        };
        let per_share = share.encoded_len() + 4;
        for _ in 0..200 {
            outbox.push(share.clone()).expect("room");
        }
        let batch = outbox.next_batch(1_000).expect("a batch");
        let fits = MAX_BATCH_BYTES / per_share;
        assert_eq!(batch.shares.len(), fits);
        assert_eq!((batch.first_seq, batch.last_seq), (1, fits as u64));
        let next = outbox.next_batch(1_000).expect("the rest");
        assert_eq!(next.first_seq, fits as u64 + 1);
    }

    fn share(job: &str) -> Share {
        Share {
            job_id: job.to_owned(),
            difficulty: 1000,
            ..Share::default()
        }
    }

    fn seqs(batch: &ShareBatch) -> Vec<u64> {
        batch.shares.iter().map(|s| s.seq).collect()
    }

    #[test]
    fn seqs_start_at_one_and_are_consecutive() {
        let mut outbox = Outbox::new("b1".to_owned(), 10);
        let assigned: Vec<u64> = (0..4).map(|_| outbox.push(share("j")).unwrap()).collect();
        assert_eq!(assigned, [1, 2, 3, 4]);
        assert_eq!(outbox.last_assigned(), 4);
        assert_eq!(outbox.unsent_len(), 4);
    }

    #[test]
    fn batches_respect_the_size_and_cover_every_share_once() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for _ in 0..7 {
            outbox.push(share("j")).unwrap();
        }
        let first = outbox.next_batch(3).unwrap();
        assert_eq!((first.first_seq, first.last_seq), (1, 3));
        assert_eq!(seqs(&first), [1, 2, 3]);
        let second = outbox.next_batch(3).unwrap();
        assert_eq!(seqs(&second), [4, 5, 6]);
        let third = outbox.next_batch(3).unwrap();
        assert_eq!((third.first_seq, third.last_seq), (7, 7));
        assert!(outbox.next_batch(3).is_none());
        assert_eq!(outbox.unacked_len(), 7, "sending does not release");
    }

    #[test]
    fn acks_release_shares_in_order() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for _ in 0..5 {
            outbox.push(share("j")).unwrap();
        }
        outbox.next_batch(5).unwrap();
        assert_eq!(outbox.on_ack(3), AckNotice::Applied { released: 3 });
        assert_eq!(outbox.unacked_len(), 2);
        assert_eq!(outbox.on_ack(2), AckNotice::Old);
        assert_eq!(outbox.on_ack(3), AckNotice::Old);
        assert_eq!(outbox.on_ack(5), AckNotice::Applied { released: 2 });
        assert!(outbox.is_settled());
        assert_eq!(outbox.push(share("j")).unwrap(), 6, "numbering continues");
    }

    #[test]
    fn a_full_buffer_refuses_until_an_ack_frees_room() {
        let mut outbox = Outbox::new("b1".to_owned(), 3);
        for _ in 0..3 {
            outbox.push(share("j")).unwrap();
        }
        assert_eq!(outbox.push(share("j")), Err(Full { unacked: 3 }));
        outbox.next_batch(10).unwrap();
        assert_eq!(outbox.push(share("j")), Err(Full { unacked: 3 }));
        outbox.on_ack(1);
        assert_eq!(outbox.push(share("j")), Ok(4));
    }

    #[test]
    fn welcome_replays_everything_after_the_masters_ack() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for _ in 0..6 {
            outbox.push(share("j")).unwrap();
        }
        outbox.next_batch(4).unwrap();
        outbox.on_ack(2);
        outbox.on_disconnect();
        // The master stored 3 and 4 before it went away but never acked them.
        assert_eq!(
            outbox.on_welcome(4, no_boot),
            Welcomed::Resume { released: 2 }
        );
        let replay = outbox.next_batch(100).unwrap();
        assert_eq!(seqs(&replay), [5, 6]);
    }

    #[test]
    fn welcome_at_the_old_ack_resends_the_sent_but_unacked_shares() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for _ in 0..4 {
            outbox.push(share("j")).unwrap();
        }
        outbox.next_batch(4).unwrap();
        outbox.on_ack(1);
        outbox.on_disconnect();
        assert_eq!(
            outbox.on_welcome(1, no_boot),
            Welcomed::Resume { released: 0 }
        );
        assert_eq!(seqs(&outbox.next_batch(100).unwrap()), [2, 3, 4]);
    }

    #[test]
    fn a_welcome_mid_stream_resends_without_disconnect() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for _ in 0..3 {
            outbox.push(share("j")).unwrap();
        }
        outbox.next_batch(3).unwrap();
        outbox.on_welcome(0, no_boot);
        assert_eq!(seqs(&outbox.next_batch(100).unwrap()), [1, 2, 3]);
    }

    #[test]
    fn an_ack_beyond_what_was_assigned_releases_all_and_is_reported() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for _ in 0..2 {
            outbox.push(share("j")).unwrap();
        }
        assert_eq!(
            outbox.on_ack(9),
            AckNotice::BeyondAssigned {
                acked: 9,
                assigned: 2
            }
        );
        assert!(outbox.is_settled());
        assert_eq!(
            outbox.push(share("j")).unwrap(),
            10,
            "a new share is never at or below the master's mark"
        );
    }

    fn no_boot() -> String {
        panic!("no new boot expected")
    }

    #[test]
    fn a_regressed_welcome_starts_a_new_boot_with_the_held_shares_renumbered() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for job in ["s1", "s2", "s3", "s4", "s5"] {
            outbox.push(share(job)).unwrap();
        }
        outbox.next_batch(5).unwrap();
        // Step 1: the master stored and acked 1..=3.
        assert_eq!(outbox.on_ack(3), AckNotice::Applied { released: 3 });
        outbox.on_disconnect();
        // Step 2: Redis lost 2 and 3; the master's mark is back at 1.
        let welcomed = outbox.on_welcome(1, || "b2".to_owned());
        assert_eq!(
            welcomed,
            Welcomed::NewBoot {
                master: 1,
                acked: 3,
                lost: 2,
                renumbered: 2,
                old_boot_id: "b1".to_owned(),
            }
        );
        // Step 3: the held shares 4 and 5 are 1 and 2 of the new boot,
        // nothing is acked under it, and they are sent again.
        assert_eq!(outbox.boot_id(), "b2");
        assert_eq!(outbox.acked(), 0);
        assert_eq!(outbox.last_assigned(), 2);
        let replay = outbox.next_batch(100).unwrap();
        assert_eq!((replay.first_seq, replay.last_seq), (1, 2));
        assert_eq!(seqs(&replay), [1, 2]);
        let jobs: Vec<&str> = replay.shares.iter().map(|s| s.job_id.as_str()).collect();
        assert_eq!(
            jobs,
            ["s4", "s5"],
            "the shares the master never had, once each"
        );
        // Step 4: numbering goes on in the new boot.
        assert_eq!(outbox.push(share("s6")).unwrap(), 3);
    }

    #[test]
    fn a_lost_mark_with_nothing_held_still_starts_a_new_boot() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for _ in 0..4 {
            outbox.push(share("j")).unwrap();
        }
        outbox.next_batch(4).unwrap();
        outbox.on_ack(4);
        // The mark expired: the master says 0. Seq 5 would be a gap.
        let welcomed = outbox.on_welcome(0, || "b2".to_owned());
        assert!(matches!(
            welcomed,
            Welcomed::NewBoot {
                lost: 4,
                renumbered: 0,
                ..
            }
        ));
        assert!(outbox.next_batch(100).is_none());
        assert_eq!(outbox.push(share("j")).unwrap(), 1);
    }

    #[test]
    fn a_welcome_beyond_what_was_assigned_jumps_past_the_masters_mark() {
        let mut outbox = Outbox::new("b1".to_owned(), 100);
        for _ in 0..3 {
            outbox.push(share("j")).unwrap();
        }
        // The journal lost its last shares but the master had them.
        assert_eq!(
            outbox.on_welcome(7, no_boot),
            Welcomed::Jumped {
                master: 7,
                assigned: 3
            }
        );
        assert!(outbox.is_settled());
        assert_eq!(outbox.push(share("j")).unwrap(), 8);
        assert_eq!(seqs(&outbox.next_batch(10).unwrap()), [8]);
    }

    #[test]
    fn a_restored_outbox_resumes_its_numbering_and_refuses_holes() {
        let held: Vec<Share> = (11..=13).map(|seq| Share { seq, ..share("j") }).collect();
        let mut outbox = Outbox::restore("b1".to_owned(), 10, held.clone(), 100).unwrap();
        assert_eq!((outbox.acked(), outbox.last_assigned()), (10, 13));
        assert_eq!(
            outbox.on_welcome(11, no_boot),
            Welcomed::Resume { released: 1 }
        );
        assert_eq!(seqs(&outbox.next_batch(10).unwrap()), [12, 13]);
        assert!(Outbox::restore("b1".to_owned(), 9, held, 100).is_none());
    }

    #[test]
    fn shares_keep_their_content() {
        let mut outbox = Outbox::new("b1".to_owned(), 10);
        outbox.push(share("a")).unwrap();
        outbox.push(share("b")).unwrap();
        let batch = outbox.next_batch(10).unwrap();
        let jobs: Vec<&str> = batch.shares.iter().map(|s| s.job_id.as_str()).collect();
        assert_eq!(jobs, ["a", "b"]);
    }
}
