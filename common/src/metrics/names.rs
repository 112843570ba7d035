//! Every metric the pool publishes, with its New Relic (OTLP) name and its
//! Prometheus name side by side: the one table both outlets read, so
//! `/metrics` and New Relic always carry the same numbers.

/// A value that goes up and down, set by the service that knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gauge {
    /// The pool's hashrate in hashes per second.
    PoolHashrate,
    /// Miners (distinct addresses) connected.
    PoolMiners,
    /// Workers (connections) connected.
    PoolWorkers,
    /// Height of the chain tip the pool mines on.
    NetworkHeight,
    /// The network difficulty of the current job.
    NetworkDifficulty,
    /// The network hashrate in hashes per second.
    NetworkHashrate,
    /// Found blocks waiting in the master's spool for Redis.
    BlockSpoolPending,
    /// Torn block spool files found since the master started.
    BlockSpoolTorn,
    /// Blocks the daemon says the pool mined that have no record.
    BlocksUnrecorded,
}

impl Gauge {
    /// All gauges, in rendering order.
    pub const ALL: [Gauge; 9] = [
        Gauge::PoolHashrate,
        Gauge::PoolMiners,
        Gauge::PoolWorkers,
        Gauge::NetworkHeight,
        Gauge::NetworkDifficulty,
        Gauge::NetworkHashrate,
        Gauge::BlockSpoolPending,
        Gauge::BlockSpoolTorn,
        Gauge::BlocksUnrecorded,
    ];

    /// The metric name sent to New Relic over OTLP.
    pub fn otlp_name(self) -> &'static str {
        match self {
            Gauge::PoolHashrate => "Custom/Pool/Hashrate",
            Gauge::PoolMiners => "Custom/Pool/Miners",
            Gauge::PoolWorkers => "Custom/Pool/Workers",
            Gauge::NetworkHeight => "Custom/Network/Height",
            Gauge::NetworkDifficulty => "Custom/Network/Difficulty",
            Gauge::NetworkHashrate => "Custom/Network/Hashrate",
            Gauge::BlockSpoolPending => "Custom/Blocks/SpoolPending",
            Gauge::BlockSpoolTorn => "Custom/Blocks/SpoolTorn",
            Gauge::BlocksUnrecorded => "Custom/Blocks/Unrecorded",
        }
    }

    /// The metric name on `/metrics`.
    pub fn prometheus_name(self) -> &'static str {
        match self {
            Gauge::PoolHashrate => "tos_pool_hashrate",
            Gauge::PoolMiners => "tos_pool_miners",
            Gauge::PoolWorkers => "tos_pool_workers",
            Gauge::NetworkHeight => "tos_pool_network_height",
            Gauge::NetworkDifficulty => "tos_pool_network_difficulty",
            Gauge::NetworkHashrate => "tos_pool_network_hashrate",
            Gauge::BlockSpoolPending => "tos_pool_block_spool_pending",
            Gauge::BlockSpoolTorn => "tos_pool_block_spool_torn",
            Gauge::BlocksUnrecorded => "tos_pool_blocks_unrecorded",
        }
    }

    /// One line saying what the number is.
    pub fn help(self) -> &'static str {
        match self {
            Gauge::PoolHashrate => "Pool hashrate in hashes per second.",
            Gauge::PoolMiners => "Miners (distinct addresses) connected.",
            Gauge::PoolWorkers => "Workers (miner connections) connected.",
            Gauge::NetworkHeight => "Height of the chain tip the pool mines on.",
            Gauge::NetworkDifficulty => "Network difficulty of the current job.",
            Gauge::NetworkHashrate => "Network hashrate in hashes per second.",
            Gauge::BlockSpoolPending => "Found blocks waiting in the spool for Redis.",
            Gauge::BlockSpoolTorn => "Torn block spool files found since the start.",
            Gauge::BlocksUnrecorded => "Blocks the pool mined that have no record.",
        }
    }

    /// The OTLP unit.
    pub fn unit(self) -> &'static str {
        match self {
            Gauge::PoolHashrate | Gauge::NetworkHashrate => "H/s",
            Gauge::PoolMiners | Gauge::PoolWorkers => "{miner}",
            Gauge::NetworkHeight | Gauge::BlockSpoolPending | Gauge::BlocksUnrecorded => "{block}",
            Gauge::BlockSpoolTorn => "{file}",
            Gauge::NetworkDifficulty => "1",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What became of a submitted share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShareOutcome {
    /// Valid and credited.
    Accepted,
    /// Valid and also a block candidate.
    Block,
    /// For a job that is no longer current.
    Stale,
    /// Submitted before with the same nonce.
    Duplicate,
    /// Hash above the session's target.
    LowDifficulty,
    /// Malformed or otherwise refused.
    Invalid,
}

impl ShareOutcome {
    /// All outcomes, in rendering order.
    pub const ALL: [ShareOutcome; 6] = [
        ShareOutcome::Accepted,
        ShareOutcome::Block,
        ShareOutcome::Stale,
        ShareOutcome::Duplicate,
        ShareOutcome::LowDifficulty,
        ShareOutcome::Invalid,
    ];

    /// The `outcome` label value.
    pub fn label(self) -> &'static str {
        match self {
            ShareOutcome::Accepted => "accepted",
            ShareOutcome::Block => "block",
            ShareOutcome::Stale => "stale",
            ShareOutcome::Duplicate => "duplicate",
            ShareOutcome::LowDifficulty => "low_difficulty",
            ShareOutcome::Invalid => "invalid",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Why a custom event was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventDrop {
    /// Over `newrelic.max_share_events_per_second`.
    RateLimit,
    /// The export queue was full (New Relic slow or unreachable).
    QueueFull,
    /// Telemetry was already shut down.
    Closed,
}

impl EventDrop {
    /// All reasons, in rendering order.
    pub const ALL: [EventDrop; 3] = [
        EventDrop::RateLimit,
        EventDrop::QueueFull,
        EventDrop::Closed,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            EventDrop::RateLimit => "rate_limit",
            EventDrop::QueueFull => "queue_full",
            EventDrop::Closed => "closed",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// An OTLP signal, for counting failed exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans (`/v1/traces`).
    Traces,
    /// Metrics (`/v1/metrics`).
    Metrics,
    /// Custom events as log records (`/v1/logs`).
    Logs,
}

impl Signal {
    /// All signals, in rendering order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The `signal` label value.
    pub fn label(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A labelled counter family: OTLP name, Prometheus name, label key, help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterName {
    /// Name sent to New Relic.
    pub otlp: &'static str,
    /// Name on `/metrics` (ends in `_total`).
    pub prometheus: &'static str,
    /// The one label's key.
    pub label: &'static str,
    /// What is counted.
    pub help: &'static str,
}

/// Shares by outcome.
pub const SHARES: CounterName = CounterName {
    otlp: "Custom/Pool/Shares",
    prometheus: "tos_pool_shares_total",
    label: "outcome",
    help: "Shares submitted, by outcome.",
};

/// Custom events not sent to New Relic, by reason.
pub const EVENTS_DROPPED: CounterName = CounterName {
    otlp: "Custom/Telemetry/EventsDropped",
    prometheus: "tos_pool_events_dropped_total",
    label: "reason",
    help: "Custom events not sent to New Relic, by reason.",
};

/// Failed OTLP exports, by signal.
pub const EXPORT_FAILURES: CounterName = CounterName {
    otlp: "Custom/Telemetry/ExportFailures",
    prometheus: "tos_pool_export_failures_total",
    label: "signal",
    help: "OTLP exports to New Relic that failed, by signal.",
};

/// A latency histogram: OTLP name prefix, Prometheus base name, help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramName {
    /// Prefix of the OTLP counters `…/Count`, `…/Seconds` and `…/Bucket`.
    pub otlp: &'static str,
    /// Base name on `/metrics` (`_bucket`, `_sum`, `_count` are appended).
    pub prometheus: &'static str,
    /// What is timed.
    pub help: &'static str,
}

/// Time to validate one share (PoW and checks).
pub const SHARE_VALIDATION: HistogramName = HistogramName {
    otlp: "Custom/Pool/ShareValidation",
    prometheus: "tos_pool_share_validation_seconds",
    help: "Time to validate one share, in seconds.",
};

/// Time from a job's creation to it being queued for every connected slave.
pub const JOB_FANOUT: HistogramName = HistogramName {
    otlp: "Custom/Pool/JobFanout",
    prometheus: "tos_pool_job_fanout_seconds",
    help: "Time from a job's creation to it being queued for every connected slave, in seconds.",
};

/// Time from the slave reading a block-finding share to the master's
/// `submit_block` request leaving for the daemon.
pub const BLOCK_PATH: HistogramName = HistogramName {
    otlp: "Custom/Pool/BlockPath",
    prometheus: "tos_pool_block_path_seconds",
    help: "Time from a slave reading a block-finding share to the master's submit_block request leaving, in seconds.",
};
