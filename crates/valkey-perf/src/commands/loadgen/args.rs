//! `valkey-perf loadgen`'s command line: valkey-benchmark's flags, and the checks that refuse
//! a flag that makes no run before anything connects.

use crate::exit;
use clap::{ArgAction, Args};
use std::path::PathBuf;

/// valkey-benchmark-compatible flags.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct LoadgenArgs {
    /// Server hostname.
    #[arg(short = 'h', long = "host", default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(short = 'p', long = "port", default_value_t = 6379)]
    pub port: u16,
    /// Server unix socket (overrides host and port).
    #[arg(short = 's', long = "socket")]
    pub socket: Option<PathBuf>,
    /// Password for AUTH (also read from VALKEY_PERF_PASSWORD).
    #[arg(
        short = 'a',
        long = "pass",
        env = "VALKEY_PERF_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// User for AUTH (ACL), used with -a.
    #[arg(long = "user")]
    pub user: Option<String>,
    /// Number of parallel connections.
    #[arg(short = 'c', long = "clients", default_value_t = 50)]
    pub clients: usize,
    /// Total number of requests (ignored with --duration).
    #[arg(short = 'n', long = "requests", default_value_t = 100_000)]
    pub requests: u64,
    /// Run for this many seconds instead of a request count.
    #[arg(long = "duration")]
    pub duration: Option<f64>,
    /// Data size of SET/GET values in bytes.
    #[arg(short = 'd', long = "datasize", default_value_t = 3)]
    pub data_size: usize,
    /// Pipeline depth: requests in flight per connection (sliding window).
    #[arg(short = 'P', long = "pipeline", default_value_t = 1)]
    pub pipeline: usize,
    /// Keyspace length: __rand_int__ is replaced by a number in 0..keyspacelen.
    #[arg(short = 'r', long = "keyspacelen")]
    pub keyspacelen: Option<u64>,
    /// Comma-separated tests (set,get,incr,lpush,rpush,lpop,rpop,sadd,spop,hset,zadd,
    /// zpopmin,lrange,lrange_100..600,mset,mget,xadd,ping,ping_inline,ping_mbulk, and the
    /// reads sismember,zscore,zrange,xrange, which need their data written first).
    #[arg(short = 't', long = "tests")]
    pub tests: Option<String>,
    /// Quiet: one line per test.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// CSV output.
    #[arg(long = "csv")]
    pub csv: bool,
    /// Worker threads.
    #[arg(long = "threads", default_value_t = 1)]
    pub threads: usize,
    /// Cluster mode: discover the slots and route requests by key.
    #[arg(long = "cluster")]
    pub cluster: bool,
    /// Cluster reads from replicas: `no` (the primaries), `yes` (the replicas, after
    /// READONLY) or `all` (primaries and replicas). Read tests and custom commands only;
    /// write tests keep the primaries.
    #[arg(long = "rfr", value_name = "no|yes|all", value_parser = ["no", "yes", "all"])]
    pub rfr: Option<String>,
    /// Connect with TLS.
    #[arg(long = "tls")]
    pub tls: bool,
    /// CA certificate file to verify the server.
    #[arg(long = "cacert")]
    pub cacert: Option<PathBuf>,
    /// Client certificate file.
    #[arg(long = "cert")]
    pub cert: Option<PathBuf>,
    /// Client private key file.
    #[arg(long = "key")]
    pub key: Option<PathBuf>,
    /// TLS server name (SNI).
    #[arg(long = "sni")]
    pub sni: Option<String>,
    /// Warm-up seconds whose statistics are discarded.
    #[arg(long = "warmup", default_value_t = 0.0)]
    pub warmup: f64,
    /// Fixed total request rate (requests per second); latency then counts from each
    /// request's intended send time.
    #[arg(long = "rps")]
    pub rps: Option<f64>,
    /// Seed for random keys (default: time based; printed with --json).
    #[arg(long = "seed")]
    pub seed: Option<u64>,
    /// Sequential keys instead of random ones (the same as `--key-distribution sequential`).
    #[arg(long = "sequential")]
    pub sequential: bool,
    /// How __rand_int__ numbers are drawn: `uniform` (default), `sequential`, or
    /// `zipf:<exponent>` (hot keys, key 0 hottest, e.g. `zipf:0.99`).
    #[arg(long = "key-distribution", value_name = "DIST")]
    pub key_distribution: Option<String>,
    /// SELECT this database number.
    #[arg(long = "dbnum")]
    pub dbnum: Option<u32>,
    /// Speak RESP3 (HELLO 3).
    #[arg(short = '3')]
    pub resp3: bool,
    /// Pin the client threads to these CPUs (e.g. `1`, `2-3`, `0,2`).
    #[arg(long = "cpu-list")]
    pub cpu_list: Option<String>,
    /// Share of failed requests tolerated (0.0 to 1.0); any error fails by default.
    #[arg(long = "max-error-share", default_value_t = 0.0)]
    pub max_error_share: f64,
    /// Write every run's full report (percentiles, time series, histograms) as JSON.
    #[arg(long = "json")]
    pub json: Option<PathBuf>,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// A command to benchmark instead of the tests, with placeholders __rand_int__,
    /// __data__ and {tag}.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `--cpu-list` in the same syntax as the config's CPU ranges (one parser for both).
pub(super) fn parse_cpu_list(s: &str) -> anyhow::Result<Vec<usize>> {
    crate::model::case::CpuSet::parse(s)
        .map(|set| set.cpus.into_iter().collect())
        .map_err(|e| exit::usage(format!("`--cpu-list {s}`: {e}")))
}

/// The flags whose zero (or out-of-range) value makes no run: a usage error naming the flag
/// and the range, before anything connects.
pub(super) fn check_ranges(args: &LoadgenArgs) -> anyhow::Result<()> {
    let at_least_one = [
        ("-c", args.clients as u64),
        ("-P", args.pipeline as u64),
        ("--threads", args.threads as u64),
        (
            "-n",
            if args.duration.is_some() {
                1
            } else {
                args.requests
            },
        ),
        ("-r", args.keyspacelen.unwrap_or(1)),
    ];
    for (flag, value) in at_least_one {
        if value == 0 {
            return Err(exit::usage(format!(
                "`{flag} 0`: {flag} must be at least 1"
            )));
        }
    }
    if let Some(rps) = args.rps.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(exit::usage(format!(
            "`--rps {rps}`: the request rate must be a positive number of requests per second"
        )));
    }
    let share = args.max_error_share;
    if !(0.0..=1.0).contains(&share) {
        return Err(exit::usage(format!(
            "`--max-error-share {share}`: a share lies between 0 and 1 (0.01 tolerates 1 % of requests failing)"
        )));
    }
    Ok(())
}
