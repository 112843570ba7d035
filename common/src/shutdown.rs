//! How the binaries learn that they should stop: SIGTERM or Ctrl-C, turned
//! into a `watch` flag every task can wait on.

use tokio::sync::watch;

/// Waits for SIGTERM or Ctrl-C (SIGINT) and names the one that came. If a
/// handler cannot be installed, waits for the other one only.
pub async fn stop_signal() -> &'static str {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "SIGINT",
        () = terminate => "SIGTERM",
    }
}

/// A stop flag raised by [`stop_signal`]: the sender (to raise it for other
/// reasons too) and a receiver to hand out. Must run inside a Tokio runtime.
pub fn stop_on_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    let (stop, stopped) = watch::channel(false);
    let raise = stop.clone();
    tokio::spawn(async move {
        let signal = stop_signal().await;
        tracing::info!(signal, "stop signal");
        raise.send_replace(true);
    });
    (stop, stopped)
}

/// Resolves once `stopped` turns true (or its sender is gone).
pub async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn until_stopped_follows_the_flag() {
        let (stop, stopped) = watch::channel(false);
        let waiter = tokio::spawn(until_stopped(stopped));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        stop.send_replace(true);
        waiter
            .await
            .expect("the waiter ends once the flag is raised");
    }

    #[tokio::test]
    async fn until_stopped_ends_when_the_sender_is_gone() {
        let (stop, stopped) = watch::channel(false);
        drop(stop);
        until_stopped(stopped).await;
    }
}
