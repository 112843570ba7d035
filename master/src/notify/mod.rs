//! Operator notifications (`notify.*`): Discord and Telegram messages when a
//! block is found, a block is orphaned or a payment is sent.
//!
//! [`Notifier::notify`] never waits: it puts the notification in a bounded
//! queue ([`QUEUE_CAPACITY`]) and returns; when the queue is full the
//! notification is dropped and counted, so accounting is never held up. One
//! background task drains the queue, sending each message to every target
//! with a timeout per request and capped retries ([`delivery`]). The text
//! is made by plain functions ([`format`](mod@format)).

pub mod delivery;
pub mod format;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tos_pool_common::config::NotifyConfig;
use tos_pool_common::network::Network;
use tos_pool_common::shutdown::Shutdown;

use delivery::{Outcome, Target, deliver};

/// Notifications waiting to be sent at most; more are dropped and counted.
pub const QUEUE_CAPACITY: usize = 256;

/// Something an operator is told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// The daemon accepted a block the pool found.
    BlockFound {
        /// Block hash.
        hash: String,
        /// Block height.
        height: u64,
        /// Address of the miner whose share was the block.
        finder: String,
        /// Expected miner reward, atomic units.
        reward: u64,
    },
    /// A found block left the chain for good.
    BlockOrphaned {
        /// Block hash.
        hash: String,
        /// Block height.
        height: u64,
    },
    /// A payout transaction was sent.
    PaymentSent {
        /// The payment record's id.
        payment_id: String,
        /// The transaction hash.
        tx_hash: String,
        /// Total paid, atomic units.
        amount: u64,
        /// Transaction fee, atomic units.
        fee: u64,
        /// Addresses paid.
        transfers: usize,
    },
}

/// Why notifications cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A target URL is unusable.
    #[error("{key} {url:?} is not a usable URL ({reason}); write it as https://host/path")]
    BadUrl {
        /// The config key.
        key: &'static str,
        /// The URL (a Telegram token is not shown).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the notification HTTP client: {0}")]
    Client(String),
}

/// Counts of what became of notifications since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyCounts {
    /// Messages a target took.
    pub delivered: u64,
    /// Messages that failed at a target after every retry.
    pub failed: u64,
    /// Notifications dropped because the queue was full.
    pub dropped: u64,
}

/// Hands notifications to the sending task; cheap to clone. A disabled
/// notifier (no target configured) ignores everything.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    shared: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Shared {
    queue: mpsc::Sender<Notification>,
    on_block_found: bool,
    on_block_orphaned: bool,
    on_payment: bool,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// Starts the sending task for `config` (messages name `network`); it
    /// ends when `stop` fires. With no target configured the notifier
    /// is disabled and there is no task.
    pub fn start(
        config: &NotifyConfig,
        network: Network,
        stop: Shutdown,
    ) -> Result<(Notifier, Option<JoinHandle<()>>), NotifyError> {
        let targets = targets(config)?;
        if targets.is_empty() {
            return Ok((Notifier::disabled(), None));
        }
        let client = client()?;
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let shared = Arc::new(Shared {
            queue,
            on_block_found: config.on_block_found,
            on_block_orphaned: config.on_block_orphaned,
            on_payment: config.on_payment,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let sender = Sender {
            client,
            targets,
            chat_id: config.telegram_chat_id.clone().unwrap_or_default(),
            network,
            timeout: config.timeout,
            retries: config.retries,
            shared: shared.clone(),
        };
        let names: Vec<&str> = sender.targets.iter().map(|target| target.name).collect();
        tracing::info!(targets = ?names, "notifications on");
        let task = tokio::spawn(sender.run(receiver, stop));
        Ok((
            Notifier {
                shared: Some(shared),
            },
            Some(task),
        ))
    }

    /// Queues `notification` if its kind is switched on; never waits. A full
    /// queue drops it (counted in [`counts`](Self::counts), logged).
    pub fn notify(&self, notification: Notification) {
        let Some(shared) = &self.shared else { return };
        let wanted = match notification {
            Notification::BlockFound { .. } => shared.on_block_found,
            Notification::BlockOrphaned { .. } => shared.on_block_orphaned,
            Notification::PaymentSent { .. } => shared.on_payment,
        };
        if !wanted {
            return;
        }
        if let Err(error) = shared.queue.try_send(notification) {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            let reason = match error {
                mpsc::error::TrySendError::Full(_) => "the queue is full",
                mpsc::error::TrySendError::Closed(_) => "the sender stopped",
            };
            tracing::warn!(reason, "notification dropped");
        }
    }

    /// Whether any target is configured.
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// What became of notifications so far.
    pub fn counts(&self) -> NotifyCounts {
        self.shared
            .as_ref()
            .map(|shared| NotifyCounts {
                delivered: shared.delivered.load(Ordering::Relaxed),
                failed: shared.failed.load(Ordering::Relaxed),
                dropped: shared.dropped.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }
}

/// The configured targets, checked.
fn targets(config: &NotifyConfig) -> Result<Vec<Target>, NotifyError> {
    let mut targets = Vec::new();
    if let Some(url) = config.discord_webhook.as_deref().filter(|u| !u.is_empty()) {
        check_url("notify.discord_webhook", url, url)?;
        targets.push(Target {
            name: "discord",
            url: url.to_owned(),
        });
    }
    if let (Some(token), Some(_)) = (
        config
            .telegram_bot_token
            .as_deref()
            .filter(|t| !t.is_empty()),
        config.telegram_chat_id.as_deref().filter(|c| !c.is_empty()),
    ) {
        let url = format::telegram_url(&config.telegram_api_url, token);
        check_url("notify.telegram_api_url", &url, &config.telegram_api_url)?;
        targets.push(Target {
            name: "telegram",
            url,
        });
    }
    Ok(targets)
}

fn check_url(key: &'static str, url: &str, shown: &str) -> Result<(), NotifyError> {
    let bad = |reason: String| NotifyError::BadUrl {
        key,
        url: shown.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|error| bad(error.to_string()))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(bad(format!(
            "the scheme {:?} is not http(s)",
            parsed.scheme()
        )));
    }
    Ok(())
}

/// The HTTP client: rustls with the ring provider (installed as the
/// process default if there is none).
fn client() -> Result<reqwest::Client, NotifyError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .build()
        .map_err(|error| NotifyError::Client(error.to_string()))
}

/// The sending task's state.
struct Sender {
    client: reqwest::Client,
    targets: Vec<Target>,
    chat_id: String,
    network: Network,
    timeout: std::time::Duration,
    retries: u32,
    shared: Arc<Shared>,
}

impl Sender {
    async fn run(self, mut receiver: mpsc::Receiver<Notification>, stop: Shutdown) {
        loop {
            let notification = tokio::select! {
                () = stop.stopped() => return,
                received = receiver.recv() => match received {
                    Some(notification) => notification,
                    None => return,
                },
            };
            let text = format::text(&notification, self.network);
            for target in &self.targets {
                let body = match target.name {
                    "telegram" => format::telegram_body(&self.chat_id, &text),
                    _ => format::discord_body(&text),
                };
                let outcome = deliver(
                    &self.client,
                    target,
                    &body,
                    self.timeout,
                    self.retries,
                    &stop,
                )
                .await;
                let counter = match outcome {
                    Outcome::Delivered => &self.shared.delivered,
                    Outcome::Failed => &self.shared.failed,
                    Outcome::Stopped => return,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tos_pool_common::shutdown::ShutdownTrigger;

    use super::*;

    fn found() -> Notification {
        Notification::BlockFound {
            hash: "ab".repeat(32),
            height: 1,
            finder: "tst1x".into(),
            reward: 1,
        }
    }

    #[test]
    fn no_target_means_disabled() {
        let trigger = ShutdownTrigger::new();
        let (notifier, task) = Notifier::start(
            &NotifyConfig::default(),
            Network::Devnet,
            trigger.listener(),
        )
        .expect("starts");
        assert!(!notifier.is_enabled());
        assert!(task.is_none());
        notifier.notify(found());
        assert_eq!(notifier.counts(), NotifyCounts::default());
    }

    #[test]
    fn bad_urls_name_their_key() {
        let config = NotifyConfig {
            discord_webhook: Some("not a url".into()),
            ..NotifyConfig::default()
        };
        let error = targets(&config).expect_err("refused");
        assert!(
            error.to_string().contains("notify.discord_webhook"),
            "{error}"
        );
        let config = NotifyConfig {
            telegram_bot_token: Some("123:secret".into()),
            telegram_chat_id: Some("-1".into()),
            telegram_api_url: "ftp://x".into(),
            ..NotifyConfig::default()
        };
        let error = targets(&config).expect_err("refused");
        assert!(
            error.to_string().contains("notify.telegram_api_url"),
            "{error}"
        );
        assert!(
            !error.to_string().contains("secret"),
            "the token is not shown"
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_waiting() {
        // A sender task that never drains: stopped before it starts.
        let (queue, _receiver) = mpsc::channel(2);
        let shared = Arc::new(Shared {
            queue,
            on_block_found: true,
            on_block_orphaned: false,
            on_payment: true,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let notifier = Notifier {
            shared: Some(shared),
        };
        for _ in 0..5 {
            notifier.notify(found());
        }
        notifier.notify(Notification::BlockOrphaned {
            hash: "cd".repeat(32),
            height: 2,
        });
        assert_eq!(
            notifier.counts().dropped,
            3,
            "2 queued, 3 dropped, the orphan is off"
        );
    }
}
