//! `detect-regression` on a database's history: the newest commit judged through the runs of
//! its reference in the same invocation, or across invocations against the machine's drift
//! estimated from the history; change points over the history (`--history`); exit 7 when
//! nothing could be judged. Records are synthetic with known truth (lognormal run noise and an
//! invocation drift from fixed seeds), pushed with `valkey-perf push`.

use assert_cmd::Command;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use valkey_perf::history::changepoint::SplitMix;

const COMMANDS: [&str; 10] = [
    "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET", "ZADD",
];

fn vp(db: &str) -> Command {
    let mut cmd = Command::cargo_bin("valkey-perf").unwrap();
    cmd.env_remove("RUST_LOG").env("VALKEY_PERF_DB", db);
    cmd.timeout(std::time::Duration::from_secs(120));
    cmd
}

/// How one side of one invocation is made.
struct Side<'a> {
    commit: &'a str,
    /// Day of January 2025: the commit time.
    day: u32,
    invocation: &'a str,
    /// The commit this side was measured beside, for a reference side.
    reference_for: Option<&'a str>,
    cases: &'a [&'a str],
    runs: usize,
    /// Factor on every case's rps (the code's effect), per case.
    effect: &'a dyn Fn(&str) -> f64,
    /// Run-to-run noise (sd of the log).
    noise: f64,
}

/// The records of one side. `drift` multiplies every run of the invocation (shared by both
/// sides of it); `rounds` gives each round's own factor (shared by both sides of a round).
fn records(side: &Side, drift: f64, rounds: &[f64], rng: &mut SplitMix) -> Vec<Value> {
    let mut out = Vec::new();
    for command in side.cases {
        for (run, round) in rounds.iter().enumerate().take(side.runs) {
            let factor = drift * round * (side.effect)(command) * (side.noise * rng.normal()).exp();
            let rps = 100_000.0 * factor;
            let mut r = json!({
                "timestamp": format!("2025-01-{:02}T10:00:00Z", side.day), "commit": side.commit,
                "command": command, "data_size": 16, "pipeline": 1, "clients": 50,
                "requests": 100000, "benchmark_mode": "requests", "keyspacelen": 1000,
                "rps": rps, "avg_latency_ms": 0.4 / factor, "min_latency_ms": 0.1,
                "p50_latency_ms": 0.4 / factor, "p95_latency_ms": 0.6 / factor,
                "p99_latency_ms": 0.8 / factor, "max_latency_ms": 3.0, "cluster_mode": false,
                "tls": false, "io_threads": 1, "warmup": 0, "architecture": "x86_64",
                "engine": "native", "run_index": run, "invocation_id": side.invocation,
                "run_started_at": format!(
                    "2025-02-01T{:02}:{:02}:{:02}.000Z",
                    side.day % 24,
                    run,
                    u32::from(side.reference_for.is_some())
                ),
            });
            if let Some(c) = side.reference_for {
                r["reference_for"] = json!(c);
            }
            out.push(r);
        }
    }
    out
}

/// Writes `records` as `dir/name/metrics.json`.
fn write(dir: &Path, name: &str, records: Vec<Value>) {
    let d = dir.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("metrics.json"), Value::Array(records).to_string()).unwrap();
}

fn push(db: &str, dir: &Path) {
    vp(db)
        .args(["push", "--results-dir", dir.to_str().unwrap()])
        .assert()
        .success();
}

fn detect(db: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = vp(db).arg("detect-regression").args(args).output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn same(_: &str) -> f64 {
    1.0
}

/// `commits` A/A commits, each in its own invocation (invocation drift sd 2 %), runs of
/// `noise`, written under `dir`; commit `c<i>` on day `i + 1`.
fn aa_history(dir: &Path, commits: usize, noise: f64, rng: &mut SplitMix) {
    for i in 0..commits {
        let commit = format!("c{i:02}");
        let side = Side {
            commit: &commit,
            day: i as u32 + 1,
            invocation: &format!("inv-{i}"),
            reference_for: None,
            cases: &COMMANDS,
            runs: 5,
            effect: &same,
            noise,
        };
        let drift = (0.02 * rng.normal()).exp();
        write(dir, &commit, records(&side, drift, &[1.0; 5], rng));
    }
}

/// The newest commit `new` (day `day`) measured in one invocation with `reference` as its
/// reference, rounds interleaved (a round factor shared by both sides), every case `effect`.
fn paired(dir: &Path, reference: &str, new: &str, day: u32, effect: f64, rng: &mut SplitMix) {
    let drift = (0.05 * rng.normal()).exp();
    let rounds: Vec<f64> = (0..5).map(|_| (0.03 * rng.normal()).exp()).collect();
    let slower = move |_: &str| effect;
    let mut side = Side {
        commit: reference,
        day: day - 1,
        invocation: "inv-paired",
        reference_for: Some(new),
        cases: &COMMANDS,
        runs: 5,
        effect: &same,
        noise: 0.02,
    };
    let reference_records = records(&side, drift, &rounds, rng);
    side.commit = new;
    side.day = day;
    side.reference_for = None;
    side.effect = &slower;
    let mut all = reference_records;
    all.extend(records(&side, drift, &rounds, rng));
    write(dir, new, all);
}

fn db_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("perf.db").display())
}

/// 10 cases × 5 runs, every case 40 % slower in the newest commit, which ran in one invocation
/// with the previous commit as its reference: paired, a regression in every case, exit 6.
#[test]
fn every_case_forty_percent_slower_with_a_paired_reference() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let mut rng = SplitMix::new(40);
    let results = dir.path().join("results");
    aa_history(&results, 2, 0.02, &mut rng);
    paired(&results, "c01", "c02", 3, 0.6, &mut rng);
    push(&db, &results);
    let (code, report, stderr) = detect(&db, &[]);
    assert_eq!(code, Some(6), "{report:#}\n{stderr}");
    assert_eq!(report["mode"], json!("paired_reference"), "{report:#}");
    assert_eq!(report["reference_invocation"], json!("inv-paired"));
    assert_eq!(report["new_commit"], json!("c02"));
    assert_eq!(report["baseline_commit"], json!("c01"));
    assert_eq!(report["has_regression"], json!(true));
    let rps = crate::support::rps_regressions(&report);
    assert_eq!(rps.len(), 10, "{report:#}");
    for r in rps {
        let pct = r["pct_change"].as_f64().unwrap();
        assert!((pct + 40.0).abs() < 3.0, "{r}");
    }
    // The commit's own series leaves the reference rows out: `c01` is still 2 commits back
    // for the common shift, which compares own runs (`c02` against `c01`'s own invocation).
    assert!(
        report["common_shift"]["pct_change"].as_f64().unwrap() < -30.0,
        "{report:#}"
    );
}

/// A uniform 3 % slowdown of every case, paired with the reference in one invocation, at
/// `--threshold 2`: found (exit 6), as a case regression or on the overall line.
#[test]
fn a_uniform_three_percent_slowdown_is_found_through_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let mut rng = SplitMix::new(3);
    let results = dir.path().join("results");
    aa_history(&results, 2, 0.01, &mut rng);
    paired(&results, "c01", "c02", 3, 0.97, &mut rng);
    push(&db, &results);
    let (code, report, stderr) = detect(&db, &["--threshold", "2"]);
    eprintln!(
        "uniform 3 %: exit {code:?}, regressions {}, overall regressions {}",
        report["regressions"], report["overall_regressions"]
    );
    assert_eq!(code, Some(6), "{report:#}\n{stderr}");
    assert_eq!(report["mode"], json!("paired_reference"), "{report:#}");
}

/// 10 cases × 5 runs, every case 40 % slower in the newest commit, no reference: judged across
/// invocations against the drift of 8 consecutive A/A pairs before it; the output says how the
/// drift was estimated and that the common shift is far outside it.
#[test]
fn every_case_forty_percent_slower_against_the_history_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let mut rng = SplitMix::new(41);
    let results = dir.path().join("results");
    aa_history(&results, 9, 0.02, &mut rng);
    let slower = |_: &str| 0.6;
    let side = Side {
        commit: "c09",
        day: 10,
        invocation: "inv-9",
        reference_for: None,
        cases: &COMMANDS,
        runs: 5,
        effect: &slower,
        noise: 0.02,
    };
    write(&results, "c09", records(&side, 1.0, &[1.0; 5], &mut rng));
    push(&db, &results);
    let (code, report, stderr) = detect(&db, &[]);
    assert_eq!(report["mode"], json!("across_invocations"), "{report:#}");
    assert_eq!(report["drift"]["source"], json!("history"), "{report:#}");
    assert_eq!(report["drift"]["pairs"], json!(8), "{report:#}");
    let shift = &report["common_shift"];
    assert_eq!(shift["far_outside_drift"], json!(true), "{report:#}");
    assert!(shift["robust_z"].as_f64().unwrap() < -3.5, "{report:#}");
    assert!(
        stderr.contains("far outside what drift explains"),
        "{stderr}"
    );
    // The verdict: between two invocations, a common shift this far outside the machine's
    // drift is a regression.
    assert_eq!(code, Some(6), "{report:#}\n{stderr}");
    assert_eq!(report["has_regression"], json!(true));
}

/// 10 cases × 5 runs, half of them 20 % slower in the newest commit (SET … RPOP), the rest
/// unchanged; with a paired reference and with history only, slowed cases are regressions
/// (exit 6) and no unchanged case is.
#[test]
fn half_the_cases_twenty_percent_slower_with_and_without_a_reference() {
    let slowed = &COMMANDS[..5];
    let effect = |c: &str| if slowed.contains(&c) { 0.8 } else { 1.0 };
    for with_reference in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let db = db_url(dir.path());
        let mut rng = SplitMix::new(20);
        let results = dir.path().join("results");
        aa_history(&results, 9, 0.02, &mut rng);
        let mut side = Side {
            commit: "c08",
            day: 9,
            invocation: "inv-10",
            reference_for: Some("c09"),
            cases: &COMMANDS,
            runs: 5,
            effect: &same,
            noise: 0.02,
        };
        let drift = (0.05 * rng.normal()).exp();
        let mut all = if with_reference {
            records(&side, drift, &[1.0; 5], &mut rng)
        } else {
            Vec::new()
        };
        side.commit = "c09";
        side.day = 10;
        side.reference_for = None;
        side.effect = &effect;
        all.extend(records(&side, drift, &[1.0; 5], &mut rng));
        write(&results, "c09", all);
        push(&db, &results);
        let (code, report, stderr) = detect(&db, &[]);
        let found: Vec<&str> = crate::support::rps_regressions(&report)
            .iter()
            .map(|r| r["case"].as_str().unwrap_or(""))
            .collect();
        eprintln!(
            "half 20 % (reference: {with_reference}): exit {code:?}, mode {}, rps regressions {found:?}",
            report["mode"]
        );
        assert_eq!(code, Some(6), "{report:#}\n{stderr}");
        assert!(found.iter().all(|c| slowed.contains(c)), "{report:#}");
        assert!(found.len() >= 4, "{report:#}");
    }
}

/// 40 commits, 3 runs each with 3 % noise: a 5 % drop of SET from commit 24 on is the one
/// change point (GET stays flat); A/A gives none. Through the CLI on a database.
#[test]
fn change_points_over_forty_commits() {
    for (name, step_at) in [("step", Some(24usize)), ("aa", None)] {
        let dir = tempfile::tempdir().unwrap();
        let db = db_url(dir.path());
        let mut rng = SplitMix::new(5);
        let results = dir.path().join("results");
        for i in 0..40 {
            let commit = format!("c{i:02}");
            let effect = move |c: &str| match step_at {
                Some(k) if c == "SET" && i >= k => 0.95,
                _ => 1.0,
            };
            let side = Side {
                commit: &commit,
                day: 1,
                invocation: &format!("inv-{i}"),
                reference_for: None,
                cases: &["SET", "GET"],
                runs: 3,
                effect: &effect,
                noise: 0.03,
            };
            let mut recs = records(&side, 1.0, &[1.0; 3], &mut rng);
            // Commit times one hour apart, in order.
            for r in &mut recs {
                r["timestamp"] = json!(format!("2025-01-02T{:02}:{:02}:00Z", i / 60, i % 60));
                r["run_started_at"] = json!(format!(
                    "2025-02-01T00:{:02}:{:02}.000Z",
                    i,
                    r["run_index"].as_u64().unwrap()
                ));
            }
            write(&results, &commit, recs);
        }
        push(&db, &results);
        let (code, report, stderr) = detect(&db, &["--history"]);
        assert_eq!(code, Some(0), "{name}: {report:#}\n{stderr}");
        assert_eq!(report["commits"], json!(40), "{name}");
        let cps = report["change_points"].as_array().unwrap();
        eprintln!("{name}: change points {}", report["change_points"]);
        match step_at {
            None => assert!(cps.is_empty(), "A/A: {report:#}"),
            Some(k) => {
                assert_eq!(cps.len(), 1, "{report:#}");
                let cp = &cps[0];
                assert_eq!(cp["case"], json!("SET"), "{cp}");
                assert_eq!(cp["metric"], json!("rps"));
                assert_eq!(cp["commit"], json!(format!("c{k:02}")), "{cp}");
                let ci = cp["pct_change_ci95"].as_array().unwrap();
                let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
                assert!(lo < -5.0 && -5.0 < hi && hi < 0.0, "{cp}");
                assert!(cp["p_value"].as_f64().unwrap() <= 0.025, "{cp}");
            }
        }
    }
}

/// One run a side: nothing can be judged, exit 7; `--allow-inconclusive` gives 0. `--history`
/// on two commits too.
#[test]
fn inconclusive_is_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let mut rng = SplitMix::new(7);
    let results = dir.path().join("results");
    for i in 0..2 {
        let commit = format!("c{i:02}");
        let halve = move |_: &str| if i == 1 { 0.5 } else { 1.0 };
        let side = Side {
            commit: &commit,
            day: i + 1,
            invocation: &format!("inv-{i}"),
            reference_for: None,
            cases: &["SET"],
            runs: 1,
            effect: &halve,
            noise: 0.01,
        };
        write(&results, &commit, records(&side, 1.0, &[1.0], &mut rng));
    }
    push(&db, &results);
    let (code, report, stderr) = detect(&db, &[]);
    assert_eq!(code, Some(7), "{report:#}\n{stderr}");
    assert_eq!(report["inconclusive"], json!(true));
    assert_eq!(report["has_regression"], json!(false));
    assert!(stderr.contains("--allow-inconclusive"), "{stderr}");
    let (code, _, stderr) = detect(&db, &["--allow-inconclusive"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, report, _) = detect(&db, &["--history"]);
    assert_eq!(code, Some(7), "{report:#}");
    assert_eq!(report["cases_judged"], json!(0));
}

/// The server setting the slowed commit's "build" plants: every command goes into the slow log
/// (valkey 9's command log), which costs CPU on every command.
const PLANT: &str = "--slowlog-log-slower-than 0";

/// Pipeline depth of the loop's cases: deep enough that the server's CPU, not the round trip,
/// sets the rate. Measured with 12 interleaved rounds of `valkey-perf run` (valkey-benchmark,
/// 4 clients, 300 000 requests): the plant costs +10 % (GET) and +20 % (SET) server CPU per
/// request at pipeline 8 (+8 % and +9 % at pipeline 4, +25 % to +50 % at 16).
const PIPELINE: u64 = 8;

/// A repository of two commits whose `make` installs the real 9.1.2 server: as is, then
/// behind a wrapper that starts it with [`PLANT`].
fn planted_repo(root: &Path) -> (std::path::PathBuf, String, String) {
    let repo = root.join("repo");
    fs::create_dir_all(&repo).unwrap();
    let deps = crate::support::deps_dir().canonicalize().unwrap();
    let git = |args: &[&str], date: Option<&str>| {
        let mut cmd = std::process::Command::new("git");
        cmd.arg("-C").arg(&repo).args(args);
        for k in ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"] {
            cmd.env(k, "t");
        }
        for k in ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"] {
            cmd.env(k, "t@t");
        }
        if let Some(d) = date {
            cmd.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["init", "--quiet", "-b", "main"], None);
    fs::write(repo.join(".gitignore"), "/src/\n").unwrap();
    let server = deps.join("valkey-9.1.2/valkey-server");
    let common = format!(
        "\tcp '{}' src/valkey-cli\n\tcp '{}' src/valkey-benchmark\n",
        deps.join("valkey-8.1.8/valkey-cli").display(),
        crate::support::REDIS_BENCHMARK
    );
    let mut shas = Vec::new();
    for (install, date) in [
        (
            format!("\tcp '{}' src/valkey-server\n", server.display()),
            "2025-01-01T10:00:00+00:00",
        ),
        (
            format!(
                "\tprintf '#!/bin/sh\\nexec %s \"$$@\" {PLANT}\\n' '{}' > src/valkey-server\n\tchmod +x src/valkey-server\n",
                server.display()
            ),
            "2025-02-01T10:00:00+00:00",
        ),
    ] {
        fs::write(
            repo.join("Makefile"),
            format!("all:\n\tmkdir -p src\n{install}{common}"),
        )
        .unwrap();
        git(&["add", "."], None);
        git(&["commit", "--quiet", "-m", "server"], Some(date));
        shas.push(git(&["rev-parse", "HEAD"], None));
    }
    (repo, shas[0].clone(), shas[1].clone())
}

/// The continuous loop on real servers: claim → run (the older commit alone, then the newer
/// one beside it as its reference, interleaved) → push → mark → detect-regression. The newer
/// commit's server logs every command to the slow log; the paired reference convicts it (exit
/// 6), and the reference rows are stored as such.
#[test]
fn the_loop_convicts_a_planted_uniform_slowdown_through_its_reference() {
    let Some(_bins) = crate::support::Bins::get() else {
        return;
    };
    let scratch = crate::support::Scratch::new();
    let (repo, c1, c2) = planted_repo(scratch.path());
    let db = db_url(scratch.path());
    let config = scratch.config(&json!([{
        "requests": [300000], "keyspacelen": [1000], "data_sizes": [16],
        "pipelines": [PIPELINE], "clients": [4], "commands": ["SET", "GET"],
        "cluster_mode": "no", "tls_mode": "no", "warmup": 0
    }]));
    let commits = |op: &[&str]| {
        let mut cmd = vp(&db);
        cmd.arg("commits")
            .args(op)
            .arg("--config-file")
            .arg(&config);
        cmd
    };
    let repo_s = repo.to_str().unwrap();
    let out = commits(&[
        "claim",
        "--runner-id",
        "r1",
        "--repo",
        repo_s,
        "--branch",
        "main",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    for (sha, runs, reference) in [(&c1, "3", None), (&c2, "8", Some(&c1))] {
        let results = scratch.path().join(format!("results-{}", &sha[..8]));
        let mut run = vp(&db);
        run.timeout(std::time::Duration::from_secs(300))
            .env("TMPDIR", scratch.tmp())
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(["--engine", "valkey-benchmark"])
            .args(["--valkey-benchmark-path", crate::support::REDIS_BENCHMARK])
            .args(["--results-dir", results.to_str().unwrap()])
            .args(["--valkey-repo", repo_s])
            .args([
                "--build-dir",
                scratch.path().join("cache").to_str().unwrap(),
            ])
            .args(["--commits", sha, "--runs", runs]);
        if let Some(r) = reference {
            run.args(["--baseline", r, "--baseline-as-reference"]);
        }
        let out = run.output().unwrap();
        // 0, or 6 when the report at the end of the run already sees the regression.
        assert!(matches!(out.status.code(), Some(0 | 6)), "{out:?}");
        push(&db, &results);
        commits(&["mark", "--status", "complete", "--repo", repo_s, sha])
            .assert()
            .success();
    }
    // The reference rows: `c1`'s SHA, marked as measured beside `c2`.
    let mut store = store::Db::open(&db, None).unwrap();
    let rows = store
        .fetch_metrics(&store::TableId::core(), &store::MetricsFilter::default())
        .unwrap();
    let marked = rows
        .iter()
        .filter(|r| r["commit"] == json!(c1) && r.get("reference_for") == Some(&json!(c2)))
        .count();
    assert_eq!(marked, 16, "2 cases × 8 reference runs");

    let (code, report, stderr) = detect(&db, &["--threshold", "5"]);
    eprintln!("detect-regression exit {code:?}:\n{report:#}\n{stderr}");
    assert_eq!(report["mode"], json!("paired_reference"), "{report:#}");
    assert_eq!(report["new_commit"], json!(c2));
    assert_eq!(report["baseline_commit"], json!(c1));
    assert_eq!(code, Some(6), "{report:#}\n{stderr}");
    // What convicted it: slowdowns of the server's work (throughput down, latency or server
    // CPU per request up), never an improvement.
    let found: Vec<String> = report["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["overall_regressions"].as_array().unwrap())
        .map(|r| format!("{} {}", r["metric"], r["pct_change"]))
        .collect();
    assert!(!found.is_empty(), "{report:#}");
    assert_eq!(report["improvements"], json!([]), "{report:#}");
    eprintln!("convicted by: {}", found.join("; "));
    scratch.assert_no_tmp_leftovers();
}
