//! Sending one notification to one target, with retries: a timeout per
//! request, a capped exponential backoff between tries, no retry of an
//! answer that says the request itself is wrong.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tos_pool_common::shutdown::Shutdown;

/// The first wait before a retry; each further retry waits twice as long.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The wait before try `attempt` (2 is the first retry): 0.5 s, 1 s, 2 s, …
/// up to [`MAX_BACKOFF`].
pub fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(2).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

/// What an answer of the service means for the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered.
    Delivered,
    /// Try again later (rate limited, server error).
    Retry,
    /// The request is wrong (bad token, unknown chat): retrying cannot help.
    GiveUp,
}

/// The verdict of an HTTP status.
pub fn verdict(status: StatusCode) -> Verdict {
    if status.is_success() {
        Verdict::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Verdict::Retry
    } else {
        Verdict::GiveUp
    }
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `discord` or `telegram`, for logs.
    pub name: &'static str,
    /// The URL posted to (a Telegram URL holds the bot token: never logged).
    pub url: String,
}

/// How one delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The service took it.
    Delivered,
    /// Every try failed, or the service refused it for good.
    Failed,
    /// The master is stopping.
    Stopped,
}

/// Posts `body` to `target`, trying at most `1 + retries` times.
pub async fn deliver(
    client: &reqwest::Client,
    target: &Target,
    body: &Value,
    timeout: Duration,
    retries: u32,
    stop: &Shutdown,
) -> Outcome {
    let payload = body.to_string();
    let attempts = retries.saturating_add(1);
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::select! {
                () = stop.stopped() => return Outcome::Stopped,
                () = tokio::time::sleep(backoff(attempt)) => {}
            }
        }
        let sent = client
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload.clone())
            .timeout(timeout)
            .send();
        let failure = tokio::select! {
            () = stop.stopped() => return Outcome::Stopped,
            sent = sent => match sent {
                Ok(response) => match verdict(response.status()) {
                    Verdict::Delivered => {
                        tracing::debug!(target = target.name, attempt, "notification delivered");
                        return Outcome::Delivered;
                    }
                    Verdict::GiveUp => {
                        tracing::error!(
                            target = target.name,
                            status = response.status().as_u16(),
                            "notification refused: check the notify.* settings of this target"
                        );
                        return Outcome::Failed;
                    }
                    Verdict::Retry => format!("status {}", response.status().as_u16()),
                },
                Err(error) => error.without_url().to_string(),
            },
        };
        tracing::warn!(target = target.name, attempt, attempts, error = %failure, "notification failed");
    }
    tracing::error!(
        target = target.name,
        attempts,
        "notification dropped after every retry"
    );
    Outcome::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(2));
        assert_eq!(backoff(9), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn statuses_decide_retries() {
        assert_eq!(verdict(StatusCode::OK), Verdict::Delivered);
        assert_eq!(verdict(StatusCode::NO_CONTENT), Verdict::Delivered);
        assert_eq!(verdict(StatusCode::TOO_MANY_REQUESTS), Verdict::Retry);
        assert_eq!(verdict(StatusCode::BAD_GATEWAY), Verdict::Retry);
        assert_eq!(verdict(StatusCode::UNAUTHORIZED), Verdict::GiveUp);
        assert_eq!(verdict(StatusCode::NOT_FOUND), Verdict::GiveUp);
    }
}
