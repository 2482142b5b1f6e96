//! Operating-system helpers for worker threads: CPU pinning, the CPUs a thread may run on,
//! and per-thread CPU time and run-queue wait.

use std::time::Duration;

/// Why a worker thread could not be pinned to its CPU.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("CPU {cpu} cannot be used for pinning: {errno}")]
    NoSuchCpu { cpu: usize, errno: nix::Error },
    #[error("cannot pin a client thread to CPU {cpu}: {errno}")]
    Affinity { cpu: usize, errno: nix::Error },
}

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> Result<(), PinError> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .map_err(|errno| PinError::NoSuchCpu { cpu, errno })?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|errno| PinError::Affinity { cpu, errno })
}

/// The CPUs the calling thread may run on, read back from the kernel (empty when unknown).
pub(crate) fn current_thread_cpus() -> Vec<usize> {
    let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

/// CPU time (user + system) consumed so far by the calling thread.
pub(crate) fn thread_cpu_time() -> Duration {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID) {
        Ok(ts) => Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32),
        Err(_) => Duration::ZERO,
    }
}

/// Time the calling thread has spent runnable but waiting for a CPU (the run-queue wait, the
/// second field of `/proc/thread-self/schedstat`); `None` where the kernel does not say.
pub(crate) fn thread_runqueue_wait() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    parse_schedstat_wait(&text)
}

/// The run-queue wait of a `schedstat` line: `<on-cpu ns> <waiting ns> <timeslices>`.
fn parse_schedstat_wait(text: &str) -> Option<Duration> {
    let ns: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_wait_is_the_second_field() {
        assert_eq!(
            parse_schedstat_wait("46902910 70158162 131\n"),
            Some(Duration::from_nanos(70_158_162))
        );
        assert_eq!(parse_schedstat_wait("12"), None);
        assert!(thread_runqueue_wait().is_some(), "Linux has schedstat");
        assert!(!current_thread_cpus().is_empty());
    }
}
