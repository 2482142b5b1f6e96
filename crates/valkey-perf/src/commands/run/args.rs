//! The flags of `valkey-perf run`: raw clap input, lowered by [`super::plan`] before anything
//! starts. Nothing outside `commands::run` sees these types.

use crate::commands::logging::LogLevel;
use crate::source;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Start servers and drive load from this machine.
    Both,
    /// Start the servers of the config and keep them up until Ctrl-C.
    Server,
    /// Drive load against a server at --target-ip that this machine did not start.
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// valkey-perf's own load generator (the default unless --valkey-benchmark-path is given).
    Native,
    /// An external valkey-benchmark (or redis-benchmark) binary.
    ValkeyBenchmark,
}

/// Flags of `valkey-perf run`, grouped by concern. `--help` lists every flag by its
/// `display_order`, across the groups, so related flags of different groups stay together.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Where servers run: `both` (start and drive here), `server` (start and wait), `client`
    /// (drive --target-ip).
    #[arg(long, value_enum, default_value_t = Mode::Both, display_order = 0)]
    pub mode: Mode,
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub running: RunningArgs,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub cases: CaseArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What is benchmarked: git refs, prebuilt binaries, the baseline, the repository name.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Git refs to build and benchmark (HEAD, branch, tag, short or full SHA).
    #[arg(long, num_args = 1.., display_order = 11)]
    pub commits: Vec<String>,
    /// Git ref of the baseline the other targets are compared against.
    #[arg(long, display_order = 12)]
    pub baseline: Option<String>,
    /// Prebuilt valkey-server binary to benchmark as is (repeatable).
    #[arg(long = "server-bin", value_name = "FILE", display_order = 13)]
    pub server_bins: Vec<PathBuf>,
    /// Prebuilt valkey-server binary used as the baseline.
    #[arg(long, value_name = "FILE", display_order = 14)]
    pub baseline_server_bin: Option<PathBuf>,
    /// The baseline is a reference measured beside the other targets (the continuous loop):
    /// its records carry `reference_for` (their commits), so the database keeps them out of
    /// the baseline commit's own series while `detect-regression` pairs them round by round.
    #[arg(long, display_order = 15)]
    pub baseline_as_reference: bool,
    /// Repository `owner/name` stored in records (default: derived from a GitHub --valkey-repo).
    #[arg(long, value_name = "OWNER/NAME", display_order = 28)]
    pub repository: Option<String>,
}

/// The running server of `--mode client` / `--use-running-server`, and the address
/// `--mode server` advertises.
#[derive(Debug, Clone, Args)]
pub struct RunningArgs {
    /// Benchmark the server already listening at --target-ip/--port; never start or stop one.
    #[arg(long, display_order = 21)]
    pub use_running_server: bool,
    /// Address of the server in --mode client and with --use-running-server; in --mode server,
    /// the address clients on other machines use to reach this one (advertised by cluster
    /// nodes, named in the TLS certificate).
    #[arg(long, default_value = "127.0.0.1", display_order = 1)]
    pub target_ip: String,
    /// Port of the server in --mode client and with --use-running-server; in --mode server,
    /// the port of the (first) standalone server.
    #[arg(long, default_value_t = 6379, display_order = 2)]
    pub port: u16,
    /// --mode client / --use-running-server: the server at --target-ip is a cluster (a seed
    /// node of it).
    #[arg(long, display_order = 3)]
    pub cluster: bool,
    /// --mode client / --use-running-server: the server speaks TLS; trust this CA certificate
    /// (the path `--mode server` prints).
    #[arg(long, value_name = "FILE", display_order = 4)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate to present to a TLS server (with --tls-key and --tls-ca).
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"], display_order = 5)]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert", display_order = 6)]
    pub tls_key: Option<PathBuf>,
    /// --mode client / --use-running-server: the ACL user every connection (load, seeding,
    /// INFO, FLUSHALL, CONFIG SET, CLUSTER) authenticates as; needs a password.
    #[arg(long, value_name = "NAME", display_order = 7)]
    pub user: Option<String>,
    /// --mode client / --use-running-server: the password every connection authenticates
    /// with. Prefer the environment variable VALKEY_PERF_PASSWORD: a flag is visible to every
    /// user of this machine in the process list.
    #[arg(long, value_name = "PASSWORD", display_order = 8)]
    pub password: Option<String>,
}

/// Where Valkey is built from and cached.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Existing Valkey checkout to build in (instead of a cached mirror of --valkey-repo).
    #[arg(long, value_name = "DIR", display_order = 16)]
    pub valkey_path: Option<PathBuf>,
    /// Valkey repository URL or path to mirror and build from.
    #[arg(long, value_name = "URL|PATH", default_value = source::DEFAULT_REPO_URL, display_order = 17)]
    pub valkey_repo: String,
    /// Cache directory for mirrors and builds (default: $XDG_CACHE_HOME/valkey-perf).
    #[arg(long, value_name = "DIR", display_order = 18)]
    pub build_dir: Option<PathBuf>,
    /// Build even when a cached build of the commit exists.
    #[arg(long, display_order = 19)]
    pub no_build_cache: bool,
}

/// Which cases run, how many times, and what they measure.
#[derive(Debug, Clone, Args)]
pub struct CaseArgs {
    /// Config file: a JSON array of config objects.
    #[arg(
        long,
        default_value = "configs/benchmark-configs.json",
        display_order = 10
    )]
    pub config: PathBuf,
    /// --mode server: start the servers of these cases (numbered from 1 as `--dry-run` lists
    /// them; repeatable). Default: the first case.
    #[arg(long = "case", value_name = "N", display_order = 9)]
    pub cases: Vec<usize>,
    /// Run only these groups of a `test_groups` config (comma-separated group ids, e.g.
    /// `1,2`); cases of the basic shape are not affected.
    #[arg(long, value_name = "IDS", value_delimiter = ',', display_order = 26)]
    pub groups: Vec<String>,
    /// Run only these scenarios of a `test_groups` config (comma-separated ids with their
    /// option suffix, e.g. `a,b_nc`; `GROUP_ID` such as `1_a` picks one group's).
    #[arg(long, value_name = "IDS", value_delimiter = ',', display_order = 27)]
    pub scenarios: Vec<String>,
    /// Runs per case (each with a fresh server).
    #[arg(long, default_value_t = 1, display_order = 15)]
    pub runs: u32,
    /// Count instructions per request instead of timing: every server runs under valgrind's
    /// callgrind (as `benchmark_mode: "instructions"` in the config does for its cases).
    #[arg(long, display_order = 31)]
    pub instructions: bool,
    /// Measure capacity instead: per case a ladder of fixed open-loop rates (the closed-loop
    /// maximum first, then shares of it) until the latency SLO breaks (as
    /// `benchmark_mode: "capacity"` does; the config's `slo`, else p99 ≤ 1 ms). Needs
    /// `duration` (each step's length) and the native engine.
    #[arg(long, display_order = 33)]
    pub capacity: bool,
    /// Sample the servers once a second during every measured window (ops/s, clients,
    /// memory, hits and misses, the measured command's latency histogram, per-thread CPU) into
    /// `results/<target>/timeseries/` (as `per_second_sampling: true` does per config object).
    #[arg(long, display_order = 32)]
    pub sample: bool,
    /// The invocation's key seed: each case's keys in each round derive from it, the same
    /// for every target (default: from the invocation id, printed at the start; a config
    /// object's `seed` fixes its cases' seed instead).
    #[arg(long, value_name = "N", display_order = 33)]
    pub seed: Option<u64>,
    /// Keep adding rounds until every case's paired 95 % interval of new / baseline is
    /// narrower than ±PCT percent (a baseline and one other target; --runs is then the
    /// first rounds, at least 6).
    #[arg(long, value_name = "PCT", display_order = 34)]
    pub precision: Option<f64>,
    /// With --precision: start no round after this long (`90s`, `20m`, `1.5h`; default 1h);
    /// the cases that did not get there are named, exit 7.
    #[arg(long, value_name = "DUR", display_order = 35)]
    pub max_time: Option<String>,
    /// Duet runs: the two targets' servers run at the same time, each with its own load,
    /// server of one and client of the other sharing a CPU set, swapped every round (as
    /// `duet: true` does per config object). Host noise then hits both alike: the ratio is far
    /// steadier, the absolute rps is not a solo run's. Two targets, native engine, `duration`.
    #[arg(long, display_order = 36)]
    pub duet: bool,
}

/// The load generator and how long one of its runs may take.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Load generator.
    #[arg(long, value_enum, display_order = 24)]
    pub engine: Option<EngineChoice>,
    /// valkey-benchmark (or redis-benchmark) binary for the valkey-benchmark engine.
    #[arg(long, value_name = "FILE", display_order = 20)]
    pub valkey_benchmark_path: Option<PathBuf>,
    /// Longest one run may take (a running server's flush, seeding, warm-up and load) before
    /// it is stopped and counted as failed (default: only the load is bounded, by 60 s plus
    /// the configured duration, or 60 s plus 1 s per 2000 requests).
    #[arg(long, value_name = "SECONDS", display_order = 30)]
    pub run_timeout: Option<u64>,
}

/// Where results and logs go, and whether anything starts at all.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Directory results go into (one subdirectory per target).
    #[arg(long, default_value = "results", display_order = 22)]
    pub results_dir: PathBuf,
    /// Log level: error, warn, info, debug, trace.
    #[arg(
        long,
        value_enum,
        default_value_t = LogLevel::Info,
        hide_possible_values = true,
        display_order = 23
    )]
    pub log_level: LogLevel,
    /// Print the plan (targets and cases) and start nothing.
    #[arg(long, display_order = 25)]
    pub dry_run: bool,
    /// With a baseline, also draw graphs next to report.md.
    #[arg(long, display_order = 29)]
    pub graphs: bool,
}

impl RunArgs {
    /// Whether this run drives a server valkey-perf did not start (`--mode client` or
    /// `--use-running-server`): nothing is built or started for it.
    pub fn client_only(&self) -> bool {
        self.running.use_running_server || self.mode == Mode::Client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn log_level_is_checked_by_clap() {
        let parse = |args: &[&str]| Cmd::try_parse_from([&["run"], args].concat());
        assert_eq!(parse(&[]).unwrap().run.output.log_level, LogLevel::Info);
        let debug = parse(&["--log-level", "debug"]).unwrap();
        assert_eq!(debug.run.output.log_level.as_str(), "debug");
        let err = parse(&["--log-level", "loud"]).err().unwrap();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(
            msg.contains("'loud'") && msg.contains("error, warn, info, debug, trace"),
            "{msg}"
        );
    }

    #[test]
    fn client_only_is_mode_client_or_a_running_server() {
        let parse = |args: &[&str]| Cmd::try_parse_from([&["run"], args].concat()).unwrap();
        assert!(!parse(&[]).run.client_only());
        assert!(parse(&["--mode", "client"]).run.client_only());
        assert!(parse(&["--use-running-server"]).run.client_only());
        assert!(!parse(&["--mode", "server"]).run.client_only());
    }
}
