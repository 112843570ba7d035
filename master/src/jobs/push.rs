//! Follows the active upstream's `new_block_template` push: connects,
//! reconnects with backoff when the socket drops, and moves to the new active
//! upstream when it changes. The newest template wins (a `watch` channel):
//! polling covers anything missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::rpc::{BlockTemplate, TemplateSubscription};
use crate::upstream::UpstreamPool;

/// A pushed template and the upstream that pushed it.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The template.
    pub template: BlockTemplate,
    /// Name of the upstream.
    pub upstream: String,
}

/// First wait before reconnecting after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs until `out` has no receiver left.
pub async fn follow_pushes(
    upstreams: Arc<UpstreamPool>,
    timeout: Duration,
    out: watch::Sender<Option<Pushed>>,
) {
    let mut active = upstreams.watch_active();
    let mut backoff = FIRST_BACKOFF;
    while !out.is_closed() {
        active.mark_unchanged();
        let Some(upstream) = upstreams.active() else {
            if active.changed().await.is_err() {
                return;
            }
            continue;
        };
        let name = upstream.name().to_string();
        match TemplateSubscription::connect(upstream.url(), timeout).await {
            Ok(mut subscription) => {
                tracing::info!(upstream = %name, url = %subscription.url(), "following new_block_template pushes");
                loop {
                    tokio::select! {
                        push = subscription.next() => match push {
                            Ok(template) => {
                                backoff = FIRST_BACKOFF;
                                out.send_replace(Some(Pushed { template, upstream: name.clone() }));
                            }
                            Err(error) => {
                                tracing::warn!(upstream = %name, %error, "template push stream ended; reconnecting");
                                break;
                            }
                        },
                        changed = active.changed() => {
                            if changed.is_err() {
                                return;
                            }
                            tracing::info!(upstream = %name, "active upstream changed; moving the push subscription");
                            backoff = Duration::ZERO;
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(upstream = %name, %error, retry_in = ?backoff, "cannot subscribe to template pushes; polling meanwhile");
            }
        }
        // Wait before reconnecting, but move at once when the active upstream
        // changes.
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            changed = active.changed() => if changed.is_err() { return },
        }
        backoff = (backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
    }
}
