//! Blocks end to end: a candidate mined at difficulty 1 is submitted to the
//! emulator, matures after the configured depth and pays every miner plus
//! the fee exactly the block reward; an orphaned block gives its immature
//! credits back; a side block pays its reduced reward.

use crate::master_support;

use master_support::{
    Cluster, TestSlave, batch, block_candidate, eventually, mine_block, miner_address,
    pool_address, share,
};
use tos_pool_common::header::MinerWork;
use tos_pool_integration_tests::devnet::{DevnetHandle, Hash};
use tos_pool_master::ledger::Ledger;
use tos_pool_master::lifecycle::{BlockRecord, BlockState, BlockType};
use tos_pool_proto::v1::{BlockCandidate, BlockResult, Job, master_message, slave_message};

struct Bench {
    cluster: Cluster,
    slave: TestSlave,
    slave_index: u32,
    seq: u64,
    request_id: u64,
}

impl Bench {
    /// A test slave joined to `cluster` with boot id `boot_id`.
    async fn join(cluster: Cluster, boot_id: &str) -> Bench {
        let (slave, welcome) = TestSlave::join(&cluster.gateway_url(), "eu-1", boot_id, 0).await;
        Bench {
            cluster,
            slave,
            slave_index: welcome.slave_index,
            seq: 0,
            request_id: 0,
        }
    }

    fn devnet(&self) -> &DevnetHandle {
        &self.cluster.devnet
    }

    fn ledger(&self) -> &Ledger {
        self.cluster.master.ledger()
    }

    /// The job at the emulator's tip at difficulty 1.
    async fn tip_job(&mut self) -> Job {
        self.slave.tip_job(&self.cluster.devnet).await
    }

    /// Sends valid shares and waits for their ack.
    async fn shares(&mut self, job: &Job, credits: &[(String, u64)]) -> u64 {
        self.slave.send_shares(&mut self.seq, job, credits).await
    }

    /// Sends the finding share, then the candidate; the master's answer.
    async fn submit(
        &mut self,
        job: &Job,
        work: &MinerWork,
        pow_hash: [u8; 32],
        finder: &str,
    ) -> BlockResult {
        let share_seq = self.shares(job, &[(finder.to_owned(), 1)]).await;
        let candidate = self.block_candidate(job, work, pow_hash, finder, share_seq);
        self.candidate(candidate).await
    }

    /// The candidate a slave sends for `work` found by `finder`, whose
    /// share went out as `share_seq`; stamped as read and sent now.
    fn block_candidate(
        &mut self,
        job: &Job,
        work: &MinerWork,
        pow_hash: [u8; 32],
        finder: &str,
        share_seq: u64,
    ) -> BlockCandidate {
        self.request_id += 1;
        block_candidate(self.request_id, job, (work, pow_hash), finder, share_seq)
    }

    async fn candidate(&mut self, candidate: BlockCandidate) -> BlockResult {
        let request_id = candidate.request_id;
        self.slave
            .send(tos_pool_proto::v1::SlaveMessage {
                kind: Some(slave_message::Kind::Block(candidate)),
            })
            .await;
        self.slave
            .until(|kind| match kind {
                master_message::Kind::BlockResult(result) if result.request_id == request_id => {
                    Some(result)
                }
                _ => None,
            })
            .await
    }

    async fn state_of(&self, hash: &str, state: BlockState) -> BlockRecord {
        let ledger = self.ledger().clone();
        eventually(&format!("block {hash} to be {state:?}"), || {
            let ledger = ledger.clone();
            let hash = hash.to_owned();
            async move {
                ledger
                    .block(&hash)
                    .await
                    .expect("the ledger answers")
                    .filter(|record| record.state == state)
            }
        })
        .await
    }

    /// (immature, confirmed) summed over `addresses`.
    async fn balances(&self, addresses: &[String]) -> (i64, i64) {
        let mut sums = (0, 0);
        for address in addresses {
            let balances = self.ledger().balances(address).await.expect("balances");
            sums.0 += balances.immature;
            sums.1 += balances.confirmed;
        }
        sums
    }

    fn miner_reward(&self, hash: &str) -> u64 {
        let hash: Hash = hex::decode(hash)
            .expect("hex hash")
            .try_into()
            .expect("32 bytes");
        self.devnet()
            .block(&hash)
            .expect("the emulator knows the block")
            .miner_reward
    }

    fn orphan(&self, hash: &str) {
        let hash: Hash = hex::decode(hash)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        self.devnet()
            .orphan(&hash)
            .expect("the emulator orphans it");
    }

    fn make_side(&self, hash: &str) {
        let hash: Hash = hex::decode(hash)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        self.devnet()
            .make_side(&hash)
            .expect("the emulator makes it a side block");
    }
}

#[tokio::test]
async fn found_blocks_mature_orphan_and_pay_side_rewards_exactly() {
    // A PPLNS window of 10,000 × difficulty 1 holds every share sent here.
    let cluster = Cluster::start(false, |config| config.pplns.window = 10_000.0).await;
    let mut bench = Bench::join(cluster, "boot-blocks").await;
    let alice = miner_address(0xa1);
    let bob = miner_address(0xb0);
    let everyone = [alice.clone(), bob.clone(), pool_address()];
    bench.cluster.set_difficulty(1);
    let job = bench.tip_job().await;
    bench
        .shares(&job, &[(alice.clone(), 3_000), (bob.clone(), 1_000)])
        .await;

    // An unknown job is refused by the master itself.
    let stale = bench
        .candidate(BlockCandidate {
            request_id: 999,
            job_id: "no-such-job".to_owned(),
            miner_work: job.miner_work.clone(),
            ..BlockCandidate::default()
        })
        .await;
    assert!(
        !stale.accepted && stale.reason.contains("stale job"),
        "{stale:?}"
    );

    // Block 1: accepted, immature at depth 2, matured at depth 5.
    let (work, pow_hash) = mine_block(&job, bench.slave_index, 1);
    let result = bench.submit(&job, &work, pow_hash, &alice).await;
    assert!(result.accepted, "{result:?}");
    let first = result.block_hash.clone();
    assert_eq!(first, hex::encode(work.block_hash()));
    assert!(
        bench
            .devnet()
            .submitted_blocks()
            .iter()
            .any(|block| hex::encode(block.hash) == first),
        "the emulator holds the submitted block"
    );
    let record = bench.state_of(&first, BlockState::Candidate).await;
    assert_eq!(record.finder, alice);
    assert_eq!(
        record.snapshot.total_weight(),
        4_001,
        "the finding share is in the window"
    );
    let reward = bench.miner_reward(&first);
    assert_eq!(record.expected_reward, reward);
    // The candidate carried the slave's read stamp (the unknown job above
    // did not, and never reached the daemon): its path is timed once.
    assert_eq!(
        bench.cluster.master.metrics().block_path_snapshot().count,
        1,
        "the submitted candidate's path is in the block path histogram"
    );

    // The same block again is refused by the daemon, and the record stays.
    let again = bench.submit(&job, &work, pow_hash, &alice).await;
    assert!(
        !again.accepted && again.reason.contains("already"),
        "{again:?}"
    );
    // Another nonce on the now stale job is refused and recorded as such.
    let (stale_work, stale_pow) = mine_block(&job, bench.slave_index, 1_000);
    let refused = bench.submit(&job, &stale_work, stale_pow, &bob).await;
    assert!(
        !refused.accepted && refused.reason.contains("stale tips"),
        "{refused:?}"
    );
    bench
        .state_of(&hex::encode(stale_work.block_hash()), BlockState::Refused)
        .await;

    bench.devnet().advance(2);
    let immature = bench.state_of(&first, BlockState::Immature).await;
    let split = immature.immature_credits.expect("immature credits");
    assert_eq!(split.total, reward);
    assert!(
        split.credits[&alice] > 2 * split.credits[&bob],
        "3:1 by weight"
    );
    assert_eq!(bench.balances(&everyone).await, (reward as i64, 0));

    bench.devnet().advance(3);
    let matured = bench.state_of(&first, BlockState::Matured).await;
    assert_eq!(matured.final_reward, Some(reward));
    assert_eq!(bench.balances(&everyone).await, (0, reward as i64));
    let fee = bench
        .ledger()
        .balances(&pool_address())
        .await
        .expect("fee balance");
    assert_eq!(fee.confirmed as u64, reward / 100, "1% fee to the pool");

    // Block 2: immature, then orphaned by the chain: credits reversed.
    let job = bench.tip_job().await;
    let (work, pow_hash) = mine_block(&job, bench.slave_index, 1);
    let result = bench.submit(&job, &work, pow_hash, &bob).await;
    assert!(result.accepted, "{result:?}");
    let second = result.block_hash;
    bench.devnet().advance(2);
    bench.state_of(&second, BlockState::Immature).await;
    let (credited, _) = bench.balances(&everyone).await;
    assert!(credited > 0);
    bench.orphan(&second);
    let back = bench.state_of(&second, BlockState::Candidate).await;
    assert!(back.immature_credits.is_none());
    assert_eq!(bench.balances(&everyone).await, (0, reward as i64));
    bench.devnet().advance(25);
    let orphaned = bench.state_of(&second, BlockState::Orphaned).await;
    assert_eq!(orphaned.matured_credits, None);
    assert_eq!(bench.balances(&everyone).await, (0, reward as i64));

    // Block 3: made a side block; it pays the reduced reward the chain pays.
    let job = bench.tip_job().await;
    let (work, pow_hash) = mine_block(&job, bench.slave_index, 1);
    let result = bench.submit(&job, &work, pow_hash, &alice).await;
    assert!(result.accepted, "{result:?}");
    let third = result.block_hash;
    bench.make_side(&third);
    let side_reward = bench.miner_reward(&third);
    assert!(side_reward < reward);
    bench.devnet().advance(5);
    let side = bench.state_of(&third, BlockState::Matured).await;
    assert_eq!(side.final_reward, Some(side_reward));
    assert_eq!(side.block_type, Some(BlockType::Side));
    assert_eq!(
        bench.balances(&everyone).await,
        (0, (reward + side_reward) as i64)
    );
}

#[tokio::test]
async fn a_candidate_behind_a_share_batch_is_submitted_while_the_batch_is_stored() {
    // The block path waits up to 20 × the flush interval for the finding
    // share before its PPLNS snapshot: long enough to outlast the pause.
    let cluster = Cluster::start(false, |config| {
        config.slave.share_flush_interval = std::time::Duration::from_secs(1);
    })
    .await;
    let mut bench = Bench::join(cluster, "boot-behind").await;
    bench.cluster.set_difficulty(1);
    let job = bench.tip_job().await;
    let alice = miner_address(0xa1);
    let (work, pow_hash) = mine_block(&job, bench.slave_index, 1);

    // Redis holds every write (the batch's script) until it is unpaused;
    // reads still answer.
    let mut redis = redis::Client::open(bench.cluster.redis.url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connects");
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(60_000)
        .arg("WRITE")
        .query_async(&mut redis)
        .await
        .expect("CLIENT PAUSE");

    // The finding share's batch, then the candidate right behind it.
    bench.seq += 1;
    let share_seq = bench.seq;
    bench
        .slave
        .send(batch(vec![share(share_seq, &job, &alice, 1)]))
        .await;
    let candidate = bench.block_candidate(&job, &work, pow_hash, &alice, share_seq);
    bench
        .slave
        .send(tos_pool_proto::v1::SlaveMessage {
            kind: Some(slave_message::Kind::Block(candidate)),
        })
        .await;

    // The block reaches the daemon while the batch still waits for Redis.
    let hash = work.block_hash();
    eventually("the emulator to receive the block", || {
        let submitted = bench
            .devnet()
            .submitted_blocks()
            .iter()
            .any(|block| block.hash == hash);
        async move { submitted.then_some(()) }
    })
    .await;
    // Read on a connection of its own: the master's waits behind the
    // paused write.
    let reader = Ledger::connect(&bench.cluster.config.redis)
        .await
        .expect("a second ledger connection");
    let stored = reader
        .acked_seq("eu-1", "boot-behind")
        .await
        .expect("reads answer during the pause");
    assert_eq!(stored, 0, "the batch was stored before the block went out");

    let () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut redis)
        .await
        .expect("CLIENT UNPAUSE");
    assert_eq!(bench.slave.acked(share_seq).await, share_seq);
    let result = bench
        .slave
        .until(|kind| match kind {
            master_message::Kind::BlockResult(result) => Some(result),
            _ => None,
        })
        .await;
    assert!(result.accepted, "{result:?}");
    let record = bench
        .state_of(&hex::encode(hash), BlockState::Candidate)
        .await;
    assert_eq!(
        record.snapshot.total_weight(),
        1,
        "the finding share is in the window"
    );
}
