//! The pool's counts read back through the master's REST API (docs/API.md):
//! `GET /api/stats` for the pool's totals, `GET /api/miners/{address}` for
//! one worker's.
//!
//! `/api/stats` is computed at most once per `api.stats_cache` and says when
//! in `updated_ms`. A read of the pool's totals therefore takes the first
//! answer's `updated_ms` and polls until an answer carries another one: that
//! value was computed after the read began, whatever the cache's length and
//! without comparing this machine's clock with the master's. A read takes up
//! to one `api.stats_cache`. `/api/miners/{address}` is not cached; its 404
//! (the pool knows nothing of the address) reads as zero counts.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::LoadError;
use super::readback::{CountsFuture, PoolCounts, ShareTotals};

/// Longest wait for one HTTP answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two reads of `/api/stats` while waiting for a fresh value.
const STATS_POLL: Duration = Duration::from_millis(100);
/// Longest wait for `/api/stats` to be computed again (the default
/// `api.stats_cache` is 5 s).
const FRESH_STATS_DEADLINE: Duration = Duration::from_secs(120);

/// The master's REST API as the source of the pool's counts.
#[derive(Debug, Clone)]
pub struct ApiCounts {
    client: reqwest::Client,
    /// `http://HOST:PORT`, without a trailing slash.
    base: String,
}

impl ApiCounts {
    /// A reader of the API at `base_url` (`http://HOST:PORT`, the master's
    /// `api.bind`; `https://` works too).
    pub fn new(base_url: &str) -> Result<ApiCounts, LoadError> {
        let base = base_url.trim().trim_end_matches('/');
        let bad = |why: String| LoadError::Endpoint {
            url: base_url.to_owned(),
            why,
        };
        let url = reqwest::Url::parse(base)
            .map_err(|error| bad(format!("{error}; write http://HOST:PORT")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(
                "the master's API is http://HOST:PORT (or https://)".to_owned()
            ));
        }
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race to another installer is fine: a provider is set.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| LoadError::Tls(format!("the HTTP client: {error}")))?;
        Ok(ApiCounts {
            client,
            base: base.to_owned(),
        })
    }

    /// The API's base URL, as used.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// GETs `url`: the status and the body, or why neither came.
    async fn get(&self, url: &str) -> Result<(u16, String), LoadError> {
        let failed = |why: String| LoadError::ReadBack {
            url: url.to_owned(),
            status: None,
            why,
        };
        let response = self.client.get(url).send().await.map_err(|error| {
            failed(format!(
                "no answer ({error}): check --api and the master's api.enabled / api.bind"
            ))
        })?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|error| LoadError::ReadBack {
            url: url.to_owned(),
            status: Some(status),
            why: format!("the body could not be read: {error}"),
        })?;
        Ok((status, body))
    }

    /// One read of `/api/stats`.
    async fn stats_once(&self, url: &str) -> Result<PoolStats, LoadError> {
        let (status, body) = self.get(url).await?;
        if status != 200 {
            return Err(refused(url, status, &body));
        }
        parse_stats(&body).map_err(|why| LoadError::ReadBack {
            url: url.to_owned(),
            status: Some(status),
            why,
        })
    }

    /// The pool's totals from a `/api/stats` computed after this call began.
    async fn fresh_pool(&self) -> Result<ShareTotals, LoadError> {
        let url = format!("{}/api/stats", self.base);
        let first = self.stats_once(&url).await?;
        let deadline = Instant::now() + FRESH_STATS_DEADLINE;
        loop {
            tokio::time::sleep(STATS_POLL).await;
            let next = self.stats_once(&url).await?;
            if next.updated_ms != first.updated_ms {
                return Ok(next.shares);
            }
            if Instant::now() >= deadline {
                return Err(LoadError::ReadBack {
                    url,
                    status: Some(200),
                    why: format!(
                        "the stats stayed those computed at {} ms for {} s: lower the master's api.stats_cache",
                        first.updated_ms,
                        FRESH_STATS_DEADLINE.as_secs()
                    ),
                });
            }
        }
    }

    /// One worker's counts from `/api/miners/{address}`.
    async fn worker_counts(&self, address: &str, worker: &str) -> Result<ShareTotals, LoadError> {
        let url = format!("{}/api/miners/{address}", self.base);
        let (status, body) = self.get(&url).await?;
        match status {
            200 => parse_worker(&body, worker).map_err(|why| LoadError::ReadBack {
                url,
                status: Some(status),
                why,
            }),
            404 => Ok(ShareTotals::default()),
            _ => Err(refused(&url, status, &body)),
        }
    }
}

impl PoolCounts for ApiCounts {
    fn pool(&self) -> CountsFuture<'_> {
        Box::pin(self.fresh_pool())
    }

    fn worker<'a>(&'a self, address: &'a str, worker: &'a str) -> CountsFuture<'a> {
        Box::pin(self.worker_counts(address, worker))
    }

    fn source(&self) -> String {
        format!("the master's API at {}", self.base)
    }
}

/// The error for an answer that is not a success, with the API's own
/// `{"error": …}` reason when it gave one.
fn refused(url: &str, status: u16, body: &str) -> LoadError {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    let why = match serde_json::from_str::<ErrorBody>(body) {
        Ok(answer) => answer.error,
        Err(_) => {
            let start: String = body.chars().take(200).collect();
            format!("unexpected answer: {start:?}")
        }
    };
    LoadError::ReadBack {
        url: url.to_owned(),
        status: Some(status),
        why,
    }
}

/// `{valid, invalid, stale}` as the API writes share counts.
#[derive(Debug, Deserialize)]
struct Shares {
    valid: u64,
    invalid: u64,
    stale: u64,
}

impl From<Shares> for ShareTotals {
    fn from(shares: Shares) -> ShareTotals {
        ShareTotals {
            valid: shares.valid,
            invalid: shares.invalid,
            stale: shares.stale,
        }
    }
}

/// What the read-back needs of `/api/stats`.
#[derive(Debug, PartialEq, Eq)]
struct PoolStats {
    shares: ShareTotals,
    updated_ms: u64,
}

fn parse_stats(body: &str) -> Result<PoolStats, String> {
    #[derive(Deserialize)]
    struct Stats {
        pool: Pool,
        updated_ms: u64,
    }
    #[derive(Deserialize)]
    struct Pool {
        shares: Shares,
    }
    let stats: Stats = serde_json::from_str(body)
        .map_err(|error| format!("not the stats of docs/API.md ({error})"))?;
    Ok(PoolStats {
        shares: stats.pool.shares.into(),
        updated_ms: stats.updated_ms,
    })
}

/// `worker`'s counts in a `/api/miners/{address}` answer (zero when the
/// miner has no such worker).
fn parse_worker(body: &str, worker: &str) -> Result<ShareTotals, String> {
    #[derive(Deserialize)]
    struct Miner {
        workers: Vec<Worker>,
    }
    #[derive(Deserialize)]
    struct Worker {
        name: String,
        shares: Shares,
    }
    let miner: Miner = serde_json::from_str(body)
        .map_err(|error| format!("not a miner of docs/API.md ({error})"))?;
    Ok(miner
        .workers
        .into_iter()
        .find(|w| w.name == worker)
        .map(|w| w.shares.into())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/api/stats` as docs/API.md shows it.
    const STATS: &str = r#"{
      "pool": {
        "hashrate": 199.94778161912993, "hashrate_large": 10.370716964779367,
        "miners": 2, "miners_total": 2, "workers": 2, "sessions": 2, "slaves": 2,
        "shares": { "valid": 84, "invalid": 3, "stale": 7 },
        "last_share_ms": 1795475391152, "blocks_found": 19,
        "blocks": { "total": 34, "candidate": 3, "immature": 5, "matured": 11, "orphaned": 0, "refused": 15 },
        "fee_percent": 1.0,
        "last_block": { "hash": "1a3a", "height": 45, "found_at_ms": 1795475391152,
          "finder": "tst1q", "state": "candidate", "reward": 87738037, "reward_final": false,
          "block_type": null, "network_difficulty": 3000 }
      },
      "network": { "height": 45, "difficulty": "3000", "hashrate": 3000.0,
        "block_time_target_ms": 1000, "upstream": "primary", "error": null },
      "updated_ms": 1795475391360
    }"#;

    /// `/api/miners/{address}` as docs/API.md shows it, with two workers.
    const MINER: &str = r#"{
      "address": "tst1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqsqvdcezd",
      "hashrate": 116.44, "hashrate_large": 6.06,
      "shares": { "valid": 50, "invalid": 2, "stale": 1 },
      "last_share_ms": 1795475393741, "workers_online": 2, "workers_total": 2,
      "balances": { "immature": 199967709, "confirmed": 516734050, "pending": 0, "paid": 0 },
      "workers": [
        { "name": "demo0", "hashrate": 116.44, "hashrate_large": 6.06,
          "shares": { "valid": 46, "invalid": 0, "stale": 1 }, "last_seen_ms": 1795475393741 },
        { "name": "demo1", "hashrate": 1.0, "hashrate_large": 0.5,
          "shares": { "valid": 4, "invalid": 2, "stale": 0 }, "last_seen_ms": null }
      ],
      "payments": [], "payments_total": 0
    }"#;

    #[test]
    fn reads_the_pool_shares_and_when_they_were_computed() {
        let stats = parse_stats(STATS).expect("the documented shape");
        assert_eq!(stats.shares, ShareTotals::new(84, 3, 7));
        assert_eq!(stats.updated_ms, 1_795_475_391_360);
    }

    #[test]
    fn reads_one_workers_shares_and_zero_for_an_unknown_worker() {
        assert_eq!(parse_worker(MINER, "demo0"), Ok(ShareTotals::new(46, 0, 1)));
        assert_eq!(parse_worker(MINER, "demo1"), Ok(ShareTotals::new(4, 2, 0)));
        assert_eq!(parse_worker(MINER, "rig"), Ok(ShareTotals::default()));
    }

    #[test]
    fn a_wrong_shape_is_an_error_not_zero() {
        assert!(parse_stats(r#"{"pool": {"shares": {"valid": 1}}, "updated_ms": 1}"#).is_err());
        assert!(parse_stats("[]").is_err());
        assert!(parse_worker(r#"{"workers": [{"name": "a"}]}"#, "a").is_err());
        assert!(parse_worker("not json", "a").is_err());
    }

    #[test]
    fn an_error_answer_keeps_the_url_the_status_and_the_apis_reason() {
        let error = refused(
            "http://127.0.0.1:8000/api/miners/tst1bad",
            400,
            r#"{"error": "\"tst1bad\" is not a devnet address"}"#,
        );
        match &error {
            LoadError::ReadBack { url, status, why } => {
                assert_eq!(url, "http://127.0.0.1:8000/api/miners/tst1bad");
                assert_eq!(*status, Some(400));
                assert_eq!(why, "\"tst1bad\" is not a devnet address");
            }
            other => panic!("unexpected error {other:?}"),
        }
        let text = error.to_string();
        assert!(text.contains("HTTP 400"), "{text}");
        assert!(text.contains("/api/miners/tst1bad"), "{text}");
        let plain = refused("http://h/api/stats", 502, "<html>bad gateway</html>");
        assert!(plain.to_string().contains("bad gateway"), "{plain}");
    }

    /// A stand-in for the master's API: `/api/stats` keeps its first value
    /// (computed at 1000 ms, 5 valid shares) for the first three reads, then
    /// serves a new one (2000 ms, 9 valid); `/api/miners/{address}` is the
    /// documented miner, a 404 for `tst1unknown` and a 400 for `tst1bad`.
    async fn stand_in_api() -> String {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};

        use axum::extract::Path;
        use axum::http::StatusCode;
        use axum::routing::get;

        let reads = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new()
            .route(
                "/api/stats",
                get(move || async move {
                    let (valid, at) = if reads.fetch_add(1, Ordering::SeqCst) < 3 {
                        (5, 1000)
                    } else {
                        (9, 2000)
                    };
                    format!(
                        r#"{{"pool": {{"shares": {{"valid": {valid}, "invalid": 1, "stale": 2}}}}, "updated_ms": {at}}}"#
                    )
                }),
            )
            .route(
                "/api/miners/{address}",
                get(|Path(address): Path<String>| async move {
                    match address.as_str() {
                        "tst1unknown" => (StatusCode::NOT_FOUND, r#"{"error": "no share"}"#.to_owned()),
                        "tst1bad" => (StatusCode::BAD_REQUEST, r#"{"error": "not an address"}"#.to_owned()),
                        _ => (StatusCode::OK, MINER.to_owned()),
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn the_pool_is_read_from_stats_computed_after_the_read_began() {
        let api = ApiCounts::new(&stand_in_api().await).expect("the URL");
        assert_eq!(
            api.pool().await.expect("fresh stats"),
            ShareTotals::new(9, 1, 2)
        );
        assert_eq!(
            api.worker("tst1known", "demo1").await.expect("a worker"),
            ShareTotals::new(4, 2, 0)
        );
        assert_eq!(
            api.worker("tst1unknown", "demo0").await.expect("a 404"),
            ShareTotals::default()
        );
        match api.worker("tst1bad", "demo0").await {
            Err(LoadError::ReadBack { url, status, why }) => {
                assert!(url.ends_with("/api/miners/tst1bad"), "{url}");
                assert_eq!(status, Some(400));
                assert_eq!(why, "not an address");
            }
            other => panic!("expected a read-back error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_an_error_naming_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        drop(listener);
        let api = ApiCounts::new(&format!("http://{addr}")).expect("the URL");
        match api.pool().await {
            Err(LoadError::ReadBack { url, status, .. }) => {
                assert_eq!(url, format!("http://{addr}/api/stats"));
                assert_eq!(status, None);
            }
            other => panic!("expected a read-back error, got {other:?}"),
        }
    }

    #[test]
    fn the_base_url_must_be_http_with_a_host() {
        let api = ApiCounts::new("http://127.0.0.1:8000/").expect("a good URL");
        assert_eq!(api.base_url(), "http://127.0.0.1:8000");
        assert_eq!(api.source(), "the master's API at http://127.0.0.1:8000");
        assert!(ApiCounts::new("127.0.0.1:8000").is_err());
        assert!(ApiCounts::new("redis://127.0.0.1:6379").is_err());
        assert!(ApiCounts::new("http://").is_err());
    }
}
