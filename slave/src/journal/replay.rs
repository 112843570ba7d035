//! What a journal's records say about the slave's last boot, without I/O.

use super::codec::Record;

/// The boot a journal resumes: its id, the master's last ack point, and the
/// shares after it, in seq order (`acked + 1, acked + 2, …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootState {
    /// The slave the journal belongs to.
    pub slave_id: String,
    /// The boot id to say Hello with again.
    pub boot_id: String,
    /// Highest seq the master acked.
    pub acked: u64,
    /// Shares not acked: seq and protobuf bytes.
    pub held: Vec<(u64, Vec<u8>)>,
}

impl BootState {
    /// A boot with nothing assigned yet.
    pub fn fresh(slave_id: String, boot_id: String) -> BootState {
        BootState {
            slave_id,
            boot_id,
            acked: 0,
            held: Vec::new(),
        }
    }

    /// Highest seq assigned in this boot.
    pub fn last_assigned(&self) -> u64 {
        self.held.last().map_or(self.acked, |(seq, _)| *seq)
    }

    /// Applies one record of this boot; an error for a record out of order.
    fn apply(&mut self, record: Record) -> Result<(), String> {
        match record {
            Record::Boot { slave_id, boot_id } => *self = BootState::fresh(slave_id, boot_id),
            Record::Acked(up_to) => {
                if up_to > self.acked {
                    self.acked = up_to;
                    let released = self.held.partition_point(|(seq, _)| *seq <= up_to);
                    self.held.drain(..released);
                }
            }
            Record::Share { seq, share } => {
                let expected = self.last_assigned() + 1;
                if seq != expected {
                    return Err(format!(
                        "share seq {seq} where seq {expected} was next in boot {}",
                        self.boot_id
                    ));
                }
                self.held.push((seq, share));
            }
        }
        Ok(())
    }
}

/// The state the records leave: `None` for a journal without a boot yet.
/// The first record must be a `Boot`; each share must take the next seq.
pub fn replay(records: Vec<Record>) -> Result<Option<BootState>, String> {
    let mut records = records.into_iter();
    let mut state = match records.next() {
        None => return Ok(None),
        Some(Record::Boot { slave_id, boot_id }) => BootState::fresh(slave_id, boot_id),
        Some(other) => return Err(format!("the journal starts with {other:?}, not a boot")),
    };
    for record in records {
        state.apply(record)?;
    }
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(seq: u64) -> Record {
        Record::Share {
            seq,
            share: vec![seq as u8],
        }
    }

    #[test]
    fn an_empty_journal_has_no_boot() {
        assert_eq!(replay(Vec::new()), Ok(None));
    }

    #[test]
    fn acks_release_shares_and_the_rest_is_held_in_order() {
        let state = replay(vec![
            Record::boot("eu-1", "b1"),
            share(1),
            share(2),
            share(3),
            Record::Acked(2),
            share(4),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(state.boot_id, "b1");
        assert_eq!(state.acked, 2);
        let seqs: Vec<u64> = state.held.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, [3, 4]);
        assert_eq!(state.last_assigned(), 4);
    }

    #[test]
    fn an_ack_past_the_last_share_moves_numbering_on() {
        let state = replay(vec![
            Record::boot("eu-1", "b1"),
            share(1),
            Record::Acked(7),
            share(8),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((state.acked, state.last_assigned()), (7, 8));
    }

    #[test]
    fn a_later_boot_replaces_the_earlier_one() {
        let state = replay(vec![
            Record::boot("eu-1", "b1"),
            share(1),
            share(2),
            Record::boot("eu-1", "b2"),
            share(1),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(state.boot_id, "b2");
        assert_eq!(state.held.len(), 1);
    }

    #[test]
    fn a_hole_in_the_seqs_or_a_missing_boot_is_refused() {
        assert!(replay(vec![Record::boot("eu-1", "b"), share(1), share(3)]).is_err());
        assert!(replay(vec![share(1)]).is_err());
        assert!(replay(vec![Record::boot("eu-1", "b"), share(2)]).is_err());
    }
}
