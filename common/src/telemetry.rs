//! Logging setup for both binaries: a `tracing` subscriber filtered by
//! `log.level` (or `RUST_LOG`), writing human lines or JSON to stderr and,
//! optionally, to a file.
//!
//! OpenTelemetry export (New Relic) will be one more layer in
//! [`init_logging`]'s layer list, with its exporter's flush held by
//! [`LoggingGuard`]; nothing else needs to change.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Mutex;

use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogConfig, LogFormat};

/// Why logging could not be set up.
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
}

/// Keeps logging running; hold it until the process ends. Later it will also
/// flush the OpenTelemetry exporter when dropped.
#[derive(Debug)]
pub struct LoggingGuard {
    role: String,
}

impl LoggingGuard {
    /// The role logging was set up for (`master` or `slave`), later the
    /// telemetry service name's suffix.
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

type Base = Layered<EnvFilter, Registry>;
type BoxedLayer = Box<dyn Layer<Base> + Send + Sync>;

/// Installs the global subscriber described by `log` for `role`. Returns an
/// error, never panics, if one is already installed.
pub fn init_logging(log: &LogConfig, role: &str) -> Result<LoggingGuard, TelemetryError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = log_filter(&log.level, rust_log.as_deref())?;
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let console = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    layers.push(match log.format {
        LogFormat::Console => console.boxed(),
        LogFormat::Json => console.json().boxed(),
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
            LogFormat::Console => to_file.boxed(),
            LogFormat::Json => to_file.json().boxed(),
        });
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .map_err(TelemetryError::AlreadyInitialized)?;
    tracing::info!(role, level = %log.level, format = ?log.format, "logging started");
    Ok(LoggingGuard {
        role: role.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_overrides_the_configured_level_unless_blank() {
        let filter = log_filter("info", Some("debug")).expect("valid");
        assert_eq!(filter.to_string(), "debug");
        let filter = log_filter("warn", Some("  ")).expect("valid");
        assert_eq!(filter.to_string(), "warn");
        let filter = log_filter("info,tos_pool_slave=trace", None).expect("valid");
        assert_eq!(filter.to_string(), "tos_pool_slave=trace,info");
    }

    #[test]
    fn bad_directives_name_their_origin() {
        let error = log_filter("info", Some("tos_pool=notalevel")).expect_err("bad RUST_LOG");
        assert!(
            matches!(
                error,
                TelemetryError::Filter {
                    origin: "RUST_LOG",
                    ..
                }
            ),
            "{error}"
        );
        let error = log_filter("tos_pool=notalevel", None).expect_err("bad level");
        assert!(
            matches!(
                error,
                TelemetryError::Filter {
                    origin: "log.level",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn unopenable_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = LogConfig {
            file: Some(dir.path().join("missing-dir").join("pool.log")),
            ..LogConfig::default()
        };
        let error = init_logging(&log, "master").expect_err("parent directory is missing");
        assert!(matches!(error, TelemetryError::File { .. }), "{error}");
    }

    // The only test in this binary that installs the global subscriber.
    #[test]
    fn logs_json_to_the_file_and_refuses_a_second_setup() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pool.log");
        let log = LogConfig {
            level: "info".to_string(),
            format: LogFormat::Json,
            file: Some(path.clone()),
        };
        let guard = init_logging(&log, "slave").expect("first setup");
        assert_eq!(guard.role(), "slave");
        tracing::info!(worker = "rig1", "share accepted");
        tracing::debug!("filtered out");
        let written = std::fs::read_to_string(&path).expect("log file exists");
        let lines: Vec<serde_json::Value> = written
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect();
        assert!(
            lines.iter().any(|l| l["fields"]["role"] == "slave"),
            "{written}"
        );
        assert!(
            lines.iter().any(|l| l["fields"]["worker"] == "rig1"),
            "{written}"
        );
        if std::env::var_os("RUST_LOG").is_none() {
            assert!(!written.contains("filtered out"), "{written}");
        }
        let again = init_logging(&LogConfig::default(), "slave").expect_err("second setup");
        assert!(
            matches!(again, TelemetryError::AlreadyInitialized(_)),
            "{again}"
        );
    }
}
