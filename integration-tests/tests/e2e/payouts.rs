//! Payouts end to end, with a real Redis, the wallet emulator and the devnet
//! emulator: matured balances are paid exactly once, through lost replies,
//! wallet errors and a payer that dies right after the send; a dry run changes
//! nothing; the lock keeps a second payer out; too few peers pay nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::master_support::{
    Cluster, TestSlave, batch, block_candidate, eventually, mine_block, miner_address,
    pool_address, share,
};
use tos_pool_common::telemetry::Telemetry;
use tos_pool_integration_tests::wallet::{Fault, Wallet, WalletConfig, WalletHandle};
use tos_pool_master::ledger::{Ledger, PaymentStatus};
use tos_pool_master::lifecycle::BlockState;
use tos_pool_master::payouts::{
    PayoutError, PayoutSettings, Payouts, PlanRules, Resolution, RunOutcome, RunReport,
};
use tos_pool_master::wallet::WalletClient;
use tos_pool_proto::v1::{master_message, slave_message};

const THRESHOLD: u64 = 1_000;
const WITHDRAWAL_FEE: u64 = 10;

/// A paused devnet, Redis, a master and a wallet emulator: what payout
/// tests run on (payout_faults.rs too).
pub(crate) struct Bench {
    pub(crate) cluster: Cluster,
    pub(crate) wallet: WalletHandle,
}

impl Bench {
    /// A paused devnet, Redis, a master without its own payouts, and a
    /// wallet following the devnet's chain.
    pub(crate) async fn start(
        produce_blocks: bool,
        tweak: impl FnOnce(&mut tos_pool_common::config::Config),
    ) -> Bench {
        let cluster = Cluster::start(produce_blocks, tweak).await;
        let mut config = WalletConfig::new(cluster.config.network, pool_address());
        config.balance = 1_000_000_000;
        config.daemon_url = Some(cluster.devnet.url());
        let wallet = Wallet::start(config)
            .await
            .expect("the wallet emulator starts");
        Bench { cluster, wallet }
    }

    pub(crate) fn ledger(&self) -> Arc<Ledger> {
        self.cluster.master.ledger().clone()
    }

    pub(crate) fn settings(&self) -> PayoutSettings {
        PayoutSettings {
            interval: Duration::from_millis(100),
            rules: PlanRules {
                threshold: THRESHOLD,
                withdrawal_fee: WITHDRAWAL_FEE,
                fee_rate_ppb: PlanRules::rate_ppb(1.0),
                max_per_tx: 2,
            },
            min_peers: 0,
            lock_ttl: Duration::from_secs(3),
            confirmations: 2,
            dry_run: false,
            wallet_timeout: Duration::from_secs(1),
        }
    }

    pub(crate) fn payouts(&self, settings: PayoutSettings) -> Payouts {
        self.payouts_at(&self.wallet.url(), settings)
    }

    /// A payout service paying from the wallet at `url`.
    pub(crate) fn payouts_at(&self, url: &str, settings: PayoutSettings) -> Payouts {
        let wallet =
            WalletClient::new(url, settings.wallet_timeout, None).expect("the wallet URL is valid");
        Payouts::new(
            self.ledger(),
            wallet,
            self.cluster.master.upstreams().clone(),
            settings,
            Telemetry::disabled(),
        )
    }

    /// Credits confirmed balances directly, as matured blocks do.
    pub(crate) async fn seed(&self, balances: &[(String, i64)]) {
        let client = redis::Client::open(self.cluster.redis.url()).expect("the URL is valid");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers");
        let key = self.ledger().keys().balance_confirmed();
        for (address, amount) in balances {
            let _: i64 = redis::cmd("HINCRBY")
                .arg(&key)
                .arg(address)
                .arg(*amount)
                .query_async(&mut connection)
                .await
                .expect("HINCRBY");
        }
    }

    /// Runs `payouts` (advancing the chain a block each time) until nothing
    /// is confirmed, pending or unsettled.
    pub(crate) async fn settle(&self, payouts: &Payouts, addresses: &[String]) {
        let ledger = self.ledger();
        eventually("every balance paid and confirmed", || {
            let ledger = ledger.clone();
            let payouts = payouts.clone();
            let addresses = addresses.to_vec();
            let devnet = &self.cluster.devnet;
            async move {
                let _ = payouts.run_once().await;
                devnet.advance(1);
                let unsettled = ledger.unsettled_payments().await.expect("ledger");
                let mut open = 0;
                for address in &addresses {
                    let balances = ledger.balances(address).await.expect("balances");
                    open += balances.confirmed + balances.pending;
                }
                (unsettled.is_empty() && open == 0).then_some(())
            }
        })
        .await;
    }

    /// Each seeded balance was paid once: paid + fees equal it, the history
    /// sums to `paid`, and the wallet sent each address one transfer.
    pub(crate) async fn assert_paid_exactly_once(&self, seeded: &[(String, i64)]) {
        let ledger = self.ledger();
        let sent = self.wallet.transactions();
        for (address, amount) in seeded {
            let balances = ledger.balances(address).await.expect("balances");
            let history = ledger
                .miner_payments(address, 0, 1_000)
                .await
                .expect("history");
            let paid: u64 = history.items.iter().map(|p| p.amount).sum();
            let fees: u64 = history.items.iter().map(|p| p.fee).sum();
            assert_eq!(history.total, 1, "{address} paid once");
            assert_eq!(balances.paid as u64, paid, "paid total = its records");
            assert_eq!(paid + fees, *amount as u64, "the whole balance, once");
            assert_eq!((balances.confirmed, balances.pending), (0, 0));
            let transfers: Vec<u64> = sent
                .iter()
                .flat_map(|tx| tx.transfers.iter())
                .filter(|t| &t.destination == address)
                .map(|t| t.amount)
                .collect();
            assert_eq!(
                transfers,
                vec![paid],
                "the wallet sent {address} one transfer"
            );
            assert!(
                history
                    .items
                    .iter()
                    .all(|p| p.status == PaymentStatus::Confirmed)
            );
        }
    }
}

pub(crate) fn miners(count: u8) -> Vec<(String, i64)> {
    (0..count)
        .map(|i| (miner_address(0x10 + i), 5_000 + 1_000 * i64::from(i)))
        .collect()
}

pub(crate) fn addresses(seeded: &[(String, i64)]) -> Vec<String> {
    seeded.iter().map(|(a, _)| a.clone()).collect()
}

/// What a first payout run stopped by a wallet fault leaves: the bench, its
/// seeded miners, the payer and the run's report.
pub(crate) struct StoppedRun {
    pub(crate) bench: Bench,
    pub(crate) seeded: Vec<(String, i64)>,
    pub(crate) payouts: Payouts,
    pub(crate) report: RunReport,
}

/// A bench with `count` seeded miners whose first payout run meets `fault`
/// on the wallet's first call and stops (asserted).
pub(crate) async fn first_run_stopped_by(fault: Fault, count: u8) -> StoppedRun {
    let bench = Bench::start(false, |_| {}).await;
    let seeded = miners(count);
    bench.seed(&seeded).await;
    let payouts = bench.payouts(bench.settings());
    bench.wallet.set_fault(fault, 1);
    let report = payouts.run_once().await.expect("a run");
    assert!(
        matches!(report.outcome, RunOutcome::Stopped { .. }),
        "{report:?}"
    );
    StoppedRun {
        bench,
        seeded,
        payouts,
        report,
    }
}

#[tokio::test]
async fn seeded_balances_are_paid_exactly_once() {
    let bench = Bench::start(false, |_| {}).await;
    let mut seeded = miners(5);
    seeded.push((miner_address(0x99), THRESHOLD as i64 - 1));
    bench.seed(&seeded).await;
    let payouts = bench.payouts(bench.settings());
    let payable = &seeded[..5];
    bench.settle(&payouts, &addresses(payable)).await;
    bench.assert_paid_exactly_once(payable).await;
    // Five transfers at two per transaction.
    assert_eq!(bench.wallet.transactions().len(), 3);
    let below = bench
        .ledger()
        .balances(&miner_address(0x99))
        .await
        .expect("balances");
    assert_eq!(
        below.confirmed,
        THRESHOLD as i64 - 1,
        "below the threshold: kept"
    );
    let page = bench.ledger().payments(0, 10).await.expect("payments");
    assert_eq!(page.total, 3);
    assert!(
        page.items
            .windows(2)
            .all(|w| w[0].created_ms >= w[1].created_ms)
    );
    assert!(
        page.items
            .iter()
            .all(|p| p.status == PaymentStatus::Confirmed && p.tx_hash.is_some())
    );
    // Running again pays nothing more.
    let report = payouts.run_once().await.expect("a run");
    assert_eq!(report.outcome, RunOutcome::NothingToPay);
    assert_eq!(bench.wallet.transactions().len(), 3);
}

#[tokio::test]
async fn a_lost_reply_is_reconciled_and_paid_once() {
    let StoppedRun {
        bench,
        seeded,
        payouts,
        ..
    } = first_run_stopped_by(Fault::BroadcastThenLoseReply, 3).await;
    assert_eq!(
        bench.wallet.transactions().len(),
        1,
        "broadcast, reply lost"
    );
    let unsettled = bench.ledger().unsettled_payments().await.expect("ledger");
    assert_eq!(unsettled.len(), 1);
    assert_eq!(unsettled[0].status, PaymentStatus::Pending);
    bench.settle(&payouts, &addresses(&seeded)).await;
    bench.assert_paid_exactly_once(&seeded).await;
    assert_eq!(bench.wallet.transactions().len(), 2);
}

#[tokio::test]
async fn a_payer_dying_right_after_the_send_pays_once() {
    let bench = Bench::start(false, |_| {}).await;
    let seeded = miners(4);
    bench.seed(&seeded).await;
    let mut slow = bench.settings();
    slow.wallet_timeout = Duration::from_secs(60);
    let first = bench.payouts(slow);
    bench.wallet.set_fault(Fault::BroadcastThenLoseReply, 1);
    let run = tokio::spawn(async move { first.run_once().await });
    eventually("the wallet to broadcast", || async {
        (bench.wallet.transactions().len() == 1).then_some(())
    })
    .await;
    // The master dies with the request in flight and its lock still held.
    run.abort();
    let _ = run.await;
    let second = bench.payouts(bench.settings());
    bench.settle(&second, &addresses(&seeded)).await;
    bench.assert_paid_exactly_once(&seeded).await;
    assert_eq!(bench.wallet.transactions().len(), 2);
}

#[tokio::test]
async fn a_wallet_error_without_a_broadcast_is_reconciled_then_paid() {
    let StoppedRun {
        bench,
        seeded,
        payouts,
        report,
    } = first_run_stopped_by(Fault::FailBeforeBroadcast, 2).await;
    // A wallet error may follow a broadcast: the amounts stay pending.
    let ledger = bench.ledger();
    let id = report.payments[0].clone();
    let record = ledger.payment(&id).await.expect("ledger").expect("record");
    assert_eq!(record.status, PaymentStatus::Pending);
    for (address, amount) in &seeded {
        let balances = ledger.balances(address).await.expect("balances");
        assert_eq!((balances.confirmed, balances.pending), (0, *amount));
    }
    assert!(bench.wallet.transactions().is_empty());
    // The wallet's nonce never moved: after the grace it is failed and the
    // amounts go back, then they are paid.
    let failed = eventually("the pending payment reconciled as never sent", || {
        let ledger = ledger.clone();
        let payouts = payouts.clone();
        let id = id.clone();
        async move {
            let _ = payouts.run_once().await;
            ledger
                .payment(&id)
                .await
                .expect("ledger")
                .filter(|record| record.status == PaymentStatus::Failed)
        }
    })
    .await;
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("never broadcast"),
        "{failed:?}"
    );
    bench.settle(&payouts, &addresses(&seeded)).await;
    bench.assert_paid_exactly_once(&seeded).await;
}

#[tokio::test]
async fn a_dry_run_changes_nothing() {
    let bench = Bench::start(false, |_| {}).await;
    let seeded = miners(3);
    bench.seed(&seeded).await;
    let mut settings = bench.settings();
    settings.dry_run = true;
    let report = bench.payouts(settings).run_once().await.expect("a run");
    assert!(
        matches!(report.outcome, RunOutcome::DryRun { transfers: 3, .. }),
        "{report:?}"
    );
    for (address, amount) in &seeded {
        let balances = bench.ledger().balances(address).await.expect("balances");
        assert_eq!(
            (balances.confirmed, balances.pending, balances.paid),
            (*amount, 0, 0)
        );
    }
    assert_eq!(
        bench
            .ledger()
            .payments(0, 10)
            .await
            .expect("payments")
            .total,
        0
    );
    assert!(bench.wallet.transactions().is_empty());
}

#[tokio::test]
async fn the_lock_keeps_a_second_payer_out() {
    let bench = Bench::start(false, |_| {}).await;
    let seeded = miners(2);
    bench.seed(&seeded).await;
    let payouts = bench.payouts(bench.settings());
    let ledger = bench.ledger();
    assert!(
        ledger
            .acquire_payout_lock("another-payer", Duration::from_secs(30))
            .await
            .expect("Redis")
    );
    let report = payouts.run_once().await.expect("a run");
    assert_eq!(report.outcome, RunOutcome::Locked);
    assert!(matches!(
        payouts
            .resolve("any", Resolution::NotSent { force: false })
            .await,
        Err(PayoutError::Busy)
    ));
    assert!(bench.wallet.transactions().is_empty());
    assert!(
        !ledger
            .release_payout_lock("not-the-owner")
            .await
            .expect("Redis")
    );
    assert!(
        ledger
            .release_payout_lock("another-payer")
            .await
            .expect("Redis")
    );
    bench.settle(&payouts, &addresses(&seeded)).await;
    bench.assert_paid_exactly_once(&seeded).await;
}

#[tokio::test]
async fn too_few_peers_pay_nothing() {
    let bench = Bench::start(false, |_| {}).await;
    let seeded = miners(2);
    bench.seed(&seeded).await;
    bench.cluster.devnet.set_peer_count(1);
    let mut settings = bench.settings();
    settings.min_peers = 3;
    let report = bench.payouts(settings).run_once().await.expect("a run");
    assert_eq!(
        report.outcome,
        RunOutcome::NotEnoughPeers { peers: 1, min: 3 }
    );
    assert!(bench.wallet.transactions().is_empty());
    assert_eq!(
        bench
            .ledger()
            .payments(0, 10)
            .await
            .expect("payments")
            .total,
        0
    );
}

#[tokio::test]
async fn an_operator_resolves_a_pending_payment() {
    let bench = Bench::start(false, |_| {}).await;
    let seeded = miners(1);
    bench.seed(&seeded).await;
    let payouts = bench.payouts(bench.settings());
    bench.wallet.set_fault(Fault::BroadcastThenLoseReply, 1);
    let report = payouts.run_once().await.expect("a run");
    let id = report.payments[0].clone();
    let hash = bench.wallet.transactions()[0].hash.clone();
    let resolved = payouts
        .resolve(
            &id,
            Resolution::Sent {
                tx_hash: hash.clone(),
            },
        )
        .await
        .expect("resolved");
    assert_eq!(
        (resolved.status, resolved.tx_hash),
        (PaymentStatus::Sent, Some(hash))
    );
    assert!(matches!(
        payouts
            .resolve(&id, Resolution::NotSent { force: false })
            .await,
        Err(PayoutError::NotPending { .. })
    ));
    bench.settle(&payouts, &addresses(&seeded)).await;
    bench.assert_paid_exactly_once(&seeded).await;
}

#[tokio::test]
async fn mined_blocks_end_in_confirmed_payments() {
    let bench = Bench::start(false, |config| config.pplns.window = 10_000.0).await;
    let (mut slave, welcome) =
        TestSlave::join(&bench.cluster.gateway_url(), "eu-1", "boot-payouts", 0).await;
    let alice = miner_address(0xa1);
    let bob = miner_address(0xb0);
    bench.cluster.set_difficulty(1);
    let job = slave.tip_job(&bench.cluster.devnet).await;
    slave
        .send(batch(vec![
            share(1, &job, &alice, 3_000),
            share(2, &job, &bob, 1_000),
        ]))
        .await;
    slave.acked(2).await;
    let (work, pow_hash) = mine_block(&job, welcome.slave_index, 1);
    let candidate = block_candidate(1, &job, (&work, pow_hash), &alice, 2);
    slave
        .send(tos_pool_proto::v1::SlaveMessage {
            kind: Some(slave_message::Kind::Block(candidate)),
        })
        .await;
    let result = slave
        .until(|kind| match kind {
            master_message::Kind::BlockResult(result) => Some(result),
            _ => None,
        })
        .await;
    assert!(result.accepted, "{result:?}");
    bench.cluster.devnet.advance(5);
    let ledger = bench.ledger();
    let hash = result.block_hash.clone();
    let matured = eventually("the block to mature", || {
        let ledger = ledger.clone();
        let hash = hash.clone();
        async move {
            ledger
                .block(&hash)
                .await
                .expect("ledger")
                .filter(|record| record.state == BlockState::Matured)
        }
    })
    .await;
    let reward = matured
        .final_reward
        .expect("a matured block has its reward") as i64;
    let mut credited = Vec::new();
    for address in [alice.clone(), bob.clone(), pool_address()] {
        let balances = ledger.balances(&address).await.expect("balances");
        credited.push((address, balances.confirmed));
    }
    assert_eq!(credited.iter().map(|(_, c)| c).sum::<i64>(), reward);
    let payable: Vec<(String, i64)> = credited
        .into_iter()
        .filter(|(_, amount)| *amount as u64 >= THRESHOLD)
        .collect();
    assert!(payable.len() >= 2, "both miners earned enough: {payable:?}");
    let payouts = bench.payouts(bench.settings());
    bench.settle(&payouts, &addresses(&payable)).await;
    bench.assert_paid_exactly_once(&payable).await;
    let fees = ledger.payment_fees().await.expect("fees");
    let paid: i64 = {
        let mut sum = 0;
        for (address, _) in &payable {
            sum += ledger.balances(address).await.expect("balances").paid;
        }
        sum
    };
    assert_eq!(
        paid + fees as i64,
        payable.iter().map(|(_, a)| a).sum::<i64>()
    );
}
