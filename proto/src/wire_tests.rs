//! Encode/decode round trips of the two frame types.

use prost::Message;

use crate::v1::{
    Job, MasterMessage, Share, ShareBatch, ShareOutcome, SlaveMessage, master_message,
    slave_message,
};

fn sample_job() -> Job {
    let mut miner_work = vec![0u8; 112];
    miner_work[..32].copy_from_slice(&[0xab; 32]);
    miner_work[80..].copy_from_slice(&[0x5c; 32]);
    let mut network_target = vec![0u8; 32];
    network_target[1] = 0x41;
    Job {
        job_id: "7f3a-000123".to_owned(),
        height: 123_456,
        topoheight: 130_000,
        miner_work,
        network_difficulty: "1000000000000000000000000".to_owned(),
        network_target,
        clean: true,
        created_at_ms: 1_700_000_000_123,
        algorithm: "tos/v3".to_owned(),
    }
}

fn sample_share(seq: u64, outcome: ShareOutcome) -> Share {
    Share {
        seq,
        job_id: "7f3a-000123".to_owned(),
        height: 123_456,
        address: "tos1qexampleaddress".to_owned(),
        worker: "rig1".to_owned(),
        difficulty: 1_000_000,
        actual_difficulty: u64::MAX,
        outcome: outcome as i32,
        timestamp_ms: 1_700_000_000_500 + seq,
        session_id: 42,
    }
}

#[test]
fn master_message_with_job_round_trips() {
    let sent = MasterMessage {
        kind: Some(master_message::Kind::Job(sample_job())),
    };
    let bytes = sent.encode_to_vec();
    let received = MasterMessage::decode(bytes.as_slice()).expect("valid encoding decodes");
    assert_eq!(received, sent);
    let Some(master_message::Kind::Job(job)) = received.kind else {
        panic!("decoded frame is not a job: {received:?}");
    };
    assert_eq!(job.miner_work.len(), 112);
    assert_eq!(job.network_target[1], 0x41);
}

#[test]
fn slave_message_with_share_batch_round_trips() {
    let shares = vec![
        sample_share(10, ShareOutcome::Valid),
        sample_share(11, ShareOutcome::Stale),
        sample_share(12, ShareOutcome::LowDifficulty),
    ];
    let sent = SlaveMessage {
        kind: Some(slave_message::Kind::Shares(ShareBatch {
            first_seq: 10,
            last_seq: 12,
            shares,
        })),
    };
    let bytes = sent.encode_to_vec();
    let received = SlaveMessage::decode(bytes.as_slice()).expect("valid encoding decodes");
    assert_eq!(received, sent);
    let Some(slave_message::Kind::Shares(batch)) = received.kind else {
        panic!("decoded frame is not a share batch: {received:?}");
    };
    let outcomes: Vec<ShareOutcome> = batch.shares.iter().map(Share::outcome).collect();
    assert_eq!(
        outcomes,
        [
            ShareOutcome::Valid,
            ShareOutcome::Stale,
            ShareOutcome::LowDifficulty
        ]
    );
    assert_eq!(batch.shares[0].actual_difficulty, u64::MAX);
}

#[test]
fn truncated_frame_is_an_error_not_a_panic() {
    let sent = SlaveMessage {
        kind: Some(slave_message::Kind::Shares(ShareBatch {
            first_seq: 1,
            last_seq: 1,
            shares: vec![sample_share(1, ShareOutcome::Valid)],
        })),
    };
    let bytes = sent.encode_to_vec();
    assert!(SlaveMessage::decode(&bytes[..bytes.len() - 3]).is_err());
}

#[test]
fn a_full_batch_of_the_largest_shares_fits_the_frame_limit() {
    let share = Share {
        seq: u64::MAX,
        job_id: "f".repeat(crate::MAX_JOB_ID_BYTES),
        height: u64::MAX,
        address: format!("tos1{}", "q".repeat(100)),
        worker: "w".repeat(32),
        difficulty: u64::MAX,
        actual_difficulty: u64::MAX,
        outcome: ShareOutcome::LowDifficulty as i32,
        timestamp_ms: u64::MAX,
        session_id: u64::MAX,
    };
    let shares = vec![share; crate::MAX_SHARES_PER_BATCH as usize];
    let frame = SlaveMessage {
        kind: Some(slave_message::Kind::Shares(ShareBatch {
            first_seq: u64::MAX,
            last_seq: u64::MAX,
            shares,
        })),
    };
    let bytes = frame.encoded_len();
    assert!(
        bytes * 2 <= crate::MAX_MESSAGE_BYTES,
        "{bytes} bytes leave less than 2x headroom under MAX_MESSAGE_BYTES"
    );
}
