//! JSON-RPC 2.0 over HTTP POST to one URL: hyper's pooled HTTP/1.1 client
//! (connections are kept alive and reused), a deadline on every exchange, a cap
//! on the reply size. Usable for any JSON-RPC server (daemon or wallet).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tos_pool_common::error::chain;

use super::envelope::{self, Reply};
use super::error::RpcError;

/// Largest reply body read (a block list with transactions stays far below).
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// Idle keep-alive connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Characters of a non-JSON body quoted in an error.
const EXCERPT_CHARS: usize = 200;

/// A JSON-RPC client of one `http://host:port/path` endpoint. Cheap to clone;
/// clones share the connection pool and the request id counter.
#[derive(Clone)]
pub struct HttpTransport {
    url: String,
    uri: Uri,
    timeout: Duration,
    authorization: Option<HeaderValue>,
    client: Client<HttpConnector, Full<Bytes>>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A client of `url` (`http://` only; put a TLS-terminating proxy in front
    /// of an `https://` daemon) with `timeout` on every request.
    pub fn new(url: &str, timeout: Duration) -> Result<HttpTransport, RpcError> {
        let invalid = |reason: &str| RpcError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|error| invalid(&format!("not a URL ({error})")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(invalid("https is not supported")),
            _ => return Err(invalid("the scheme must be http://")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if timeout.is_zero() {
            return Err(invalid("the request timeout must be greater than zero"));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(HttpTransport {
            url: url.to_string(),
            uri,
            timeout,
            authorization: None,
            client,
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// Sends `value` as the `Authorization` header of every request (e.g.
    /// `Basic …` for a wallet RPC).
    pub fn with_authorization(mut self, value: &str) -> Result<HttpTransport, RpcError> {
        let header = HeaderValue::from_str(value).map_err(|_| RpcError::InvalidUrl {
            url: self.url.clone(),
            reason: "the authorization value has characters not allowed in a header".into(),
        })?;
        self.authorization = Some(header);
        Ok(self)
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The deadline of one request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Calls `method` with `params` (anything serializing to `null`, such as
    /// `()`, sends no `params`) and reads the result as `R`.
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: P,
    ) -> Result<R, RpcError> {
        let value = self.call_value(method, params).await?;
        serde_json::from_value(value).map_err(|error| RpcError::BadResponse {
            url: self.url.clone(),
            method: method.to_string(),
            reason: format!("unexpected result shape: {error}"),
        })
    }

    /// Calls `method` and returns the raw `result`.
    pub async fn call_value<P: Serialize>(
        &self,
        method: &str,
        params: P,
    ) -> Result<Value, RpcError> {
        let params = serde_json::to_value(params).map_err(|error| RpcError::Encode {
            method: method.to_string(),
            reason: error.to_string(),
        })?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = envelope::request(id, method, params).to_string();
        let exchange = self.exchange(method, body);
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| RpcError::Timeout {
                url: self.url.clone(),
                method: method.to_string(),
                timeout: self.timeout,
            })??;
        if !(200..300).contains(&status) {
            return Err(RpcError::HttpStatus {
                url: self.url.clone(),
                method: method.to_string(),
                status,
                body: envelope::body_excerpt(&bytes, EXCERPT_CHARS),
            });
        }
        let bad = |reason: String| RpcError::BadResponse {
            url: self.url.clone(),
            method: method.to_string(),
            reason,
        };
        match envelope::parse_reply(&bytes, Some(id)).map_err(bad)? {
            Reply::Result(value) => Ok(value),
            Reply::Error { code, message } => Err(RpcError::Rpc {
                url: self.url.clone(),
                method: method.to_string(),
                code,
                message,
            }),
        }
    }

    /// One POST: the status and the whole (bounded) body.
    async fn exchange(&self, method: &str, body: String) -> Result<(u16, Bytes), RpcError> {
        let transport = |reason: String| RpcError::Transport {
            url: self.url.clone(),
            method: method.to_string(),
            reason,
        };
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(authorization) = &self.authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| transport(format!("cannot build the request: {error}")))?;
        let response = self.client.request(request).await.map_err(|error| {
            // "connection refused" sits deep inside hyper's error. A failed
            // connect means the request never left: callers that must know
            // whether a server may have acted (payouts) rely on the variant.
            if error.is_connect() {
                RpcError::Connect {
                    url: self.url.clone(),
                    method: method.to_string(),
                    reason: chain(&error),
                }
            } else {
                transport(chain(&error))
            }
        })?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|error| {
                transport(format!(
                    "reading the reply failed ({error}); replies are capped at {MAX_REPLY_BYTES} bytes"
                ))
            })?
            .to_bytes();
        Ok((status, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_with_a_host_are_taken() {
        let timeout = Duration::from_secs(1);
        assert!(HttpTransport::new("http://127.0.0.1:8080/json_rpc", timeout).is_ok());
        for url in [
            "https://node:8080/json_rpc",
            "ws://node:8080/json_rpc",
            "node:8080/json_rpc",
            "http:///json_rpc",
            "not a url",
        ] {
            assert!(
                matches!(
                    HttpTransport::new(url, timeout),
                    Err(RpcError::InvalidUrl { .. })
                ),
                "{url}"
            );
        }
        assert!(HttpTransport::new("http://node/json_rpc", Duration::ZERO).is_err());
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("bound").port();
        drop(listener);
        let transport = HttpTransport::new(
            &format!("http://127.0.0.1:{port}/json_rpc"),
            Duration::from_secs(5),
        )
        .expect("valid URL");
        let error = transport
            .call::<_, Value>("get_info", ())
            .await
            .expect_err("nothing listens there");
        assert!(matches!(error, RpcError::Connect { .. }), "{error}");
        assert!(error.is_transport());
    }
}
