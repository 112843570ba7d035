use super::*;

fn address(key: u8, network: Network) -> String {
    Address::new([key; 32], network).to_string()
}

fn ledger(balance: u64) -> Ledger {
    Ledger::new(
        Network::Devnet,
        address(1, Network::Devnet),
        balance,
        FeePolicy::default(),
    )
}

fn transfer(key: u8, amount: u64) -> Transfer {
    Transfer {
        asset: TOS_ASSET.to_string(),
        amount,
        destination: address(key, Network::Devnet),
        extra_data: None,
    }
}

fn broadcast(outcome: BuildOutcome) -> TransactionRecord {
    match outcome {
        BuildOutcome::Broadcast(tx) => tx,
        other => panic!("expected a broadcast, got {other:?}"),
    }
}

#[test]
fn broadcast_debits_amounts_and_fee_and_takes_the_nonce() {
    let mut ledger = ledger(100_000);
    let tx = broadcast(
        ledger
            .build_transaction(vec![transfer(2, 10_000), transfer(3, 5_000)], None, true, 7)
            .expect("valid transaction"),
    );
    assert_eq!(tx.fee, 1_002);
    assert_eq!(tx.nonce, 0);
    assert_eq!(tx.built_at_topoheight, 7);
    assert_eq!(tx.hash.len(), 64);
    assert_eq!(ledger.balance(), 100_000 - 15_000 - 1_002);
    assert_eq!(ledger.nonce(), 1);
    assert_eq!(ledger.transactions(), std::slice::from_ref(&tx));
    assert_eq!(ledger.transaction(&tx.hash.to_uppercase()), Some(&tx));

    let second = broadcast(
        ledger
            .build_transaction(vec![transfer(2, 10_000)], None, true, 7)
            .expect("valid transaction"),
    );
    assert_eq!(second.nonce, 1);
    assert_ne!(second.hash, tx.hash, "each transaction has its own hash");
}

#[test]
fn not_broadcast_changes_nothing() {
    let mut ledger = ledger(100_000);
    let outcome = ledger
        .build_transaction(vec![transfer(2, 1)], None, false, 0)
        .expect("valid transaction");
    assert!(matches!(outcome, BuildOutcome::NotBroadcast(_)));
    assert_eq!((ledger.balance(), ledger.nonce()), (100_000, 0));
    assert!(ledger.transactions().is_empty());
}

#[test]
fn refuses_bad_transfers_with_reasons() {
    let mut ledger = ledger(u64::MAX);
    let refuse = |ledger: &mut Ledger, transfers: Vec<Transfer>| {
        ledger
            .build_transaction(transfers, None, true, 0)
            .expect_err("must be refused")
    };
    let too_many = refuse(&mut ledger, vec![transfer(2, 1); MAX_TRANSFERS + 1]);
    assert!(too_many.message.contains("at most 500"), "{too_many}");
    assert!(
        ledger
            .check_transfers(&vec![transfer(2, 1); MAX_TRANSFERS], None)
            .is_ok()
    );

    let empty = refuse(&mut ledger, vec![]);
    assert_eq!(empty.code, super::super::rpc::INVALID_PARAMS);

    let zero = refuse(&mut ledger, vec![transfer(2, 0)]);
    assert!(zero.message.contains("greater than 0"), "{zero}");

    let mut mainnet = transfer(2, 1);
    mainnet.destination = address(2, Network::Mainnet);
    let wrong_network = refuse(&mut ledger, vec![transfer(3, 1), mainnet]);
    assert!(
        wrong_network.message.contains("transfer 1"),
        "{wrong_network}"
    );

    let mut garbage = transfer(2, 1);
    garbage.destination = "tst1notanaddress".into();
    refuse(&mut ledger, vec![garbage]);

    let mut other_asset = transfer(2, 1);
    other_asset.asset = "11".repeat(32);
    let asset = refuse(&mut ledger, vec![other_asset]);
    assert!(asset.message.contains("TOS asset"), "{asset}");

    assert!(ledger.transactions().is_empty());
    assert_eq!(ledger.balance(), u64::MAX);
}

#[test]
fn insufficient_funds_counts_the_fee_and_overflow() {
    let mut ledger = ledger(11_000);
    let error = ledger
        .build_transaction(vec![transfer(2, 10_000)], None, true, 0)
        .expect_err("10_000 + fee 1_001 exceeds 11_000");
    assert!(error.message.starts_with("Insufficient funds"), "{error}");
    assert_eq!((ledger.balance(), ledger.nonce()), (11_000, 0));

    ledger.set_balance(11_001);
    ledger
        .build_transaction(vec![transfer(2, 10_000)], None, true, 0)
        .expect("amount plus fee equal to the balance fits");
    assert_eq!(ledger.balance(), 0);

    ledger.set_balance(u64::MAX);
    let overflow = ledger
        .build_transaction(vec![transfer(2, u64::MAX), transfer(3, 1)], None, true, 0)
        .expect_err("a total above u64 is refused");
    assert!(
        overflow.message.starts_with("Insufficient funds"),
        "{overflow}"
    );
}

#[test]
fn fee_requests() {
    let ledger = ledger(0);
    let one = [transfer(2, 1)];
    assert_eq!(ledger.check_transfers(&one, None), Ok(1_001));
    let doubled = Some(FeeRequest::Multiplier { multiplier: 2.0 });
    assert_eq!(ledger.check_transfers(&one, doubled), Ok(2_002));
    let half = Some(FeeRequest::Multiplier { multiplier: 0.5 });
    assert!(ledger.check_transfers(&one, half).is_err());
    let exact = Some(FeeRequest::Value { value: 5_000 });
    assert_eq!(ledger.check_transfers(&one, exact), Ok(5_000));
    let low = Some(FeeRequest::Value { value: 1_000 });
    assert!(ledger.check_transfers(&one, low).is_err());
}

#[test]
fn faults_hit_the_next_calls_then_wear_off() {
    let mut ledger = ledger(1_000_000);
    ledger.set_fault(Fault::FailBeforeBroadcast, 2);
    for _ in 0..2 {
        let error = ledger
            .build_transaction(vec![transfer(2, 1)], None, true, 0)
            .expect_err("injected failure");
        assert_eq!(error.code, super::super::rpc::WALLET_ERROR);
    }
    assert!(ledger.transactions().is_empty());
    assert_eq!((ledger.balance(), ledger.nonce()), (1_000_000, 0));
    broadcast(
        ledger
            .build_transaction(vec![transfer(2, 1)], None, true, 0)
            .expect("the fault wore off"),
    );

    ledger.set_fault(Fault::InsufficientFunds, 1);
    let error = ledger
        .build_transaction(vec![transfer(2, 1)], None, true, 0)
        .expect_err("forced");
    assert!(error.message.starts_with("Insufficient funds"));

    ledger.set_fault(Fault::BroadcastThenLoseReply, 1);
    let before = ledger.balance();
    let outcome = ledger
        .build_transaction(vec![transfer(2, 10)], None, true, 0)
        .expect("broadcast happens");
    let BuildOutcome::LoseReply(tx) = outcome else {
        panic!("expected a lost reply, got {outcome:?}");
    };
    assert_eq!(ledger.balance(), before - 10 - tx.fee);
    assert_eq!(ledger.transaction(&tx.hash), Some(&tx));

    ledger.set_fault(Fault::FailBeforeBroadcast, 5);
    ledger.clear_fault();
    assert_eq!(ledger.fault(), None);
}

#[test]
fn confirmation_needs_the_chain_to_grow() {
    let tx = TransactionRecord {
        hash: "00".repeat(32),
        nonce: 0,
        fee: 1,
        transfers: vec![],
        built_at_topoheight: 10,
    };
    assert_eq!(tx.confirmed_at(1, 10), None);
    assert_eq!(tx.confirmed_at(1, 11), Some(11));
    assert_eq!(tx.confirmed_at(3, 12), None);
    assert_eq!(tx.confirmed_at(3, 20), Some(13));
}

#[test]
fn an_error_after_the_broadcast_still_records_it() {
    let mut ledger = ledger(1_000_000);
    ledger.set_fault(Fault::BroadcastThenError, 1);
    let outcome = ledger
        .build_transaction(vec![transfer(2, 10)], None, true, 0)
        .expect("broadcast happens");
    let BuildOutcome::ErrorAfterBroadcast(tx, error) = outcome else {
        panic!("expected an error after the broadcast, got {outcome:?}");
    };
    assert_eq!(error.code, super::super::rpc::WALLET_ERROR);
    assert_eq!(ledger.transactions(), std::slice::from_ref(&tx));
    assert_eq!(ledger.nonce(), 1);
    assert_eq!(ledger.balance(), 1_000_000 - 10 - tx.fee);
}

#[test]
fn a_refused_recipient_refuses_the_whole_request_before_anything_is_built() {
    let mut ledger = ledger(1_000_000);
    let bad = address(3, Network::Devnet);
    for (refusal, code, names) in [
        (Refusal::Named, super::super::rpc::INVALID_PARAMS, true),
        (Refusal::Unnamed, super::super::rpc::INVALID_PARAMS, false),
        (Refusal::WalletError, super::super::rpc::WALLET_ERROR, false),
    ] {
        ledger.refuse_recipient(&bad, refusal);
        let error = ledger
            .build_transaction(vec![transfer(2, 1), transfer(3, 1)], None, true, 0)
            .expect_err("refused");
        assert_eq!(error.code, code, "{refusal:?}");
        assert_eq!(error.message.contains(&bad), names, "{}", error.message);
        assert!(error.message.contains("transfer 1") == names);
    }
    assert!(ledger.transactions().is_empty());
    assert_eq!((ledger.balance(), ledger.nonce()), (1_000_000, 0));
    ledger.accept_recipient(&bad);
    broadcast(
        ledger
            .build_transaction(vec![transfer(2, 1), transfer(3, 1)], None, true, 0)
            .expect("accepted again"),
    );
}

#[test]
fn validate_address_answers_like_the_daemon() {
    let mut ledger = ledger(0);
    let good = address(2, Network::Devnet);
    let valid = ledger.validate_address(&good, false).expect("an address");
    assert_eq!(valid["is_valid"], true);
    assert_eq!(valid["is_integrated"], false);
    let mainnet = address(2, Network::Mainnet);
    let other = ledger
        .validate_address(&mainnet, false)
        .expect("an address");
    assert_eq!(other["is_valid"], false, "the other network's address");
    let error = ledger
        .validate_address("tst1notanaddress", false)
        .expect_err("not an address");
    assert_eq!(error.code, super::super::rpc::INVALID_PARAMS);
    ledger.set_address_invalid(&good);
    let chosen = ledger.validate_address(&good, false).expect("an address");
    assert_eq!(chosen["is_valid"], false, "chosen invalid");
    let still = ledger
        .validate_address(&address(4, Network::Devnet), false)
        .expect("an address");
    assert_eq!(still["is_valid"], true);
}
