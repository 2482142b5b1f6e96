//! `valkey-perf run` with the native engine, the default when no --valkey-benchmark-path is
//! given: records carry its extra fields and histogram files, reads are seeded.

use crate::support::{Bins, Resp, Scratch, ServerGuard};
use serde_json::{Value, json};
use std::time::Duration;

/// `valkey-perf run` without --valkey-benchmark-path, so the native engine is chosen.
fn native_run(scratch: &Scratch, config: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--results-dir")
        .arg(scratch.results())
        .timeout(Duration::from_secs(120));
    cmd
}

fn records_in(results: &std::path::Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(results).unwrap().flatten() {
        let file = entry.path().join("metrics.json");
        if file.exists() {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            // Per-run details live in a nested object; read them as valkey-perf does.
            out.extend(v.as_array().unwrap().iter().map(|r| {
                Value::Object(valkey_perf::model::flatten_details(
                    r.as_object().unwrap().clone(),
                ))
            }));
        }
    }
    out
}

#[test]
fn native_engine_is_the_default_and_records_its_extras() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [4000], "keyspacelen": [500], "data_sizes": [32],
        "pipelines": [1, 8], "clients": [4], "commands": ["SET", "GET"]
    }]));
    native_run(&scratch, &config)
        .arg("--server-bin")
        .arg(&bins.new)
        .assert()
        .success();
    let records = records_in(&scratch.results());
    assert_eq!(records.len(), 4);
    for r in &records {
        assert_eq!(r["engine"], "native", "{r}");
        assert!(
            r["engine_version"]
                .as_str()
                .unwrap()
                .starts_with("valkey-perf native")
        );
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["client_bound"].is_boolean());
        let ms = |k: &str| {
            r[k].as_f64()
                .unwrap_or_else(|| panic!("{k} missing in {r}"))
        };
        assert!(ms("rps") > 0.0);
        assert!(ms("min_latency_ms") <= ms("p50_latency_ms"));
        assert!(ms("p50_latency_ms") <= ms("p90_latency_ms"));
        assert!(ms("p90_latency_ms") <= ms("p95_latency_ms"));
        assert!(ms("p95_latency_ms") <= ms("p99_latency_ms"));
        assert!(ms("p99_latency_ms") <= ms("p999_latency_ms"));
        assert!(ms("p999_latency_ms") <= ms("p9999_latency_ms"));
        assert!(ms("p9999_latency_ms") <= ms("max_latency_ms"));
        assert!(
            r["seed"].as_u64().is_some(),
            "the drawn seed is recorded: {r}"
        );
        let hist = std::path::PathBuf::from(r["histogram_file"].as_str().unwrap());
        let detail: Value = serde_json::from_str(&std::fs::read_to_string(&hist).unwrap()).unwrap();
        assert!(
            detail["histogram_v2_base64"]
                .as_str()
                .unwrap()
                .starts_with("HISTF")
        );
        assert_eq!(detail["histogram_unit"], "ns");
        // The histogram holds every measured request.
        let decoded =
            loadgen::decode_histogram(detail["histogram_v2_base64"].as_str().unwrap()).unwrap();
        assert_eq!(decoded.len(), 4000, "{hist:?}");
    }
}

#[test]
fn native_engine_seeds_reads_on_a_running_server() {
    let Some(bins) = Bins::get() else { return };
    let mut server = ServerGuard::start(&bins.new);
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [6000], "keyspacelen": [800], "data_sizes": [16],
        "pipelines": [4], "clients": [4], "commands": ["GET", "LPOP"]
    }]));
    native_run(&scratch, &config)
        .args(["--use-running-server", "--port", &server.port.to_string()])
        .assert()
        .success();
    let mut resp = Resp::connect(server.port).unwrap();
    let hits = resp.info_u64("stats", "keyspace_hits");
    let misses = resp.info_u64("stats", "keyspace_misses");
    assert!(hits >= 6000, "hits {hits}");
    assert!(
        hits as f64 / (hits + misses) as f64 >= 0.99,
        "hits {hits} misses {misses}"
    );
    let records = records_in(&scratch.results());
    let lpop = records.iter().find(|r| r["command"] == "LPOP").unwrap();
    assert!(lpop["seeded_items_left"].as_u64().unwrap() > 0, "{lpop}");
    assert_eq!(lpop["server_restarted"], false);
    assert!(server.is_running());
}

#[test]
fn the_end_of_run_table_gives_each_case_its_rps_confidence_interval() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [3000], "keyspacelen": [500], "data_sizes": [16],
        "pipelines": [1], "clients": [4], "commands": ["SET", "GET"]
    }]));
    let out = native_run(&scratch, &config)
        .args(["--server-bin", bins.new.to_str().unwrap(), "--runs", "3"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    // A binary path is not a git ref: no `results/<ref>` link is tried, so nothing warns.
    assert!(!stderr.contains("link"), "{stderr}");
    let records = records_in(&scratch.results());
    assert_eq!(records.len(), 6);
    for command in ["SET", "GET"] {
        let rps: Vec<f64> = records
            .iter()
            .filter(|r| r["command"] == command)
            .map(|r| r["rps"].as_f64().unwrap())
            .collect();
        let mean = rps.iter().sum::<f64>() / 3.0;
        let sd = (rps.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        // t(0.975, 2 degrees of freedom) = 4.3027.
        let want = 4.3027 * sd / 3f64.sqrt() / mean * 100.0;
        // The case's label line, then its one target line.
        let mut lines = stdout
            .lines()
            .skip_while(|l| !l.starts_with(&format!("{command} ")));
        lines
            .next()
            .unwrap_or_else(|| panic!("no {command} case in\n{stdout}"));
        let row = lines.next().unwrap();
        let printed: f64 = row
            .split('±')
            .nth(2)
            .and_then(|s| s.split_whitespace().next())
            .map(|s| s.parse().unwrap())
            .unwrap_or_else(|| panic!("no rps CI95 in {row:?}\n{stdout}"));
        assert!(
            (printed - want).abs() <= 0.051,
            "{command}: printed ±{printed} %, the runs give ±{want:.3} % ({rps:?})\n{stdout}"
        );
    }
}
