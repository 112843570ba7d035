//! `tos-wallet-emulator`: a stand-in for the TOS wallet's JSON-RPC server, for
//! running the pool's payouts against locally (see the `wallet` module docs).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::wallet::{BasicAuth, FeePolicy, Wallet, WalletConfig};

/// Emulates the TOS wallet JSON-RPC (`POST /json_rpc`) with a controllable
/// balance, chain and faults (`POST /control/advance|fault|balance`,
/// `GET /control/transactions|state`).
#[derive(Debug, Parser)]
#[command(
    name = "tos-wallet-emulator",
    version,
    after_help = "With --state FILE the wallet's books (balance, nonce, transactions, fee,\n\
        faults, refusals, the internal topoheight) are written to FILE after every change,\n\
        before the request is answered (temporary file, fsync, rename), and loaded at start:\n\
        a restart, even after kill -9, keeps them. An existing FILE wins over --balance and\n\
        the --fee-* flags; it must belong to the same --address."
)]
struct Args {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:18081")]
    bind: SocketAddr,
    /// Network whose addresses the wallet accepts: mainnet, testnet, stagenet or devnet.
    #[arg(long, default_value = "devnet")]
    network: Network,
    /// The wallet's own address (a normal address of the network).
    #[arg(long)]
    address: String,
    /// Starting balance in atomic units (1 TOS = 100000000).
    #[arg(long, default_value_t = 0)]
    balance: u64,
    /// Daemon JSON-RPC URL whose `get_topoheight` decides confirmations;
    /// without it an internal counter moved by `POST /control/advance` is used.
    #[arg(long)]
    daemon: Option<String>,
    /// Blocks past its build topoheight before a transaction is confirmed.
    #[arg(long, default_value_t = 1)]
    confirmations: u64,
    /// HTTP Basic auth user name the RPC requires (with --rpc-password).
    #[arg(long, requires = "rpc_password")]
    rpc_username: Option<String>,
    /// HTTP Basic auth password the RPC requires (with --rpc-username).
    #[arg(long, requires = "rpc_username")]
    rpc_password: Option<String>,
    /// Fee every transaction pays, atomic units.
    #[arg(long, default_value_t = FeePolicy::default().base)]
    fee_base: u64,
    /// Fee each transfer adds, atomic units.
    #[arg(long, default_value_t = FeePolicy::default().per_transfer)]
    fee_per_transfer: u64,
    /// File that keeps the wallet's books across restarts; without it they
    /// live in memory only.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
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
    let auth = match (args.rpc_username, args.rpc_password) {
        (Some(username), Some(password)) => Some(BasicAuth { username, password }),
        _ => None,
    };
    let config = WalletConfig {
        bind: args.bind,
        network: args.network,
        address: args.address,
        balance: args.balance,
        confirmations: args.confirmations,
        daemon_url: args.daemon,
        auth,
        fee: FeePolicy {
            base: args.fee_base,
            per_transfer: args.fee_per_transfer,
        },
        state_file: args.state,
    };
    let wallet = Wallet::start(config)
        .await
        .context("starting the wallet emulator")?;
    println!("tos-wallet-emulator listening on {}", wallet.url());
    wait_for_stop_signal().await?;
    tracing::info!("stop signal received, shutting down");
    wallet.shutdown().await;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_stop_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
