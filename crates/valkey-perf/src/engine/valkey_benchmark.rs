//! The external engine: `valkey-benchmark` (or `redis-benchmark`, which shares its CSV).
//!
//! Builds upstream's command lines, detects what the given binary supports and adapts where
//! the result is exactly the same (warm-up as a separate timed run), refuses otherwise with a
//! message naming the flag, bounds every child with a deadline, and parses `--csv` output.

use super::Measurement;
use crate::model::{
    BenchmarkMode, Builtin, Case, CaseCommand, Metrics, ReadFromReplicas, ScenarioKind,
};
use crate::server::process::{self, RunError};
use anyhow::{Context, Result, bail};
use loadgen::{Address, csv_fields};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Flags whose presence differs between builds (older valkey-benchmark, redis-benchmark).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub duration: bool,
    pub warmup: bool,
    pub sequential: bool,
    pub seed: bool,
    pub threads: bool,
    pub cluster: bool,
    pub tls: bool,
    /// The binary has a built-in XADD test (`-t xadd`); redis-benchmark 7.0 does not.
    pub xadd_test: bool,
    /// The binary replaces `__data__` in a custom command with a `-d`-byte value.
    pub data_placeholder: bool,
    /// `--rfr no|yes|all`: cluster reads from replicas (valkey-benchmark 8 and later).
    pub rfr: bool,
    /// `--dataset FILE` (and `--maxdocs`) fill `__field:NAME__` in a custom command.
    pub dataset: bool,
}

impl Capabilities {
    /// Reads the capabilities from the binary's `--help` text.
    pub fn from_help(help: &str) -> Capabilities {
        let has = |flag: &str| {
            help.split(|c: char| c.is_whitespace() || c == ',')
                .any(|word| word == flag)
        };
        Capabilities {
            duration: has("--duration"),
            warmup: has("--warmup"),
            sequential: has("--sequential"),
            seed: has("--seed"),
            threads: has("--threads"),
            cluster: has("--cluster"),
            tls: has("--tls"),
            xadd_test: true,
            data_placeholder: help.contains("__data__"),
            rfr: has("--rfr"),
            dataset: has("--dataset"),
        }
    }
}

/// A probed benchmark binary.
#[derive(Debug, Clone)]
pub struct ValkeyBenchmark {
    pub path: PathBuf,
    /// `--version` output, e.g. `redis-benchmark 7.0.15`.
    pub version: String,
    pub caps: Capabilities,
}

/// The `-t` test name for a built-in workload, or `None` when it needs a custom command line.
fn test_name(command: Builtin) -> Option<&'static str> {
    Some(match command {
        Builtin::Set => "set",
        Builtin::Get => "get",
        Builtin::Incr => "incr",
        Builtin::Lpush => "lpush",
        Builtin::Rpush => "rpush",
        Builtin::Lpop => "lpop",
        Builtin::Rpop => "rpop",
        Builtin::Sadd => "sadd",
        Builtin::Spop => "spop",
        Builtin::Hset => "hset",
        Builtin::Zadd => "zadd",
        Builtin::Zpopmin => "zpopmin",
        Builtin::Lrange(_) => "lrange_100",
        Builtin::Mset(_) => "mset",
        Builtin::Xadd => "xadd",
        Builtin::Ping => "ping_mbulk",
        Builtin::PingInline => "ping_inline",
        Builtin::Mget(_)
        | Builtin::Sismember
        | Builtin::Zscore
        | Builtin::Zrange(_)
        | Builtin::Xrange(_) => return None,
    })
}

/// The custom command line (valkey-benchmark's `COMMAND ARGS...` form) for a workload
/// without a built-in test: the native engine's key and member names, so valkey-perf's
/// seeding serves both engines.
fn custom_command(command: Builtin, cluster: bool) -> Vec<String> {
    let command = match command {
        Builtin::Mget(_) => Builtin::Mget(MGET_KEYS),
        c => c,
    };
    loadgen::builtin_args(command, cluster)
}

/// Keys per MGET call: MSET in valkey-benchmark writes 10 keys per call, MGET reads as many.
const MGET_KEYS: u32 = 10;

impl ValkeyBenchmark {
    /// Probes `path` for its version and flags.
    pub fn probe(path: &Path) -> Result<ValkeyBenchmark> {
        let run = |arg: &str| -> Result<String> {
            let mut cmd = std::process::Command::new(path);
            cmd.arg(arg);
            let done = process::run_bounded(cmd, Duration::from_secs(10), None, &mut || false)
                .with_context(|| format!("probing benchmark binary `{}`", path.display()))?;
            Ok(format!("{}{}", done.stdout, done.stderr))
        };
        let version_text = run("--version")?;
        let version = version_text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("unknown")
            .to_string();
        let help = run("--help")?;
        if !help.contains("--csv") {
            bail!(
                "`{}` does not look like valkey-benchmark (no `--csv` in its --help); pass a valkey-benchmark or redis-benchmark binary with --valkey-benchmark-path",
                path.display()
            );
        }
        Ok(ValkeyBenchmark {
            path: path.to_path_buf(),
            version,
            caps: Capabilities {
                // The built-in test's command format is compiled into the binary.
                xadd_test: std::fs::read(path)
                    .map(|bytes| bytes.windows(13).any(|w| w == b"XADD mystream"))
                    .unwrap_or(true),
                ..Capabilities::from_help(&help)
            },
        })
    }

    /// Why this binary cannot run `case` exactly as configured, naming the missing flag and
    /// what to do, or `Ok` when it can (possibly by adapting, see the module docs).
    pub fn check(&self, case: &Case) -> std::result::Result<(), String> {
        let who = format!("`{}` ({})", self.path.display(), self.version);
        let fix =
            "pass a newer valkey-benchmark with --valkey-benchmark-path, or use --engine native";
        // `other` is a way out within the config, offered before the engine ones.
        let refuse_or = |flag: &str, what: &str, other: &str| {
            Err(format!(
                "config[{}] {what}, but {who} has no `{flag}`; {other}{fix}",
                case.config_index
            ))
        };
        let refuse = |flag: &str, what: &str| refuse_or(flag, what, "");
        if let Some(s) = case.scenario() {
            let name = s.name();
            if s.kind == ScenarioKind::Mixed {
                return Err(format!(
                    "config[{}] scenario `{name}` is \"mixed\": its write and read streams must start and stop together with a histogram each, and one valkey-benchmark process runs one command stream (upstream averages the percentiles of separate processes instead); use --engine native",
                    case.config_index
                ));
            }
            if s.parallel && case.topology.cluster {
                return Err(format!(
                    "config[{}] scenario `{name}` sets `cluster_execution: \"parallel\"`: one valkey-benchmark process per primary, whose percentiles could only be averaged, not merged; use --engine native (one load generator, a client stream per primary, one histogram)",
                    case.config_index
                ));
            }
            if s.dataset.is_some() && !self.caps.dataset {
                return refuse("--dataset", &format!("scenario `{name}` sets `dataset`"));
            }
            if s.sequential && !self.caps.sequential {
                return refuse(
                    "--sequential",
                    &format!("scenario `{name}` sets `sequential`"),
                );
            }
            if let Some(arg) = s
                .streams
                .iter()
                .flat_map(|st| &st.args)
                .find(|a| a.contains("__data__"))
            {
                if !self.caps.data_placeholder {
                    return Err(format!(
                        "config[{}] scenario `{name}` uses `__data__` (in `{arg}`), which {who} does not replace in a custom command (it replaces `__rand_int__`, and `{{tag}}` in cluster mode); write the value into the command, or use --engine native",
                        case.config_index
                    ));
                }
            }
            if let Some(arg) = s
                .streams
                .iter()
                .flat_map(|st| &st.args)
                .find(|a| a.starts_with('-'))
            {
                return Err(format!(
                    "config[{}] scenario `{name}` has the argument `{arg}`, which {who} would read as one of its own options; use --engine native",
                    case.config_index
                ));
            }
        }
        if !case.key_distribution.is_uniform() {
            return Err(format!(
                "config[{}] sets `key_distribution: {}`, but valkey-benchmark draws keys uniformly only; use --engine native (the default) or remove `key_distribution`",
                case.config_index, case.key_distribution
            ));
        }
        if matches!(case.mode, BenchmarkMode::Duration(_)) && !self.caps.duration {
            return refuse_or("--duration", "sets `duration`", "use `requests` instead, ");
        }
        if case.seed.is_some() && !self.caps.seed {
            return refuse_or("--seed", "sets `seed`", "remove it, ");
        }
        if case.client_threads.is_some() && !self.caps.threads {
            return refuse("--threads", "sets `benchmark-threads`");
        }
        if case.topology.cluster && !self.caps.cluster {
            return refuse("--cluster", "uses cluster mode");
        }
        if case.topology.tls && !self.caps.tls {
            return refuse("--tls", "uses TLS");
        }
        if case.read_from_replicas != ReadFromReplicas::No && !self.caps.rfr {
            return refuse("--rfr", "sets `read_from_replicas`");
        }
        Ok(())
    }

    /// The measured command line for `case` (upstream's flags, in upstream's order).
    pub fn command(
        &self,
        case: &Case,
        target: &Address,
        warmup_only: bool,
    ) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.path);
        cmd.args(["-h", &target.host, "-p", &target.port.to_string()])
            .args(["-c", &case.clients.to_string()]);
        match (case.mode, warmup_only) {
            // A warm-up run is stopped by its deadline; ask for more requests than it can do.
            (_, true) => {
                cmd.args(["-n", &i32::MAX.to_string()]);
            }
            (BenchmarkMode::Requests(n), false) => {
                cmd.args(["-n", &n.to_string()]);
            }
            (BenchmarkMode::Duration(secs), false) => {
                cmd.args(["--duration", &secs.to_string()]);
            }
        }
        cmd.args(["-r", &case.keyspacelen.to_string()])
            .args(["-d", &case.data_size.to_string()])
            .args(["-P", &case.pipeline.to_string()]);
        if let Some(threads) = case.client_threads {
            cmd.args(["--threads", &threads.to_string()]);
        }
        if target.cluster {
            cmd.arg("--cluster");
            if case.read_from_replicas != ReadFromReplicas::No {
                cmd.args(["--rfr", &case.read_from_replicas.to_string()]);
            }
        }
        if let Some(tls) = &target.tls {
            cmd.arg("--tls").arg("--cacert").arg(&tls.ca);
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                cmd.arg("--cert").arg(cert).arg("--key").arg(key);
            }
            if let Some(sni) = &tls.sni {
                cmd.args(["--sni", sni]);
            }
        }
        if let Some(seed) = case.seed {
            cmd.args(["--seed", &seed.to_string()]);
        }
        if case.warmup_secs > 0 && self.caps.warmup && !warmup_only {
            cmd.args(["--warmup", &case.warmup_secs.to_string()]);
        }
        if !warmup_only {
            cmd.arg("--csv");
        }
        let command = match &case.command {
            CaseCommand::Builtin(c) => *c,
            CaseCommand::Scenario(s) => {
                if s.sequential {
                    cmd.arg("--sequential");
                }
                if let Some(d) = &s.dataset {
                    cmd.arg("--dataset").arg(d);
                    if let Some(m) = s.maxdocs {
                        cmd.args(["--maxdocs", &m.to_string()]);
                    }
                }
                // `check` refused scenarios with more than one stream.
                if let Some(stream) = s.streams.first() {
                    cmd.args(&stream.args);
                }
                return cmd;
            }
        };
        match test_name(command) {
            // Without the built-in test, the same command as a custom command line: XADD to
            // one stream with one field of `data_size` bytes.
            Some(_) if command == Builtin::Xadd && !self.caps.xadd_test => {
                let key = if target.cluster {
                    "mystream:{tag}"
                } else {
                    "mystream"
                };
                cmd.args(["XADD", key, "*", "myfield"]);
                cmd.arg("x".repeat(case.data_size as usize));
            }
            Some(t) => {
                cmd.args(["-t", t]);
            }
            None => {
                cmd.args(custom_command(command, target.cluster));
            }
        }
        cmd
    }

    /// Whether warm-up needs its own timed run (the binary has no `--warmup`).
    pub fn needs_separate_warmup(&self, case: &Case) -> bool {
        case.warmup_secs > 0 && !self.caps.warmup
    }

    /// Runs the case's load for `warmup_secs` and discards it (for binaries without
    /// `--warmup`): the same command line, stopped by its deadline.
    pub fn warmup(
        &self,
        case: &Case,
        target: &Address,
        abort: &mut dyn FnMut() -> bool,
    ) -> Result<()> {
        let cmd = self.command(case, target, true);
        let secs = Duration::from_secs(case.warmup_secs);
        match process::run_bounded(cmd, secs, case.client_cpus.as_ref(), abort) {
            Ok(done) if !done.status.success() => bail!(
                "warm-up run ended early ({}): {}",
                process::describe_status(done.status),
                crate::util::tail_of_text(&done.stderr, 10)
            ),
            Ok(_) | Err(RunError::Timeout { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs the measured load and parses its CSV.
    pub fn measure(
        &self,
        case: &Case,
        target: &Address,
        deadline: Duration,
        abort: &mut dyn FnMut() -> bool,
    ) -> Result<Measurement> {
        let cmd = self.command(case, target, false);
        let line = process::command_line(&cmd);
        tracing::debug!("running {line}");
        let done = process::run_bounded(cmd, deadline, case.client_cpus.as_ref(), abort)?;
        if !done.status.success() {
            bail!(
                "`{line}` failed ({}); last output:\n{}",
                process::describe_status(done.status),
                crate::util::tail_of_text(&format!("{}{}", done.stdout, done.stderr), 10)
            );
        }
        let metrics =
            parse_csv(&done.stdout).with_context(|| format!("reading the CSV of `{line}`"))?;
        let benchmark = crate::model::BenchmarkFigures {
            engine_command_line: Some(line),
            server_errors: server_errors(&format!("{}{}", done.stdout, done.stderr)),
        };
        Ok(Measurement {
            metrics,
            parts: crate::model::RecordParts {
                benchmark: Some(benchmark),
                ..Default::default()
            },
            client_cpus: done.cpus_allowed,
            ..Measurement::default()
        })
    }
}

/// The error replies valkey-benchmark printed (`Error from server: ...`), distinct and joined,
/// or `None` when there were none.
fn server_errors(output: &str) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for line in output.lines() {
        if let Some(e) = line.split("Error from server: ").nth(1) {
            let e = e.trim();
            if !seen.contains(&e) {
                seen.push(e);
            }
        }
    }
    (!seen.is_empty()).then(|| seen.join("; "))
}

const CSV_HEADER: [&str; 8] = [
    "test",
    "rps",
    "avg_latency_ms",
    "min_latency_ms",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "max_latency_ms",
];

/// Parses valkey-benchmark `--csv` output. Banner and warning lines before the header are
/// skipped; the last data row is the measured test (LRANGE runs its LPUSH fill first); a
/// header without rows is an error.
pub fn parse_csv(text: &str) -> Result<Metrics> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    // Progress output may share a line with the header through carriage returns.
    let header_at = lines.by_ref().position(|l| {
        l.rsplit('\r')
            .next()
            .is_some_and(|l| l.starts_with("\"test\",\"rps\""))
    });
    if header_at.is_none() {
        bail!(
            "no CSV header (\"test\",\"rps\",...) in the output; got:\n{}",
            crate::util::tail_of_text(text, 10)
        );
    }
    let rows: Vec<Vec<String>> = lines
        .filter(|l| l.starts_with('"'))
        .map(csv_fields)
        .collect();
    let Some(row) = rows.last() else {
        bail!("the CSV has a header but no result rows: the benchmark measured nothing");
    };
    if row.len() < CSV_HEADER.len() {
        bail!(
            "CSV row {row:?} has {} fields, expected {}",
            row.len(),
            CSV_HEADER.len()
        );
    }
    let num = |i: usize| -> Result<f64> {
        let v: f64 = row[i].trim().parse().with_context(|| {
            format!(
                "field `{}` of row {:?} is not a number",
                CSV_HEADER[i], row[0]
            )
        })?;
        if !v.is_finite() || v < 0.0 {
            bail!("field `{}` of row {:?} is {v}", CSV_HEADER[i], row[0]);
        }
        Ok(v)
    };
    Ok(Metrics {
        rps: num(1)?,
        avg_latency_ms: num(2)?,
        min_latency_ms: num(3)?,
        p50_latency_ms: num(4)?,
        p95_latency_ms: num(5)?,
        p99_latency_ms: num(6)?,
        max_latency_ms: num(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/benchmark")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn parses_standalone_csv_with_banner() {
        let m = parse_csv(&fixture("redis-benchmark-7.0-standalone-set.csv")).unwrap();
        assert!(m.rps > 0.0);
        assert!(m.min_latency_ms <= m.p50_latency_ms && m.p50_latency_ms <= m.max_latency_ms);
    }

    #[test]
    fn takes_the_lrange_row_after_its_fill() {
        let m = parse_csv(&fixture("redis-benchmark-7.0-lrange.csv")).unwrap();
        let text = fixture("redis-benchmark-7.0-lrange.csv");
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("\"LRANGE_100"));
        assert_eq!(m.rps, csv_fields(last)[1].parse::<f64>().unwrap());
    }

    #[test]
    fn parses_cluster_csv_with_its_banner() {
        let m = parse_csv(&fixture("redis-benchmark-7.0-cluster-get.csv")).unwrap();
        assert!(m.rps > 0.0);
    }

    #[test]
    fn header_without_rows_is_an_error() {
        let err = parse_csv("\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n").unwrap_err();
        assert!(err.to_string().contains("no result rows"), "{err}");
    }

    #[test]
    fn missing_header_is_an_error_with_the_output() {
        let err = parse_csv("Could not connect to server at 127.0.0.1:1: Connection refused\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("no CSV header") && msg.contains("Connection refused"),
            "{msg}"
        );
    }

    #[test]
    fn bad_numbers_are_errors() {
        let text = "\"test\",\"rps\"\n\"SET\",\"-nan\",\"1\",\"1\",\"1\",\"1\",\"1\",\"1\"\n";
        assert!(parse_csv(text).is_err());
    }

    #[test]
    fn capabilities_from_redis_benchmark_7_help() {
        let caps = Capabilities::from_help(&fixture("redis-benchmark-7.0-help.txt"));
        assert!(!caps.duration && !caps.warmup && !caps.sequential && !caps.seed);
        assert!(caps.threads && caps.cluster && caps.tls);
    }

    #[test]
    fn workloads_without_a_builtin_test_run_as_the_native_engines_command_lines() {
        let line = |c, cluster| custom_command(c, cluster).join(" ");
        assert_eq!(
            line(Builtin::Sismember, false),
            "SISMEMBER myset element:__rand_int__"
        );
        assert_eq!(
            line(Builtin::Zscore, true),
            "ZSCORE myzset:{tag} element:__rand_int__"
        );
        assert_eq!(line(Builtin::Zrange(100), false), "ZRANGE myzset 0 99");
        assert_eq!(
            line(Builtin::Xrange(100), false),
            "XRANGE mystream - + COUNT 100"
        );
        // MGET reads as many keys as valkey-benchmark's MSET writes, whatever the case says.
        let mget = custom_command(Builtin::Mget(3), true);
        assert_eq!(mget.len(), 11);
        assert!(mget[1..].iter().all(|k| k == "key:{tag}:__rand_int__"));
    }

    #[test]
    fn xadd_without_a_builtin_test_runs_as_a_custom_command() {
        let case = crate::config::load_text(
            r#"[{"requests": [10], "keyspacelen": [5], "data_sizes": [4], "pipelines": [1], "commands": ["XADD"]}]"#,
            "t.json",
            &Default::default(),
        )
        .unwrap()
        .cases
        .remove(0);
        let target = Address::tcp("127.0.0.1", 1);
        let mut bench = ValkeyBenchmark {
            path: "/usr/bin/redis-benchmark".into(),
            version: "redis-benchmark 7.0.15".into(),
            caps: Capabilities::from_help(""),
        };
        let line = |b: &ValkeyBenchmark| process::command_line(&b.command(&case, &target, false));
        assert!(line(&bench).ends_with("-t xadd"), "{}", line(&bench));
        bench.caps.xadd_test = false;
        assert!(
            line(&bench).ends_with("XADD mystream '*' myfield xxxx"),
            "{}",
            line(&bench)
        );
    }

    #[test]
    fn capabilities_from_a_newer_help() {
        let caps = Capabilities::from_help(
            " --duration <s>  Run for s\n --warmup <s>   Warm\n --sequential   Seq\n --seed <n>\n",
        );
        assert!(caps.duration && caps.warmup && caps.sequential && caps.seed);
    }
}
