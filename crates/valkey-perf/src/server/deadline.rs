//! How long a control wait may last: [`RunEnd`], the cap `--run-timeout` puts on every
//! control connection's connect, read and write, and [`Unresponsive`], a live server that did
//! not answer within it. Imports nothing inside `server/`.

use std::time::{Duration, Instant};

/// The end of the run under way, when `--run-timeout` bounds it: no control connection waits
/// past it (connect, read or write), so a server that stopped answering cannot stretch a run
/// beyond its timeout. Set for the length of a run by [`RunEnd::until`]; one run at a time.
pub struct RunEnd(());

static RUN_END: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

/// Shortest wait a capped control call still gets, so cleanup after a run that hit its
/// timeout (closing the instruments, stopping the servers) can still talk to a live server.
const MIN_CAPPED_WAIT: Duration = Duration::from_millis(250);

impl RunEnd {
    /// Caps control I/O at `end` until the returned guard is dropped (`None`: no cap).
    pub fn until(end: Option<Instant>) -> RunEnd {
        *RUN_END.lock().unwrap_or_else(|e| e.into_inner()) = end;
        RunEnd(())
    }

    /// Moves the end of the run this guard caps.
    pub fn reset(&self, end: Option<Instant>) {
        *RUN_END.lock().unwrap_or_else(|e| e.into_inner()) = end;
    }

    /// `timeout`, cut to the time left until the run's end.
    pub fn cap(timeout: Duration) -> Duration {
        match *RUN_END.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(end) => timeout.min(
                end.saturating_duration_since(Instant::now())
                    .max(MIN_CAPPED_WAIT),
            ),
            None => timeout,
        }
    }
}

impl Drop for RunEnd {
    fn drop(&mut self) {
        *RUN_END.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// A live server that did not answer in time: busy with a long command (`DEBUG SLEEP`, a big
/// `KEYS`), stopped (SIGSTOP), or overloaded. Not a dead server: its socket is open.
#[derive(Debug, thiserror::Error)]
#[error(
    "the server at `{addr}` did not answer within {waited:.1?}: it is alive but unresponsive \
     (busy with a long command such as DEBUG SLEEP, stopped, or overloaded)"
)]
pub struct Unresponsive {
    pub addr: String,
    pub waited: Duration,
}

/// Whether an error chain says a server was alive but did not answer in time.
pub fn is_unresponsive(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Unresponsive>())
}
