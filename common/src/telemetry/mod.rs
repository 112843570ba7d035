//! Logging and telemetry for both binaries.
//!
//! - [`init_logging`]: a `tracing` subscriber filtered by `log.level` (or
//!   `RUST_LOG`), writing human lines or JSON to stderr and, optionally, to a
//!   file.
//! - [`init_telemetry`]: the same logging plus, when `newrelic.enabled`, export
//!   to New Relic over OTLP/HTTP: spans from `tracing` (`block.submit`,
//!   `payout.run`, …), the [`Metrics`](crate::metrics::Metrics) registry, and
//!   custom [`events`]. Its [`TelemetryGuard`] hands out the metrics and the
//!   event sink and flushes everything when dropped.
//!
//! Every export runs on background threads behind bounded queues: a slow or
//! unreachable New Relic costs dropped data (counted and logged), never a
//! stalled pool.

mod context;
pub mod events;
mod export;
mod setup;
mod throttle;

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogConfig, LogFormat};

pub use context::Telemetry;
pub use setup::{TelemetryGuard, init_telemetry, init_telemetry_scoped};

/// Why logging or telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter directive does not parse.
    #[error(
        "log filter {directive:?} from {origin} is invalid: {source}; use for example info or info,tos_pool_slave=debug"
    )]
    Filter {
        /// The directive text.
        directive: String,
        /// Where it came from: `log.level` or `RUST_LOG`.
        origin: &'static str,
        /// The parser's error.
        source: tracing_subscriber::filter::ParseError,
    },
    /// The log file could not be opened for appending.
    #[error("cannot open log file {}: {source}; check log.file and the directory's permissions", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A global subscriber is already installed (logging set up twice).
    #[error("logging is already set up in this process: {0}")]
    AlreadyInitialized(#[source] tracing_subscriber::util::TryInitError),
    /// New Relic export is on but there is no key to send with.
    #[error(
        "newrelic.enabled is true but newrelic.license_key is empty; set TOS_POOL_NEWRELIC_LICENSE_KEY to the ingest license key"
    )]
    MissingLicenseKey,
    /// An OTLP exporter could not be built.
    #[error("cannot build the OTLP {signal} exporter: {source}; check newrelic.endpoint")]
    Exporter {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// The exporter's error.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The HTTP client for the exporters could not be built.
    #[error("cannot build the HTTP client for New Relic export: {0}; check the TLS setup")]
    HttpClient(String),
    /// A background thread could not be started.
    #[error("cannot start a telemetry thread: {0}; check the process thread limit")]
    Thread(#[source] std::io::Error),
}

/// Keeps logging running; hold it until the process ends. (Telemetry export
/// has its own guard, [`TelemetryGuard`].)
#[derive(Debug)]
pub struct LoggingGuard {
    role: String,
}

impl LoggingGuard {
    /// The role logging was set up for (`master` or `slave`).
    pub fn role(&self) -> &str {
        &self.role
    }
}

/// The filter to use: `rust_log` when given and not blank, else `level`.
pub fn log_filter(level: &str, rust_log: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let (directive, origin) = match rust_log.filter(|text| !text.trim().is_empty()) {
        Some(text) => (text, "RUST_LOG"),
        None => (level, "log.level"),
    };
    EnvFilter::try_new(directive).map_err(|source| TelemetryError::Filter {
        directive: directive.to_string(),
        origin,
        source,
    })
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The log outputs of `log`, each with its own level filter (so the span
/// export, added beside them, does not depend on the log level).
fn log_layers(log: &LogConfig) -> Result<Vec<BoxedLayer>, TelemetryError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = || log_filter(&log.level, rust_log.as_deref());
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let console = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    layers.push(match log.format {
        LogFormat::Console => console.with_filter(filter()?).boxed(),
        LogFormat::Json => console.json().with_filter(filter()?).boxed(),
    });
    if let Some(path) = &log.file {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| TelemetryError::File {
                path: path.clone(),
                source,
            })?;
        let to_file = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Mutex::new(file));
        layers.push(match log.format {
            LogFormat::Console => to_file.with_filter(filter()?).boxed(),
            LogFormat::Json => to_file.json().with_filter(filter()?).boxed(),
        });
    }
    Ok(layers)
}

fn install(layers: Vec<BoxedLayer>) -> Result<(), TelemetryError> {
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(TelemetryError::AlreadyInitialized)
}

/// Installs the global subscriber described by `log` for `role`. Returns an
/// error, never panics, if one is already installed.
pub fn init_logging(log: &LogConfig, role: &str) -> Result<LoggingGuard, TelemetryError> {
    install(log_layers(log)?)?;
    tracing::info!(role, level = %log.level, format = ?log.format, "logging started");
    Ok(LoggingGuard {
        role: role.to_string(),
    })
}

#[cfg(test)]
mod tests;
