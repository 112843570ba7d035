//! The session's timers as plain deadlines (ms since the Unix epoch), in the
//! manner of quinn-proto's `poll_timeout`: the core says when it next needs
//! the time, and the connection keeps one sleep until then. What can fall
//! due: the read deadline (`security.first_message_timeout` before the first
//! request, `security.idle_timeout` after each), the job refresh
//! (`mining.job_refresh`), and the transport keepalive. The vardiff
//! retarget's deadline is the vardiff's own.

use std::time::Duration;

use tos_pool_common::config::{MiningConfig, SecurityConfig};

/// How long a session may stay quiet, and how often it is sent something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimers {
    /// From connecting to the first request (`security.first_message_timeout`).
    pub first_message_timeout: Duration,
    /// From each request to the next (`security.idle_timeout`).
    pub idle_timeout: Duration,
    /// The current job is sent again after this long without a new one
    /// (`mining.job_refresh`).
    pub job_refresh: Duration,
}

/// Shortest job refresh period taken from the config.
const MIN_JOB_REFRESH: Duration = Duration::from_millis(100);

impl SessionTimers {
    /// The timers of a slave's `security` and `mining` sections.
    pub fn from_config(security: &SecurityConfig, mining: &MiningConfig) -> SessionTimers {
        SessionTimers {
            first_message_timeout: security.first_message_timeout,
            idle_timeout: security.idle_timeout,
            job_refresh: mining.job_refresh.max(MIN_JOB_REFRESH),
        }
    }
}

impl Default for SessionTimers {
    fn default() -> Self {
        SessionTimers::from_config(&SecurityConfig::default(), &MiningConfig::default())
    }
}

/// What fell due at a moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Due {
    /// No request in time: close.
    pub(super) read: bool,
    /// Send the current job again.
    pub(super) refresh: bool,
    /// Send a transport keepalive.
    pub(super) keepalive: bool,
}

/// The deadlines of one session.
#[derive(Debug, Clone)]
pub(super) struct Clock {
    connected_ms: u64,
    last_request_ms: Option<u64>,
    /// When the current job is next resent; `None` until one is sent.
    refresh_at_ms: Option<u64>,
    keepalive_every_ms: Option<u64>,
    keepalive_at_ms: u64,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Clock {
    pub(super) fn new(now_ms: u64) -> Clock {
        Clock {
            connected_ms: now_ms,
            last_request_ms: None,
            refresh_at_ms: None,
            keepalive_every_ms: None,
            keepalive_at_ms: u64::MAX,
        }
    }

    /// Sends a keepalive every `every` (none when `None`), the first one
    /// `every` from `now_ms`.
    pub(super) fn set_keepalive(&mut self, every: Option<Duration>, now_ms: u64) {
        self.keepalive_every_ms = every.map(millis).map(|every| every.max(1));
        self.keepalive_at_ms = match self.keepalive_every_ms {
            Some(every) => now_ms.saturating_add(every),
            None => u64::MAX,
        };
    }

    /// A request (well-formed or not) arrived.
    pub(super) fn request(&mut self, now_ms: u64) {
        self.last_request_ms = Some(now_ms);
    }

    /// Reads the memory [`Clock::job_sent`] writes (see [`Session::warm`]).
    ///
    /// [`Session::warm`]: super::Session::warm
    pub(super) fn warm(&self) -> u64 {
        self.refresh_at_ms.unwrap_or(0)
    }

    /// A job was sent: the next refresh is a full period away.
    pub(super) fn job_sent(&mut self, now_ms: u64, timers: &SessionTimers) {
        self.refresh_at_ms = Some(now_ms.saturating_add(millis(timers.job_refresh).max(1)));
    }

    /// When the connection is closed unless a request comes first.
    pub(super) fn read_deadline_ms(&self, timers: &SessionTimers) -> u64 {
        match self.last_request_ms {
            None => self
                .connected_ms
                .saturating_add(millis(timers.first_message_timeout)),
            Some(last) => last.saturating_add(millis(timers.idle_timeout)),
        }
    }

    /// The earliest of the clock's own deadlines; refreshes count only when
    /// `refreshing` (the session is ready for work).
    pub(super) fn next_ms(&self, timers: &SessionTimers, refreshing: bool) -> u64 {
        let refresh = match self.refresh_at_ms {
            Some(at) if refreshing => at,
            _ => u64::MAX,
        };
        self.read_deadline_ms(timers)
            .min(refresh)
            .min(self.keepalive_at_ms)
    }

    /// What is due at `now_ms`; the keepalive is rescheduled here, the
    /// refresh when the job is sent again.
    pub(super) fn due(&mut self, now_ms: u64, timers: &SessionTimers, refreshing: bool) -> Due {
        let mut due = Due {
            read: now_ms >= self.read_deadline_ms(timers),
            ..Due::default()
        };
        if let Some(at) = self.refresh_at_ms
            && refreshing
            && now_ms >= at
        {
            due.refresh = true;
            // Rescheduled when the job goes out; pushed on in case it does not.
            self.job_sent(now_ms, timers);
        }
        if let Some(every) = self.keepalive_every_ms
            && now_ms >= self.keepalive_at_ms
        {
            due.keepalive = true;
            self.keepalive_at_ms = now_ms.saturating_add(every);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_000_000;

    fn timers() -> SessionTimers {
        SessionTimers {
            first_message_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            job_refresh: Duration::from_secs(30),
        }
    }

    #[test]
    fn the_first_message_has_its_own_deadline() {
        let mut clock = Clock::new(T0);
        assert_eq!(clock.read_deadline_ms(&timers()), T0 + 10_000);
        assert_eq!(clock.next_ms(&timers(), true), T0 + 10_000);
        assert!(!clock.due(T0 + 9_999, &timers(), true).read);
        assert!(clock.due(T0 + 10_000, &timers(), true).read);
        clock.request(T0 + 5_000);
        assert_eq!(clock.read_deadline_ms(&timers()), T0 + 605_000);
        let forever = SessionTimers {
            idle_timeout: Duration::MAX,
            ..timers()
        };
        assert_eq!(clock.read_deadline_ms(&forever), u64::MAX);
        let late = Clock::new(u64::MAX - 1);
        assert_eq!(late.read_deadline_ms(&timers()), u64::MAX);
    }

    #[test]
    fn refreshes_follow_the_last_job_sent_and_only_when_ready() {
        let mut clock = Clock::new(T0);
        clock.request(T0);
        assert_eq!(clock.next_ms(&timers(), true), T0 + 600_000, "no job yet");
        clock.job_sent(T0 + 1_000, &timers());
        assert_eq!(clock.next_ms(&timers(), true), T0 + 31_000);
        assert_eq!(clock.next_ms(&timers(), false), T0 + 600_000);
        clock.job_sent(T0 + 2_000, &timers());
        assert_eq!(clock.due(T0 + 31_000, &timers(), true), Due::default());
        let due = clock.due(T0 + 32_000, &timers(), true);
        assert!(due.refresh && !due.read && !due.keepalive);
        assert_eq!(clock.next_ms(&timers(), true), T0 + 62_000);
    }

    #[test]
    fn keepalives_repeat_at_their_period() {
        let mut clock = Clock::new(T0);
        clock.request(T0);
        clock.set_keepalive(Some(Duration::from_secs(20)), T0);
        assert_eq!(clock.next_ms(&timers(), true), T0 + 20_000);
        assert!(clock.due(T0 + 20_500, &timers(), true).keepalive);
        assert_eq!(clock.next_ms(&timers(), true), T0 + 40_500);
        assert!(!clock.due(T0 + 40_000, &timers(), true).keepalive);
        clock.set_keepalive(None, T0);
        assert_eq!(clock.next_ms(&timers(), true), T0 + 600_000);
    }
}
