//! `run --precision`: rounds are added until every case's paired interval is narrower than the
//! goal, or the time is up; both targets of a round get the same key seed. Real servers: the
//! noise source that does not move with the machine is instructions mode (callgrind).

use crate::support::{Bins, Scratch, require};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn valkey_perf(scratch: &Scratch, config: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--results-dir")
        .arg(scratch.results())
        .args(args)
        .timeout(Duration::from_secs(240))
        .assert()
}

/// Every record below the results, flattened, with the file it came from.
fn records(scratch: &Scratch) -> Vec<(PathBuf, Vec<Value>)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(scratch.results()) else {
        return out;
    };
    for entry in dir {
        let file = entry.unwrap().path().join("metrics.json");
        if file.is_file() {
            let recs = valkey_perf::compare::group::load_records(&file).unwrap();
            out.push((file, recs.into_iter().map(Value::Object).collect()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn precision_stops_once_every_interval_is_narrower_than_the_goal() {
    let (Some(bins), Some(_)) = (
        Bins::get(),
        require("/usr/bin/valgrind", "apt-get install valgrind"),
    ) else {
        return;
    };
    let scratch = Scratch::new();
    // No `seed` in the config: the rounds' seeds come from the invocation.
    let config = scratch.config(&json!([{
        "requests": [2000], "keyspacelen": [1000], "data_sizes": [16], "pipelines": [1],
        "clients": [1], "commands": ["SET"], "warmup": 0, "benchmark_mode": "instructions"
    }]));
    let (a, b) = scratch.two_copies(&bins.new);
    let out = valkey_perf(
        &scratch,
        &config,
        &[
            "--baseline-server-bin",
            a.to_str().unwrap(),
            "--server-bin",
            b.to_str().unwrap(),
            "--precision",
            "3",
            "--max-time",
            "10m",
        ],
    )
    .code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("every case's interval is narrower than ±3 %"),
        "{stderr}"
    );
    let all = records(&scratch);
    assert_eq!(all.len(), 2, "{all:?}");
    // Instruction counts repeat within a fraction of a percent: the minimum of 6 rounds
    // already gives an interval far inside ±3 %, so no round more is run.
    for (file, recs) in &all {
        assert_eq!(recs.len(), 6, "{}", file.display());
    }
    // Both targets of a round got the same key seed; every round its own.
    let seeds = |recs: &[Value]| -> Vec<(u64, u64)> {
        let mut s: Vec<(u64, u64)> = recs
            .iter()
            .map(|r| {
                (
                    r["run_index"].as_u64().unwrap(),
                    r["seed"].as_u64().unwrap(),
                )
            })
            .collect();
        s.sort();
        s
    };
    let (sa, sb) = (seeds(&all[0].1), seeds(&all[1].1));
    assert_eq!(sa, sb);
    let distinct: std::collections::BTreeSet<u64> = sa.iter().map(|(_, s)| *s).collect();
    assert_eq!(distinct.len(), 6, "{sa:?}");
    // `compare` of the two files reports the interval the rule stopped on.
    let cmp = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .args(["compare", "--format", "json", "--baseline"])
        .arg(&all[0].0)
        .arg("--new")
        .arg(&all[1].0)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&cmp.get_output().stdout).unwrap();
    let m = report["cases"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "instructions_per_request")
        .unwrap();
    assert_eq!(m["analysis"], "paired", "{m}");
    let ci = &m["difference"]["pct_change_ci95"];
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    eprintln!("A/A instructions per request: interval [{lo:+.3} %, {hi:+.3} %]");
    assert!(lo > -3.0 && hi < 3.0, "{m}");
}

#[test]
fn precision_names_the_cases_left_wider_when_max_time_is_too_short() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [2000], "keyspacelen": [1000], "data_sizes": [16], "pipelines": [1],
        "clients": [5], "commands": ["SET", "GET"]
    }]));
    let (a, b) = scratch.two_copies(&bins.new);
    let out = valkey_perf(
        &scratch,
        &config,
        &[
            "--baseline-server-bin",
            a.to_str().unwrap(),
            "--server-bin",
            b.to_str().unwrap(),
            "--precision",
            "0.01",
            "--max-time",
            "1s",
        ],
    )
    .code(7);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("2 of 2 cases did not get narrower than ±0.01 % within --max-time 1 s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`SET") && stderr.contains("`GET"),
        "{stderr}"
    );
    // What was measured before the time ran out is written.
    let all = records(&scratch);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().all(|(_, r)| !r.is_empty()), "{all:?}");
}

#[test]
fn precision_flags_are_checked_before_anything_starts() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "clients": [1], "commands": ["SET"]
    }]));
    let (a, b) = scratch.two_copies(&bins.new);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let two = ["--baseline-server-bin", a, "--server-bin", b];
    for (args, says) in [
        (vec!["--precision", "0"], "--precision 0 is not a goal"),
        (vec!["--precision", "80"], "between 0.01 and 50"),
        (vec!["--max-time", "5m"], "give --precision PCT too"),
        (
            vec!["--precision", "3", "--max-time", "soon"],
            "--max-time `soon` is not a duration",
        ),
    ] {
        let out = valkey_perf(&scratch, &config, &[&two[..], &args[..]].concat()).code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = valkey_perf(&scratch, &config, &["--server-bin", b, "--precision", "3"]).code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("needs a baseline and one other target"),
        "{stderr}"
    );
    assert!(records(&scratch).is_empty(), "nothing ran");
}
