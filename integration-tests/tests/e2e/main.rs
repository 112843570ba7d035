//! The end-to-end tests, one module per subject, built as a single test
//! binary so the whole workspace is linked once instead of once per file.
//! The in-process CPU profiler test stays in its own binary (`profiling.rs`)
//! because it owns the process's profiling signal.

mod cluster_support;
mod master_support;
mod miner_mocks;

mod admin_lists;
mod api;
mod block_spool;
mod chaos_short;
mod cluster_doors;
mod cluster_launcher;
mod cluster_mining;
mod deploy_files;
mod devnet_emulator;
mod edge_admin;
mod edge_ban_fanout;
mod edge_slowloris;
mod emulator_restart;
mod go_pool_miners;
mod hwm_regression;
mod import_seed;
mod loadgen;
mod master_blocks;
mod master_exactly_once;
mod master_gateway;
mod master_ledger;
mod master_ledger_miners;
mod master_ledger_pipeline;
mod master_many_miners;
mod master_upstream;
mod payout_faults;
mod payouts;
mod redis_failover;
mod redis_harness;
mod slave_hostile;
mod slave_journal;
mod slave_link;
mod slave_proxy;
mod slave_push;
mod slave_rejections;
mod telemetry;
mod test_miners;
mod wallet_emulator;
mod web_page;
mod web_rounds;
