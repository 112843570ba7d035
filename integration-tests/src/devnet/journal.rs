//! The devnet's append-only journal file: length- and checksum-framed
//! records, each made durable (fsync) before the caller goes on. A record
//! cut short by a kill in the middle of a write is found when the file is
//! read back and dropped; the file is then truncated to its last whole
//! record so new records follow it.
//!
//! Frame: `len: u32 LE | checksum: u32 LE | payload (len bytes)`, where the
//! checksum is the first 4 bytes of blake3(`len` bytes ‖ payload).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Bytes before each payload: its length and its checksum.
pub const FRAME_HEADER: usize = 8;

/// Largest payload a frame may carry; a longer length is a damaged header.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// Why a journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be opened, read, written or synced.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A record in the middle of the file is damaged: not a torn last
    /// write, so it is not dropped silently.
    #[error(
        "journal {path}: damaged record at byte {offset} with more records after it; the file is corrupt"
    )]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// Where the damaged frame starts.
        offset: usize,
    },
    /// A payload is too large to frame.
    #[error("journal record of {0} bytes is larger than {MAX_PAYLOAD}")]
    TooLarge(usize),
}

/// The first 4 bytes of blake3(`len` ‖ `payload`), little-endian.
fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&len);
    hasher.update(payload);
    let digest = hasher.finalize();
    let mut first = [0u8; 4];
    first.copy_from_slice(&digest.as_bytes()[..4]);
    u32::from_le_bytes(first)
}

/// `payload` framed with its length and checksum.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, JournalError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(JournalError::TooLarge(payload.len()));
    }
    let len = u32::try_from(payload.len())
        .map_err(|_| JournalError::TooLarge(payload.len()))?
        .to_le_bytes();
    let mut frame = Vec::with_capacity(FRAME_HEADER + payload.len());
    frame.extend_from_slice(&len);
    frame.extend_from_slice(&checksum(len, payload).to_le_bytes());
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// What is wrong with the frame at some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The frame reaches the end of the file unfinished or unchecked: a
    /// write cut short. Everything from `offset` on is to be dropped.
    TornTail {
        /// Where the torn frame starts.
        offset: usize,
        /// Bytes dropped.
        bytes: usize,
    },
    /// A bad frame with whole data after it.
    Corrupt {
        /// Where the bad frame starts.
        offset: usize,
    },
}

/// The frames read from a journal's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Payloads of the whole, checked frames, in order.
    pub payloads: Vec<&'a [u8]>,
    /// Length of the prefix holding them.
    pub valid_len: usize,
    /// The first bad frame, if any.
    pub damage: Option<Damage>,
}

/// Splits `bytes` into checked frames, stopping at the first bad one.
pub fn decode_frames(bytes: &[u8]) -> Decoded<'_> {
    let mut payloads = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let torn = Damage::TornTail {
            offset,
            bytes: rest.len(),
        };
        let Some((header, body)) = rest.split_first_chunk::<FRAME_HEADER>() else {
            return Decoded {
                payloads,
                valid_len: offset,
                damage: Some(torn),
            };
        };
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&header[..4]);
        let mut sum_bytes = [0u8; 4];
        sum_bytes.copy_from_slice(&header[4..]);
        let len = u32::from_le_bytes(len_bytes) as usize;
        let payload = body.get(..len).filter(|_| len <= MAX_PAYLOAD);
        match payload {
            Some(payload) if checksum(len_bytes, payload) == u32::from_le_bytes(sum_bytes) => {
                payloads.push(payload);
                offset += FRAME_HEADER + len;
            }
            // The frame ends at (or runs past) the end of the file: the last
            // write was cut short.
            _ if len >= body.len() => {
                return Decoded {
                    payloads,
                    valid_len: offset,
                    damage: Some(torn),
                };
            }
            _ => {
                return Decoded {
                    payloads,
                    valid_len: offset,
                    damage: Some(Damage::Corrupt { offset }),
                };
            }
        }
    }
    Decoded {
        payloads,
        valid_len: offset,
        damage: None,
    }
}

/// An open journal file, positioned after its last whole record.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (creating) the journal at `path` and returns it with the
    /// payloads of its whole records. A torn last record is dropped with a
    /// warning and cut off the file; a damaged record with whole records
    /// after it is an error.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Vec<u8>>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let decoded = decode_frames(&bytes);
        match decoded.damage {
            None => {}
            Some(Damage::Corrupt { offset }) => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    offset,
                });
            }
            Some(Damage::TornTail { offset, bytes }) => {
                tracing::warn!(
                    path = %path.display(),
                    offset,
                    bytes,
                    "journal ends in a torn record (a write cut short); dropping it"
                );
                file.set_len(offset as u64).map_err(io)?;
                file.sync_all().map_err(io)?;
            }
        }
        let payloads = decoded.payloads.iter().map(|p| p.to_vec()).collect();
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
            },
            payloads,
        ))
    }

    /// Appends one record and waits until it is on disk.
    pub fn append(&mut self, payload: &[u8]) -> Result<(), JournalError> {
        let frame = encode_frame(payload)?;
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&frame).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        payloads
            .iter()
            .flat_map(|p| encode_frame(p).expect("small payload"))
            .collect()
    }

    #[test]
    fn whole_frames_decode_in_order() {
        let bytes = frames(&[b"one", b"", b"three"]);
        let decoded = decode_frames(&bytes);
        assert_eq!(decoded.payloads, vec![&b"one"[..], b"", b"three"]);
        assert_eq!(decoded.valid_len, bytes.len());
        assert_eq!(decoded.damage, None);
        assert_eq!(decode_frames(&[]).payloads.len(), 0);
    }

    #[test]
    fn every_cut_of_the_last_frame_is_a_torn_tail() {
        let whole = frames(&[b"first", b"second record"]);
        let first_len = FRAME_HEADER + 5;
        for cut in first_len + 1..whole.len() {
            let decoded = decode_frames(&whole[..cut]);
            assert_eq!(decoded.payloads, vec![&b"first"[..]], "cut at {cut}");
            assert_eq!(decoded.valid_len, first_len);
            assert_eq!(
                decoded.damage,
                Some(Damage::TornTail {
                    offset: first_len,
                    bytes: cut - first_len
                })
            );
        }
    }

    #[test]
    fn a_garbled_last_frame_is_torn_but_a_garbled_middle_one_is_corrupt() {
        let mut bytes = frames(&[b"first", b"second", b"third"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let decoded = decode_frames(&bytes);
        assert_eq!(decoded.payloads.len(), 2);
        assert!(matches!(decoded.damage, Some(Damage::TornTail { .. })));

        let mut bytes = frames(&[b"first", b"second", b"third"]);
        bytes[FRAME_HEADER + 5 + FRAME_HEADER] ^= 0xff;
        let decoded = decode_frames(&bytes);
        assert_eq!(decoded.payloads, vec![&b"first"[..]]);
        assert_eq!(
            decoded.damage,
            Some(Damage::Corrupt {
                offset: FRAME_HEADER + 5
            })
        );
    }

    #[test]
    fn an_absurd_length_is_a_torn_tail() {
        let mut bytes = frames(&[b"first"]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        let decoded = decode_frames(&bytes);
        assert_eq!(decoded.payloads.len(), 1);
        assert!(matches!(decoded.damage, Some(Damage::TornTail { .. })));
    }

    #[test]
    fn reopening_drops_a_torn_tail_and_appends_after_the_last_whole_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.journal");
        {
            let (mut journal, payloads) = Journal::open(&path).expect("opens");
            assert!(payloads.is_empty());
            journal.append(b"kept").expect("appends");
        }
        let mut torn = std::fs::read(&path).expect("reads");
        torn.extend_from_slice(&encode_frame(b"lost").expect("frames")[..7]);
        std::fs::write(&path, &torn).expect("writes");
        {
            let (mut journal, payloads) = Journal::open(&path).expect("torn tail is not an error");
            assert_eq!(payloads, vec![b"kept".to_vec()]);
            journal.append(b"after").expect("appends");
        }
        let (_, payloads) = Journal::open(&path).expect("opens");
        assert_eq!(payloads, vec![b"kept".to_vec(), b"after".to_vec()]);

        let mut corrupt = std::fs::read(&path).expect("reads");
        corrupt[FRAME_HEADER] ^= 0xff;
        std::fs::write(&path, &corrupt).expect("writes");
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::Corrupt { offset: 0, .. })
        ));
    }
}
