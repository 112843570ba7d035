//! `tos-devnet`: runs the TOS daemon emulator until killed, for developing
//! the pool by hand or from scripts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use tos_pool_common::difficulty::Difficulty;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::devnet::{CONTROLS, Devnet, DevnetConfig};

/// An emulated TOS daemon: JSON-RPC and WebSocket events on /json_rpc,
/// test controls on `POST /control/<name>`.
#[derive(Debug, Parser)]
#[command(
    name = "tos-devnet",
    version,
    after_help = "Controls: POST /control/<name> with a JSON body, e.g.\n  \
        curl -d '{\"difficulty\":\"5000\"}' http://127.0.0.1:8080/control/set_difficulty\n  \
        curl -d '{\"mode\":\"http500\",\"duration_ms\":3000}' http://127.0.0.1:8080/control/fail\n\
        Names: set_difficulty {difficulty}, pause, resume, orphan {hash}, make_side {hash},\n  \
        advance {count}, fail {mode: http500|hang|refuse, duration_ms}, set_peer_count {count},\n  \
        blocks, submitted, top.\n\
        While a `refuse` fault lasts the port is closed, so the controls are unreachable too.\n\n\
        With --state-dir DIR every change to the chain (blocks submitted or from other miners,\n  \
        difficulty, orphan, make_side) is appended to DIR/chain.journal and synced to disk\n  \
        before it is answered or announced; a restart (even after kill -9) replays it and\n  \
        goes on from the same top. A record cut short by a kill is dropped with a warning.\n  \
        The journal's difficulty wins over --difficulty; --network and --miner-key must match\n  \
        the journal's. Pause, faults and the peer count are not kept."
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Network: mainnet, testnet, stagenet or devnet (address prefix and get_info.network).
    #[arg(long, default_value = "devnet")]
    network: Network,
    /// Network difficulty blocks must meet (decimal, at least 1).
    #[arg(long, default_value = "1000")]
    difficulty: Difficulty,
    /// Time between blocks from other miners: 500ms, 1s, 2m.
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    block_interval: Duration,
    /// Public key (64 hex) the daemon signs VRF data with; only blocks carrying
    /// it are accepted. Default: the devnet key pair
    /// (tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54).
    #[arg(
        long,
        default_value = "8c9240b456a9e6dc65c377a1048d745f94a08cdb7f44cbcd7b46f34048871134",
        value_parser = parse_key
    )]
    miner_key: [u8; 32],
    /// Start with block production paused (resume with POST /control/resume).
    #[arg(long)]
    paused: bool,
    /// Directory that keeps the chain across restarts (a journal replayed at
    /// start); without it the chain lives in memory only.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

fn parse_interval(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration such as 500ms, 1s or 2m"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" | "" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        other => bail!("unknown unit {other:?} in {text:?}: use ms, s or m"),
    };
    if duration.is_zero() {
        bail!("the block interval must be greater than zero");
    }
    Ok(duration)
}

fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text, &mut key)
        .with_context(|| format!("{text:?} is not a public key: expected 64 hex characters"))?;
    Ok(key)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Installed before the URL is printed, so a SIGTERM sent by whoever
    // reads it always ends in a clean exit.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let devnet = Devnet::start(DevnetConfig {
        bind: args.bind,
        network: args.network,
        difficulty: args.difficulty,
        block_interval: args.block_interval,
        miner_key: args.miner_key,
        produce_blocks: !args.paused,
        state_dir: args.state_dir,
    })
    .await
    .context("starting the devnet")?;
    println!("tos-devnet listening on {}", devnet.url());
    tracing::debug!(controls = ?CONTROLS, "controls available");
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    devnet.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units() {
        assert_eq!(parse_interval("1s").ok(), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_interval("250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_interval("2m").ok(), Some(Duration::from_secs(120)));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("fast").is_err());
        assert!(parse_interval("3h").is_err());
    }

    #[test]
    fn keys_are_64_hex() {
        assert!(parse_key(&"ab".repeat(32)).is_ok());
        assert!(parse_key("abcd").is_err());
    }
}
