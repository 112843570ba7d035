//! The `http` section: what every HTTP server of a process (the master's
//! API, the profiling server, the slave's operations server) allows one
//! client, so that a half-sent request or a crowd of idle connections cannot
//! hold the server.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::duration;

/// `http`: limits of every HTTP server (`crate::http::serve`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's head (request line and headers) must arrive within this,
    /// counted from when the server starts waiting for it, on a new or a
    /// kept-alive connection; otherwise the connection is closed.
    #[serde(with = "duration")]
    pub header_timeout: Duration,
    /// A request must be read and answered within this, its body included;
    /// otherwise it is answered 503. The profiling server adds its longest
    /// CPU profile window (300 s) to it.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// Connections each HTTP server keeps open at once; a connection beyond
    /// it is answered 503 and closed.
    pub max_connections: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}
