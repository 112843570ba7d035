//! Stopping a child process as an operator or a service manager does.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// How often the exit is polled while waiting.
const POLL: Duration = Duration::from_millis(50);

/// Sends SIGTERM to `child` and waits up to `grace` for it to exit: its exit
/// status, or `None` when it was still running at the deadline (it is then
/// killed). Blocks the calling thread.
pub fn stop_with_sigterm(child: &mut Child, grace: Duration) -> io::Result<Option<ExitStatus>> {
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    if !sent.success() {
        return Err(io::Error::other(format!("kill -TERM exited with {sent}")));
    }
    let deadline = Instant::now() + grace;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Ok(None);
        }
        thread::sleep(POLL);
    }
}
