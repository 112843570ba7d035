//! A small JSON-RPC 2.0 client over plain HTTP/1.1 (hyper's connection API):
//! the wallet emulator uses it to ask its daemon for the topoheight, and tests
//! use it to talk to the emulators. One connection per call, a deadline on the
//! whole exchange, optional HTTP Basic auth.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Default deadline of one call.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcClientError {
    /// The URL is not `http://host:port/path`.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No answer within the deadline (the request may still have been served).
    #[error(
        "no reply from {url} within {timeout:?}; the request may or may not have been carried out"
    )]
    Timeout {
        /// Where the request went.
        url: String,
        /// The deadline.
        timeout: Duration,
    },
    /// Connecting or the HTTP exchange failed.
    #[error("HTTP exchange with {url} failed: {reason}; is the server running?")]
    Transport {
        /// Where the request went.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an HTTP status other than 200.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        /// Where the request went.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// The reply is not a JSON-RPC 2.0 response.
    #[error("{url} sent a reply that is not a JSON-RPC 2.0 response: {reason}")]
    InvalidResponse {
        /// Where the request went.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server answered with a JSON-RPC error object.
    #[error("JSON-RPC error {code}: {message}")]
    Rpc {
        /// The error code.
        code: i64,
        /// The server's message.
        message: String,
    },
}

/// An HTTP reply: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A JSON-RPC client of one `http://host:port/path` endpoint.
#[derive(Debug)]
pub struct RpcClient {
    url: String,
    host: String,
    port: u16,
    path: String,
    authorization: Option<String>,
    timeout: Duration,
    next_id: AtomicU64,
}

impl RpcClient {
    /// A client of `url` (`http://host[:port][/path]`) with a 5 s deadline.
    pub fn new(url: &str) -> Result<RpcClient, RpcClientError> {
        let invalid = |reason| RpcClientError::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let (host, port) = split_authority(authority).ok_or_else(|| invalid("bad host or port"))?;
        Ok(RpcClient {
            url: url.to_string(),
            host,
            port,
            path: path.to_string(),
            authorization: None,
            timeout: DEFAULT_TIMEOUT,
            next_id: AtomicU64::new(1),
        })
    }

    /// Sends HTTP Basic credentials with every request.
    pub fn with_basic_auth(mut self, username: &str, password: &str) -> RpcClient {
        self.authorization = Some(basic_authorization(username, password));
        self
    }

    /// Sets the deadline of one call (connect, send and the whole reply).
    pub fn with_timeout(mut self, timeout: Duration) -> RpcClient {
        self.timeout = timeout;
        self
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` (omitted when `None`) and returns `result`.
    pub async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, RpcClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let Some(params) = params {
            request["params"] = params;
        }
        let reply = self.post_json(&self.path, &request).await?;
        let invalid = |reason: String| RpcClientError::InvalidResponse {
            url: self.url.clone(),
            reason,
        };
        if reply.status != 200 {
            return Err(RpcClientError::Status {
                url: self.url.clone(),
                status: reply.status,
                body: String::from_utf8_lossy(&reply.body).into_owned(),
            });
        }
        let mut response: Value = serde_json::from_slice(&reply.body)
            .map_err(|error| invalid(format!("not JSON: {error}")))?;
        if response.get("id") != Some(&json!(id)) {
            return Err(invalid(format!("id is not {id}: {response}")));
        }
        if let Some(error) = response.get("error") {
            return Err(RpcClientError::Rpc {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        response
            .get_mut("result")
            .map(Value::take)
            .ok_or_else(|| invalid(format!("neither result nor error: {response}")))
    }

    /// POSTs a JSON body to `path` on the same host and returns the raw reply.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<HttpReply, RpcClientError> {
        self.send(Method::POST, path, Bytes::from(body.to_string()))
            .await
    }

    /// POSTs raw bytes as JSON to `path` on the same host (for malformed-input tests).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Result<HttpReply, RpcClientError> {
        self.send(Method::POST, path, Bytes::from(body)).await
    }

    /// GETs `path` on the same host and returns the raw reply.
    pub async fn get(&self, path: &str) -> Result<HttpReply, RpcClientError> {
        self.send(Method::GET, path, Bytes::new()).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<HttpReply, RpcClientError> {
        tokio::time::timeout(self.timeout, self.exchange(method, path, body))
            .await
            .map_err(|_| RpcClientError::Timeout {
                url: self.url.clone(),
                timeout: self.timeout,
            })?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<HttpReply, RpcClientError> {
        let transport = |reason: String| RpcClientError::Transport {
            url: self.url.clone(),
            reason,
        };
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|error| transport(format!("connect: {error}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| transport(format!("handshake: {error}")))?;
        // Aborted when this call ends (or is dropped at the deadline), which
        // closes the socket.
        let connection = AbortOnDrop(tokio::spawn(connection));
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|error| transport(format!("request: {error}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| transport(format!("request: {error}")))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| transport(format!("reading the body: {error}")))?
            .to_bytes()
            .to_vec();
        drop(connection);
        Ok(HttpReply { status, body })
    }
}

/// The `Authorization` header value for HTTP Basic credentials.
pub fn basic_authorization(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn split_authority(authority: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        (&rest[..end], rest[end + 1..].strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => 80,
    };
    Some((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let client = RpcClient::new("http://127.0.0.1:18080/json_rpc").expect("valid URL");
        assert_eq!(
            (client.host.as_str(), client.port, client.path.as_str()),
            ("127.0.0.1", 18080, "/json_rpc")
        );
        let client = RpcClient::new("http://localhost").expect("valid URL");
        assert_eq!(
            (client.host.as_str(), client.port, client.path.as_str()),
            ("localhost", 80, "/")
        );
        let client = RpcClient::new("http://[::1]:8080/x").expect("valid URL");
        assert_eq!((client.host.as_str(), client.port), ("::1", 8080));
        assert!(RpcClient::new("https://example:1/").is_err());
        assert!(RpcClient::new("http://host:notaport/").is_err());
        assert!(RpcClient::new("http://:80/").is_err());
    }

    #[test]
    fn basic_authorization_is_base64_of_user_colon_password() {
        assert_eq!(basic_authorization("user", "pass"), "Basic dXNlcjpwYXNz");
        assert_eq!(basic_authorization("", ""), "Basic Og==");
    }
}
