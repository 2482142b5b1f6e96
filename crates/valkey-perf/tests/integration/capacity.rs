//! Capacity mode (`benchmark_mode: "capacity"`, `run --capacity`): ladders of fixed open-loop
//! rates on real servers, the sustainable maximum `compare` judges, a stall that is tried again,
//! ladders on a cluster and over TLS, and the config errors of the mode. The timed tests run
//! alone (`.config/nextest.toml`).

use crate::support::{
    Bins, ChildGuard, Resp, Scratch, ServerGuard, config_validate, stderr_of, wait_for,
};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

/// The open-loop steps of a capacity record, in the order they ran.
fn open_steps(record: &Value) -> Vec<&Value> {
    record["capacity_steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no capacity_steps in {record:#}"))
        .iter()
        .filter(|s| !s["target_rps"].is_null())
        .collect()
}

/// Runs `config` with the native engine on `server` and returns the records.
fn ladder_records(
    scratch: &Scratch,
    config: &std::path::Path,
    server: &std::path::Path,
) -> Vec<Value> {
    scratch
        .native_run(config)
        .arg("--server-bin")
        .arg(server)
        .args(["--log-level", "warn"])
        .assert()
        .success();
    scratch.records()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn capacity_ladder_follows_asked_rates_and_pins_its_maximum() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    // A generous SLO: the ladder ends where the server (or the client) stops keeping up.
    let config = scratch.config(&json!([{
        "benchmark_mode": "capacity", "slo": {"p99_ms": 1000.0},
        "duration": 2, "warmup": 1, "keyspacelen": [1000], "data_sizes": [16],
        "pipelines": [1], "clients": [10], "commands": ["GET"],
        "server_cpu_range": "0", "client_cpu_range": "1"
    }]));
    let records = ladder_records(&scratch, &config, &bins.new);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r["benchmark_mode"], "capacity", "{r:#}");
    let closed = f(&r["capacity_closed_loop_rps"]);
    let max = f(&r["capacity_max_rps"]);
    assert_eq!(f(&r["rps"]), max, "rps is the sustainable maximum: {r:#}");
    let steps = open_steps(r);
    // Below the knee the achieved rate is the asked one.
    let knee = f(&r["capacity_knee_rps"]);
    for s in steps
        .iter()
        .filter(|s| f(&s["target_rps"]) <= knee && s["outcome"] == "met")
    {
        let (asked, got) = (f(&s["target_rps"]), f(&s["achieved_rps"]));
        assert!(
            (got / asked - 1.0).abs() <= 0.02,
            "asked {asked}, achieved {got}: {r:#}"
        );
        assert!(
            s["server_cpu_us_per_request"].as_f64().unwrap() > 0.0,
            "{s:#}"
        );
    }
    // Past it latency rises: the step that ended the ladder is slower than the first step.
    let first = f(&steps[0]["p99_latency_ms"]);
    let last = steps.iter().max_by(|a, b| {
        f(&a["target_rps"])
            .partial_cmp(&f(&b["target_rps"]))
            .unwrap()
    });
    assert!(
        f(&last.unwrap()["p99_latency_ms"]) > first,
        "p99 did not rise over the ladder: {r:#}"
    );
    // The ladder found an end within the 2.1 times the closed-loop rate it may climb to: the
    // failing rate was tried twice, and refining halved the gap below it twice (a quarter of
    // the widest gap between shares, 20 to 40 %, is 25 %).
    assert_ne!(r["capacity_end"], "rates_exhausted", "{r:#}");
    let met = |rate: f64| {
        steps
            .iter()
            .any(|s| f(&s["target_rps"]) == rate && s["outcome"] == "met")
    };
    let failed: Vec<f64> = steps
        .iter()
        .map(|s| f(&s["target_rps"]))
        .filter(|&rate| !met(rate))
        .collect();
    let end = failed.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        end > max && end <= 1.25 * max,
        "end {end}, maximum {max}: {r:#}"
    );
    assert!(
        failed.iter().filter(|&&rate| rate == end).count() == 2,
        "the end was not tried twice: {r:#}"
    );
    // Under a generous SLO the sustainable maximum is the closed-loop maximum, within 15 %.
    // A closed-loop step the client limited (this debug-built client on one core) measured
    // the client, not the server: the open-loop ladder may then climb past it (by 24 % once
    // on a quiet machine, every step short of the end reaching its rate), and only the lower
    // side of the bound holds.
    let closed_by_client = r["capacity_steps"][0]["client_bound"] == true;
    assert!(
        max >= 0.85 * closed && (closed_by_client || max <= 1.15 * closed),
        "maximum {max} vs closed loop {closed}: {r:#}"
    );
    let chart = std::fs::read_dir(scratch.results())
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path().join("capacity")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg" || e == "png"))
        .count();
    assert_eq!(chart, 2, "one SVG and one PNG chart");
}

#[test]
fn a_planted_per_command_cost_lowers_the_sustainable_maximum_and_compare_says_so() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    // The same server syncing every write to an append-only file and logging every command
    // to the slow log. Measured here (10 clients, pipeline 1): the sustainable SET maximum fell
    // by 90 % and more. An unsynced file and the slow log alone cost too little to show while
    // the client, not the server, is the limit (a debug-built client on two shared cores).
    let slow = scratch.wrapper(
        "slow-valkey-server",
        &bins.new,
        "--appendonly yes --appendfsync always --slowlog-log-slower-than 0",
    );
    let config = scratch.config(&json!([{
        "benchmark_mode": "capacity", "slo": {"p99_ms": 1000.0},
        "duration": 1, "warmup": 1, "keyspacelen": [1000], "data_sizes": [16],
        "pipelines": [1], "clients": [10], "commands": ["SET"],
        "server_cpu_range": "0", "client_cpu_range": "1"
    }]));
    scratch
        .native_run(&config)
        .arg("--baseline-server-bin")
        .arg(&bins.new)
        .arg("--server-bin")
        .arg(&slow)
        .args(["--runs", "3", "--log-level", "warn"])
        .timeout(Duration::from_secs(240))
        .assert()
        .success();
    let records = scratch.records();
    let max_of = |slowed: bool| -> Vec<f64> {
        records
            .iter()
            .filter(|r| r["ref"].as_str().unwrap().contains("slow-valkey-server") == slowed)
            .filter_map(|r| r["capacity_max_rps"].as_f64())
            .collect()
    };
    let (plain, slowed) = (max_of(false), max_of(true));
    assert_eq!(plain.len(), 3, "{records:#?}");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    assert!(
        slowed.len() < 3 || mean(&slowed) < 0.8 * mean(&plain),
        "plain {plain:?}, slowed {slowed:?}"
    );
    // The comparison `run` wrote, and `compare` on the same files, judge the maximum.
    let dir = std::fs::read_dir(scratch.results())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("report.md").is_file())
        .expect("a comparison directory");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("## Capacity: latency against throughput"),
        "{report}"
    );
    assert!(
        dir.join("graphs").read_dir().unwrap().count() >= 2,
        "{report}"
    );
    let mut files: Vec<_> = std::fs::read_dir(scratch.results())
        .unwrap()
        .map(|e| e.unwrap().path().join("metrics.json"))
        .filter(|p| p.is_file())
        .collect();
    files.sort_by_key(|p| {
        std::fs::read_to_string(p)
            .unwrap()
            .contains("slow-valkey-server")
    });
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .arg("compare")
        .arg("--baseline")
        .arg(&files[0])
        .arg("--new")
        .arg(&files[1])
        .args(["--format", "json", "--metrics", "rps"])
        .assert();
    let json: Value = serde_json::from_slice(&out.get_output().stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stderr_of(&out)));
    let rps = &json["cases"][0]["metrics"][0];
    assert_eq!(rps["metric"], "rps", "{json:#}");
    assert_eq!(rps["verdict"], "regression", "{rps:#}");
}

/// Runs an explicit ladder (500 to 2000 rps, SLO p99 <= 100 ms) against a running server and
/// pauses every client of the server for 600 ms half a second into the step at 1000 rps,
/// `stalls` times (the second time in that step's repeat). Returns the ladder's record.
fn stalled_ladder(stalls: usize) -> Value {
    let bins = Bins::get().expect("checked by the caller");
    let scratch = Scratch::new();
    let server = ServerGuard::start(&bins.new);
    let config = scratch.config(&json!([{
        "benchmark_mode": "capacity", "slo": {"p99_ms": 100.0},
        "capacity_rates": [500, 1000, 1500, 2000],
        "duration": 2, "warmup": 0, "keyspacelen": [1000], "data_sizes": [16],
        "pipelines": [1], "clients": [5], "commands": ["GET"]
    }]));
    let mut cmd = scratch.run_against_std(&config, server.port);
    cmd.args(["--log-level", "info"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = ChildGuard::spawn(cmd);
    let stderr = child.child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // A step's line is logged when it ends and the next begins; a repeat is announced as it
    // begins.
    let mut log = Vec::new();
    let starts = [
        "capacity step 500 rps",
        "capacity step 1000 rps: running it once more",
    ];
    for start in &starts[..stalls] {
        wait_for(start, Duration::from_secs(60), || {
            let line = rx.recv_timeout(Duration::from_millis(100)).ok()?;
            log.push(line.clone());
            line.contains(start).then_some(())
        });
        std::thread::sleep(Duration::from_millis(500));
        let mut c = Resp::connect(server.port).unwrap();
        assert_eq!(c.call(&["CLIENT", "PAUSE", "600", "ALL"]).unwrap(), "OK");
    }
    let status = child.wait(Duration::from_secs(90));
    reader.join().unwrap();
    log.extend(rx.try_iter());
    assert!(status.success(), "{}", log.join("\n"));
    let records = scratch.records();
    records[0].clone()
}

#[test]
fn a_stall_in_one_step_shows_in_its_p99_and_the_step_is_tried_again() {
    if Bins::get().is_none() {
        return;
    }
    // One stall: the step's first try breaks the SLO, its second try meets it, the ladder
    // goes on to its last rate.
    let r = stalled_ladder(1);
    let steps = open_steps(&r);
    let asked: Vec<f64> = steps.iter().map(|s| f(&s["target_rps"])).collect();
    assert_eq!(asked, [500.0, 1000.0, 1000.0, 1500.0, 2000.0], "{r:#}");
    assert_eq!(steps[1]["outcome"], "slo_breached", "{r:#}");
    assert!(f(&steps[1]["p99_latency_ms"]) >= 300.0, "{r:#}");
    assert!(f(&steps[2]["p99_latency_ms"]) < 100.0, "{r:#}");
    for i in [0, 2, 3, 4] {
        assert_eq!(steps[i]["outcome"], "met", "step {i}: {r:#}");
    }
    assert_eq!(r["capacity_end"], "rates_exhausted", "{r:#}");
    assert_eq!(f(&r["capacity_max_rps"]), 2000.0, "{r:#}");
    // A stall in the repeat too: the ladder ends there.
    let r = stalled_ladder(2);
    let steps = open_steps(&r);
    assert_eq!(steps.len(), 3, "the ladder ends at the stalled step: {r:#}");
    assert_eq!(steps[0]["outcome"], "met", "{r:#}");
    for s in &steps[1..] {
        assert_eq!(s["outcome"], "slo_breached", "{r:#}");
        assert!(f(&s["p99_latency_ms"]) >= 300.0, "{r:#}");
    }
    assert_eq!(r["capacity_end"], "slo_breached", "{r:#}");
    assert_eq!(f(&r["capacity_max_rps"]), 500.0, "{r:#}");
}

/// Low fixed rates every topology holds on two shared cores: each step must meet the SLO at
/// its asked rate.
fn assert_low_ladder_met(r: &Value) {
    assert_eq!(r["benchmark_mode"], "capacity", "{r:#}");
    let steps = open_steps(r);
    let asked: Vec<f64> = steps.iter().map(|s| f(&s["target_rps"])).collect();
    assert_eq!(asked, [1000.0, 2000.0], "{r:#}");
    for s in &steps {
        assert_eq!(s["outcome"], "met", "{r:#}");
        let got = f(&s["achieved_rps"]);
        assert!((got / f(&s["target_rps"]) - 1.0).abs() <= 0.05, "{r:#}");
        assert_eq!(s["errors"], 0, "{r:#}");
    }
    assert_eq!(r["capacity_end"], "rates_exhausted", "{r:#}");
    assert_eq!(f(&r["capacity_max_rps"]), 2000.0, "{r:#}");
}

#[test]
fn capacity_ladders_run_on_a_cluster_and_over_tls() {
    let Some(bins) = Bins::get() else { return };
    let Some(redis) = crate::support::redis_server() else {
        return;
    };
    let ladder = |extra: Value| {
        let mut case = json!({
            "benchmark_mode": "capacity", "slo": {"p99_ms": 200.0},
            "capacity_rates": [1000, 2000], "duration": 1, "warmup": 0,
            "keyspacelen": [1000], "data_sizes": [16], "pipelines": [1], "clients": [6],
            "commands": ["SET"]
        });
        case.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!([case])
    };
    // A Valkey cluster: the native engine sends each key to its slot's primary.
    let scratch = Scratch::new();
    let config = scratch.config(&ladder(json!({"cluster_mode": true})));
    let records = ladder_records(&scratch, &config, &bins.new);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["cluster_mode"], true);
    assert_low_ladder_met(&records[0]);
    // TLS, standalone and cluster, on redis-server (the registry's Valkey builds have no TLS).
    let scratch = Scratch::new();
    let config = scratch.config(&ladder(
        json!({"cluster_mode": [false, true], "tls_mode": true}),
    ));
    let records = ladder_records(&scratch, &config, &redis);
    assert_eq!(records.len(), 2, "{records:#?}");
    for r in &records {
        assert_eq!(r["tls"], true, "{r:#}");
        assert_low_ladder_met(r);
    }
    let clusters: Vec<&Value> = records
        .iter()
        .filter(|r| r["cluster_mode"] == true)
        .collect();
    assert_eq!(clusters.len(), 1, "{records:#?}");
}

#[test]
fn capacity_config_errors_name_the_key_and_the_fix() {
    let scratch = Scratch::new();
    let base = || {
        json!({
            "benchmark_mode": "capacity", "slo": {"p99_ms": 1.0}, "duration": 2,
            "keyspacelen": [1000], "data_sizes": [16], "pipelines": [1], "commands": ["GET"]
        })
    };
    let ok = scratch.config(&json!([base()]));
    config_validate(&ok).assert().success();
    let cases: [(&str, Value, &str); 7] = [
        ("slo", json!(null), "needs a latency SLO"),
        ("slo", json!({"p95_ms": 1.0}), "unknown key `p95_ms`"),
        (
            "slo",
            json!({"p99_ms": -1}),
            "positive number of milliseconds",
        ),
        ("capacity_rates", json!([2000, 1000]), "rates must increase"),
        ("capacity_rates", json!("fast"), "is not a list"),
        ("requests", json!([1000]), "instead of `requests`"),
        ("benchmark_mode", json!("capacty"), "\"capacity\""),
    ];
    for (key, value, expected) in cases {
        let mut obj = base();
        if value.is_null() {
            obj.as_object_mut().unwrap().remove(key);
        } else {
            obj[key] = value;
        }
        let path = scratch.config(&json!([obj]));
        let out = config_validate(&path).assert().code(2);
        let err = stderr_of(&out);
        assert!(err.contains(key) && err.contains(expected), "{key}: {err}");
    }
    // The mode's keys outside the mode.
    let mut plain = base();
    plain.as_object_mut().unwrap().remove("benchmark_mode");
    let path = scratch.config(&json!([plain]));
    let err = stderr_of(&config_validate(&path).assert().code(2));
    assert!(err.contains("only capacity mode uses this key"), "{err}");
    // Capacity needs the native engine: refused before anything starts.
    let ok = scratch.config(&json!([base()]));
    let out = scratch
        .native_run(&ok)
        .args(["--engine", "valkey-benchmark", "--valkey-benchmark-path"])
        .arg(crate::support::REDIS_BENCHMARK)
        .arg("--server-bin")
        .arg("/bin/true")
        .assert()
        .code(2);
    assert!(
        stderr_of(&out).contains("native engine"),
        "{}",
        stderr_of(&out)
    );
}
