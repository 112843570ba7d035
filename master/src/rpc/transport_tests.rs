//! The HTTP transport against a tiny scripted JSON-RPC server on 127.0.0.1:
//! connection reuse and every way a reply can be wrong.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::{HttpTransport, RpcError};

/// How the server answers a request (given its id).
type Script = fn(u64) -> (u16, String);

/// Serves `script` on a free port; returns the URL and the connection count.
async fn serve(script: Script) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(answer_all(stream, script));
        }
    });
    (format!("http://{addr}/json_rpc"), connections)
}

/// Answers every request on one keep-alive connection.
async fn answer_all(stream: TcpStream, script: Script) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (status, reply) = script(request["id"].as_u64().unwrap_or(0));
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if reader
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

fn transport(url: &str) -> HttpTransport {
    HttpTransport::new(url, Duration::from_secs(5)).expect("valid URL")
}

#[tokio::test]
async fn calls_reuse_one_kept_alive_connection() {
    let (url, connections) = serve(|id| {
        (
            200,
            json!({"jsonrpc":"2.0","id":id,"result":{"height":id}}).to_string(),
        )
    })
    .await;
    let client = transport(&url);
    for _ in 0..5 {
        let result: Value = client.call("get_info", ()).await.expect("a good reply");
        assert!(result["height"].as_u64().is_some());
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_json_rpc_error_is_typed() {
    let (url, _) = serve(|id| {
        let error = json!({"code": -32602, "message": "Invalid params: unknown hash"});
        (
            200,
            json!({"jsonrpc":"2.0","id":id,"error":error}).to_string(),
        )
    })
    .await;
    let error = transport(&url)
        .call::<_, Value>("get_block_by_hash", json!({"hash": "00"}))
        .await
        .expect_err("an error object");
    assert_eq!(error.rpc_code(), Some(-32602));
    assert!(error.to_string().contains("unknown hash"), "{error}");
}

#[tokio::test]
async fn http_errors_and_unreadable_replies_are_typed() {
    let (url, _) = serve(|_| (503, "overloaded".to_string())).await;
    let error = transport(&url)
        .call::<_, Value>("get_info", ())
        .await
        .expect_err("HTTP 503");
    assert!(
        matches!(&error, RpcError::HttpStatus { status: 503, body, .. } if body == "overloaded"),
        "{error}"
    );

    let (url, _) = serve(|_| (200, "<html>".to_string())).await;
    let error = transport(&url)
        .call::<_, Value>("get_info", ())
        .await
        .expect_err("not JSON");
    assert!(matches!(error, RpcError::BadResponse { .. }), "{error}");

    let (url, _) = serve(|id| {
        (
            200,
            json!({"jsonrpc":"2.0","id":id + 1,"result":1}).to_string(),
        )
    })
    .await;
    let error = transport(&url)
        .call::<_, Value>("get_info", ())
        .await
        .expect_err("wrong id");
    assert!(matches!(error, RpcError::BadResponse { .. }), "{error}");

    let (url, _) = serve(|id| {
        (
            200,
            json!({"jsonrpc":"2.0","id":id,"result":"high"}).to_string(),
        )
    })
    .await;
    let error = transport(&url)
        .call::<_, u64>("get_height", ())
        .await
        .expect_err("wrong result type");
    assert!(matches!(error, RpcError::BadResponse { .. }), "{error}");
}
