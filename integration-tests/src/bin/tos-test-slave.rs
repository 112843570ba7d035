//! `tos-test-slave CONFIG.yaml`: a slave in a process of its own, for the
//! end-to-end tests that must kill one with SIGKILL. It runs the slave
//! library exactly as `tos-pool-slave` does (`launch::run` and
//! `app::run`), from a config file.

use std::path::PathBuf;

use anyhow::Context;
use tos_pool_common::config::Role;
use tos_pool_common::launch;

fn main() -> anyhow::Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .context("usage: tos-test-slave CONFIG.yaml")?;
    let config = launch::load_config(&path, Role::Slave)?;
    launch::run(
        config,
        Role::Slave,
        |config, telemetry, shutdown| async move {
            tos_pool_slave::app::run(config, telemetry, shutdown)
                .await
                .context("running the slave")?;
            Ok(())
        },
    )
}
