//! [`UpstreamPool`]: daemon clients, their health, the background checks and
//! requests with failover.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tos_pool_common::clock::unix_ms;
use tos_pool_common::config::NodeConfig;

use super::error::UpstreamError;
use super::health::{StateChange, UpstreamHealth, active_index, failover_order};
use crate::rpc::{Balance, Block, BlockTemplate, DaemonClient, DaemonInfo, P2pStatus, RpcError};

/// One configured daemon.
#[derive(Debug)]
pub struct Upstream {
    name: String,
    weight: u32,
    client: DaemonClient,
}

impl Upstream {
    /// The name from the config, used in logs and the admin API.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The daemon's JSON-RPC URL.
    pub fn url(&self) -> &str {
        self.client.url()
    }

    /// Its weight: the heaviest healthy upstream is the active one.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// A client of this daemon.
    pub fn client(&self) -> &DaemonClient {
        &self.client
    }
}

/// One upstream as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamState {
    /// Name from the config.
    pub name: String,
    /// JSON-RPC URL.
    pub url: String,
    /// In rotation.
    pub healthy: bool,
    /// Failed health checks in a row.
    pub consecutive_failures: u32,
    /// The last failed check's error, cleared by a good check.
    pub last_error: Option<String>,
    /// When it was last checked, ms since the Unix epoch.
    pub last_check_ms: Option<u64>,
    /// Height at the last good check.
    pub height: Option<u64>,
    /// Configured weight.
    pub weight: u32,
    /// Whether this is the upstream in use.
    pub active: bool,
}

/// What `submit_block` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// The daemon's answer (`true`: accepted).
    pub accepted: bool,
    /// The upstream that answered.
    pub upstream: String,
}

#[derive(Debug)]
struct Status {
    health: UpstreamHealth,
    last_error: Option<String>,
    last_check_ms: Option<u64>,
    height: Option<u64>,
}

#[derive(Debug)]
struct Slot {
    upstream: Arc<Upstream>,
    status: Mutex<Status>,
}

impl Slot {
    fn status(&self) -> MutexGuard<'_, Status> {
        // A panic while holding this lock cannot leave a half-written Status
        // (every update is a few field stores), so a poisoned lock is usable.
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug)]
struct Shared {
    slots: Vec<Slot>,
    active: watch::Sender<Option<String>>,
}

/// The daemons of `node.upstreams`, health-checked in the background while
/// this value lives.
#[derive(Debug)]
pub struct UpstreamPool {
    shared: Arc<Shared>,
    checks: JoinHandle<()>,
}

impl Drop for UpstreamPool {
    fn drop(&mut self) {
        self.checks.abort();
    }
}

impl UpstreamPool {
    /// Builds the pool from `node.effective_upstreams()` and starts the health
    /// checks (the first round at once). Must run inside a Tokio runtime.
    pub fn start(node: &NodeConfig) -> Result<Arc<UpstreamPool>, UpstreamError> {
        let configs = node.effective_upstreams();
        if configs.is_empty() {
            return Err(UpstreamError::NoUpstreams);
        }
        let mut slots = Vec::with_capacity(configs.len());
        for config in configs {
            let client = DaemonClient::new(&config.url, config.timeout).map_err(|source| {
                UpstreamError::Invalid {
                    name: config.name.clone(),
                    source,
                }
            })?;
            slots.push(Slot {
                upstream: Arc::new(Upstream {
                    name: config.name,
                    weight: config.weight,
                    client,
                }),
                status: Mutex::new(Status {
                    health: UpstreamHealth::new(node.max_failures, node.recovery_threshold),
                    last_error: None,
                    last_check_ms: None,
                    height: None,
                }),
            });
        }
        let (active, _) = watch::channel(None);
        let shared = Arc::new(Shared { slots, active });
        shared.update_active();
        let checks = tokio::spawn(run_checks(shared.clone(), node.health_check_interval));
        Ok(Arc::new(UpstreamPool { shared, checks }))
    }

    /// The upstream in use: the heaviest healthy one; `None` when none is.
    pub fn active(&self) -> Option<Arc<Upstream>> {
        let index = active_index(&self.shared.candidates())?;
        Some(self.shared.slots[index].upstream.clone())
    }

    /// The name of the active upstream, updated as it changes.
    pub fn watch_active(&self) -> watch::Receiver<Option<String>> {
        self.shared.active.subscribe()
    }

    /// Every upstream's health, in config order.
    pub fn states(&self) -> Vec<UpstreamState> {
        let active = self.shared.active.borrow().clone();
        self.shared
            .slots
            .iter()
            .map(|slot| {
                let status = slot.status();
                let upstream = &slot.upstream;
                UpstreamState {
                    name: upstream.name.clone(),
                    url: upstream.url().to_string(),
                    healthy: status.health.is_healthy(),
                    consecutive_failures: status.health.consecutive_failures(),
                    last_error: status.last_error.clone(),
                    last_check_ms: status.last_check_ms,
                    height: status.height,
                    weight: upstream.weight,
                    active: active.as_deref() == Some(upstream.name.as_str()),
                }
            })
            .collect()
    }

    /// Runs one round of health checks now (the background task runs them
    /// every `health_check_interval` anyway).
    pub async fn check_now(&self) {
        self.shared.check_all().await;
    }

    /// Runs `request` on the active upstream; when it fails at the transport
    /// level (unreachable, timeout, HTTP error) tries the next upstream of
    /// [`failover_order`](super::failover_order). A daemon's JSON-RPC answer,
    /// error or not, ends the attempt. Returns the result and who gave it.
    pub async fn request<T, F, Fut>(&self, request: F) -> Result<(T, Arc<Upstream>), UpstreamError>
    where
        F: Fn(Arc<Upstream>) -> Fut,
        Fut: Future<Output = Result<T, RpcError>>,
    {
        let order = failover_order(&self.shared.candidates());
        let mut last = None;
        for &index in &order {
            let upstream = self.shared.slots[index].upstream.clone();
            match request(upstream.clone()).await {
                Ok(value) => return Ok((value, upstream)),
                Err(error) if error.is_transport() => {
                    tracing::warn!(upstream = %upstream.name, %error, "upstream request failed; trying the next upstream");
                    last = Some(error);
                }
                Err(source) => {
                    return Err(UpstreamError::Answered {
                        upstream: upstream.name.clone(),
                        source,
                    });
                }
            }
        }
        Err(match last {
            Some(last) => UpstreamError::Unreachable {
                tried: order.len(),
                last,
            },
            None => UpstreamError::NoUpstreams,
        })
    }

    /// `get_block_template` for `address`, and the upstream that gave it.
    pub async fn get_block_template(
        &self,
        address: &str,
    ) -> Result<(BlockTemplate, Arc<Upstream>), UpstreamError> {
        self.request(|u| async move { u.client().get_block_template(address).await })
            .await
    }

    /// `submit_block` on the active upstream, or on the next one when it
    /// cannot be reached (sending a block twice is harmless; losing it is not).
    pub async fn submit_block(
        &self,
        template_hex: &str,
        miner_work_hex: &str,
    ) -> Result<SubmitOutcome, UpstreamError> {
        let (accepted, upstream) = self
            .request(|u| async move { u.client().submit_block(template_hex, miner_work_hex).await })
            .await?;
        tracing::info!(upstream = %upstream.name, accepted, "block submitted");
        Ok(SubmitOutcome {
            accepted,
            upstream: upstream.name.clone(),
        })
    }

    /// `get_info` with failover.
    pub async fn get_info(&self) -> Result<DaemonInfo, UpstreamError> {
        Ok(self
            .request(|u| async move { u.client().get_info().await })
            .await?
            .0)
    }

    /// `get_block_by_hash` with failover.
    pub async fn get_block_by_hash(&self, hash: &str) -> Result<Block, UpstreamError> {
        Ok(self
            .request(|u| async move { u.client().get_block_by_hash(hash).await })
            .await?
            .0)
    }

    /// `get_blocks_at_height` with failover.
    pub async fn get_blocks_at_height(&self, height: u64) -> Result<Vec<Block>, UpstreamError> {
        Ok(self
            .request(|u| async move { u.client().get_blocks_at_height(height).await })
            .await?
            .0)
    }

    /// `get_top_block` with failover.
    pub async fn get_top_block(&self) -> Result<Block, UpstreamError> {
        Ok(self
            .request(|u| async move { u.client().get_top_block().await })
            .await?
            .0)
    }

    /// `get_height` with failover.
    pub async fn get_height(&self) -> Result<u64, UpstreamError> {
        Ok(self
            .request(|u| async move { u.client().get_height().await })
            .await?
            .0)
    }

    /// `p2p_status` with failover.
    pub async fn p2p_status(&self) -> Result<P2pStatus, UpstreamError> {
        Ok(self
            .request(|u| async move { u.client().p2p_status().await })
            .await?
            .0)
    }

    /// `get_balance` with failover.
    pub async fn get_balance(&self, address: &str) -> Result<Balance, UpstreamError> {
        Ok(self
            .request(|u| async move { u.client().get_balance(address).await })
            .await?
            .0)
    }
}

impl Shared {
    fn candidates(&self) -> Vec<(bool, u32)> {
        self.slots
            .iter()
            .map(|slot| (slot.status().health.is_healthy(), slot.upstream.weight))
            .collect()
    }

    /// Checks every upstream at once, then re-picks the active one.
    async fn check_all(&self) {
        futures_util::future::join_all(self.slots.iter().map(check)).await;
        self.update_active();
    }

    fn update_active(&self) {
        let name = active_index(&self.candidates()).map(|i| self.slots[i].upstream.name.clone());
        self.active.send_if_modified(|current| {
            if *current == name {
                return false;
            }
            match &name {
                Some(to) => {
                    tracing::info!(from = ?current, upstream = %to, "active upstream changed")
                }
                None => tracing::error!(from = ?current, "no healthy upstream daemon left"),
            }
            *current = name.clone();
            true
        });
    }
}

/// One health check of one upstream.
async fn check(slot: &Slot) {
    let result = slot.upstream.client.get_info().await;
    let mut status = slot.status();
    status.last_check_ms = Some(unix_ms());
    let change = match &result {
        Ok(info) => {
            status.height = Some(info.height);
            status.last_error = None;
            status.health.record(true)
        }
        Err(error) => {
            status.last_error = Some(error.to_string());
            status.health.record(false)
        }
    };
    let upstream = &slot.upstream;
    match (change, &result) {
        (Some(StateChange::WentDown), Err(error)) => tracing::warn!(
            upstream = %upstream.name,
            url = %upstream.url(),
            failures = status.health.consecutive_failures(),
            %error,
            "upstream out of rotation"
        ),
        (Some(StateChange::Recovered), _) => tracing::info!(
            upstream = %upstream.name,
            url = %upstream.url(),
            height = ?status.height,
            "upstream back in rotation"
        ),
        (None, Err(error)) => {
            tracing::debug!(upstream = %upstream.name, %error, "upstream health check failed")
        }
        _ => {}
    }
}

async fn run_checks(shared: Arc<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        shared.check_all().await;
    }
}
