//! `valkey-perf compare`: statistics against scipy, pairing of upstream files, verdicts,
//! reports (insta snapshot), graphs and the command line; and real runs: an A/A comparison of
//! two `run`s of one server, and a client rate-limited to 90 % reported as a 10 % regression.

use crate::support::{Bins, Scratch, ServerGuard};
use assert_cmd::Command;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use valkey_perf::compare::effects::Analysis;
use valkey_perf::compare::{
    self, CompareOptions, Correction, Metric, MetricSet, RecordMap, Verdict, compare_files,
    compare_records, render_json, render_markdown, stats, write_graphs,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn upstream(name: &str) -> PathBuf {
    fixtures().join("upstream").join(name)
}

fn load(name: &str) -> Vec<RecordMap> {
    compare::group::load_records(&upstream(name)).unwrap()
}

fn upstream_comparison(opts: &CompareOptions) -> compare::Comparison {
    compare_files(
        &upstream("run-a-metrics.json"),
        &upstream("run-b-metrics.json"),
        opts,
    )
    .unwrap()
}

// ---------------------------------------------------------------- statistics vs scipy

fn assert_close(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1e-12);
    assert!(
        (got - want).abs() <= tol.max(1e-12),
        "{what}: got {got:e}, scipy says {want:e}"
    );
}

fn assert_opt(what: &str, got: Option<f64>, want: &Value) {
    match (got, want.as_f64()) {
        (Some(g), Some(w)) => assert_close(what, g, w),
        (None, None) => {}
        (g, _) => panic!("{what}: got {g:?}, scipy says {want}"),
    }
}

fn assert_pair(what: &str, got: Option<[f64; 2]>, want: &Value) {
    match (got, want.as_array()) {
        (Some([lo, hi]), Some(w)) => {
            assert_close(&format!("{what} low"), lo, w[0].as_f64().unwrap());
            assert_close(&format!("{what} high"), hi, w[1].as_f64().unwrap());
        }
        (None, None) => {}
        (g, _) => panic!("{what}: got {g:?}, scipy says {want}"),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn stats_match_scipy() {
    let path = fixtures().join("stats/reference.json");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (a, b) = (floats(&case["baseline"]), floats(&case["new"]));
        for (side, values) in [("baseline_summary", &a), ("new_summary", &b)] {
            let want = &case[side];
            let s = stats::Summary::of(values).unwrap();
            let w = |k: &str| format!("{name} {side} {k}");
            assert_eq!(s.n as u64, want["n"].as_u64().unwrap());
            assert_close(&w("mean"), s.mean, want["mean"].as_f64().unwrap());
            assert_close(&w("median"), s.median, want["median"].as_f64().unwrap());
            assert_opt(&w("sd"), s.sd, &want["sd"]);
            assert_opt(&w("cv"), s.cv_pct, &want["cv_pct"]);
            assert_opt(&w("ci"), s.ci95_half_width, &want["ci95_half_width"]);
            assert_pair(&w("pi"), s.pi95, &want["pi95"]);
        }
        let d = stats::difference(&a, &b).unwrap();
        let want = &case["difference"];
        let w = |k: &str| format!("{name} difference {k}");
        assert_close(
            &w("mean_diff"),
            d.mean_diff,
            want["mean_diff"].as_f64().unwrap(),
        );
        assert_opt(&w("pct"), d.pct_change, &want["pct_change"]);
        assert_close(&w("t"), d.t, want["t"].as_f64().unwrap());
        assert_opt(&w("df"), d.df, &want["df"]);
        assert_close(&w("p"), d.p_value, want["p_value"].as_f64().unwrap());
        assert_pair(&w("ci"), Some(d.mean_diff_ci95), &want["mean_diff_ci95"]);
        assert_pair(&w("pct ci"), d.pct_change_ci95, &want["pct_change_ci95"]);
    }
}

// ---------------------------------------------------------------- pairing

#[test]
fn upstream_files_pair_and_show_no_regression() {
    let cmp = upstream_comparison(&CompareOptions::default());
    assert_eq!(cmp.cases.len(), 6);
    assert!(cmp.only_in_baseline.is_empty() && cmp.only_in_new.is_empty());
    assert_eq!(
        cmp.comparisons, 7,
        "the primary family: rps of 6 cases and the common shift"
    );
    assert!(cmp.changes.is_empty(), "{:?}", cmp.changes);
    for case in &cmp.cases {
        assert_eq!((case.baseline_runs, case.new_runs), (3, 3));
        // Two invocations that say nothing about it: the between-invocation model.
        assert!(
            case.metrics
                .iter()
                .all(|m| m.analysis == Some(Analysis::BetweenInvocations)),
            "{case:?}"
        );
    }
    let fixed: Vec<&str> = cmp.fixed_config.iter().map(|p| p.name.as_str()).collect();
    assert!(fixed.contains(&"pipeline") && fixed.contains(&"clients"));
    assert!(cmp.pairing_fields.iter().all(|f| !f.starts_with("env_")));
}

#[test]
fn env_timestamps_and_versions_never_split_pairs() {
    let a = load("run-a-metrics.json");
    let mut b = load("run-b-metrics.json");
    for (i, r) in b.iter_mut().enumerate() {
        r.insert("env_kernel_version".into(), json!("5.10.0-other"));
        r.insert("env_cpu_model".into(), json!("Intel Xeon"));
        r.insert("env_cpu_governor".into(), json!("performance"));
        r.insert("timestamp".into(), json!("2030-01-01T00:00:00Z"));
        r.insert(
            "commit".into(),
            json!("55bbbe09a3b37a98c907dbfbc225768ff253e84f"),
        );
        r.insert("server_version".into(), json!("8.1.8"));
        r.insert("run_index".into(), json!(i % 3));
        r.insert("seed".into(), json!(1000 + i));
        r.insert(
            "run_started_at".into(),
            json!(format!("2030-01-01T00:00:{i:02}Z")),
        );
    }
    let cmp = compare_records(&a, &b, "a", "b", &CompareOptions::default()).unwrap();
    assert_eq!(cmp.cases.len(), 6);
    assert!(cmp.only_in_baseline.is_empty() && cmp.only_in_new.is_empty());
}

#[test]
fn fields_only_one_tool_writes_are_ignored_for_pairing() {
    let a = load("run-a-metrics.json");
    let mut b = load("run-b-metrics.json");
    for r in b.iter_mut() {
        r.insert("keyspacelen".into(), json!(100000));
        r.insert("io_threads".into(), json!(1));
        r.insert("engine".into(), json!("valkey-benchmark"));
        r.insert("valkey_benchmark_threads".into(), Value::Null);
        r.insert("config_set".into(), json!({}));
    }
    let cmp = compare_records(&a, &b, "a", "b", &CompareOptions::default()).unwrap();
    assert_eq!(cmp.cases.len(), 6);
    let ignored: Vec<&str> = cmp.ignored_fields.iter().map(|f| f.name.as_str()).collect();
    // `engine` is not ignored: a record without it was measured by valkey-benchmark.
    assert_eq!(ignored, ["keyspacelen", "io_threads", "config_set"]);
    assert!(cmp.pairing_fields.iter().any(|f| f == "engine"));
    assert!(
        cmp.warnings
            .iter()
            .any(|w| w.message.contains("keyspacelen"))
    );
}

#[test]
fn a_case_on_one_side_only_is_listed() {
    let a = load("run-a-metrics.json");
    let b: Vec<RecordMap> = load("run-b-metrics.json")
        .into_iter()
        .filter(|r| r["command"] != "HSET")
        .collect();
    let cmp = compare_records(&a, &b, "a", "b", &CompareOptions::default()).unwrap();
    assert_eq!(cmp.cases.len(), 4);
    assert_eq!(cmp.only_in_baseline.len(), 2);
    assert!(cmp.only_in_new.is_empty());
    let md = render_markdown(&cmp);
    assert!(md.contains("Cases only in the baseline results"), "{md}");
}

// ---------------------------------------------------------------- verdicts

/// Records of one case whose rps are `rps` and whose latencies are inversely proportional.
fn synthetic(rps: &[f64]) -> Vec<RecordMap> {
    rps.iter()
        .map(|&r| {
            let lat = 50_000.0 / r;
            json!({
                "command": "GET", "data_size": 64, "pipeline": 16, "clients": 50,
                // Runs of one invocation that are not paired round by round: Welch.
                "invocation_id": "one-invocation",
                "rps": r, "avg_latency_ms": lat, "min_latency_ms": lat / 4.0,
                "p50_latency_ms": lat, "p95_latency_ms": lat * 1.5,
                "p99_latency_ms": lat * 2.0, "max_latency_ms": lat * 5.0,
            })
            .as_object()
            .unwrap()
            .clone()
        })
        .collect()
}

#[test]
fn a_ten_percent_slowdown_is_a_regression_of_about_ten_percent() {
    let base = synthetic(&[400_000.0, 402_000.0, 398_500.0, 401_200.0, 399_300.0]);
    let slow = synthetic(&[360_500.0, 361_700.0, 358_400.0, 360_900.0, 359_800.0]);
    let cmp = compare_records(&base, &slow, "a", "b", &CompareOptions::default()).unwrap();
    let rps = &cmp.cases[0].metrics[0];
    assert_eq!(rps.metric, Metric::Rps);
    assert_eq!(rps.verdict, Verdict::Regression);
    assert_eq!(rps.analysis, Some(Analysis::Unpaired));
    let pct = rps.difference.as_ref().unwrap().pct_change.unwrap();
    assert!((pct + 10.0).abs() < 0.5, "{pct}");
    let p99 = cmp.cases[0]
        .metrics
        .iter()
        .find(|m| m.metric == Metric::P99Latency)
        .unwrap();
    assert_eq!(p99.verdict, Verdict::Regression, "latency up is worse");
    let max = cmp.cases[0]
        .metrics
        .iter()
        .find(|m| m.metric == Metric::MaxLatency);
    assert_eq!(max.unwrap().verdict, Verdict::NotJudged);
    assert_eq!(cmp.regressions_at_least(9.0).len(), 5);
    assert!(cmp.regressions_at_least(12.0).len() < 5);
    // The other direction is an improvement.
    let cmp = compare_records(&slow, &base, "a", "b", &CompareOptions::default()).unwrap();
    assert_eq!(cmp.cases[0].metrics[0].verdict, Verdict::Improvement);
}

#[test]
fn changes_below_the_threshold_are_not_verdicts() {
    let base = synthetic(&[400_000.0, 400_100.0, 399_900.0, 400_050.0]);
    let new = synthetic(&[398_000.0, 398_100.0, 397_900.0, 398_050.0]); // −0.5 %, very tight
    let cmp = compare_records(&base, &new, "a", "b", &CompareOptions::default()).unwrap();
    let rps = &cmp.cases[0].metrics[0];
    assert!(rps.difference.as_ref().unwrap().p_value < 1e-6);
    assert_eq!(rps.verdict, Verdict::NoSignificantChange);
    let opts = CompareOptions {
        threshold_pct: 0.25,
        ..CompareOptions::default()
    };
    let cmp = compare_records(&base, &new, "a", "b", &opts).unwrap();
    assert_eq!(cmp.cases[0].metrics[0].verdict, Verdict::Regression);
}

#[test]
fn one_run_per_side_is_insufficient_data() {
    let base = synthetic(&[400_000.0]);
    let new = synthetic(&[200_000.0, 210_000.0]);
    let cmp = compare_records(&base, &new, "a", "b", &CompareOptions::default()).unwrap();
    assert_eq!(cmp.comparisons, 0);
    assert!(
        cmp.cases[0]
            .metrics
            .iter()
            .filter(|m| m.metric.judged())
            .all(|m| m.verdict == Verdict::InsufficientData)
    );
    assert!(render_markdown(&cmp).contains("insufficient data"));
}

#[test]
fn the_correction_keeps_the_upstream_a_a_drift_from_becoming_a_verdict() {
    // INCR 256 B differs by −13.5 % in rps between two invocations of the same binary: within
    // the drift and the case-to-case spread, corrected or not.
    let holm = upstream_comparison(&CompareOptions::default());
    assert!(holm.changes.is_empty());
    let raw = upstream_comparison(&CompareOptions {
        correction: Correction::None,
        ..CompareOptions::default()
    });
    let labels: Vec<(&str, Metric)> = raw
        .changes
        .iter()
        .map(|c| (c.case.as_str(), c.metric))
        .collect();
    assert!(labels.len() >= holm.changes.len(), "{labels:?}");
}

// ---------------------------------------------------------------- reports

#[test]
fn markdown_report_snapshot() {
    let md = render_markdown(&upstream_comparison(&CompareOptions::default()));
    for needle in [
        "| | % Change | Detectable | Test | baseline | new | baseline stats | new stats |",
        "<details>",
        "## Fixed configuration",
        "## Legend",
        "**The promise**",
        "**Common shift**",
        "7 comparisons",
    ] {
        assert!(md.contains(needle), "missing {needle:?}");
    }
    // The inputs are fixed files, so every number is deterministic; only file paths are
    // redacted should a caller pass absolute ones.
    insta::with_settings!({filters => vec![(r"/[^`\s]*/(run-[ab]-metrics\.json)", "[DIR]/$1")]}, {
        insta::assert_snapshot!("upstream_report", md);
    });
}

#[test]
fn markdown_links_commits_when_the_repository_is_known() {
    let mut a = load("run-a-metrics.json");
    for r in a.iter_mut() {
        r.insert("repository".into(), json!("valkey-io/valkey"));
        r.insert(
            "commit".into(),
            json!("55bbbe09a3b37a98c907dbfbc225768ff253e84f"),
        );
        r.insert("ref".into(), json!("unstable"));
    }
    let cmp = compare_records(
        &a,
        &load("run-b-metrics.json"),
        "a",
        "b",
        &Default::default(),
    )
    .unwrap();
    let md = render_markdown(&cmp);
    assert!(md.contains(
        "https://github.com/valkey-io/valkey/commit/55bbbe09a3b37a98c907dbfbc225768ff253e84f"
    ));
    assert!(
        md.starts_with("# Performance comparison: `unstable` → `HEAD`"),
        "{md}"
    );
}

#[test]
fn json_report_has_the_same_content() {
    let cmp = upstream_comparison(&CompareOptions::default());
    let v: Value = serde_json::from_str(&render_json(&cmp)).unwrap();
    assert_eq!(v["comparisons"], 7);
    assert_eq!(v["cases"].as_array().unwrap().len(), 6);
    assert_eq!(v["options"]["correction"], "fdr");
    assert!(v["common_shift"]["pct_change"].is_f64());
    let rps = &v["cases"][0]["metrics"][0];
    assert_eq!(rps["metric"], "rps");
    assert_eq!(rps["verdict"], "no_significant_change");
    assert_eq!(rps["baseline_values"].as_array().unwrap().len(), 3);
    assert!(rps["difference"]["p_value"].is_f64());
}

// ---------------------------------------------------------------- graphs

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn graphs_are_valid_png_and_svg_with_labels() {
    let cmp = upstream_comparison(&CompareOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let files = write_graphs(&cmp, dir.path()).unwrap();
    // 7 metric bar charts + 6 case charts, each as PNG and SVG.
    assert_eq!(files.len(), (7 + 6) * 2);
    let bar = compare::graphs::bar_chart_size(6);
    assert_eq!(png_size(&dir.path().join("compare-rps.png")), bar);
    let svg = std::fs::read_to_string(dir.path().join("compare-rps.svg")).unwrap();
    assert!(svg.contains(&format!("width=\"{}\" height=\"{}\"", bar.0, bar.1)));
    for label in [
        "INCR data_size=32",
        "HSET data_size=256",
        "baseline",
        "new",
        "rps (req/s)",
    ] {
        assert!(svg.contains(label), "compare-rps.svg lacks {label:?}");
    }
    let case = dir.path().join("case-01-incr-data-size-32");
    assert_eq!(
        png_size(&case.with_extension("png")),
        compare::graphs::case_chart_size(5)
    );
    let svg = std::fs::read_to_string(case.with_extension("svg")).unwrap();
    for label in ["prediction band", "p99 latency (ms)", "run"] {
        assert!(svg.contains(label), "case svg lacks {label:?}");
    }
    for f in &files {
        assert!(
            std::fs::metadata(f).unwrap().len() > 1000,
            "{}",
            f.display()
        );
    }
}

#[test]
fn write_report_puts_report_md_and_graphs_in_the_results_dir() {
    let cmp = upstream_comparison(&CompareOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let files = compare::write_report(&cmp, dir.path(), true).unwrap();
    assert_eq!(files[0], dir.path().join("report.md"));
    assert_eq!(files.len(), 1 + (7 + 6) * 2);
    assert!(dir.path().join("graphs/compare-rps.svg").exists());
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert_eq!(md, render_markdown(&cmp));
}

// ---------------------------------------------------------------- command line

fn valkey_perf() -> Command {
    Command::cargo_bin("valkey-perf").unwrap()
}

#[test]
fn cli_writes_reports_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    valkey_perf()
        .args(["compare", "--format", "json", "--fail-on-regression", "5"])
        .arg("--baseline")
        .arg(upstream("run-a-metrics.json"))
        .arg("--new")
        .arg(upstream("run-b-metrics.json"))
        .arg("--output")
        .arg(&out)
        .assert()
        .success();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["comparisons"], 7);
}

#[test]
fn cli_fails_with_code_6_on_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, recs: Vec<RecordMap>| {
        let p = dir.path().join(name);
        std::fs::write(&p, serde_json::to_string(&recs).unwrap()).unwrap();
        p
    };
    let a = write(
        "a.json",
        synthetic(&[400_000.0, 402_000.0, 398_500.0, 401_200.0]),
    );
    let b = write(
        "b.json",
        synthetic(&[360_500.0, 361_700.0, 358_400.0, 360_900.0]),
    );
    let run = |pct: &str| {
        valkey_perf()
            .args(["compare", "--fail-on-regression", pct, "--baseline"])
            .arg(&a)
            .arg("--new")
            .arg(&b)
            .assert()
    };
    let out = run("5").code(6);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("regression"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("🔴"));
    run("50").success();
}

#[test]
fn cli_names_the_malformed_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, "[\n  {\"rps\": 1,\n  oops\n]").unwrap();
    let out = valkey_perf()
        .args(["compare", "--baseline"])
        .arg(&bad)
        .arg("--new")
        .arg(upstream("run-b-metrics.json"))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("broken.json"), "{stderr}");
    assert!(stderr.contains("line 3 column"), "{stderr}");
}

// ---------------------------------------------------------------- real runs

/// One `valkey-perf run` of a baseline and a new binary, interleaved, native engine; returns
/// the JSON comparison of the two `metrics.json` files it wrote.
fn run_and_compare(
    scratch: &Scratch,
    config: &Path,
    base: &Path,
    new: &Path,
    runs: u32,
    metrics: &str,
) -> Value {
    let results = scratch.path().join("results");
    valkey_perf()
        .env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--results-dir")
        .arg(&results)
        .arg("--baseline-server-bin")
        .arg(base)
        .arg("--server-bin")
        .arg(new)
        .args(["--runs", &runs.to_string(), "--log-level", "warn"])
        .timeout(Duration::from_secs(300))
        .assert()
        .success();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path().join("metrics.json"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    // Which file is the baseline: the one whose records name the baseline binary.
    let is_base = |p: &PathBuf| {
        std::fs::read_to_string(p)
            .unwrap()
            .contains(&base.display().to_string())
    };
    let (b, n) = if is_base(&files[0]) {
        (&files[0], &files[1])
    } else {
        (&files[1], &files[0])
    };
    let out = valkey_perf()
        .arg("compare")
        .arg("--baseline")
        .arg(b)
        .arg("--new")
        .arg(n)
        .args(["--format", "json", "--metrics", metrics])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn a_a_two_copies_of_one_server_show_no_change_paired() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [30000], "keyspacelen": [1000], "data_sizes": [16],
        "pipelines": [1, 16], "clients": [50], "commands": ["SET", "GET"]
    }]));
    let (a, b) = scratch.two_copies(&bins.new);
    let report = run_and_compare(&scratch, &config, &a, &b, 5, "all");
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4, "SET and GET at P1 and P16: {report:#}");
    for case in cases {
        assert_eq!(
            (&case["baseline_runs"], &case["new_runs"]),
            (&json!(5), &json!(5))
        );
        for m in case["metrics"].as_array().unwrap() {
            assert_eq!(m["analysis"], "paired", "{m:#}");
            let verdict = m["verdict"].as_str().unwrap();
            assert!(
                verdict == "no_significant_change" || verdict == "not_judged",
                "A/A gave `{verdict}` for {} {}: baseline {} new {}",
                case["label"],
                m["metric"],
                m["baseline_values"],
                m["new_values"]
            );
        }
    }
    assert_eq!(report["changes"], json!([]));
    for o in report["overall"].as_array().unwrap() {
        assert_ne!(o["verdict"], "regression", "{o:#}");
        assert_ne!(o["verdict"], "improvement", "{o:#}");
    }
}

#[test]
fn a_planted_server_slowdown_is_found_with_five_interleaved_runs() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    // The same server with an append-only file synced at every write, and every command
    // logged to the slow log. Measured beforehand on this machine at P16 with 50 clients:
    // about −41 % rps (5 runs a side, CI −48 … −33 %); the AOF alone without syncing costs
    // about −25 %.
    let slow = scratch.wrapper(
        "aof-valkey-server",
        &bins.new,
        "--appendonly yes --appendfsync always --slowlog-log-slower-than 0",
    );
    // Pinned, and judged on throughput alone (the slowdown is a throughput claim): one
    // comparison, no correction across metrics it does not concern.
    let config = scratch.config(&json!([{
        "requests": [200000], "keyspacelen": [10000], "data_sizes": [16],
        "pipelines": [16], "clients": [50], "commands": ["SET"],
        "server_cpu_range": "0", "client_cpu_range": "1"
    }]));
    let report = run_and_compare(&scratch, &config, &bins.new, &slow, 5, "rps");
    let rps = &report["cases"][0]["metrics"][0];
    assert_eq!(rps["metric"], "rps", "{report:#}");
    assert_eq!(rps["analysis"], "paired", "{rps:#}");
    assert_eq!(rps["verdict"], "regression", "{rps:#}");
    let pct = rps["difference"]["pct_change"].as_f64().unwrap();
    assert!((-70.0..=-15.0).contains(&pct), "{rps:#}");
}

#[test]
fn upstream_a_a_pair_is_no_regression_and_a_planted_drop_is_found_alone() {
    let a = load("run-a-metrics.json");
    let b = load("run-b-metrics.json");
    for metrics in [MetricSet::Rps, MetricSet::Latency, MetricSet::All] {
        let opts = CompareOptions {
            metrics,
            ..CompareOptions::default()
        };
        let cmp = compare_records(&a, &b, "a", "b", &opts).unwrap();
        assert!(cmp.changes.is_empty(), "{metrics:?}: {:?}", cmp.changes);
        // 30 % fewer rps in every run of one case of the second file.
        let mut planted = b.clone();
        for r in planted
            .iter_mut()
            .filter(|r| r["command"] == "LPUSH" && r["data_size"] == 32)
        {
            let rps = r["rps"].as_f64().unwrap();
            r.insert("rps".into(), json!(rps * 0.7));
        }
        let cmp = compare_records(&a, &planted, "a", "b", &opts).unwrap();
        let found: Vec<(&str, Metric)> = cmp
            .regressions()
            .map(|c| (c.case.as_str(), c.metric))
            .collect();
        if metrics == MetricSet::Latency {
            assert!(found.is_empty(), "{found:?}");
        } else {
            assert_eq!(
                found,
                vec![("LPUSH data_size=32", Metric::Rps)],
                "{metrics:?}"
            );
        }
    }
}

#[test]
fn constant_samples_one_grid_step_apart_are_not_significant() {
    let recs = |p50: f64| -> Vec<RecordMap> {
        synthetic(&[400_000.0, 401_000.0, 399_000.0])
            .into_iter()
            .map(|mut r| {
                r.insert("p50_latency_ms".into(), json!(p50));
                r
            })
            .collect()
    };
    let cmp = compare_records(
        &recs(0.127),
        &recs(0.135),
        "a",
        "b",
        &CompareOptions::default(),
    )
    .unwrap();
    let p50 = cmp.cases[0]
        .metrics
        .iter()
        .find(|m| m.metric == Metric::P50Latency)
        .unwrap();
    assert_eq!(p50.verdict, Verdict::NoSignificantChange, "{p50:?}");
    assert!(p50.difference.as_ref().unwrap().p_value > 0.05, "{p50:?}");
}

#[test]
fn a_small_change_in_every_case_shows_in_the_overall_line() {
    // 40 cases, 10 paired rounds each, every case 3 % slower with 5 % round-to-round noise:
    // a few cases are found (every one of them rightly), the overall line surely.
    let mut base = Vec::new();
    let mut new = Vec::new();
    let mut x: u64 = 12345;
    let mut noise = || {
        // A small linear congruential generator: the test is deterministic.
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.17
    };
    for case in 0..40 {
        for round in 0..10 {
            for (side, factor) in [(&mut base, 1.0), (&mut new, 0.97)] {
                let rps = 100_000.0 * factor * (1.0 + noise());
                let mut r = synthetic(&[rps]).remove(0);
                r.insert("data_size".into(), json!(case));
                r.insert("run_index".into(), json!(round));
                r.insert("invocation_id".into(), json!("one"));
                side.push(r);
            }
        }
    }
    let opts = CompareOptions {
        metrics: MetricSet::Rps,
        ..CompareOptions::default()
    };
    let cmp = compare_records(&base, &new, "a", "b", &opts).unwrap();
    assert!(cmp.regressions().count() < 20, "{:?}", cmp.changes);
    assert!(cmp.changes.iter().all(|c| c.verdict == Verdict::Regression));
    let o = &cmp.overall[0];
    assert_eq!(o.metric, Metric::Rps);
    assert_eq!(o.cases, 40);
    assert_eq!(o.verdict, Verdict::Regression, "{o:?}");
    assert!((o.pct_change.unwrap() + 3.0).abs() < 1.0, "{o:?}");
    // The gate fails on it.
    assert_eq!(cmp.overall_regressions_at_least(2.0).len(), 1);
}

#[test]
fn different_engines_are_never_paired() {
    // Upstream records say nothing about the engine: valkey-benchmark.
    let a = load("run-a-metrics.json");
    let mut b = load("run-b-metrics.json");
    for r in &mut b {
        r.insert("engine".into(), json!("native"));
    }
    let cmp = compare_records(&a, &b, "a", "b", &CompareOptions::default()).unwrap();
    assert!(cmp.cases.is_empty());
    assert_eq!((cmp.only_in_baseline.len(), cmp.only_in_new.len()), (6, 6));
}

#[test]
fn cli_refuses_a_comparison_of_nothing_and_a_metric_that_is_not_a_number() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, recs: &Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, recs.to_string()).unwrap();
        p
    };
    let get = write("get.json", &json!(synthetic(&[1.0, 2.0])));
    let mut set_recs = synthetic(&[1.0, 2.0]);
    for r in &mut set_recs {
        r.insert("command".into(), json!("SET"));
    }
    let set = write("set.json", &json!(set_recs));
    let out = valkey_perf()
        .args(["compare", "--fail-on-regression", "5", "--baseline"])
        .arg(&get)
        .arg("--new")
        .arg(&set)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("no case appears in both"), "{stderr}");
    let mut bad_recs = synthetic(&[1.0, 2.0]);
    bad_recs[1].insert("rps".into(), json!("fast"));
    let bad = write("bad.json", &json!(bad_recs));
    let out = valkey_perf()
        .args(["compare", "--baseline"])
        .arg(&get)
        .arg("--new")
        .arg(&bad)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("bad.json") && stderr.contains("record 1") && stderr.contains("`rps`"),
        "{stderr}"
    );
}

/// One `valkey-perf loadgen` SET run of `secs` seconds against `port`, optionally at a fixed
/// rate; returns its report.
fn loadgen_set(scratch: &Scratch, port: u16, secs: f64, rps: Option<f64>) -> Value {
    let file = scratch.path().join("loadgen.json");
    let mut cmd = valkey_perf();
    cmd.arg("loadgen")
        .args([
            "-p",
            &port.to_string(),
            "-t",
            "set",
            "-c",
            "20",
            "-P",
            "4",
            "-q",
        ])
        .args(["--duration", &secs.to_string()])
        .arg("--json")
        .arg(&file)
        .timeout(Duration::from_secs(60));
    if let Some(r) = rps {
        cmd.args(["--rps", &format!("{r:.0}")]);
    }
    cmd.assert().success();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v[0]["test"], "SET", "{v:#}");
    assert_eq!(v[0]["error"], Value::Null, "{v:#}");
    v[0]["report"].clone()
}

/// A record of the one loadgen case, with the latency fields of its report.
fn loadgen_record(report: &Value) -> RecordMap {
    let lat = &report["latency"];
    json!({
        "command": "SET", "data_size": 3, "pipeline": 4, "clients": 20, "requests": 0,
        "benchmark_mode": "duration", "keyspacelen": 0,
        "rps": report["rps"],
        "avg_latency_ms": lat["avg_ms"], "min_latency_ms": lat["min_ms"],
        "p50_latency_ms": lat["p50_ms"], "p95_latency_ms": lat["p95_ms"],
        "p99_latency_ms": lat["p99_ms"], "max_latency_ms": lat["max_ms"],
    })
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn a_client_paced_at_ninety_percent_is_a_ten_percent_rps_regression() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let scratch = Scratch::new();
    // Warm up and calibrate. Other tests share the 2 cores, so the unlimited rate swings by a
    // factor of 2 within seconds (seen: 122K to 242K rps) and a 10 % difference between
    // unlimited runs cannot be told from noise. So "normal" is paced too, at half the
    // calibrated rate, where it binds even when the machine gets busier; "slow" is 90 % of it.
    let calib: Vec<f64> = (0..2)
        .map(|_| {
            loadgen_set(&scratch, server.port, 0.5, None)["rps"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let normal = 0.5 * calib[0].min(calib[1]);
    let slow = 0.9 * normal;
    // Interleaved, so a change in the machine's load hits both sides alike.
    let (mut normal_runs, mut slow_runs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        normal_runs.push(loadgen_record(&loadgen_set(
            &scratch,
            server.port,
            1.0,
            Some(normal),
        )));
        slow_runs.push(loadgen_record(&loadgen_set(
            &scratch,
            server.port,
            1.0,
            Some(slow),
        )));
    }
    let rps = |recs: &[RecordMap]| -> Vec<f64> {
        recs.iter().map(|r| r["rps"].as_f64().unwrap()).collect()
    };
    let (u, l) = (rps(&normal_runs), rps(&slow_runs));
    // Both rates bind: every run reached its rate (give or take a stall), and no more.
    for (runs, rate) in [(&u, normal), (&l, slow)] {
        for &x in runs.iter() {
            assert!(
                (x / rate - 1.0).abs() < 0.05,
                "run at {x:.0} rps, rate {rate:.0}: calibration {calib:?}, normal {u:?}, slow {l:?}"
            );
        }
    }
    let opts = CompareOptions {
        metrics: MetricSet::Rps,
        ..CompareOptions::default()
    };
    // Both sides ran interleaved in one process: round r of each is a pair.
    for runs in [&mut normal_runs, &mut slow_runs] {
        for (i, r) in runs.iter_mut().enumerate() {
            r.insert("invocation_id".into(), json!("paced"));
            r.insert("run_index".into(), json!(i));
        }
    }
    let cmp = compare_records(&normal_runs, &slow_runs, "normal", "slow", &opts).unwrap();
    assert_eq!(cmp.cases.len(), 1, "one case: {:?}", cmp.pairing_fields);
    let m = &cmp.cases[0].metrics[0];
    assert_eq!(m.metric, Metric::Rps);
    let pct = m.difference.as_ref().unwrap().pct_change.unwrap();
    let why = format!("{pct:.1} %: normal {u:?}, slow {l:?}, calibration {calib:?}");
    assert_eq!(m.verdict, Verdict::Regression, "{why}");
    assert_eq!(m.analysis, Some(Analysis::Paired), "{why}");
    // The report states the slowdown actually injected, which is about 10 %: the geometric
    // mean of the per-round ratios.
    let rounds = u.len() as f64;
    let injected =
        100.0 * ((u.iter().zip(&l).map(|(a, b)| (b / a).ln()).sum::<f64>() / rounds).exp() - 1.0);
    assert!(
        (pct - injected).abs() < 1e-6,
        "{why}; injected {injected:.2} %"
    );
    assert!((-12.0..=-8.0).contains(&pct), "{why}");
    assert_eq!(cmp.regressions().count(), 1, "{why}");
}
