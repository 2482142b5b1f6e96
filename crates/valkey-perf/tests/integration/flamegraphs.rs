//! Flamegraphs (`profiling_sets`): an extra, unmeasured run per case and target with `perf`
//! attached to the servers, drawn in-process; a differential flamegraph per case next to
//! `report.md` with a baseline; a machine without `perf` gets a warning and its benchmark.
//! Real servers, real `perf`, headless Chromium.

use crate::dashboard::{chromium, file_url, run_chromium};
use crate::support::{Bins, Scratch, require};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn config(scratch: &Scratch) -> PathBuf {
    scratch.config(&json!([{
        "duration": 3, "keyspacelen": [1000], "data_sizes": [16], "pipelines": [8],
        "clients": [8], "commands": ["GET"],
        "profiling_sets": [{"enabled": false}, {"enabled": true, "mode": "cpu", "sampling_freq": 499}]
    }]))
}

fn run(scratch: &Scratch, args: &[&str], path: Option<&str>) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(config(scratch))
        .arg("--results-dir")
        .arg(scratch.results())
        .args(["--engine", "native"])
        .args(args)
        .timeout(Duration::from_secs(300));
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    cmd.assert().success().get_output().clone()
}

fn svgs_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(svgs_below(&p));
        } else if p.extension().is_some_and(|e| e == "svg") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn a_get_run_draws_the_servers_frames_and_a_differential_against_the_baseline() {
    let (Some(bins), Some(_), Some(browser)) = (
        Bins::get(),
        require("/usr/bin/perf", "apt-get install linux-perf"),
        chromium(),
    ) else {
        return;
    };
    let scratch = Scratch::new();
    let out = run(
        &scratch,
        &[
            "--baseline-server-bin",
            bins.base.to_str().unwrap(),
            "--server-bin",
            bins.new.to_str().unwrap(),
        ],
        None,
    );
    let svgs = svgs_below(&scratch.results());
    // One per target, one differential.
    assert_eq!(svgs.len(), 3, "{svgs:?}");
    for svg in &svgs {
        let text = std::fs::read_to_string(svg).unwrap();
        assert!(
            text.contains("processCommand"),
            "`{}` lacks the server's frames",
            svg.display()
        );
        // Opens headless: the browser renders the document's frames.
        let dom = run_chromium(&browser, &["--dump-dom".into()], &file_url(svg));
        assert!(
            dom.contains("<svg") && dom.contains("processCommand"),
            "{}",
            svg.display()
        );
    }
    // The report links its differential flamegraph, which lies next to it.
    let report = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("report.md"))
        .map(PathBuf::from)
        .expect("run prints the report's path");
    let text = std::fs::read_to_string(&report).unwrap();
    let link = text
        .split("](")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .filter(|l| l.starts_with("flamegraphs/"))
        .unwrap_or_else(|| panic!("no flamegraph link in {text}"));
    assert!(text.contains("## Differential flamegraphs"), "{text}");
    assert!(report.parent().unwrap().join(link).is_file(), "{link}");
    // The profiled runs are not measured runs: one record per target.
    for t in ["8.1.8", "9.1.2"] {
        let dir = std::fs::read_dir(scratch.results())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(t) && !name.contains("_vs_")
            })
            .unwrap();
        let recs = valkey_perf::compare::group::load_records(&dir.join("metrics.json")).unwrap();
        assert_eq!(recs.len(), 1, "{t}");
    }
}

#[test]
fn without_perf_the_benchmark_goes_on_with_a_warning() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let empty = scratch.path().join("no-tools");
    std::fs::create_dir(&empty).unwrap();
    let out = run(
        &scratch,
        &["--server-bin", bins.new.to_str().unwrap()],
        Some(empty.to_str().unwrap()),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no flamegraphs: `perf` is not installed or does not run (Debian: apt-get install linux-perf); the benchmark goes on without them"),
        "{stderr}"
    );
    assert!(svgs_below(&scratch.results()).is_empty());
    let file = std::fs::read_dir(scratch.results())
        .unwrap()
        .map(|e| e.unwrap().path().join("metrics.json"))
        .find(|p| p.is_file())
        .expect("the benchmark ran");
    assert_eq!(
        valkey_perf::compare::group::load_records(&file)
            .unwrap()
            .len(),
        1
    );
}
