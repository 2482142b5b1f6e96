//! Shared support for the real-server tests, one file per job: finding the binaries
//! ([`bins`]), private temp dirs and the records read back from them ([`scratch`]), running
//! the `valkey-perf` binary ([`runner`]), test inputs ([`fixtures`]), free ports and guards
//! around servers or clusters the test starts itself ([`guards`]), a minimal RESP client for
//! checking servers from the outside ([`resp`]), and `/proc` scans for leftover processes
//! ([`procs`]).
//!
//! Nothing here signals a process the test did not start (directly or through the
//! `valkey-perf` child it spawned).

mod bins;
mod fixtures;
mod guards;
mod procs;
mod resp;
mod runner;
mod scratch;

pub use bins::{
    Bins, REDIS_BENCHMARK, deps_dir, redis_benchmark, redis_server, require, valkey_server,
};
pub use fixtures::{cluster_topology, record, rps_regressions, small_object, standalone_topology};
pub use guards::{ChildGuard, ServerGuard, TestCluster, wait_for};
pub use procs::{
    assert_no_server_left, is_running_binary, pid_in_server_log, processes_of, server_logs,
};
pub use resp::Resp;
pub use runner::{PASSWORD_ENV, config_validate, stderr_of, stdout_of};
pub use scratch::Scratch;
