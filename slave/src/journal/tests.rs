//! The journal against a real file: what is written comes back after a
//! restart, torn tails are dropped, damage is refused.

use std::time::{Duration, Instant};

use super::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "tos-journal-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn config(&self) -> JournalConfig {
        JournalConfig {
            path: self.0.join("shares.journal"),
            fsync_interval: Duration::ZERO,
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens the journal of slave "eu-1", waiting for a dropped one's writer
/// to let go of it.
fn open(config: &JournalConfig, boot: &str) -> Result<(Journal, Restored), JournalError> {
    open_as(config, "eu-1", boot)
}

fn open_as(
    config: &JournalConfig,
    slave_id: &str,
    boot: &str,
) -> Result<(Journal, Restored), JournalError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Journal::open(config, slave_id, || boot.to_owned()) {
            Err(JournalError::InUse { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn share(job: &str) -> Vec<u8> {
    Share {
        job_id: job.to_owned(),
        difficulty: 1000,
        ..Share::default()
    }
    .encode_to_vec()
}

fn jobs(restored: &Restored) -> Vec<(u64, String)> {
    restored
        .held
        .iter()
        .map(|share| (share.seq, share.job_id.clone()))
        .collect()
}

async fn durable(ticket: DurableTicket) {
    assert!(ticket.wait(Duration::from_secs(20)).await, "journaled");
}

#[tokio::test]
async fn held_shares_come_back_with_their_boot_after_a_restart() {
    let dir = TempDir::new("restart");
    let config = dir.config();
    let (journal, restored) = open(&config, "boot-a").unwrap();
    assert_eq!(
        (restored.boot_id.as_str(), restored.resumed),
        ("boot-a", false)
    );
    durable(journal.append(1, share("j1"))).await;
    durable(journal.append(2, share("j2"))).await;
    journal.acked(1);
    durable(journal.append(3, share("j3"))).await;
    drop(journal);
    let (_journal, restored) = open(&config, "unused").unwrap();
    assert!(restored.resumed);
    assert_eq!(restored.boot_id, "boot-a");
    assert_eq!(restored.acked, 1);
    assert_eq!(
        jobs(&restored),
        [(2, "j2".to_owned()), (3, "j3".to_owned())]
    );
}

#[tokio::test]
async fn a_new_boot_renumbers_the_held_shares_on_disk() {
    let dir = TempDir::new("boot");
    let config = dir.config();
    let (journal, _) = open(&config, "boot-a").unwrap();
    for seq in 1..=4 {
        durable(journal.append(seq, share(&format!("j{seq}")))).await;
    }
    journal.acked(2);
    journal.new_boot("boot-b");
    durable(journal.append(3, share("j5"))).await;
    drop(journal);
    let (_journal, restored) = open(&config, "unused").unwrap();
    assert_eq!((restored.boot_id.as_str(), restored.acked), ("boot-b", 0));
    assert_eq!(
        jobs(&restored),
        [
            (1, "j3".to_owned()),
            (2, "j4".to_owned()),
            (3, "j5".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_torn_last_record_is_dropped_and_counted() {
    let dir = TempDir::new("torn");
    let config = dir.config();
    let (journal, _) = open(&config, "boot-a").unwrap();
    durable(journal.append(1, share("j1"))).await;
    durable(journal.append(2, share("j2"))).await;
    drop(journal);
    let (_, _) = open(&config, "unused").unwrap();
    let bytes = std::fs::read(&config.path).unwrap();
    // Half of the last record, as a write cut short would leave it.
    std::fs::write(&config.path, &bytes[..bytes.len() - 5]).unwrap();
    let (journal, restored) = open(&config, "unused").unwrap();
    assert_eq!(jobs(&restored), [(1, "j1".to_owned())]);
    assert!(restored.torn_bytes > 0);
    assert_eq!(
        journal.counters().torn_bytes.load(Ordering::Relaxed),
        restored.torn_bytes as u64
    );
}

#[tokio::test]
async fn a_damaged_journal_is_refused_with_its_path() {
    let dir = TempDir::new("corrupt");
    let config = dir.config();
    let (journal, _) = open(&config, "boot-a").unwrap();
    durable(journal.append(1, share("j1"))).await;
    durable(journal.append(2, share("j2"))).await;
    drop(journal);
    let (journal, _) = open(&config, "unused").unwrap();
    drop(journal);
    let mut bytes = std::fs::read(&config.path).unwrap();
    let middle = MAGIC.len() + 12;
    bytes[middle] ^= 0x55;
    std::fs::write(&config.path, &bytes).unwrap();
    let error = open(&config, "unused").unwrap_err();
    assert!(matches!(error, JournalError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("shares.journal"), "{error}");
}

#[tokio::test]
async fn a_second_process_on_the_same_journal_is_refused() {
    let dir = TempDir::new("lock");
    let config = dir.config();
    let (_journal, _) = open(&config, "boot-a").unwrap();
    assert!(matches!(
        Journal::open(&config, "eu-1", || "boot-b".to_owned()),
        Err(JournalError::InUse { .. })
    ));
}

#[tokio::test]
async fn acked_records_are_compacted_away() {
    let dir = TempDir::new("compact");
    let config = dir.config();
    let (journal, _) = open(&config, "boot-a").unwrap();
    let big = share(&"j".repeat(30_000));
    let mut seq = 0;
    while std::fs::metadata(&config.path).unwrap().len() <= COMPACT_MIN_BYTES {
        seq += 1;
        durable(journal.append(seq, big.clone())).await;
        journal.acked(seq);
    }
    seq += 1;
    durable(journal.append(seq, share("last"))).await;
    assert!(journal.counters().compactions.load(Ordering::Relaxed) >= 1);
    assert!(std::fs::metadata(&config.path).unwrap().len() < 1_000);
    drop(journal);
    let (_journal, restored) = open(&config, "unused").unwrap();
    assert_eq!(restored.acked, seq - 1);
    assert_eq!(jobs(&restored), [(seq, "last".to_owned())]);
}

#[tokio::test]
async fn a_journal_of_another_slave_id_is_refused() {
    let dir = TempDir::new("other");
    let config = dir.config();
    let (journal, _) = open(&config, "boot-a").unwrap();
    durable(journal.append(1, share("j1"))).await;
    drop(journal);
    let error = open_as(&config, "eu-2", "unused").unwrap_err();
    assert!(
        matches!(&error, JournalError::OtherSlave { journal, configured, .. }
            if journal == "eu-1" && configured == "eu-2"),
        "{error}"
    );
    let (_journal, restored) = open(&config, "unused").unwrap();
    assert_eq!(jobs(&restored), [(1, "j1".to_owned())], "left as it was");
}
