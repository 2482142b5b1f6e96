//! Memory mode (`benchmark_mode: "memory"`): bytes of overhead per key on fresh servers of
//! both registry Valkey versions, three runs each, and `compare` judging them. Real servers.

use crate::support::{Bins, Scratch};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

fn metrics_files(scratch: &Scratch) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scratch.results())
        .unwrap()
        .map(|e| e.unwrap().path().join("metrics.json"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn overhead_per_key_is_positive_and_stable_on_both_versions() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "benchmark_mode": "memory", "keyspacelen": [100000], "data_sizes": [16, 128],
        "commands": ["SET"]
    }]));
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--results-dir")
        .arg(scratch.results())
        .args(["--log-level", "warn", "--runs", "3"])
        .arg("--baseline-server-bin")
        .arg(&bins.base)
        .arg("--server-bin")
        .arg(&bins.new)
        .timeout(Duration::from_secs(300))
        .assert()
        .success()
        .get_output()
        .clone();
    let files = metrics_files(&scratch);
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        let recs = valkey_perf::compare::group::load_records(file).unwrap();
        assert_eq!(recs.len(), 6, "2 sizes × 3 runs");
        for size in [16, 128] {
            let runs: Vec<&serde_json::Map<String, Value>> =
                recs.iter().filter(|r| r["data_size"] == size).collect();
            let overhead: Vec<f64> = runs
                .iter()
                .map(|r| r["overhead_bytes_per_item"].as_f64().unwrap())
                .collect();
            let (lo, hi) = overhead
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let mean = overhead.iter().sum::<f64>() / 3.0;
            eprintln!(
                "{} d={size}: overhead {overhead:?} bytes per key (spread {:.2} %)",
                runs[0]["server_version"],
                (hi - lo) / mean * 100.0
            );
            assert!(lo > 0.0, "{overhead:?}");
            assert!((hi - lo) / mean < 0.02, "{overhead:?}");
            for r in &runs {
                assert_eq!(r["benchmark_mode"], "memory");
                assert_eq!(r["memory_items"], 100000);
                assert_eq!(r["rps"], Value::Null, "nothing was timed");
                let per_item = r["bytes_per_item"].as_f64().unwrap();
                assert!(
                    (per_item
                        - 16.0
                        - size as f64
                        - r["overhead_bytes_per_item"].as_f64().unwrap())
                    .abs()
                        < 0.02
                );
            }
        }
    }
    // The report `run` wrote compares overhead per key, and only that.
    let report_path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("report.md"))
        .map(PathBuf::from)
        .expect("run prints the report's path");
    let report = std::fs::read_to_string(&report_path).unwrap();
    assert!(report.contains("**overhead/key**"), "{report}");
    assert!(!report.contains("**rps**"), "{report}");
}
