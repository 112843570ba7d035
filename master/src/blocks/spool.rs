//! The block spool: found blocks' records that Redis could not take at
//! once, one file per block in `master.block_spool_dir`, each written to a
//! temporary file, fsynced, renamed into place and the directory fsynced,
//! so a record is either wholly there or not at all.
//!
//! A file starts with a header line `tos-pool-block-spool 1 <length>
//! <blake3 hex>` that covers the JSON body after it: a file cut short or
//! damaged (a kill -9 in the middle of a write, a disk fault) fails the
//! check, is reported and moved aside as `<name>.torn` for the operator,
//! never read as a block and never a panic. Blocking I/O: call it from
//! `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::plan::SpooledBlock;

/// The first word of every spool file.
const MAGIC: &str = "tos-pool-block-spool";

/// The format version.
const VERSION: u32 = 1;

/// A spooled record's file name ends with this.
const EXTENSION: &str = "block";

/// A write in progress ends with this; left over after a crash.
const TEMPORARY: &str = "tmp";

/// A file that failed its check is renamed to end with this.
const TORN: &str = "torn";

/// Why the spool could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file system call failed.
    #[error(
        "block spool {path}: cannot {action}: {source}; check the directory (master.block_spool_dir) exists and is writable"
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A record's hash cannot name a file.
    #[error("block hash {0:?} is not 64 hex characters; not spooled")]
    BadHash(String),
    /// A record does not serialize.
    #[error("block record does not serialize: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Why a spool file was not read as a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpoolDefect {
    /// No header line.
    #[error("no header line")]
    NoHeader,
    /// The header is not `tos-pool-block-spool <version> <length> <hash>`.
    #[error("unreadable header {0:?}")]
    BadHeader(String),
    /// A version this master does not read.
    #[error("format version {0}, this master reads {VERSION}")]
    Version(u32),
    /// The body is not as long as the header says (a torn write).
    #[error("body of {found} bytes, the header says {expected}")]
    Length {
        /// Bytes the header announced.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// The body's checksum does not match the header's.
    #[error("checksum mismatch")]
    Checksum,
    /// The body is not a block record.
    #[error("body is not a block record: {0}")]
    Body(String),
}

/// The bytes of a spool file holding `block`.
pub fn encode(block: &SpooledBlock) -> Result<Vec<u8>, serde_json::Error> {
    let body = serde_json::to_vec(block)?;
    let checksum = blake3::hash(&body).to_hex();
    let mut bytes = format!("{MAGIC} {VERSION} {} {checksum}\n", body.len()).into_bytes();
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// The block in the bytes of a spool file, or what is wrong with them.
pub fn decode(bytes: &[u8]) -> Result<SpooledBlock, SpoolDefect> {
    let newline = bytes
        .iter()
        .position(|byte| *byte == b'\n')
        .ok_or(SpoolDefect::NoHeader)?;
    let (header, rest) = bytes.split_at(newline);
    let body = rest.get(1..).unwrap_or_default();
    let header = std::str::from_utf8(header)
        .map_err(|_| SpoolDefect::BadHeader(String::from_utf8_lossy(header).into_owned()))?;
    let bad = || SpoolDefect::BadHeader(header.to_owned());
    let mut words = header.split(' ');
    if words.next() != Some(MAGIC) {
        return Err(bad());
    }
    let version: u32 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    if version != VERSION {
        return Err(SpoolDefect::Version(version));
    }
    let expected: usize = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let checksum = words.next().ok_or_else(bad)?;
    if words.next().is_some() {
        return Err(bad());
    }
    if body.len() != expected {
        return Err(SpoolDefect::Length {
            expected,
            found: body.len(),
        });
    }
    if blake3::hash(body).to_hex().as_str() != checksum {
        return Err(SpoolDefect::Checksum);
    }
    serde_json::from_slice(body).map_err(|error| SpoolDefect::Body(error.to_string()))
}

/// A spool file that failed its check, moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornFile {
    /// Where it was found.
    pub path: PathBuf,
    /// Where it is now (`<name>.torn`), if the rename worked.
    pub moved_to: Option<PathBuf>,
    /// What is wrong with it.
    pub defect: SpoolDefect,
}

/// What a scan of the spool found.
#[derive(Debug, Default)]
pub struct SpoolScan {
    /// The spooled blocks, by hash.
    pub blocks: Vec<SpooledBlock>,
    /// Files that failed their check (reported and moved aside).
    pub torn: Vec<TornFile>,
}

/// The spool directory.
#[derive(Debug, Clone)]
pub struct BlockSpool {
    dir: PathBuf,
}

impl BlockSpool {
    /// The spool in `dir`, created if missing.
    pub fn open(dir: &Path) -> Result<BlockSpool, SpoolError> {
        fs::create_dir_all(dir).map_err(io(dir, "create the directory"))?;
        Ok(BlockSpool {
            dir: dir.to_owned(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `block` durably, replacing any earlier record of its hash.
    pub fn write(&self, block: &SpooledBlock) -> Result<(), SpoolError> {
        let path = self.path_of(&block.hash)?;
        let temporary = path.with_extension(format!("{EXTENSION}.{TEMPORARY}"));
        let bytes = encode(block)?;
        let mut file = File::create(&temporary).map_err(io(&temporary, "create"))?;
        file.write_all(&bytes).map_err(io(&temporary, "write"))?;
        file.sync_all().map_err(io(&temporary, "fsync"))?;
        drop(file);
        fs::rename(&temporary, &path).map_err(io(&path, "rename into place"))?;
        self.sync_dir()
    }

    /// Whether the spool holds a record of `hash`.
    pub fn contains(&self, hash: &str) -> bool {
        self.path_of(hash).is_ok_and(|path| path.exists())
    }

    /// Removes the record of `block`'s hash if the spool still holds
    /// `block` as it is; a record rewritten since (the daemon's answer
    /// arriving during a replay) stays for the next replay. Whether it was
    /// removed.
    pub fn remove_if_same(&self, block: &SpooledBlock) -> Result<bool, SpoolError> {
        let path = self.path_of(&block.hash)?;
        match fs::read(&path) {
            Ok(bytes) if decode(&bytes).as_ref() == Ok(block) => {
                self.remove(&block.hash)?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(SpoolError::Io {
                path,
                action: "read",
                source,
            }),
        }
    }

    /// Removes the record of `hash` (Redis holds it now).
    pub fn remove(&self, hash: &str) -> Result<(), SpoolError> {
        let path = self.path_of(hash)?;
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError::Io {
                path,
                action: "remove",
                source,
            }),
        }
    }

    /// Every spooled block. A file that fails its check is moved aside and
    /// listed in [`SpoolScan::torn`]; a write left half done by a crash
    /// (a `.tmp` file) is finished when it checks out (it is newer than the
    /// record it was replacing), moved aside when it does not.
    pub fn scan(&self) -> Result<SpoolScan, SpoolError> {
        let mut scan = SpoolScan::default();
        let entries = fs::read_dir(&self.dir).map_err(io(&self.dir, "list"))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let is_temporary = name.ends_with(&format!(".{EXTENSION}.{TEMPORARY}"));
            if !is_temporary && !name.ends_with(&format!(".{EXTENSION}")) {
                continue;
            }
            let bytes = fs::read(&path).map_err(io(&path, "read"))?;
            match decode(&bytes) {
                Ok(block) if is_temporary => {
                    let finished = self.path_of(&block.hash)?;
                    fs::rename(&path, &finished).map_err(io(&path, "finish a write"))?;
                    self.sync_dir()?;
                    scan.blocks.retain(|known| known.hash != block.hash);
                    scan.blocks.push(block);
                }
                Ok(block) => {
                    if !scan.blocks.iter().any(|known| known.hash == block.hash) {
                        scan.blocks.push(block);
                    }
                }
                Err(defect) => {
                    let aside = PathBuf::from(format!("{}.{TORN}", path.display()));
                    let moved_to = fs::rename(&path, &aside).ok().map(|()| aside);
                    scan.torn.push(TornFile {
                        path,
                        moved_to,
                        defect,
                    });
                }
            }
        }
        Ok(scan)
    }

    fn path_of(&self, hash: &str) -> Result<PathBuf, SpoolError> {
        if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(SpoolError::BadHash(hash.to_owned()));
        }
        Ok(self.dir.join(format!("{hash}.{EXTENSION}")))
    }

    /// Makes the directory's entries (a rename, a removal) durable.
    fn sync_dir(&self) -> Result<(), SpoolError> {
        let dir = OpenOptions::new()
            .read(true)
            .open(&self.dir)
            .map_err(io(&self.dir, "open the directory"))?;
        dir.sync_all().map_err(io(&self.dir, "fsync the directory"))
    }
}

fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> SpoolError {
    let path = path.to_owned();
    move |source| SpoolError::Io {
        path,
        action,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::plan::WindowCut;
    use crate::lifecycle::BlockState;

    fn block(byte: &str, state: BlockState) -> SpooledBlock {
        SpooledBlock {
            hash: byte.repeat(64),
            height: 9,
            found_at_ms: 1_790_000_000_500,
            finder: "tst1alice".to_owned(),
            state,
            expected_reward: 87_000_000,
            cut: WindowCut {
                network_difficulty: 1_000,
                multiple_ppm: 2_000_000,
                size: 2_000,
                end_second: 1_790_000_000,
            },
        }
    }

    #[test]
    fn a_record_round_trips_and_any_cut_or_flip_is_caught() {
        let original = block("a", BlockState::Submitting);
        let bytes = encode(&original).expect("encodes");
        assert_eq!(decode(&bytes), Ok(original));
        // Every truncation is a defect, never a panic or a wrong block.
        for length in 0..bytes.len() {
            assert!(decode(&bytes[..length]).is_err(), "cut at {length}");
        }
        let last = bytes.len() - 2;
        let mut flipped = bytes.clone();
        flipped[last] ^= 0x01;
        assert_eq!(decode(&flipped), Err(SpoolDefect::Checksum));
        assert!(matches!(
            decode(b"garbage\n{}"),
            Err(SpoolDefect::BadHeader(_))
        ));
        assert_eq!(decode(b"no newline"), Err(SpoolDefect::NoHeader));
    }

    #[test]
    fn written_records_are_scanned_replaced_and_removed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let spool = BlockSpool::open(&dir.path().join("spool")).expect("opens");
        let first = block("a", BlockState::Submitting);
        spool.write(&first).expect("written");
        spool
            .write(&block("b", BlockState::Refused))
            .expect("written");
        let settled = first.settled(BlockState::Candidate);
        spool.write(&settled).expect("rewritten");
        let scan = spool.scan().expect("scans");
        assert!(scan.torn.is_empty());
        assert_eq!(scan.blocks.len(), 2);
        assert!(scan.blocks.contains(&settled));
        // The entry as first written is no longer there: not removed.
        assert!(!spool.remove_if_same(&first).expect("checked"));
        assert!(spool.remove_if_same(&settled).expect("removed"));
        spool.remove(&settled.hash).expect("removing twice is fine");
        assert_eq!(spool.scan().expect("scans").blocks.len(), 1);
        assert!(matches!(
            spool.write(&block("z", BlockState::Candidate)),
            Err(SpoolError::BadHash(_))
        ));
    }

    #[test]
    fn a_torn_file_is_reported_and_moved_aside() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let spool = BlockSpool::open(dir.path()).expect("opens");
        let good = block("c", BlockState::Candidate);
        spool.write(&good).expect("written");
        // A record cut short, as a kill -9 in the middle of a write leaves.
        let torn = block("d", BlockState::Candidate);
        let bytes = encode(&torn).expect("encodes");
        let torn_path = dir.path().join(format!("{}.block", torn.hash));
        fs::write(&torn_path, &bytes[..bytes.len() / 2]).expect("written");
        // A finished temporary file of a third block: the write completes.
        let late = block("e", BlockState::Refused);
        let late_path = dir.path().join(format!("{}.block.tmp", late.hash));
        fs::write(&late_path, encode(&late).expect("encodes")).expect("written");

        let scan = spool.scan().expect("scans");
        assert_eq!(scan.blocks.len(), 2);
        assert!(scan.blocks.contains(&good) && scan.blocks.contains(&late));
        assert_eq!(scan.torn.len(), 1);
        let reported = &scan.torn[0];
        assert_eq!(reported.path, torn_path);
        assert!(matches!(reported.defect, SpoolDefect::Length { .. }));
        let aside = reported.moved_to.clone().expect("moved aside");
        assert!(aside.exists() && !torn_path.exists());
        // Reported once: the next scan no longer sees it.
        let again = spool.scan().expect("scans");
        assert!(again.torn.is_empty());
        assert_eq!(again.blocks.len(), 2);
    }
}
