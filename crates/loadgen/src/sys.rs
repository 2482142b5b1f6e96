//! Operating-system helpers for worker threads: CPU pinning and per-thread CPU time.

use std::time::Duration;

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .map_err(|e| format!("CPU {cpu} cannot be used for pinning: {e}"))?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| format!("cannot pin a client thread to CPU {cpu}: {e}"))
}

/// CPU time (user + system) consumed so far by the calling thread.
pub(crate) fn thread_cpu_time() -> Duration {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID) {
        Ok(ts) => Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32),
        Err(_) => Duration::ZERO,
    }
}
