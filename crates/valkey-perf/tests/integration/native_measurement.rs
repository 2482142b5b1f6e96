//! What the native engine's numbers claim, end to end: `loadgen` fills the list before
//! LRANGE (valkey-benchmark's LPUSH step) and runs PING_INLINE; `run` records the share of
//! replies without the shape the command implies (`miss_rate`) and the CPUs each client thread
//! ran on (`client_thread_cpus`).

use crate::support::{Bins, Resp, Scratch, ServerGuard};
use serde_json::{Value, json};
use std::time::Duration;

fn loadgen(port: u16, args: &[&str]) -> assert_cmd::assert::Assert {
    assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .env_remove("RUST_LOG")
        .args(["loadgen", "-p", &port.to_string()])
        .args(args)
        .timeout(Duration::from_secs(60))
        .assert()
}

#[test]
fn loadgen_fills_the_list_before_lrange_and_its_replies_have_n_elements() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let scratch = Scratch::new();
    let json_file = scratch.path().join("report.json");
    let out = loadgen(
        server.port,
        &[
            "-t",
            "lrange_600",
            "-n",
            "300",
            "-q",
            "--json",
            json_file.to_str().unwrap(),
        ],
    )
    .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("LPUSH (needed to benchmark LRANGE): "),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("LRANGE_600 (first 600 elements): "),
        "{stdout}"
    );
    assert!(!stderr.contains("shape"), "{stderr}");
    let mut resp = Resp::connect(server.port).unwrap();
    // Two runs of at least 600 pushes each (-n 300 is raised to the longest range).
    let len: u64 = resp.call(&["LLEN", "mylist"]).unwrap().parse().unwrap();
    assert!(len >= 600, "LLEN mylist = {len}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    let lrange = &report[1]["report"];
    assert_eq!(lrange["miss_rate"], 0.0, "{lrange}");
    assert!(lrange["replies_checked"].as_u64().unwrap() > 0);
}

#[test]
fn loadgen_runs_ping_inline_in_the_inline_protocol() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let mut resp = Resp::connect(server.port).unwrap();
    resp.call(&["CONFIG", "RESETSTAT"]).unwrap();
    let out = loadgen(server.port, &["-t", "ping_inline", "-n", "1000", "-q"]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.starts_with("PING_INLINE: "), "{stdout}");
    let calls = resp.call(&["INFO", "commandstats"]).unwrap();
    assert!(calls.contains("cmdstat_ping:calls=1000,"), "{calls}");
}

#[test]
fn run_records_miss_rate_and_the_cpus_of_each_client_thread() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [3000], "keyspacelen": [500], "data_sizes": [8],
        "pipelines": [4], "clients": [4], "commands": ["GET", "LRANGE", "LPOP"]
    }]));
    assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--results-dir")
        .arg(scratch.results())
        .arg("--server-bin")
        .arg(&bins.new)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let mut records = Vec::new();
    for entry in std::fs::read_dir(scratch.results()).unwrap().flatten() {
        let file = entry.path().join("metrics.json");
        if file.exists() {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            // Per-run details live in a nested object; read them as valkey-perf does.
            records.extend(v.as_array().unwrap().iter().map(|r| {
                Value::Object(valkey_perf::model::flatten_details(
                    r.as_object().unwrap().clone(),
                ))
            }));
        }
    }
    assert_eq!(records.len(), 3);
    for r in &records {
        // Seeded, so every sampled reply has the command's shape.
        assert_eq!(r["miss_rate"], 0.0, "{r}");
        let cpus = r["client_thread_cpus"].as_array().unwrap();
        assert_eq!(cpus.len(), 1, "one client thread: {r}");
        assert!(!cpus[0].as_str().unwrap().is_empty(), "{r}");
        assert_eq!(
            r["client_thread_runqueue_share"].as_array().map(Vec::len),
            Some(1),
            "{r}"
        );
    }
}
