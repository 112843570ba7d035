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
