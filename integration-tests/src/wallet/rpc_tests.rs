use serde_json::json;
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;

use super::*;
use crate::wallet::ledger::FeePolicy;

const CHAIN: ChainView = ChainView {
    topoheight: 5,
    online: true,
    confirmations: 2,
};

fn ledger() -> Ledger {
    Ledger::new(
        Network::Devnet,
        Address::new([1; 32], Network::Devnet).to_string(),
        1_000_000,
        FeePolicy::default(),
    )
}

fn serve(ledger: &mut Ledger, chain: ChainView, body: &str) -> Reply {
    match Request::parse(body.as_bytes()) {
        Ok(request) => handle(ledger, chain, request),
        Err(reply) => Reply::Send(reply),
    }
}

fn send(ledger: &mut Ledger, chain: ChainView, body: Value) -> Value {
    match serve(ledger, chain, &body.to_string()) {
        Reply::Send(value) => value,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn error_code(reply: &Value) -> i64 {
    reply["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {reply}"))
}

fn build_request(amount: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "build_transaction", "params": {
        "transfers": [{"asset": TOS_ASSET, "amount": amount,
            "destination": Address::new([2; 32], Network::Devnet).to_string(), "extra_data": null}],
        "fee": {"multiplier": 1.0}, "broadcast": true, "tx_as_hex": false}})
}

#[test]
fn envelope_errors() {
    let mut ledger = ledger();
    let reply = |ledger: &mut Ledger, body: &str| match serve(ledger, CHAIN, body) {
        Reply::Send(value) => value,
        other => panic!("expected a reply, got {other:?}"),
    };
    assert_eq!(error_code(&reply(&mut ledger, "{not json")), PARSE_ERROR);
    assert_eq!(error_code(&reply(&mut ledger, "[]")), INVALID_REQUEST);
    let old = reply(
        &mut ledger,
        r#"{"jsonrpc":"1.0","id":4,"method":"get_nonce"}"#,
    );
    assert_eq!((error_code(&old), &old["id"]), (INVALID_REQUEST, &json!(4)));
    assert_eq!(
        error_code(&reply(&mut ledger, r#"{"jsonrpc":"2.0","id":1}"#)),
        INVALID_REQUEST
    );
    let unknown = reply(&mut ledger, r#"{"jsonrpc":"2.0","id":"a","method":"nope"}"#);
    assert_eq!(
        (error_code(&unknown), &unknown["id"]),
        (METHOD_NOT_FOUND, &json!("a"))
    );
    let bad = reply(
        &mut ledger,
        r#"{"jsonrpc":"2.0","id":1,"method":"get_transaction","params":{"hash":5}}"#,
    );
    assert_eq!(error_code(&bad), INVALID_PARAMS);
}

#[test]
fn simple_methods() {
    let mut ledger = ledger();
    let call = |ledger: &mut Ledger, method: &str, params: Value| {
        send(
            ledger,
            CHAIN,
            json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}),
        )["result"]
            .clone()
    };
    assert_eq!(
        call(&mut ledger, "get_balance", Value::Null),
        json!(1_000_000)
    );
    assert_eq!(
        call(&mut ledger, "get_balance", json!({"asset": TOS_ASSET})),
        json!(1_000_000)
    );
    assert_eq!(
        call(
            &mut ledger,
            "get_balance",
            json!({"asset": "ab".repeat(32)})
        ),
        json!(0)
    );
    assert_eq!(
        call(&mut ledger, "get_address", Value::Null),
        json!(ledger.address())
    );
    assert_eq!(call(&mut ledger, "get_nonce", Value::Null), json!(0));
    assert_eq!(call(&mut ledger, "is_online", Value::Null), json!(true));
    let transfers = build_request(1)["params"]["transfers"].clone();
    assert_eq!(
        call(
            &mut ledger,
            "estimate_fees",
            json!({"transfers": transfers})
        ),
        json!(1_001)
    );
}

#[test]
fn build_then_get_transaction_until_confirmed() {
    let mut ledger = ledger();
    let built = send(&mut ledger, CHAIN, build_request(500));
    let hash = built["result"]["hash"]
        .as_str()
        .expect("a hash")
        .to_string();
    assert_eq!(built["result"]["fee"], json!(1_001));
    assert_eq!(
        built["result"]["data"]["transfers"][0]["amount"],
        json!(500)
    );
    assert_eq!(ledger.balance(), 1_000_000 - 500 - 1_001);

    let get =
        json!({"jsonrpc": "2.0", "id": 2, "method": "get_transaction", "params": {"hash": hash}});
    let pending = send(
        &mut ledger,
        ChainView {
            topoheight: 6,
            ..CHAIN
        },
        get.clone(),
    );
    assert_eq!(pending["result"]["in_mempool"], json!(true));
    assert_eq!(pending["result"]["topoheight"], Value::Null);
    let confirmed = send(
        &mut ledger,
        ChainView {
            topoheight: 7,
            ..CHAIN
        },
        get,
    );
    assert_eq!(confirmed["result"]["in_mempool"], json!(false));
    assert_eq!(confirmed["result"]["topoheight"], json!(7));
    assert_eq!(
        confirmed["result"]["entry"]["outgoing"]["transfers"][0]["amount"],
        json!(500)
    );

    let missing = send(
        &mut ledger,
        CHAIN,
        json!({"jsonrpc": "2.0", "id": 3, "method": "get_transaction",
        "params": {"hash": "00".repeat(32)}}),
    );
    assert_eq!(error_code(&missing), WALLET_ERROR);
}

#[test]
fn offline_wallet_broadcasts_nothing() {
    let mut ledger = ledger();
    let offline = ChainView {
        online: false,
        ..CHAIN
    };
    let reply = send(&mut ledger, offline, build_request(1));
    assert_eq!(error_code(&reply), WALLET_ERROR);
    assert!(ledger.transactions().is_empty());
}

#[test]
fn notification_gets_no_reply_and_lost_reply_is_signalled() {
    let mut ledger = ledger();
    let mut notification = build_request(1);
    notification
        .as_object_mut()
        .map(|object| object.remove("id"));
    assert_eq!(
        serve(&mut ledger, CHAIN, &notification.to_string()),
        Reply::Nothing
    );
    assert_eq!(ledger.transactions().len(), 1);

    ledger.set_fault(crate::wallet::ledger::Fault::BroadcastThenLoseReply, 1);
    assert_eq!(
        serve(&mut ledger, CHAIN, &build_request(1).to_string()),
        Reply::Lose
    );
    assert_eq!(ledger.transactions().len(), 2);
}

#[test]
fn validate_address_and_an_error_after_the_broadcast_over_rpc() {
    let mut ledger = ledger();
    let address = Address::new([2; 32], Network::Devnet).to_string();
    let reply = send(
        &mut ledger,
        CHAIN,
        json!({"jsonrpc": "2.0", "id": 1, "method": "validate_address", "params": {"address": address}}),
    );
    assert_eq!(reply["result"]["is_valid"], true, "{reply}");
    ledger.set_fault(crate::wallet::ledger::Fault::BroadcastThenError, 1);
    let reply = send(&mut ledger, CHAIN, build_request(1));
    assert_eq!(error_code(&reply), WALLET_ERROR);
    assert_eq!(ledger.transactions().len(), 1, "broadcast all the same");
}
