//! Server CPU per request and memory after the run, in every record: the `/proc` account of
//! servers valkey-perf started against the servers' own `INFO cpu`, on a standalone server and
//! a 3-node cluster with both engines; a running server read through `INFO`; and a server that
//! does more work per request showing more CPU per request. Real servers throughout.

use crate::support::{Bins, Resp, Scratch, ServerGuard};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Records of every `metrics.json` below the results, flattened as valkey-perf reads them.
fn records(results: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(results).unwrap() {
        let file = entry.unwrap().path().join("metrics.json");
        if file.is_file() {
            let recs =
                valkey_perf::compare::group::load_records(&file).expect("a readable metrics.json");
            out.extend(recs.into_iter().map(Value::Object));
        }
    }
    out
}

fn run(scratch: &Scratch, config: &Path, args: &[&str]) {
    assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--results-dir")
        .arg(scratch.results())
        .args(["--log-level", "warn"])
        .args(args)
        .timeout(Duration::from_secs(300))
        .assert()
        .success();
}

fn f(r: &Value, field: &str) -> f64 {
    r[field]
        .as_f64()
        .unwrap_or_else(|| panic!("no number `{field}` in {r:#}"))
}

/// The checks every record with server usage passes.
fn check_usage(r: &Value, source: &str) {
    assert_eq!(r["server_cpu_source"], source, "{r:#}");
    let cpu = f(r, "server_cpu_user_s") + f(r, "server_cpu_sys_s");
    assert!(cpu > 0.05, "the servers worked through the window: {r:#}");
    assert!(f(r, "server_cpu_us_per_request") > 0.0, "{r:#}");
    assert!(f(r, "server_commands") >= f(r, "server_calls"), "{r:#}");
    assert!(f(r, "server_calls") > 0.0, "{r:#}");
    assert!(f(r, "usec_per_call") > 0.0, "{r:#}");
    assert!(f(r, "used_memory") > 500_000.0, "{r:#}");
    assert!(f(r, "used_memory_rss") > 500_000.0, "{r:#}");
    assert!(f(r, "mem_fragmentation_ratio") > 0.0, "{r:#}");
    if r["command"] == "SET" {
        assert!(f(r, "keys") > 0.0, "{r:#}");
    }
    // CPU per request is CPU over the commands processed in the same window.
    let per_request = cpu * 1e6 / f(r, "server_commands");
    let recorded = f(r, "server_cpu_us_per_request");
    assert!(
        (per_request / recorded - 1.0).abs() < 0.01,
        "{per_request} vs {recorded}: {r:#}"
    );
}

#[test]
fn server_cpu_agrees_with_info_cpu_on_standalone_and_cluster_with_both_engines() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    // Requests rather than a duration: redis-benchmark 7.0 has no `--duration`. Enough of them
    // that the window's CPU time (about a second) dwarfs `/proc`'s 10 ms ticks per process.
    let config = scratch.config(&json!([{
        "requests": [300000], "keyspacelen": [1000], "data_sizes": [16], "pipelines": [4],
        "clients": [8], "commands": ["SET", "GET"], "cluster_mode": [false, true]
    }]));
    let mut all = Vec::new();
    for engine in [
        vec!["--engine", "native"],
        vec!["--valkey-benchmark-path", crate::support::REDIS_BENCHMARK],
    ] {
        let mut args = vec!["--server-bin", bins.new.to_str().unwrap()];
        args.extend(engine);
        run(&scratch, &config, &args);
        all = records(&scratch.results());
    }
    assert_eq!(all.len(), 8, "2 engines × 2 topologies × 2 commands");
    for r in &all {
        check_usage(r, "proc");
        let proc_s = f(r, "server_cpu_user_s") + f(r, "server_cpu_sys_s");
        let info_s = f(r, "server_cpu_info_s");
        let off = (proc_s / info_s - 1.0).abs();
        eprintln!(
            "{} {} cluster={}: /proc {proc_s:.3} s, INFO cpu {info_s:.3} s ({:.1} % apart), {} µs/request, {} µs/call",
            r["engine"],
            r["command"],
            r["cluster_mode"],
            off * 100.0,
            r["server_cpu_us_per_request"],
            r["usec_per_call"]
        );
        assert!(off < 0.10, "/proc and INFO cpu disagree: {r:#}");
    }
    // The cluster's keys are summed over its three primaries: GET's seeded keyspace is there.
    for r in all
        .iter()
        .filter(|r| r["command"] == "GET" && r["engine"] == "native")
    {
        assert_eq!(f(r, "keys"), 1000.0, "{r:#}");
    }
}

#[test]
fn a_running_server_is_read_through_info() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let server = ServerGuard::start(&bins.new);
    let config = scratch.config(&json!([{
        "duration": 2, "keyspacelen": [500], "data_sizes": [32], "pipelines": [4],
        "clients": [8], "commands": ["SET"]
    }]));
    let port = server.port.to_string();
    let before = process_cpu_s(server.pid());
    run(
        &scratch,
        &config,
        &[
            "--use-running-server",
            "--port",
            &port,
            "--engine",
            "native",
        ],
    );
    let after = process_cpu_s(server.pid());
    let rs = records(&scratch.results());
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    check_usage(r, "info");
    // The window is part of the whole invocation, as the kernel counted it from outside.
    let window = f(r, "server_cpu_user_s") + f(r, "server_cpu_sys_s");
    assert!(
        window <= after - before + 0.02,
        "{window} > {}",
        after - before
    );
    assert!(
        window > (after - before) * 0.5,
        "{window} vs {}",
        after - before
    );
    // The server is still up: what the record says it held is what it holds.
    let mut c = Resp::connect(server.port).unwrap();
    assert_eq!(
        f(r, "keys"),
        c.call(&["DBSIZE"]).unwrap().parse::<f64>().unwrap()
    );
    assert_eq!(f(r, "keys"), 500.0);
}

/// User + system CPU seconds of a process, as the test reads them from `/proc` itself.
fn process_cpu_s(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = text[text.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let ticks: f64 = rest[11].parse::<f64>().unwrap() + rest[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A wrapper script that starts `binary` with extra work per write: an append-only file and
/// every command logged to the slow log.
fn slowed_server(scratch: &Scratch, binary: &Path) -> PathBuf {
    scratch.wrapper(
        "slowed-valkey-server",
        binary,
        "--appendonly yes --slowlog-log-slower-than 0",
    )
}

#[test]
fn a_server_doing_more_work_per_request_shows_more_cpu_per_request() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let slow = slowed_server(&scratch, &bins.new);
    // Pinned apart, so the client's share of the machine does not land on the server's CPU.
    let config = scratch.config(&json!([{
        "duration": 2, "keyspacelen": [10000], "data_sizes": [16], "pipelines": [16],
        "clients": [16], "commands": ["SET"], "server_cpu_range": "0", "client_cpu_range": "1"
    }]));
    run(
        &scratch,
        &config,
        &[
            "--engine",
            "native",
            "--baseline-server-bin",
            bins.new.to_str().unwrap(),
            "--server-bin",
            slow.to_str().unwrap(),
            "--runs",
            "4",
        ],
    );
    let rs = records(&scratch.results());
    let mean = |slowed: bool| {
        let v: Vec<f64> = rs
            .iter()
            .filter(|r| r["ref"].as_str().unwrap().contains("slowed") == slowed)
            .map(|r| f(r, "server_cpu_us_per_request"))
            .collect();
        assert_eq!(v.len(), 4);
        v.iter().sum::<f64>() / 4.0
    };
    let (fast, slowed) = (mean(false), mean(true));
    eprintln!("server CPU per request: {fast:.3} µs plain, {slowed:.3} µs slowed");
    assert!(slowed > fast * 1.15, "{slowed} vs {fast}");
    // `compare` judges the metric: a regression on its own (the other metrics of the case are
    // timing on a shared machine, so no correction across them).
    let mut files: Vec<PathBuf> = std::fs::read_dir(scratch.results())
        .unwrap()
        .map(|e| e.unwrap().path().join("metrics.json"))
        .filter(|p| p.is_file())
        .collect();
    files.sort_by_key(|p| std::fs::read_to_string(p).unwrap().contains("slowed"));
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .arg("compare")
        .arg("--baseline")
        .arg(&files[0])
        .arg("--new")
        .arg(&files[1])
        .args(["--format", "json", "--correction", "none"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    let cpu = report["cases"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "server_cpu_per_request")
        .unwrap_or_else(|| panic!("no server CPU metric: {report:#}"))
        .clone();
    assert_eq!(cpu["verdict"], "regression", "{cpu:#}");
    assert!(
        cpu["difference"]["pct_change"].as_f64().unwrap() > 15.0,
        "{cpu:#}"
    );
}

#[test]
fn the_sampler_writes_a_line_a_second_and_leaves_the_measured_command_alone() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    // One client, no pipeline: at most one request in flight when the window closes, so the
    // server's count of the measured command matches the client's within one.
    let config = scratch.config(&json!([{
        "duration": 5, "keyspacelen": [1000], "data_sizes": [16], "pipelines": [1],
        "clients": [1], "commands": ["GET"], "per_second_sampling": true
    }]));
    run(
        &scratch,
        &config,
        &[
            "--engine",
            "native",
            "--server-bin",
            bins.new.to_str().unwrap(),
        ],
    );
    let rs = records(&scratch.results());
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    let file = PathBuf::from(r["timeseries_file"].as_str().expect("a timeseries file"));
    assert!(
        file.starts_with(scratch.results()) && file.to_string_lossy().contains("/timeseries/"),
        "{}",
        file.display()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    eprintln!("{} lines; first: {}", lines.len(), lines[0]);
    assert!((4..=6).contains(&lines.len()), "{text}");
    assert_eq!(r["timeseries_lines"], lines.len());
    let mut previous = String::new();
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["second"], i + 1);
        let t = l["timestamp"].as_str().unwrap().to_string();
        assert!(t > previous, "timestamps increase: {text}");
        previous = t;
        assert!(l["ops_per_sec"].as_f64().unwrap() > 0.0, "{l}");
        assert!(l["connected_clients"].as_f64().unwrap() >= 2.0, "{l}");
        assert!(l["used_memory"].as_f64().unwrap() > 0.0, "{l}");
        assert!(
            l["keyspace_hits"].as_f64().unwrap() > 0.0,
            "seeded GETs hit: {l}"
        );
        assert!(l["command_calls"].as_f64().unwrap() > 0.0, "{l}");
        assert!(
            l["command_latency"]["p99_usec"].as_u64().unwrap() >= 1,
            "{l}"
        );
        let threads = l["threads"].as_array().unwrap();
        assert!(
            threads.iter().any(|t| t["name"] == "valkey-server"),
            "the main thread is listed: {l}"
        );
        assert!(l["server_cpu_percent"].as_f64().unwrap() > 0.0, "{l}");
    }
    // The sampler sends INFO and LATENCY HISTOGRAM only: the server counted the measured
    // command as often as the client sent it.
    let (server, client) = (f(r, "server_calls"), f(r, "requests_completed"));
    assert!(
        (server - client).abs() <= 1.0,
        "server {server}, client {client}"
    );
    // `push` stores the samples, one row a second, and a second push adds none.
    let db = scratch.path().join("perf.db");
    for expect in [lines.len(), 0] {
        let out = assert_cmd::Command::cargo_bin("valkey-perf")
            .unwrap()
            .arg("push")
            .arg("--results-dir")
            .arg(scratch.results())
            .arg("--db")
            .arg(&db)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8_lossy(&out).into_owned();
        if expect > 0 {
            assert!(
                out.contains(&format!("; {expect} time series rows")),
                "{out}"
            );
        } else {
            assert!(!out.contains("time series rows"), "{out}");
        }
    }
    let mut store = store::Db::open(db.to_str().unwrap(), None).unwrap();
    let rows = store.fetch_timeseries(&store::TableId::core()).unwrap();
    assert_eq!(rows.len(), lines.len());
    assert_eq!(rows[0].2["ops_per_sec"], lines[0]["ops_per_sec"]);
}
