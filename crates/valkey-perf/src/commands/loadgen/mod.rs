//! `valkey-perf loadgen`: the native engine on its own, with valkey-benchmark's flags and
//! output formats (CSV header and quiet lines byte for byte), plus `--json FILE`.
//!
//! This module owns only the command line and the output; the load itself is the
//! `loadgen` crate's.

use crate::exit::{self, Code, Failure};
use crate::model::KeyDistribution;
use anyhow::Context;
use loadgen::{
    Address, Builtin, ClientTls, CommandSpec, Credentials, KeyOrder, LoadError, LoadSpec, Pacing,
    ReadFrom, Stop, Workload,
};
use output::{CSV_HEADER, csv_line, quiet_line, summary};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

mod args;
mod output;

pub use args::LoadgenArgs;
use args::{check_ranges, parse_cpu_list};

/// The tests valkey-benchmark runs when neither `-t` nor a command is given (`ping` is
/// PING_INLINE and PING_MBULK).
const DEFAULT_TESTS: &str = "ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_300,lrange_500,lrange_600,mset,xadd";

/// The title of the step that fills `mylist` before the LRANGE tests, as valkey-benchmark
/// prints it.
pub const LRANGE_PREP_TITLE: &str = "LPUSH (needed to benchmark LRANGE)";

/// One test of the run: its output title and command, and whether it prepares data for the
/// tests after it.
#[derive(Debug, Clone)]
struct Test {
    title: String,
    command: CommandSpec,
    /// The LPUSH step before the LRANGE tests: at least as many pushes as the longest range.
    prepares: Option<u64>,
}

impl Test {
    fn builtin(b: Builtin) -> Test {
        Test {
            title: b.title(),
            command: CommandSpec::Builtin(b),
            prepares: None,
        }
    }
}

/// The workloads to run, in order. Like valkey-benchmark, the LRANGE tests are preceded by
/// an LPUSH step that fills the list they read (its line is printed like any test's), so
/// LRANGE_N measures N elements, not an empty list.
fn workloads(args: &LoadgenArgs) -> anyhow::Result<Vec<Test>> {
    if !args.command.is_empty() {
        return Ok(vec![Test {
            title: crate::util::truncated(&args.command.join(" "), MAX_TITLE).into_owned(),
            command: CommandSpec::Template(args.command.clone()),
            prepares: None,
        }]);
    }
    let tests = args.tests.as_deref().unwrap_or(DEFAULT_TESTS);
    let mut out = Vec::new();
    for name in tests.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if name.eq_ignore_ascii_case("lrange") {
            out.extend([100, 300, 500, 600].map(|n| Test::builtin(Builtin::Lrange(n))));
            continue;
        }
        if name.eq_ignore_ascii_case("ping") {
            out.extend([Builtin::PingInline, Builtin::Ping].map(Test::builtin));
            continue;
        }
        let b = Builtin::parse(name).ok_or_else(|| {
            exit::usage(format!(
                "`-t {name}` is not a supported test; use one of {DEFAULT_TESTS},mget,lrange,\
                 ping_inline,ping_mbulk,sismember,zscore,zrange,xrange"
            ))
        })?;
        out.push(Test::builtin(b));
    }
    let longest = out
        .iter()
        .filter_map(|t| match t.command {
            CommandSpec::Builtin(Builtin::Lrange(n)) => Some(u64::from(n)),
            _ => None,
        })
        .max();
    if let Some(longest) = longest {
        let first = out
            .iter()
            .position(|t| matches!(t.command, CommandSpec::Builtin(Builtin::Lrange(_))))
            .unwrap_or(0);
        out.insert(
            first,
            Test {
                title: LRANGE_PREP_TITLE.to_string(),
                command: CommandSpec::Builtin(Builtin::Lpush),
                prepares: Some(longest),
            },
        );
    }
    Ok(out)
}

/// `--key-distribution` (and `--sequential`) as the load generator's key order.
fn key_order(args: &LoadgenArgs, seed: u64) -> anyhow::Result<KeyOrder> {
    let dist = match &args.key_distribution {
        Some(text) => KeyDistribution::parse(text)
            .map_err(|e| exit::usage(format!("`--key-distribution {text}`: {e}")))?,
        None if args.sequential => KeyDistribution::Sequential,
        None => KeyDistribution::Uniform,
    };
    if args.sequential && dist != KeyDistribution::Sequential {
        return Err(exit::usage(format!(
            "--sequential and `--key-distribution {dist}` contradict each other; keep one"
        )));
    }
    if !dist.is_uniform() && args.keyspacelen.is_none() {
        return Err(exit::usage(format!(
            "`--key-distribution {dist}` draws key numbers from the keyspace; give its size with -r"
        )));
    }
    Ok(match dist {
        KeyDistribution::Uniform => KeyOrder::Random { seed },
        KeyDistribution::Sequential => KeyOrder::Sequential,
        KeyDistribution::Zipf(exponent) => KeyOrder::Zipf { seed, exponent },
    })
}

/// Lowers the flags into a spec for one workload.
fn spec_for(args: &LoadgenArgs, command: CommandSpec, seed: u64) -> anyhow::Result<LoadSpec> {
    let address = Address {
        unix: args.socket.clone(),
        cluster: args.cluster,
        // `--tls` without `--cacert` is refused when the run starts (`tls_without_ca`).
        tls: match (args.tls, &args.cacert) {
            (true, Some(ca)) => Some(ClientTls {
                cert: args.cert.clone(),
                key: args.key.clone(),
                sni: args.sni.clone(),
                ..ClientTls::with_ca(ca)
            }),
            _ => None,
        },
        auth: args.password.as_ref().map(|p| Credentials {
            user: args.user.clone(),
            password: p.clone(),
        }),
        ..Address::tcp(&args.host, args.port)
    };
    let mut w = Workload::single(command, args.data_size, args.keyspacelen);
    w.key_order = key_order(args, seed)?;
    let mut s = LoadSpec::new(address, w);
    s.dbnum = args.dbnum;
    s.resp3 = args.resp3;
    let read_from = match args.rfr.as_deref() {
        Some("yes") => ReadFrom::Replicas,
        Some("all") => ReadFrom::All,
        _ => ReadFrom::Primaries,
    };
    if read_from != ReadFrom::Primaries && !args.cluster {
        return Err(exit::usage(
            "--rfr reads from cluster replicas; add --cluster (and point it at a cluster with replicas)",
        ));
    }
    let reads = match &s.workload.commands[0].command {
        CommandSpec::Builtin(b) => b.is_read(),
        CommandSpec::Template(_) => true,
    };
    s.read_from = if reads {
        read_from
    } else {
        ReadFrom::Primaries
    };
    s.clients = args.clients;
    s.threads = args.threads;
    s.pipeline = args.pipeline;
    s.stop = match args.duration {
        Some(d) if d > 0.0 && d.is_finite() => Stop::Duration(Duration::from_secs_f64(d)),
        Some(d) => {
            return Err(exit::usage(format!(
                "`--duration {d}` must be a positive number of seconds"
            )));
        }
        None => Stop::Requests(args.requests),
    };
    if !(args.warmup >= 0.0 && args.warmup.is_finite()) {
        return Err(exit::usage(format!(
            "`--warmup {}` must be zero or more seconds",
            args.warmup
        )));
    }
    s.warmup = Duration::from_secs_f64(args.warmup);
    s.pacing = match args.rps {
        Some(r) => Pacing::FixedRate { rps: r },
        None => Pacing::ClosedLoop,
    };
    s.cpu_set = args.cpu_list.as_deref().map(parse_cpu_list).transpose()?;
    s.max_error_share = args.max_error_share;
    Ok(s)
}

/// Why a run with `--tls` and no `--cacert` cannot start (there is no built-in root store):
/// after the checks the load generator makes first, which see TLS as asked for.
fn tls_without_ca(spec: &LoadSpec) -> LoadError {
    let mut asked = spec.clone();
    asked.address.tls = Some(ClientTls::with_ca(PathBuf::new()));
    match asked.validate() {
        Err(e) => e,
        Ok(()) => LoadError::Tls {
            message: "TLS needs a CA certificate to verify the server; pass `--cacert FILE`".into(),
        },
    }
}

/// Whether a load error is the user's to fix (a flag, a credential, a file), which is a usage
/// error (exit 2) like `run`'s; the rest (a server that cannot be reached, a crashed thread)
/// are not.
fn is_usage(e: &LoadError) -> bool {
    matches!(
        e,
        LoadError::Config(_)
            | LoadError::Workload(_)
            | LoadError::Pin(_)
            | LoadError::Auth { .. }
            | LoadError::Tls { .. }
            | LoadError::TlsConfig(_)
    )
}

/// Whether a load error means the run itself failed against the server (it cannot be reached,
/// did not answer the handshake, or its cluster could not be mapped): exit 5, as `run` gives
/// for a run that failed. What is left (a crashed thread, the runtime) is an internal error.
fn is_run_failure(e: &LoadError) -> bool {
    matches!(
        e,
        LoadError::Connect { .. } | LoadError::Handshake { .. } | LoadError::Cluster(_)
    )
}

/// How much of a custom command's text titles and messages quote.
const MAX_TITLE: usize = 200;

/// Runs `valkey-perf loadgen`.
pub fn run(args: LoadgenArgs) -> anyhow::Result<Code> {
    check_ranges(&args)?;
    let list = workloads(&args)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let mut prepared = false;
    let specs = list
        .into_iter()
        .map(|t| {
            let mut spec = spec_for(&args, t.command.clone(), seed)?;
            if let (Some(longest), Stop::Requests(n)) = (t.prepares, spec.stop) {
                spec.stop = Stop::Requests(n.max(longest));
            }
            prepared |= t.prepares.is_some();
            // In a cluster the list key carries a random hash tag per request, so one LPUSH
            // step cannot fill every list an LRANGE may read.
            spec.seeded = prepared
                && !args.cluster
                && matches!(t.command, CommandSpec::Builtin(Builtin::Lrange(_)));
            Ok((t.title, spec))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Everything the load generator refuses without connecting is refused before any run.
    for (title, spec) in &specs {
        if let Err(e) = spec.validate() {
            return Err(exit::usage(format!("`{title}`: {e}")));
        }
    }
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, cancel.clone())
            .context("cannot install the Ctrl-C handler")?;
    }
    if args.csv {
        crate::util::outln(format_args!("{CSV_HEADER}"));
    }
    let mut json = Vec::new();
    let mut failed = 0;
    let mut interrupted = false;
    for (title, spec) in &specs {
        let result = if args.tls && args.cacert.is_none() {
            Err(tls_without_ca(spec))
        } else {
            loadgen::run(spec, &cancel)
        };
        let (report, error) = match result {
            Ok(r) => (Some(r), None),
            Err(LoadError::RunFailed { reason, report }) => (Some(*report), Some(reason)),
            Err(e) => {
                let what = format!("`{title}` against `{}`", spec.address);
                if is_usage(&e) {
                    return Err(exit::usage(format!("{what}: {e}")));
                }
                if matches!(e, LoadError::Cancelled) {
                    return Ok(Code::Interrupted);
                }
                if is_run_failure(&e) {
                    return Err(Failure::new(
                        Code::RunsFailed,
                        format!("{what}: {:#}", anyhow::Error::new(e)),
                    ));
                }
                return Err(anyhow::Error::new(e).context(what));
            }
        };
        // A failed run's throughput is no result: it goes to the JSON report and the error
        // to stderr, and stdout prints no figure for it.
        if let (Some(r), None) = (&report, &error) {
            if args.csv {
                crate::util::outln(format_args!("{}", csv_line(title, r)));
            } else if args.quiet {
                crate::util::outln(format_args!("{}", quiet_line(title, r)));
            } else {
                crate::util::outln(format_args!(
                    "{}",
                    summary(title, args.clients, args.data_size, args.rps.is_some(), r)
                ));
            }
        }
        if let Some(r) = &report {
            for w in &r.warnings {
                eprintln!("warning: {title}: {w}");
            }
            interrupted |= r.cancelled;
            json.push(serde_json::json!({
                "test": title,
                "error": error,
                "report": r,
            }));
        }
        if let Some(reason) = &error {
            eprintln!("error: {title}: {reason}");
            failed += 1;
        }
        if interrupted {
            break;
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_vec_pretty(&json).context("cannot encode the JSON report")?;
        crate::util::write_atomic(path, &text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    if interrupted {
        return Ok(Code::Interrupted);
    }
    if failed > 0 {
        return Err(Failure::new(
            Code::RunsFailed,
            format!(
                "{failed} of {} runs failed (see the errors above)",
                specs.len()
            ),
        ));
    }
    Ok(Code::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use loadgen::RunReport;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: LoadgenArgs,
    }

    #[test]
    fn tls_without_a_ca_is_refused_after_the_load_generators_own_checks() {
        let spec = |flags: &[&str]| {
            let t = T::try_parse_from(["x", "--tls"].iter().chain(flags)).unwrap();
            spec_for(&t.a, CommandSpec::Builtin(Builtin::Set), 1).unwrap()
        };
        let err = tls_without_ca(&spec(&[])).to_string();
        assert!(err.ends_with("pass `--cacert FILE`"), "{err}");
        let err = tls_without_ca(&spec(&["-s", "/tmp/v.sock"])).to_string();
        assert!(err.contains("TLS over a unix socket"), "{err}");
    }

    #[test]
    fn valkey_benchmark_flags_parse() {
        let t = T::try_parse_from([
            "x",
            "-h",
            "10.0.0.1",
            "-p",
            "7000",
            "-c",
            "20",
            "-n",
            "1000",
            "-d",
            "64",
            "-P",
            "16",
            "-r",
            "100000",
            "-t",
            "set,get",
            "-q",
            "--threads",
            "2",
            "-3",
            "--seed",
            "5",
            "--sequential",
            "--dbnum",
            "2",
        ])
        .unwrap();
        assert_eq!(t.a.host, "10.0.0.1");
        assert_eq!(t.a.port, 7000);
        assert!(t.a.resp3 && t.a.quiet && t.a.sequential);
        let w = workloads(&t.a).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].title, "SET");
        let s = spec_for(&t.a, w[0].command.clone(), 1).unwrap();
        assert_eq!(s.pipeline, 16);
        assert_eq!(s.stop, Stop::Requests(1000));
    }

    #[test]
    fn key_distribution_flag() {
        let order = |argv: &[&str]| {
            let t = T::try_parse_from(argv).unwrap();
            key_order(&t.a, 9)
        };
        assert_eq!(
            order(&["x", "-r", "10", "--key-distribution", "zipf:0.99"]).unwrap(),
            KeyOrder::Zipf {
                seed: 9,
                exponent: 0.99
            }
        );
        assert_eq!(
            order(&["x", "-r", "10", "--sequential"]).unwrap(),
            KeyOrder::Sequential
        );
        assert_eq!(order(&["x"]).unwrap(), KeyOrder::Random { seed: 9 });
        for bad in [
            &["x", "-r", "10", "--key-distribution", "zipf:0"][..],
            &["x", "-r", "10", "--key-distribution", "hot"],
            &["x", "--key-distribution", "zipf:1.1"],
            &[
                "x",
                "-r",
                "10",
                "--sequential",
                "--key-distribution",
                "zipf:1",
            ],
        ] {
            let err = order(bad).unwrap_err();
            assert_eq!(exit::code_of(&err), Code::Usage, "{bad:?}: {err}");
        }
    }

    #[test]
    fn rfr_applies_to_cluster_reads_only() {
        let read_from = |argv: &[&str]| {
            let t = T::try_parse_from(argv).unwrap();
            let w = workloads(&t.a).unwrap();
            spec_for(&t.a, w[0].command.clone(), 1).map(|s| s.read_from)
        };
        assert_eq!(
            read_from(&["x", "--cluster", "--rfr", "yes", "-t", "get"]).unwrap(),
            ReadFrom::Replicas
        );
        assert_eq!(
            read_from(&["x", "--cluster", "--rfr", "all", "-t", "zscore"]).unwrap(),
            ReadFrom::All
        );
        // A write test keeps the primaries.
        assert_eq!(
            read_from(&["x", "--cluster", "--rfr", "yes", "-t", "set"]).unwrap(),
            ReadFrom::Primaries
        );
        let err = read_from(&["x", "--rfr", "yes", "-t", "get"]).unwrap_err();
        assert_eq!(exit::code_of(&err), Code::Usage, "{err}");
        assert!(T::try_parse_from(["x", "--rfr", "maybe"]).is_err());
    }

    #[test]
    fn titles_match_valkey_benchmark() {
        let t = T::try_parse_from(["x", "-t", "lrange,mset,ping"]).unwrap();
        let titles = |t: &T| -> Vec<String> {
            workloads(&t.a)
                .unwrap()
                .into_iter()
                .map(|w| w.title)
                .collect()
        };
        assert_eq!(
            titles(&t),
            [
                "LPUSH (needed to benchmark LRANGE)",
                "LRANGE_100 (first 100 elements)",
                "LRANGE_300 (first 300 elements)",
                "LRANGE_500 (first 500 elements)",
                "LRANGE_600 (first 600 elements)",
                "MSET (10 keys)",
                "PING_INLINE",
                "PING_MBULK"
            ]
        );
        assert!(T::try_parse_from(["x", "-t", "nope"]).is_ok_and(|t| workloads(&t.a).is_err()));
        // The default list starts with both pings, as valkey-benchmark's does, and fills the
        // list before the first LRANGE.
        let all = titles(&T::try_parse_from(["x"]).unwrap());
        assert_eq!(all[..3], ["PING_INLINE", "PING_MBULK", "SET"]);
        let prep = all.iter().position(|t| t == LRANGE_PREP_TITLE).unwrap();
        assert_eq!(all[prep + 1], "LRANGE_100 (first 100 elements)");
        let only = T::try_parse_from(["x", "-t", "lrange_600", "-n", "100"]).unwrap();
        let w = workloads(&only.a).unwrap();
        assert_eq!(
            w[0].prepares,
            Some(600),
            "at least 600 pushes even with -n 100"
        );
    }

    #[test]
    fn csv_and_quiet_formats() {
        assert_eq!(
            CSV_HEADER,
            r#""test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms""#
        );
        let r = RunReport {
            rps: 1234.5,
            latency: loadgen::LatencySummary {
                avg_ms: 0.25,
                min_ms: 0.1,
                p50_ms: 0.2,
                p95_ms: 0.3,
                p99_ms: 0.4,
                max_ms: 1.0,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            quiet_line("SET", &r),
            "SET: 1234.50 requests per second, p50=0.200 msec"
        );
        assert_eq!(
            csv_line("SET", &r),
            r#""SET","1234.50","0.250","0.100","0.200","0.300","0.400","1.000""#
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0,2-4").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_cpu_list("3-1").is_err());
    }
}
