//! `tos-ledger-ingest`: drives the master's share ledger directly, as
//! several slaves' share batches would, and reports how many shares per
//! second reach Redis. The slaves' batching, gRPC and validation are left
//! out on purpose: this measures the ledger's write path alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tos_pool_common::config::{RedisConfig, parse_duration};
use tos_pool_common::network::Network;
use tos_pool_integration_tests::loadgen::miner_login;
use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_master::ledger::Ledger;
use tos_pool_proto::v1::{Share, ShareBatch, ShareOutcome};

/// The ledger ingest driver.
#[derive(Debug, Parser)]
#[command(
    name = "tos-ledger-ingest",
    version,
    about = "Writes share batches to the master's ledger as N slaves would and reports shares/s"
)]
struct Args {
    /// Redis to write to; without it a private redis-server is started.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Slaves writing at once, each its own (slave_id, boot_id) stream.
    #[arg(long, default_value_t = 4)]
    slaves: u32,
    /// Distinct miners (address and worker) the shares are spread over.
    #[arg(long, default_value_t = 10_000)]
    miners: u64,
    /// Shares per batch (the slaves' slave.share_batch_size).
    #[arg(long, default_value_t = 500)]
    batch: u64,
    /// Batches each slave hands to the ledger at once, pipelined on one
    /// connection (the master's gateway sends up to 4, the batches queued
    /// while the previous ones were stored); 1 writes them one by one.
    #[arg(long, default_value_t = 4)]
    pipeline: u64,
    /// How long to write (10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(drive(args))
}

async fn drive(args: Args) -> anyhow::Result<()> {
    let private = match &args.redis {
        Some(_) => None,
        None => Some(RedisServer::start().context("starting a private redis-server")?),
    };
    let url = args
        .redis
        .clone()
        .or_else(|| private.as_ref().map(RedisServer::url))
        .context("no Redis")?;
    let config = RedisConfig {
        url,
        key_prefix: format!("ingest-{}", std::process::id()),
        ..RedisConfig::default()
    };
    let ledger = Ledger::connect(&config)
        .await
        .context("connecting the ledger")?;
    let logins: Arc<Vec<(String, String)>> = Arc::new(
        (0..args.miners.max(1))
            .map(|n| miner_login(n, Network::Devnet))
            .collect(),
    );
    let written = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut tasks = Vec::new();
    for slave in 0..args.slaves.max(1) {
        let (ledger, logins, written) = (ledger.clone(), logins.clone(), written.clone());
        let batch_size = args.batch.max(1);
        let args_pipeline = args.pipeline;
        tasks.push(tokio::spawn(async move {
            let slave_id = format!("ingest-slave-{slave}");
            let mut seq = 1;
            let mut cursor = u64::from(slave);
            let pipeline = args_pipeline.max(1);
            while Instant::now() < deadline {
                let batches: Vec<ShareBatch> = (0..pipeline)
                    .map(|n| make_batch(seq + n * batch_size, batch_size, &logins, &mut cursor))
                    .collect();
                let now_ms = now_ms();
                for outcome in ledger
                    .record_batches(&slave_id, "boot", &batches, now_ms)
                    .await
                {
                    written.fetch_add(outcome?.new_shares, Ordering::Relaxed);
                }
                seq += pipeline * batch_size;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("a writer task failed")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = written.load(Ordering::Relaxed);
    println!(
        "slaves {} miners {} batch {} pipeline {}: {} shares in {:.2} s = {:.0} shares/s written to Redis",
        args.slaves,
        args.miners,
        args.batch,
        args.pipeline.max(1),
        total,
        elapsed,
        total as f64 / elapsed
    );
    Ok(())
}

fn make_batch(
    first_seq: u64,
    size: u64,
    logins: &[(String, String)],
    cursor: &mut u64,
) -> ShareBatch {
    let now = now_ms();
    let shares = (0..size)
        .map(|i| {
            let (address, worker) = &logins[(*cursor % logins.len() as u64) as usize];
            *cursor += 1;
            Share {
                seq: first_seq + i,
                job_id: "ingest".to_owned(),
                height: 1,
                address: address.clone(),
                worker: worker.clone(),
                difficulty: 1,
                actual_difficulty: 1,
                outcome: ShareOutcome::Valid as i32,
                timestamp_ms: now,
                session_id: *cursor,
            }
        })
        .collect();
    ShareBatch {
        first_seq,
        last_seq: first_seq + size - 1,
        shares,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
