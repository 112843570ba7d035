//! Payouts against a faulty wallet, end to end (real Redis, the wallet and
//! devnet emulators): a wallet that errors after broadcasting is not paid
//! twice (its tx log against the pool's payments); a recipient the wallet
//! refuses is quarantined and everyone else is paid in the same run, whether
//! the wallet names it or not; one refused with an error that may follow a
//! broadcast is found across runs; an invalid address never becomes
//! payable; a wallet that is down loses nobody's credit. The admin API lists
//! and releases quarantined recipients.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::Value;
use tos_pool_integration_tests::wallet::{Fault, Refusal};
use tos_pool_master::ledger::{PaymentStatus, QuarantineCause};
use tos_pool_master::payouts::RunOutcome;

use crate::master_support::eventually;
use crate::payouts::{Bench, StoppedRun, addresses, first_run_stopped_by, miners};

const PASSWORD: &str = "quarantine-admin-password";

/// A bench whose master serves the API with an admin password.
async fn bench_with_api() -> Bench {
    Bench::start(false, |config| {
        config.api.enabled = true;
        config.api.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.api.admin_password = Some(PASSWORD.to_owned());
    })
    .await
}

/// The JSON body of an admin GET of `url`.
async fn admin_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url)
        .bearer_auth(PASSWORD)
        .send()
        .await
        .expect("the API answers")
        .text()
        .await
        .map(|text| serde_json::from_str(&text).expect("JSON"))
        .expect("a body")
}

/// The response to an admin DELETE of `url`.
async fn admin_delete(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.delete(url)
        .bearer_auth(PASSWORD)
        .send()
        .await
        .expect("the API answers")
}

/// The wallet's transactions against the pool's payments: every broadcast
/// transaction is exactly one payment's, with the same transfers, and no
/// payment claims a transaction the wallet does not have.
async fn assert_tx_log_matches_payments(bench: &Bench) {
    let page = bench.ledger().payments(0, 1_000).await.expect("payments");
    let by_hash: BTreeMap<String, _> = page
        .items
        .iter()
        .filter_map(|p| p.tx_hash.clone().map(|hash| (hash, p)))
        .collect();
    let sent = bench.wallet.transactions();
    for tx in &sent {
        let payment = by_hash
            .get(&tx.hash)
            .unwrap_or_else(|| panic!("wallet tx {} belongs to no payment", tx.hash));
        let mut wallet: Vec<(String, u64)> = tx
            .transfers
            .iter()
            .map(|t| (t.destination.clone(), t.amount))
            .collect();
        let mut pool: Vec<(String, u64)> = payment
            .transfers
            .iter()
            .map(|t| (t.address.clone(), t.amount))
            .collect();
        wallet.sort();
        pool.sort();
        assert_eq!(wallet, pool, "payment {} is its transaction", payment.id);
    }
    assert_eq!(by_hash.len(), sent.len(), "one payment per transaction");
    for payment in &page.items {
        if payment.status == PaymentStatus::Failed {
            assert!(payment.tx_hash.is_none(), "a failed payment sent nothing");
        }
    }
}

#[tokio::test]
async fn an_error_after_the_broadcast_is_not_paid_twice() {
    let StoppedRun {
        bench,
        seeded,
        payouts,
        report,
    } = first_run_stopped_by(Fault::BroadcastThenError, 3).await;
    assert_eq!(
        bench.wallet.transactions().len(),
        1,
        "broadcast, then an error"
    );
    let first = bench
        .ledger()
        .payment(&report.payments[0])
        .await
        .expect("ledger")
        .expect("record");
    assert_eq!(
        first.status,
        PaymentStatus::Pending,
        "an error that may follow a broadcast returns nothing"
    );
    // Reconciliation finds the transaction; the others are paid after it.
    bench.settle(&payouts, &addresses(&seeded)).await;
    bench.assert_paid_exactly_once(&seeded).await;
    let first = bench
        .ledger()
        .payment(&first.id)
        .await
        .expect("ledger")
        .expect("record");
    assert_eq!(first.status, PaymentStatus::Confirmed);
    assert_eq!(
        first.tx_hash.as_deref(),
        Some(bench.wallet.transactions()[0].hash.as_str())
    );
    assert_tx_log_matches_payments(&bench).await;
    assert!(
        bench
            .ledger()
            .quarantined()
            .await
            .expect("ledger")
            .is_empty(),
        "the batch went out: nobody is quarantined"
    );
}

/// Seeds five miners, refuses the fourth (`refusal`) and checks that one
/// run quarantines it and sends everyone else.
async fn one_refused_recipient(refusal: Refusal, max_per_tx: usize) {
    let bench = bench_with_api().await;
    let seeded = miners(5);
    bench.seed(&seeded).await;
    // Miners are paid largest first: index 3 sits inside a full batch.
    let bad = seeded[3].0.clone();
    bench.wallet.refuse_recipient(&bad, refusal);
    let mut settings = bench.settings();
    settings.rules.max_per_tx = max_per_tx;
    let payouts = bench.payouts(settings);
    let report = payouts.run_once().await.expect("a run");
    assert_eq!(report.outcome, RunOutcome::Paid, "{report:?}");
    assert_eq!(report.quarantined, vec![bad.clone()]);
    let paid_in_run: Vec<String> = bench
        .wallet
        .transactions()
        .iter()
        .flat_map(|tx| tx.transfers.iter().map(|t| t.destination.clone()))
        .collect();
    let good: Vec<(String, i64)> = seeded.iter().filter(|(a, _)| *a != bad).cloned().collect();
    for (address, _) in &good {
        assert!(
            paid_in_run.contains(address),
            "{address} paid in the same run"
        );
    }
    assert!(!paid_in_run.contains(&bad));
    bench.settle(&payouts, &addresses(&good)).await;
    bench.assert_paid_exactly_once(&good).await;
    assert_tx_log_matches_payments(&bench).await;
    // The refused balance is whole and stays out of later runs.
    let kept = bench.ledger().balances(&bad).await.expect("balances");
    assert_eq!(
        (kept.confirmed, kept.pending, kept.paid),
        (seeded[3].1, 0, 0)
    );
    let again = payouts.run_once().await.expect("a run");
    assert_eq!(again.outcome, RunOutcome::NothingToPay, "{again:?}");

    // The admin API lists it and releases it (audited); then it is paid.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let api = |path: &str| {
        let addr = bench.cluster.master.api_addr().expect("the API is on");
        format!("http://{addr}{path}")
    };
    let listed: Value = admin_json(&http, &api("/api/admin/quarantine")).await;
    assert_eq!(listed[0]["address"], bad.as_str(), "{listed}");
    assert_eq!(listed[0]["cause"], "refused");
    assert!(listed[0]["payment_id"].is_string(), "{listed}");
    let anonymous = http
        .get(api("/api/admin/quarantine"))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    bench.wallet.accept_recipient(&bad);
    let released = admin_delete(&http, &api(&format!("/api/admin/quarantine/{bad}"))).await;
    assert_eq!(released.status(), StatusCode::OK);
    let twice = admin_delete(&http, &api(&format!("/api/admin/quarantine/{bad}"))).await;
    assert_eq!(twice.status(), StatusCode::NOT_FOUND);
    let audit: Value = admin_json(&http, &api("/api/admin/audit")).await;
    let releases: Vec<&Value> = audit
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["action"] == "release_quarantine")
        .collect();
    assert_eq!(releases.len(), 2, "{audit}");
    bench.settle(&payouts, &addresses(&seeded)).await;
    bench.assert_paid_exactly_once(&seeded).await;
}

#[tokio::test]
async fn a_recipient_the_wallet_names_is_quarantined_and_the_others_paid_in_the_same_run() {
    one_refused_recipient(Refusal::Named, 2).await;
}

#[tokio::test]
async fn a_refused_recipient_nobody_names_is_found_by_halving_the_batch() {
    one_refused_recipient(Refusal::Unnamed, 4).await;
}

#[tokio::test]
async fn a_refusal_that_may_follow_a_broadcast_is_pinned_across_runs() {
    let bench = Bench::start(false, |_| {}).await;
    let seeded = miners(3);
    bench.seed(&seeded).await;
    let bad = seeded[1].0.clone();
    bench.wallet.refuse_recipient(&bad, Refusal::WalletError);
    let payouts = bench.payouts(bench.settings());
    let ledger = bench.ledger();
    let good: Vec<(String, i64)> = seeded.iter().filter(|(a, _)| *a != bad).cloned().collect();
    // A -32004 cannot be told from a failure after a broadcast: each try
    // waits for reconciliation, the batch's addresses are then paid alone,
    // and the one refused alone is quarantined.
    eventually("the refused recipient quarantined", || {
        let ledger = ledger.clone();
        let payouts = payouts.clone();
        let devnet = &bench.cluster.devnet;
        async move {
            let _ = payouts.run_once().await;
            devnet.advance(1);
            let quarantined = ledger.quarantined().await.expect("ledger");
            (!quarantined.is_empty()).then_some(quarantined)
        }
    })
    .await;
    let quarantined = ledger.quarantined().await.expect("ledger");
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0].address, bad);
    assert_eq!(quarantined[0].cause, QuarantineCause::Refused);
    bench.settle(&payouts, &addresses(&good)).await;
    bench.assert_paid_exactly_once(&good).await;
    assert_tx_log_matches_payments(&bench).await;
    let kept = ledger.balances(&bad).await.expect("balances");
    assert_eq!(
        (kept.confirmed, kept.pending, kept.paid),
        (seeded[1].1, 0, 0)
    );
}

#[tokio::test]
async fn an_invalid_address_never_becomes_payable() {
    let bench = Bench::start(false, |_| {}).await;
    let seeded = miners(3);
    let bad = seeded[0].0.clone();
    bench.wallet.set_address_invalid(&bad);
    bench.seed(&seeded).await;
    let payouts = bench.payouts(bench.settings());
    let good: Vec<(String, i64)> = seeded.iter().filter(|(a, _)| *a != bad).cloned().collect();
    bench.settle(&payouts, &addresses(&good)).await;
    bench.assert_paid_exactly_once(&good).await;
    // More credit, more runs: it is never planned.
    bench.seed(&[(bad.clone(), 7_000)]).await;
    for _ in 0..3 {
        let report = payouts.run_once().await.expect("a run");
        assert_eq!(report.outcome, RunOutcome::NothingToPay, "{report:?}");
    }
    assert!(
        bench
            .wallet
            .transactions()
            .iter()
            .flat_map(|tx| tx.transfers.iter())
            .all(|t| t.destination != bad),
        "nothing was ever sent to it"
    );
    let kept = bench.ledger().balances(&bad).await.expect("balances");
    assert_eq!((kept.confirmed, kept.pending), (seeded[0].1 + 7_000, 0));
    let quarantined = bench.ledger().quarantined().await.expect("ledger");
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].address, bad);
    assert_eq!(quarantined[0].cause, QuarantineCause::InvalidAddress);
    assert_eq!(quarantined[0].payment_id, None);
}

#[tokio::test]
async fn a_wallet_that_is_down_loses_no_credit() {
    let bench = Bench::start(false, |_| {}).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        drop(listener);
        format!("http://127.0.0.1:{port}/json_rpc")
    };
    let down = bench.payouts_at(&closed, bench.settings());
    let seeded = miners(2);
    bench.seed(&seeded).await;
    for _ in 0..2 {
        assert!(down.run_once().await.is_err(), "the wallet is down");
        // Credit keeps accruing while the wallet is down.
        bench.seed(&seeded).await;
    }
    let ledger = bench.ledger();
    let doubled: Vec<(String, i64)> = seeded.iter().map(|(a, b)| (a.clone(), b * 3)).collect();
    for (address, amount) in &doubled {
        let balances = ledger.balances(address).await.expect("balances");
        assert_eq!(
            (balances.confirmed, balances.pending, balances.paid),
            (*amount, 0, 0)
        );
    }
    assert!(ledger.quarantined().await.expect("ledger").is_empty());
    assert!(
        ledger
            .validated_addresses(&addresses(&seeded))
            .await
            .expect("ledger")
            .is_empty(),
        "nothing validated without the wallet"
    );
    assert_eq!(ledger.payments(0, 10).await.expect("payments").total, 0);
    // The wallet is back: everything credited is paid, once.
    let up = bench.payouts(bench.settings());
    bench.settle(&up, &addresses(&doubled)).await;
    bench.assert_paid_exactly_once(&doubled).await;
    assert_eq!(
        ledger
            .validated_addresses(&addresses(&seeded))
            .await
            .expect("ledger")
            .len(),
        2,
        "validated once the wallet answered"
    );
}
