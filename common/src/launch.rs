//! The start and the stop both binaries share. A `main` parses its command
//! line, [`load_config`]s, answers `--check` itself, and hands [`run`] its
//! role's service; `run` sets up logging and telemetry, the Tokio runtime,
//! the stop on SIGTERM or Ctrl-C, and the profiling server, and reports how
//! the service ended.
//!
//! Binary glue, so it speaks `anyhow` like the mains it serves.

use std::future::Future;
use std::path::Path;

use anyhow::Context;

use crate::config::{Config, Role};
use crate::http::HttpLimits;
use crate::shutdown::{Shutdown, ShutdownTrigger};
use crate::telemetry::{self, Telemetry};
use crate::{error, profiling};

/// Reads the config at `path` and checks it for `role`; the error names the
/// file and, through its causes, the key at fault.
pub fn load_config(path: &Path, role: Role) -> anyhow::Result<Config> {
    Config::load_for(path, role).with_context(|| format!("loading config {}", path.display()))
}

/// The Go pool's config at `path` converted into ours, as commented YAML
/// (`migrate-config`); the error names the file.
pub fn migrate_config(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the Go pool config {}", path.display()))?;
    let migration = crate::config::migrate::migrate_go_config(&text)
        .with_context(|| format!("converting {}", path.display()))?;
    Ok(migration.to_yaml())
}

/// Runs `service` for `config` until it returns:
/// 1. logging and telemetry (New Relic when `newrelic.enabled`), flushed
///    when `run` returns;
/// 2. a multi-threaded Tokio runtime;
/// 3. a [`Shutdown`] raised by SIGTERM or Ctrl-C, handed to `service`;
/// 4. the profiling server when `profiling.enabled`, stopped once `service`
///    returned, whatever ended it.
///
/// An error from `service` is logged with its chain of causes (so it reaches
/// the log file and New Relic, not only stderr) and returned.
pub fn run<Service, Running>(config: Config, role: Role, service: Service) -> anyhow::Result<()>
where
    Service: FnOnce(Config, Telemetry, Shutdown) -> Running,
    Running: Future<Output = anyhow::Result<()>>,
{
    // Dropping the guard at the end of the runtime's work flushes what is
    // buffered.
    let telemetry =
        telemetry::init_telemetry(&config, role).context("setting up logging and telemetry")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match crate::limits::raise_open_files_limit() {
            Ok((before, after)) => {
                tracing::info!(?before, ?after, "open-files soft limit (None: unlimited)")
            }
            Err(error) => tracing::warn!(%error, "cannot raise the open-files soft limit"),
        }
        let trigger = ShutdownTrigger::on_signal();
        let profiling = if config.profiling.enabled {
            let stop_profiling = trigger.listener().stopped();
            let limits = HttpLimits::from_config(&config.http);
            Some(profiling::serve(&config.profiling, limits, stop_profiling).await?)
        } else {
            None
        };
        let result = service(config, telemetry.telemetry(), trigger.listener()).await;
        if let Err(failure) = &result {
            tracing::error!(error = %error::chain(failure.as_ref()), "stopped with an error");
        }
        // The profiling server ends with the service, whatever ended it.
        trigger.stop();
        if let Some(server) = profiling {
            server.stopped().await?;
        }
        drop(telemetry);
        result
    })
}
