//! `valkey-perf run` end to end: the real binary against real `valkey-server` binaries (the
//! registry's 8.1.8 and 9.1.2) with Debian's `redis-benchmark` as the engine. Exit codes, the
//! files written, stderr text, seeding seen from the server's own counters, Ctrl-C, a server
//! killed mid-run, and that no process outlives the command.
//!
//! Matrices are tiny (a few thousand requests per run): these tests check behaviour, not speed,
//! and CI has two cores.

use crate::support::{
    Bins, ChildGuard, Resp, Scratch, ServerGuard, assert_no_server_left, pid_in_server_log,
    server_logs, wait_for,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

type Record = Map<String, Value>;

/// Every field docs/design.md §6.3 promises on every record.
const RECORD_FIELDS: &[&str] = &[
    "timestamp",
    "commit",
    "ref",
    "repository",
    "command",
    "data_size",
    "pipeline",
    "clients",
    "requests",
    "duration",
    "benchmark_mode",
    "keyspacelen",
    "rps",
    "avg_latency_ms",
    "min_latency_ms",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "max_latency_ms",
    "cluster_mode",
    "tls",
    "io_threads",
    "valkey_benchmark_threads",
    "warmup",
    "architecture",
    "run_started_at",
    "run_index",
    "engine",
    "engine_version",
    "seed",
    "server_version",
    "server_restarted",
    "config_set",
    "env_kernel_version",
    "env_os",
    "env_cpu_model",
    "env_cpu_governor",
    "env_turbo_boost",
    "env_idle_states",
    "env_aslr",
    "env_thp",
    "env_numa_nodes",
    "env_benchmark_tool_version",
    "invocation_id",
];

/// The `env_*` fields that describe the machine and must never be empty.
const ENV_FACTS: &[&str] = &[
    "env_kernel_version",
    "env_os",
    "env_cpu_model",
    "env_cpu_governor",
    "env_turbo_boost",
    "env_idle_states",
    "env_aslr",
    "env_thp",
    "env_numa_nodes",
    "env_benchmark_tool_version",
];

/// A config object with small, fast defaults; `extra` overrides or adds keys.
fn small_config(extra: Value) -> Value {
    let mut obj = json!({
        "requests": [2000],
        "keyspacelen": [100],
        "data_sizes": [16],
        "pipelines": [1],
        "clients": [4],
        "commands": ["SET"],
        "cluster_mode": "no",
        "tls_mode": "no",
        "warmup": 0
    });
    for (k, v) in extra.as_object().unwrap() {
        obj[k] = v.clone();
    }
    obj
}

fn read_records(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading `{}`: {e}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("`{}` is not valid JSON: {e}", path.display()));
    value
        .as_array()
        .unwrap_or_else(|| panic!("`{}` is not an array", path.display()))
        .iter()
        // Per-run details live in a nested object; read them as valkey-perf does.
        .map(|r| {
            valkey_perf::model::flatten_details(
                r.as_object().expect("a record is an object").clone(),
            )
        })
        .collect()
}

/// The one results subdirectory whose name starts with `prefix` (`9.1.2-`, `8.1.8-`).
fn target_dir(results: &Path, prefix: &str) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap_or_else(|e| panic!("reading `{}`: {e}", results.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_dir()
                && p.file_name().unwrap().to_string_lossy().starts_with(prefix)
                && !p.file_name().unwrap().to_string_lossy().contains("_vs_")
        })
        .collect();
    assert_eq!(dirs.len(), 1, "one `{prefix}*` dir in {dirs:?}");
    dirs[0].clone()
}

/// The pids named by the server logs of a target dir (one log per server start). A server
/// stopped by Ctrl-C right after its start may not have printed its banner yet; such a log
/// names no pid, and only the working-directory scan of `assert_no_server_left` covers it.
fn logged_pids(target_dir: &Path) -> Vec<u32> {
    server_logs(target_dir)
        .iter()
        .filter_map(|log| pid_in_server_log(log))
        .collect()
}

fn f64_of(r: &Record, key: &str) -> f64 {
    r[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {r:?}"))
}

fn str_of<'a>(r: &'a Record, key: &str) -> &'a str {
    r[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {r:?}"))
}

/// Checks every field and its sanity on one record of a `--server-bin` target.
fn check_record(r: &Record, server_version: &str, binary: &Path, requests: u64) {
    for field in RECORD_FIELDS {
        assert!(r.contains_key(*field), "record lacks `{field}`: {r:?}");
    }
    for field in ENV_FACTS {
        assert!(!str_of(r, field).is_empty(), "`{field}` is empty: {r:?}");
    }
    // Without pinning in the config, the CPU ranges are not written (as upstream).
    for field in ["env_server_cpu_range", "env_client_cpu_range"] {
        assert!(
            !r.contains_key(field),
            "`{field}` written without pinning: {r:?}"
        );
    }
    // Throughput and latencies.
    let rps = f64_of(r, "rps");
    assert!(rps > 0.0 && rps.is_finite(), "rps {rps}");
    let lat: Vec<f64> = [
        "min_latency_ms",
        "p50_latency_ms",
        "p95_latency_ms",
        "p99_latency_ms",
        "max_latency_ms",
    ]
    .iter()
    .map(|k| f64_of(r, k))
    .collect();
    assert!(lat[0] >= 0.0, "negative min latency: {r:?}");
    assert!(
        lat.windows(2).all(|w| w[0] <= w[1]),
        "latencies not ordered min ≤ p50 ≤ p95 ≤ p99 ≤ max: {lat:?}"
    );
    let avg = f64_of(r, "avg_latency_ms");
    assert!(lat[0] <= avg && avg <= lat[4], "avg {avg} outside {lat:?}");
    // What was run, and by what.
    assert_eq!(str_of(r, "server_version"), server_version);
    assert_eq!(str_of(r, "ref"), binary.to_str().unwrap());
    assert!(
        str_of(r, "commit").starts_with(&format!("{server_version}-")),
        "commit of a --server-bin target is `<version>-<content hash>`: {}",
        r["commit"]
    );
    assert_eq!(str_of(r, "engine"), "valkey-benchmark");
    assert!(str_of(r, "engine_version").contains("redis-benchmark"));
    assert!(str_of(r, "env_benchmark_tool_version").contains("redis-benchmark"));
    assert_eq!(str_of(r, "benchmark_mode"), "requests");
    assert_eq!(r["requests"], json!(requests));
    assert_eq!(r["duration"], Value::Null);
    assert_eq!(r["cluster_mode"], json!(false));
    assert_eq!(r["tls"], json!(false));
    assert_eq!(r["io_threads"], json!(1));
    assert_eq!(r["warmup"], json!(0));
    assert_eq!(r["data_size"], json!(16));
    assert_eq!(r["clients"], json!(4));
    assert_eq!(r["keyspacelen"], json!(100));
    assert_eq!(r["server_restarted"], json!(true));
    assert_eq!(r["architecture"], json!(std::env::consts::ARCH));
    assert!(r["config_set"].is_object());
    chrono::DateTime::parse_from_rfc3339(str_of(r, "timestamp"))
        .unwrap_or_else(|e| panic!("timestamp is not ISO 8601: {e}: {r:?}"));
    let started = str_of(r, "run_started_at");
    assert!(started.ends_with('Z'), "run_started_at is UTC: {started}");
    chrono::DateTime::parse_from_rfc3339(started)
        .unwrap_or_else(|e| panic!("run_started_at is not ISO 8601: {e}"));
}

/// `(case number, run number, target label)` of every `case i/n run r/m target X: ...` line
/// of a `logs.txt`, in order.
fn run_lines(logs: &Path) -> Vec<(u32, u32, String)> {
    let text = std::fs::read_to_string(logs).unwrap();
    text.lines()
        .filter_map(|line| {
            let rest = &line[line.find(" case ")? + " case ".len()..];
            let (case, rest) = rest.split_once('/')?;
            let rest = &rest[rest.find(" run ")? + " run ".len()..];
            let (run, rest) = rest.split_once('/')?;
            let rest = &rest[rest.find(" target ")? + " target ".len()..];
            let (target, _) = rest.split_once(": ")?;
            Some((case.parse().ok()?, run.parse().ok()?, target.to_string()))
        })
        .collect()
}

/// Both registry versions, three commands × two pipelines × two runs, 8.1.8 as the baseline.
#[test]
fn two_server_versions_small_matrix_interleaved() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_config(json!({
        "pipelines": [1, 4],
        "commands": ["SET", "GET", "LPOP"],
    }))]));
    let out = scratch
        .run_command(&config)
        .arg("--server-bin")
        .arg(&bins.new)
        .arg("--baseline-server-bin")
        .arg(&bins.base)
        .args(["--runs", "2"])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let results = scratch.results();
    let new_dir = target_dir(&results, "9.1.2-");
    let base_dir = target_dir(&results, "8.1.8-");

    // Cases in expansion order (pipelines outer, commands fastest), each run twice.
    let cases: Vec<(&str, u64)> = [1, 4]
        .iter()
        .flat_map(|&p| ["SET", "GET", "LPOP"].map(|c| (c, p)))
        .collect();
    let runs = 2;
    let mut commits = Vec::new();
    for (dir, version, binary) in [
        (&new_dir, "9.1.2", &bins.new),
        (&base_dir, "8.1.8", &bins.base),
    ] {
        let metrics = dir.join("metrics.json");
        assert!(
            stdout.contains(&metrics.display().to_string()),
            "stdout names `{}`:\n{stdout}",
            metrics.display()
        );
        let records = read_records(&metrics);
        assert_eq!(records.len(), cases.len() * runs, "{}", metrics.display());
        for r in &records {
            check_record(r, version, binary, 2000);
        }
        let got: Vec<(String, u64, u64)> = records
            .iter()
            .map(|r| {
                (
                    str_of(r, "command").to_string(),
                    r["pipeline"].as_u64().unwrap(),
                    r["run_index"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, u64, u64)> = cases
            .iter()
            .flat_map(|&(c, p)| (0..runs as u64).map(move |i| (c.to_string(), p, i)))
            .collect();
        assert_eq!(got, want, "records in case order, run_index 0..runs");
        // Pops ran on a seeded list and never emptied it.
        for r in records.iter().filter(|r| r["command"] == "LPOP") {
            let left = r["seeded_items_left"].as_u64();
            assert!(left.is_some_and(|n| n > 0), "LPOP emptied its list: {r:?}");
        }
        let ids: BTreeSet<&str> = records.iter().map(|r| str_of(r, "commit")).collect();
        assert_eq!(ids.len(), 1, "one commit id per target: {ids:?}");
        commits.push(ids.into_iter().next().unwrap().to_string());
        assert_eq!(
            dir.file_name().unwrap().to_str().unwrap(),
            commits.last().unwrap(),
            "the results dir is named after the target's commit id"
        );

        // One server per run, each with its own log naming the right version and its pid.
        let logs = server_logs(dir);
        assert_eq!(logs.len(), cases.len() * runs, "server logs: {logs:?}");
        for log in &logs {
            let text = std::fs::read_to_string(log).unwrap();
            assert!(
                text.contains(&format!("version={version}")),
                "`{}` is not a {version} server's log",
                log.display()
            );
        }
        let pids: BTreeSet<u32> = logged_pids(dir).into_iter().collect();
        assert_eq!(
            pids.len(),
            logs.len(),
            "every log names its pid, and each run had a fresh server process"
        );
        assert_no_server_left(
            binary,
            &pids.into_iter().collect::<Vec<_>>(),
            scratch.path(),
        );
    }
    assert_ne!(
        commits[0], commits[1],
        "two binaries never share a commit id"
    );

    // Interleaving in rounds: A B, then B A (A B B A ...), run by run, in the log ...
    let lines = run_lines(&base_dir.join("logs.txt"));
    let want: Vec<(u32, u32, String)> = (1..=cases.len() as u32)
        .flat_map(|c| (1..=runs as u32).map(move |r| (c, r)))
        .flat_map(|(c, r)| {
            let round = if r % 2 == 1 {
                [&bins.base, &bins.new]
            } else {
                [&bins.new, &bins.base]
            };
            round.map(|b| (c, r, b.to_str().unwrap().to_string()))
        })
        .collect();
    assert_eq!(lines, want, "run order in logs.txt");
    assert_eq!(
        run_lines(&new_dir.join("logs.txt")),
        want,
        "each target's logs.txt holds the whole invocation's log"
    );
    // ... and by the records' own start times.
    let mut all: Vec<(String, String)> = [(&base_dir, "base"), (&new_dir, "new")]
        .iter()
        .flat_map(|(dir, who)| {
            read_records(&dir.join("metrics.json"))
                .into_iter()
                .map(move |r| (str_of(&r, "run_started_at").to_string(), who.to_string()))
        })
        .collect();
    all.sort();
    let order: Vec<&str> = all.iter().map(|(_, who)| who.as_str()).collect();
    let abba: Vec<&str> = (0..cases.len())
        .flat_map(|_| 0..runs)
        .flat_map(|r| {
            if r % 2 == 0 {
                ["base", "new"]
            } else {
                ["new", "base"]
            }
        })
        .collect();
    assert_eq!(order, abba, "runs by start time go A B, B A, ...");

    // The comparison report of the baseline run.
    let report = results
        .join(format!("{}_vs_{}", commits[1], commits[0]))
        .join("report.md");
    let text = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no report at `{}`: {e}", report.display()));
    assert!(
        text.contains("LPOP"),
        "the report covers the cases:\n{text}"
    );
    assert!(stdout.contains(&report.display().to_string()), "{stdout}");

    // No data dir (and so no temp dir) outlives the command.
    assert_eq!(scratch.tmp_leftovers(), Vec::<String>::new());
}

/// `--use-running-server` against a server this test started: reads hit seeded keys, pops never
/// empty their collection (also with whole pipelines of pops), and the server is left running.
#[test]
fn running_server_seeds_reads_and_pops_and_is_left_running() {
    let Some(bins) = Bins::get() else { return };
    let mut server = ServerGuard::start(&bins.new);
    let mut client = Resp::connect(server.port).unwrap();
    client.call(&["CONFIG", "RESETSTAT"]).unwrap();
    let scratch = Scratch::new();
    let get_requests = 3000;
    let config = scratch.config(&json!([
        small_config(json!({
            "requests": [get_requests],
            "keyspacelen": [500],
            "commands": ["GET"],
        })),
        // 2000 pops: fewer finish within redis-benchmark's 1 ms clock resolution at P16 and
        // then report an infinite rps. Pipelines of 16 pop whole pipelines on the server.
        small_config(json!({
            "requests": [2000],
            "pipelines": [1, 16],
            "clients": [8],
            "commands": ["LPOP", "SPOP", "ZPOPMIN"],
        })),
    ]));
    scratch
        .run_command(&config)
        .arg("--use-running-server")
        .args(["--port", &server.port.to_string()])
        .assert()
        .code(0);

    // Every GET found its key: the keyspace was seeded before the load.
    let hits = client.info_u64("stats", "keyspace_hits");
    let misses = client.info_u64("stats", "keyspace_misses");
    assert!(
        hits >= get_requests,
        "hits {hits}: the GET load did not run"
    );
    let rate = hits as f64 / (hits + misses) as f64;
    assert!(
        rate >= 0.99,
        "GET hit rate {rate:.4} ({hits} hits, {misses} misses)"
    );

    let records = read_records(&scratch.results().join("running-server/metrics.json"));
    assert_eq!(records.len(), 7);
    for r in &records {
        assert_eq!(r["server_restarted"], json!(false), "{r:?}");
        assert_eq!(r["server_version"], json!("9.1.2"));
        assert!(f64_of(r, "rps") > 0.0);
    }
    for r in records.iter().filter(|r| r["command"] != "GET") {
        let left = r["seeded_items_left"].as_u64();
        assert!(
            left.is_some_and(|n| n > 0),
            "{} P={} popped its collection empty: seeded_items_left = {:?}",
            r["command"],
            r["pipeline"],
            r.get("seeded_items_left")
        );
    }
    // valkey-perf never stops a server it did not start.
    assert!(server.is_running(), "the test's server was stopped");
    assert_eq!(client.call(&["PING"]).unwrap(), "PONG");
    assert!(
        !scratch.results().join("running-server/servers").exists()
            || server_logs(&scratch.results().join("running-server")).is_empty(),
        "no server was started"
    );
    assert!(crate::support::is_running_binary(server.pid(), &bins.new));
}

/// Ctrl-C mid-matrix: finished runs are kept in a valid metrics.json, exit 130, no server left.
#[test]
fn ctrl_c_keeps_finished_runs_and_stops_every_server() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_config(json!({
        "requests": [50000],
        "clients": [10],
        "commands": ["SET", "GET", "INCR", "LPUSH"],
    }))]));
    let mut cmd = scratch.run_std_command(&config);
    cmd.arg("--server-bin")
        .arg(&bins.new)
        .args(["--runs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(scratch.path().join("stderr.txt")).unwrap(),
        ));
    let mut child = ChildGuard::spawn(cmd);

    let results = scratch.results();
    let metrics = wait_for(
        "the first record in metrics.json",
        Duration::from_secs(60),
        || {
            let dir = std::fs::read_dir(&results).ok()?.next()?.ok()?.path();
            let metrics = dir.join("metrics.json");
            // The file is replaced atomically, so a read sees a whole array or nothing.
            let text = std::fs::read_to_string(&metrics).ok()?;
            let records: Vec<Value> = serde_json::from_str(&text).ok()?;
            (!records.is_empty()).then_some(metrics)
        },
    );
    let before = read_records(&metrics).len();
    kill(Pid::from_raw(child.pid() as i32), Signal::SIGINT).unwrap();
    let status = child.wait(Duration::from_secs(30));
    let stderr = std::fs::read_to_string(scratch.path().join("stderr.txt")).unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "exit status {status:?} (signal {:?}); stderr:\n{stderr}",
        status.signal()
    );
    assert!(stderr.contains("interrupted"), "stderr:\n{stderr}");

    let records = read_records(&metrics);
    assert!(
        records.len() >= before && records.len() < 8,
        "{} records ({before} before Ctrl-C) of 8 runs: the run stopped mid-matrix",
        records.len()
    );
    for r in &records {
        assert!(f64_of(r, "rps") > 0.0);
    }
    let dir = metrics.parent().unwrap();
    assert_no_server_left(&bins.new, &logged_pids(dir), scratch.path());
    assert_eq!(scratch.tmp_leftovers(), Vec::<String>::new());
}

/// A server killed during its run: that run fails naming the death and the log's tail, the
/// other runs are measured and written, exit 5.
#[test]
fn server_killed_mid_run_fails_that_run_only() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([
        // Long enough to be killed during its load (it never gets to finish).
        small_config(json!({
            "requests": [2_000_000],
            "keyspacelen": [100_000],
            "clients": [20],
            "commands": ["SET"],
        })),
        small_config(json!({ "commands": ["SET", "GET"] })),
    ]));
    let mut cmd = scratch.run_std_command(&config);
    cmd.arg("--server-bin")
        .arg(&bins.new)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(scratch.path().join("stderr.txt")).unwrap(),
        ));
    let mut child = ChildGuard::spawn(cmd);

    // The first server's log appears, naming its port (file name) and pid (start banner).
    let results = scratch.results();
    let (log, pid, port) = wait_for(
        "the first server's log and pid",
        Duration::from_secs(60),
        || {
            let dir = std::fs::read_dir(&results).ok()?.next()?.ok()?.path();
            let log = server_logs(&dir).into_iter().next()?;
            let pid = pid_in_server_log(&log)?;
            let port: u16 = log
                .file_stem()?
                .to_str()?
                .rsplit('-')
                .next()?
                .parse()
                .ok()?;
            Some((log, pid, port))
        },
    );
    // The method `assert_no_server_left` relies on: this server works below our scratch dir.
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert!(
        cwd.starts_with(scratch.path()),
        "server cwd `{}` is not below the test's TMPDIR",
        cwd.display()
    );
    // Kill it only once the load is running: the SET load fills the keyspace.
    wait_for("the SET load to start", Duration::from_secs(60), || {
        let size: u64 = Resp::connect(port)
            .ok()?
            .call(&["DBSIZE"])
            .ok()?
            .parse()
            .ok()?;
        (size > 0).then_some(())
    });
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();

    let status = child.wait(Duration::from_secs(60));
    let stderr = std::fs::read_to_string(scratch.path().join("stderr.txt")).unwrap();
    assert_eq!(status.code(), Some(5), "stderr:\n{stderr}");
    assert!(stderr.contains("run failed"), "stderr:\n{stderr}");
    assert!(
        stderr.contains("died") && stderr.contains("SIGKILL"),
        "the failure names the death:\n{stderr}"
    );
    assert!(
        stderr.contains(&log.display().to_string()) && stderr.contains("Ready to accept"),
        "the failure carries the server log's path and tail:\n{stderr}"
    );

    let dir = log.parent().unwrap().parent().unwrap();
    let records = read_records(&dir.join("metrics.json"));
    let got: Vec<(&str, u64)> = records
        .iter()
        .map(|r| (str_of(r, "command"), r["requests"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        got,
        [("SET", 2000), ("GET", 2000)],
        "the other runs went on"
    );
    assert_eq!(
        server_logs(dir).len(),
        3,
        "a fresh server for each later run"
    );
    assert_no_server_left(&bins.new, &logged_pids(dir), scratch.path());
    assert_eq!(scratch.tmp_leftovers(), Vec::<String>::new());
}

/// Runs `valkey-perf run` with a usage error and checks: exit 2, the message, nothing started.
fn assert_usage_error(
    scratch: &Scratch,
    config: &Path,
    args: &[&std::ffi::OsStr],
    fragments: &[&str],
) {
    let out = scratch.run_command(config).args(args).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for f in fragments {
        assert!(stderr.contains(f), "stderr lacks `{f}`:\n{stderr}");
    }
    assert!(
        !scratch.results().exists(),
        "a usage error created `{}`",
        scratch.results().display()
    );
    assert_eq!(scratch.tmp_leftovers(), Vec::<String>::new());
}

#[test]
fn usage_errors_exit_2_and_start_nothing() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let new: &std::ffi::OsStr = bins.new.as_os_str();
    let flag = |s: &'static str| -> &'static std::ffi::OsStr { s.as_ref() };

    // A bad config names the config index, the key, the value and the fix.
    let bad = scratch.config(&json!([small_config(json!({
        "pipeline": [1],
        "clients": [0],
    }))]));
    let out = scratch
        .run_command(&bad)
        .arg("--server-bin")
        .arg(new)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for f in [
        "config[0]",
        "`pipeline`",
        "did you mean `pipelines`",
        "`clients`",
    ] {
        assert!(stderr.contains(f), "stderr lacks `{f}`:\n{stderr}");
    }
    assert!(!scratch.results().exists());

    let good = scratch.config(&json!([small_config(json!({}))]));
    assert_usage_error(
        &scratch,
        &good,
        &[flag("--server-bin"), flag("/nonexistent/valkey-server")],
        &["/nonexistent/valkey-server", "valkey-server executable"],
    );
    assert_usage_error(
        &scratch,
        &good,
        &[flag("--server-bin"), new, flag("--runs"), flag("0")],
        &["--runs 0"],
    );
    assert_usage_error(
        &scratch,
        &good,
        &[flag("--use-running-server"), flag("--server-bin"), new],
        &["--use-running-server"],
    );
    // redis-benchmark 7 has no --duration: the case is refused, naming the flag.
    let duration = scratch.config(&json!([{
        "duration": 5,
        "keyspacelen": [100],
        "data_sizes": [16],
        "pipelines": [1],
        "commands": ["SET"],
    }]));
    assert_usage_error(
        &scratch,
        &duration,
        &[flag("--server-bin"), new],
        &[
            "config[0] sets `duration`, but",
            "has no `--duration`; use `requests` instead, pass a newer valkey-benchmark",
        ],
    );

    // A ref that does not exist in a local repository.
    let repo = scratch.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "--quiet", "-b", "main"]);
    git(&["commit", "--quiet", "--allow-empty", "-m", "empty"]);
    let cache = scratch.path().join("cache");
    assert_usage_error(
        &scratch,
        &good,
        &[
            flag("--commits"),
            flag("no-such-ref"),
            flag("--valkey-repo"),
            repo.as_os_str(),
            flag("--build-dir"),
            cache.as_os_str(),
        ],
        &["`no-such-ref`"],
    );
}

#[test]
fn dry_run_prints_the_plan_and_starts_nothing() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_config(json!({
        "pipelines": [1, 4],
        "commands": ["SET", "GET", "LPOP"],
    }))]));
    let out = scratch
        .run_command(&config)
        .arg("--server-bin")
        .arg(&bins.new)
        .arg("--baseline-server-bin")
        .arg(&bins.base)
        .args(["--runs", "2", "--dry-run"])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for f in [
        "targets (2)",
        "[baseline]",
        "8.1.8",
        "9.1.2",
        "redis-benchmark",
        "cases: 6, runs per case: 2, total runs: 24",
        "LPOP",
    ] {
        assert!(stdout.contains(f), "plan lacks `{f}`:\n{stdout}");
    }
    assert!(!scratch.results().exists(), "--dry-run created results");
    assert_eq!(scratch.tmp_leftovers(), Vec::<String>::new());
    let started: Vec<_> = [&bins.new, &bins.base]
        .iter()
        .flat_map(|b| crate::support::processes_of(b))
        .filter(|(_, cwd)| {
            cwd.as_ref()
                .is_some_and(|c| c.starts_with(scratch.path().to_str().unwrap()))
        })
        .collect();
    assert!(started.is_empty(), "--dry-run started {started:?}");
}

#[test]
fn help_documents_the_exit_codes() {
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .arg("--help")
        .assert()
        .code(0);
    let help = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let codes = help
        .split_once("Exit codes:")
        .unwrap_or_else(|| panic!("no exit codes in --help:\n{help}"))
        .1;
    for (code, meaning) in [
        ("0", "succeeded"),
        ("1", "internal"),
        ("2", "usage"),
        ("3", "build"),
        ("4", "server failed to start"),
        ("5", "runs failed"),
        ("6", "regression"),
        ("130", "interrupted"),
    ] {
        assert!(
            codes
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} ")) && l.contains(meaning)),
            "exit code {code} ({meaning}) is not documented:\n{codes}"
        );
    }

    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .args(["run", "--help"])
        // clap wraps help at $COLUMNS (capped at 100); pin it so the snapshot is the same in
        // every shell.
        .env("COLUMNS", "100")
        .assert()
        .code(0);
    insta::assert_snapshot!(
        "run_help",
        String::from_utf8_lossy(&out.get_output().stdout)
    );
}
