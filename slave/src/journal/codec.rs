//! The journal's file format, without I/O.
//!
//! A file is the 8-byte magic `TOSJRN01` followed by records. A record is
//! `len: u32 LE`, `crc32: u32 LE` (of the `len` bytes that follow), then
//! `len` bytes: a kind byte and its payload.
//!
//! | kind | record | payload |
//! |---|---|---|
//! | 1 | `Boot` | slave id length `u16 LE`, the slave id, then the boot id (UTF-8) |
//! | 2 | `Share` | seq `u64 LE`, then the share as protobuf (`Share`, seq 0) |
//! | 3 | `Acked` | the master's ack point `u64 LE` |
//!
//! A record cut short at the end of the file, or whose checksum fails with
//! nothing but zeros after it, is a torn write (the process or host died in
//! the middle of it): it and the zeros are dropped. A bad record with data
//! after it is corruption: the caller must not guess.

/// First bytes of every journal file (the last two digits are the version).
pub const MAGIC: &[u8; 8] = b"TOSJRN01";
/// Length and checksum in front of every record.
const FRAME_BYTES: usize = 8;
/// Largest record accepted: a share is a few hundred bytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

const KIND_BOOT: u8 = 1;
const KIND_SHARE: u8 = 2;
const KIND_ACKED: u8 = 3;

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A boot starts: the records after it belong to it.
    Boot {
        /// The slave the journal belongs to (`slave.id`).
        slave_id: String,
        /// The boot id its seqs belong to.
        boot_id: String,
    },
    /// A share taken from a miner, with its seq in the boot.
    Share {
        /// Its seq in the boot.
        seq: u64,
        /// The share as protobuf, its seq field left 0.
        share: Vec<u8>,
    },
    /// The master acked every seq up to this one.
    Acked(u64),
}

/// A journal that cannot be read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The file does not start with [`MAGIC`].
    #[error("not a share journal (it does not start with {MAGIC:?})")]
    BadMagic,
    /// A record is damaged and more data follows it.
    #[error("damaged record at byte {offset}: {reason}")]
    Corrupt {
        /// Where the record starts.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// What a journal file holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// The whole records, in file order.
    pub records: Vec<Record>,
    /// Bytes of the file up to the end of the last whole record.
    pub valid_len: usize,
    /// Bytes after it dropped as a torn write.
    pub torn_bytes: usize,
}

impl Record {
    /// A `Boot` record.
    pub fn boot(slave_id: &str, boot_id: &str) -> Record {
        Record::Boot {
            slave_id: slave_id.to_owned(),
            boot_id: boot_id.to_owned(),
        }
    }
}

/// Appends `record` to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    match record {
        Record::Boot { slave_id, boot_id } => {
            // Slave ids are short names; a longer one is cut at a UTF-8
            // boundary rather than written with a wrong length.
            let mut end = slave_id.len().min(usize::from(u16::MAX));
            while !slave_id.is_char_boundary(end) {
                end -= 1;
            }
            let slave_id = &slave_id.as_bytes()[..end];
            let len = (slave_id.len() as u16).to_le_bytes();
            frame(out, KIND_BOOT, &[&len, slave_id, boot_id.as_bytes()]);
        }
        Record::Share { seq, share } => encode_share(*seq, share, out),
        Record::Acked(up_to) => frame(out, KIND_ACKED, &[&up_to.to_le_bytes()]),
    }
}

/// Appends a `Share` record to `out` without building a [`Record`].
pub fn encode_share(seq: u64, share: &[u8], out: &mut Vec<u8>) {
    frame(out, KIND_SHARE, &[&seq.to_le_bytes(), share]);
}

fn frame(out: &mut Vec<u8>, kind: u8, parts: &[&[u8]]) {
    let len = 1 + parts.iter().map(|part| part.len()).sum::<usize>();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    for part in parts {
        crc.update(part);
    }
    out.reserve(FRAME_BYTES + len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(kind);
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// Reads a whole journal file. An empty file, or one holding only part of
/// the magic, holds nothing.
pub fn parse(file: &[u8]) -> Result<Parsed, CodecError> {
    if file.len() < MAGIC.len() {
        return if MAGIC.starts_with(file) {
            Ok(Parsed {
                torn_bytes: file.len(),
                ..Parsed::default()
            })
        } else {
            Err(CodecError::BadMagic)
        };
    }
    if !file.starts_with(MAGIC) {
        return Err(CodecError::BadMagic);
    }
    let mut parsed = Parsed {
        valid_len: MAGIC.len(),
        ..Parsed::default()
    };
    let mut offset = MAGIC.len();
    while offset < file.len() {
        match next_record(file, offset) {
            Step::Record(record, end) => {
                parsed.records.push(record);
                offset = end;
                parsed.valid_len = end;
            }
            Step::Torn => {
                parsed.torn_bytes = file.len() - offset;
                break;
            }
            Step::Bad(reason) => {
                // Damage followed by nothing but zeros is a torn write too.
                if file.get(offset..).is_some_and(all_zero) {
                    parsed.torn_bytes = file.len() - offset;
                    break;
                }
                // So is a damaged last record: nothing but zeros after it.
                let last = record_end(file, offset)
                    .is_some_and(|end| file.get(end..).is_none_or(all_zero));
                if last {
                    parsed.torn_bytes = file.len() - offset;
                    break;
                }
                return Err(CodecError::Corrupt { offset, reason });
            }
        }
    }
    Ok(parsed)
}

enum Step {
    Record(Record, usize),
    /// Cut short by the end of the file.
    Torn,
    Bad(String),
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|byte| *byte == 0)
}

/// Where the record at `offset` ends, if its length is readable and sane.
fn record_end(file: &[u8], offset: usize) -> Option<usize> {
    let len = read_u32(file, offset)? as usize;
    (1..=MAX_RECORD_BYTES)
        .contains(&len)
        .then_some(offset + FRAME_BYTES + len)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

fn read_u64(bytes: &[u8]) -> Option<u64> {
    let raw: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_le_bytes(raw))
}

fn next_record(file: &[u8], offset: usize) -> Step {
    let (Some(len), Some(crc)) = (read_u32(file, offset), read_u32(file, offset + 4)) else {
        return Step::Torn;
    };
    let len = len as usize;
    if len == 0 || len > MAX_RECORD_BYTES {
        return Step::Bad(format!("length {len} outside 1..={MAX_RECORD_BYTES}"));
    }
    let start = offset + FRAME_BYTES;
    let Some(body) = file.get(start..start + len) else {
        return Step::Torn;
    };
    if crc32fast::hash(body) != crc {
        return Step::Bad("checksum mismatch".to_owned());
    }
    let Some((kind, payload)) = body.split_first() else {
        return Step::Bad("empty record".to_owned());
    };
    let record = match *kind {
        KIND_BOOT => match decode_boot(payload) {
            Some(record) => record,
            None => return Step::Bad("boot record is malformed".to_owned()),
        },
        KIND_SHARE => match payload.split_at_checked(8) {
            Some((seq, share)) => match read_u64(seq) {
                Some(seq) => Record::Share {
                    seq,
                    share: share.to_vec(),
                },
                None => return Step::Bad("share record without a seq".to_owned()),
            },
            None => return Step::Bad("share record without a seq".to_owned()),
        },
        KIND_ACKED => match read_u64(payload) {
            Some(up_to) => Record::Acked(up_to),
            None => return Step::Bad("ack record is not 8 bytes".to_owned()),
        },
        other => return Step::Bad(format!("unknown record kind {other}")),
    };
    Step::Record(record, start + len)
}

fn decode_boot(payload: &[u8]) -> Option<Record> {
    let (len, rest) = payload.split_at_checked(2)?;
    let len = usize::from(u16::from_le_bytes(len.try_into().ok()?));
    let (slave_id, boot_id) = rest.split_at_checked(len)?;
    let boot_id = std::str::from_utf8(boot_id)
        .ok()
        .filter(|id| !id.is_empty())?;
    Some(Record::Boot {
        slave_id: std::str::from_utf8(slave_id).ok()?.to_owned(),
        boot_id: boot_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[Record]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for record in records {
            encode(record, &mut out);
        }
        out
    }

    fn sample() -> Vec<Record> {
        vec![
            Record::boot("eu-1", "b1"),
            Record::Share {
                seq: 1,
                share: vec![1, 2, 3],
            },
            Record::Acked(1),
            Record::Share {
                seq: 2,
                share: Vec::new(),
            },
        ]
    }

    #[test]
    fn records_come_back_as_written() {
        let bytes = file(&sample());
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.records, sample());
        assert_eq!((parsed.valid_len, parsed.torn_bytes), (bytes.len(), 0));
    }

    #[test]
    fn an_empty_or_half_created_file_holds_nothing() {
        assert_eq!(parse(b"").unwrap(), Parsed::default());
        assert_eq!(parse(b"TOSJ").unwrap().torn_bytes, 4);
        assert_eq!(parse(b"NOTAJOURNAL"), Err(CodecError::BadMagic));
        assert_eq!(parse(b"xy"), Err(CodecError::BadMagic));
    }

    #[test]
    fn a_last_record_cut_anywhere_is_dropped_as_torn() {
        let whole = file(&sample());
        let before_last = file(&sample()[..3]).len();
        for cut in before_last + 1..whole.len() {
            let parsed = parse(&whole[..cut]).unwrap();
            assert_eq!(parsed.records, sample()[..3], "cut at {cut}");
            assert_eq!(parsed.valid_len, before_last);
            assert_eq!(parsed.torn_bytes, cut - before_last);
        }
    }

    #[test]
    fn a_garbled_last_record_or_a_zero_tail_is_torn() {
        let mut bytes = file(&sample());
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.records.len(), 3);
        let mut zeros = file(&sample());
        zeros.extend_from_slice(&[0; 100]);
        let parsed = parse(&zeros).unwrap();
        assert_eq!((parsed.records.len(), parsed.torn_bytes), (4, 100));
    }

    #[test]
    fn damage_with_records_after_it_is_corruption() {
        let mut bytes = file(&sample());
        // A byte inside the first share record's body.
        let first_share = file(&sample()[..1]).len();
        bytes[first_share + FRAME_BYTES + 2] ^= 0x01;
        assert_eq!(
            parse(&bytes),
            Err(CodecError::Corrupt {
                offset: first_share,
                reason: "checksum mismatch".to_owned()
            })
        );
    }

    #[test]
    fn an_absurd_length_is_corruption_unless_only_zeros_follow() {
        let mut bytes = file(&sample()[..1]);
        let offset = bytes.len();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[7; 20]);
        assert!(matches!(parse(&bytes), Err(CodecError::Corrupt { offset: o, .. }) if o == offset));
    }

    #[test]
    fn an_unknown_kind_with_a_good_checksum_is_corruption() {
        let mut bytes = file(&sample()[..1]);
        frame(&mut bytes, 9, &[b"x"]);
        encode(&Record::Acked(0), &mut bytes);
        assert!(
            matches!(parse(&bytes), Err(CodecError::Corrupt { reason, .. }) if reason.contains("kind 9"))
        );
    }
}
