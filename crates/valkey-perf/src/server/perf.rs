//! Profiling servers with Linux `perf` (`profiling_sets`): `perf record -e cpu-clock -g`
//! attached to every server process for the measured window, then `perf script` for the
//! samples as text. `cpu-clock` is a software event, so it works in virtual machines that
//! expose no hardware counters. Folding and drawing the samples is `results::flamegraph`'s job.
//!
//! May import `process` only.

use crate::process::{ManagedChild, run_bounded};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long `perf script` may take to turn a recording into text.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(300);

/// Why profiling cannot run here, if it cannot: `perf` missing, or not allowed to attach to
/// another process (`kernel.perf_event_paranoid` above 1 without the capability).
pub fn check_available() -> Result<()> {
    let mut cmd = Command::new("perf");
    cmd.arg("--version");
    match run_bounded(cmd, Duration::from_secs(10), None, &mut || false) {
        Ok(done) if done.status.success() => {}
        _ => bail!("`perf` is not installed or does not run (Debian: apt-get install linux-perf)"),
    }
    // Root (or CAP_PERFMON) may attach whatever the paranoia level; others need at most 1.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    if !root && paranoid.is_some_and(|p| p > 1) {
        bail!(
            "`kernel.perf_event_paranoid` is {} and valkey-perf is not root, so `perf` may not attach to the servers (sysctl -w kernel.perf_event_paranoid=1, or run as root)",
            paranoid.unwrap_or_default()
        );
    }
    Ok(())
}

/// A `perf record` attached to server processes.
pub struct Recording {
    child: ManagedChild,
    data: PathBuf,
}

impl Recording {
    /// Attaches to `pids` (all their threads), sampling `freq` times a second with call
    /// graphs, after `delay`; writes `data`, with perf's own messages in `log`.
    pub fn start(
        pids: &[u32],
        freq: u32,
        delay: Duration,
        data: &Path,
        log: &Path,
    ) -> Result<Recording> {
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        let mut cmd = Command::new("perf");
        cmd.args(["record", "-e", "cpu-clock", "-g", "-F"])
            .arg(freq.to_string())
            .arg("-p")
            .arg(list.join(","))
            .arg("-o")
            .arg(data);
        if !delay.is_zero() {
            cmd.arg("-D").arg(delay.as_millis().to_string());
        }
        let child = ManagedChild::spawn("perf record", cmd, log, None)?;
        Ok(Recording {
            child,
            data: data.to_path_buf(),
        })
    }

    /// Stops the recording (perf writes its data on SIGTERM) and checks it left a file.
    pub fn finish(mut self) -> Result<PathBuf> {
        let early = self.child.try_exit_status();
        self.child.stop();
        if let Some(status) = early {
            bail!(
                "`perf record` exited during the window ({}): {}",
                crate::process::describe_status(status),
                self.child.log_tail(5)
            );
        }
        let size = std::fs::metadata(&self.data).map(|m| m.len()).unwrap_or(0);
        if size == 0 {
            bail!(
                "`perf record` left no data in `{}`: {}",
                self.data.display(),
                self.child.log_tail(5)
            );
        }
        Ok(self.data.clone())
    }
}

/// The samples of a recording as text (`perf script`), for folding.
pub fn script(data: &Path) -> Result<String> {
    let mut cmd = Command::new("perf");
    cmd.arg("script").arg("-i").arg(data);
    let done = run_bounded(cmd, SCRIPT_DEADLINE, None, &mut || false)
        .with_context(|| format!("running `perf script -i {}`", data.display()))?;
    if !done.status.success() {
        bail!(
            "`perf script -i {}` failed ({}): {}",
            data.display(),
            crate::process::describe_status(done.status),
            crate::util::tail_of_text(&done.stderr, 5)
        );
    }
    Ok(done.stdout)
}
