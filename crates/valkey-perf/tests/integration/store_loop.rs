//! The database commands end to end, on SQLite and on a throwaway PostgreSQL: the continuous
//! loop (cleanup → claim → run → push → detect-regression → mark) over two commits of a local
//! fixture repository, detect-regression on a planted drop and on an A/A pair, and `push` on a
//! malformed file.

use crate::support::{Bins, REDIS_BENCHMARK, Scratch, deps_dir};
use assert_cmd::Command;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use store::test_support::PgInstance;

/// One backend: a SQLite file, or a database on a throwaway PostgreSQL (kept alive here).
struct Backend {
    url: String,
    _pg: Option<PgInstance>,
}

fn sqlite(dir: &Path) -> Backend {
    Backend {
        url: format!("sqlite:{}", dir.join("perf.db").display()),
        _pg: None,
    }
}

fn postgres(test: &str) -> Option<Backend> {
    let pg = PgInstance::start_or_skip(test)?;
    Some(Backend {
        url: pg.url(),
        _pg: Some(pg),
    })
}

fn vp(db: &str) -> Command {
    let mut cmd = Command::cargo_bin("valkey-perf").unwrap();
    cmd.env_remove("RUST_LOG").env("VALKEY_PERF_DB", db);
    cmd.timeout(std::time::Duration::from_secs(180));
    cmd
}

fn git(repo: &Path, args: &[&str], date: Option<&str>) -> String {
    let mut cmd = std::process::Command::new("git");
    cmd.arg("-C").arg(repo).args(args);
    cmd.env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t");
    cmd.env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t");
    if let Some(d) = date {
        cmd.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "git {args:?}: {:?}", out);
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repository of two commits whose `make` installs the real 8.1.8 and then 9.1.2 server.
fn fixture_repo(root: &Path) -> (PathBuf, String, String) {
    let repo = root.join("repo");
    fs::create_dir_all(&repo).unwrap();
    let deps = deps_dir().canonicalize().unwrap();
    git(&repo, &["init", "--quiet", "-b", "main"], None);
    fs::write(repo.join(".gitignore"), "/src/\n").unwrap();
    let mut shas = Vec::new();
    for (server, date) in [
        ("valkey-8.1.8", "2025-01-01T10:00:00+00:00"),
        ("valkey-9.1.2", "2025-02-01T10:00:00+00:00"),
    ] {
        let makefile = format!(
            "all:\n\tmkdir -p src\n\tcp '{d}/{server}/valkey-server' src/valkey-server\n\tcp '{d}/valkey-8.1.8/valkey-cli' src/valkey-cli\n\tcp '{REDIS_BENCHMARK}' src/valkey-benchmark\n",
            d = deps.display()
        );
        fs::write(repo.join("Makefile"), makefile).unwrap();
        git(&repo, &["add", "."], None);
        git(&repo, &["commit", "--quiet", "-m", server], Some(date));
        shas.push(git(&repo, &["rev-parse", "HEAD"], None));
    }
    (repo, shas[0].clone(), shas[1].clone())
}

fn stdout_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn continuous_loop(backend: &Backend) {
    let Some(_bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let (repo, c1, c2) = fixture_repo(scratch.path());
    let config = scratch.config(&json!([{
        "requests": [3000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "clients": [4], "commands": ["SET", "GET"], "cluster_mode": "no", "tls_mode": "no",
        "warmup": 0
    }]));
    let db = backend.url.as_str();
    let commits = |op: &[&str]| {
        let mut cmd = vp(db);
        cmd.arg("commits")
            .args(op)
            .arg("--config-file")
            .arg(&config);
        cmd
    };
    let walk = ["--repo", repo.to_str().unwrap(), "--branch", "main"];

    commits(&["cleanup"]).assert().success();
    let out = commits(&["claim", "--runner-id", "runner-1"])
        .args(walk)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // Newest first, both taken by this runner.
    assert_eq!(stdout_lines(&out), vec![c2.clone(), c1.clone()]);
    // A second runner finds nothing left to take.
    let out = commits(&["claim", "--runner-id", "runner-2"])
        .args(walk)
        .output()
        .unwrap();
    assert!(
        out.status.success() && stdout_lines(&out).is_empty(),
        "{out:?}"
    );

    for sha in [&c1, &c2] {
        let results = scratch.path().join(format!("results-{}", &sha[..8]));
        vp(db)
            .env("TMPDIR", scratch.tmp())
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(["--valkey-benchmark-path", REDIS_BENCHMARK])
            .args(["--results-dir", results.to_str().unwrap()])
            .args(["--valkey-repo", repo.to_str().unwrap()])
            .args([
                "--build-dir",
                scratch.path().join("cache").to_str().unwrap(),
            ])
            .args(["--commits", sha, "--runs", "3"])
            .assert()
            .code(0);
        let out = vp(db)
            .args(["push", "--results-dir", results.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains("inserted 6, 0 already present"), "{text}");
        // Pushing again adds nothing.
        let again = vp(db)
            .args(["push", "--results-dir", results.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&again.stdout).to_string();
        assert!(text.contains("inserted 0, 6 already present"), "{text}");
        commits(&[
            "mark",
            "--status",
            "complete",
            "--repo",
            repo.to_str().unwrap(),
            sha,
        ])
        .assert()
        .success();
    }

    // Two real versions, each run alone: a regression or not, or (two cases from two
    // invocations) nothing judged, which is exit 7, not a pass; the output names the commits.
    let out = vp(db).arg("detect-regression").output().unwrap();
    let detect_code = out.status.code();
    assert!(matches!(detect_code, Some(0 | 6 | 7)), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["inconclusive"],
        json!(detect_code == Some(7)),
        "{report}"
    );
    assert_eq!(report["new_commit"], json!(c2));
    assert_eq!(report["baseline_commit"], json!(c1));
    assert_eq!(report["cases_compared"], json!(2));
    assert_eq!(
        report["has_regression"],
        json!(out.status.code() == Some(6))
    );

    let out = commits(&["query", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "complete"), "{rows:?}");
    // Nothing is left to benchmark.
    let out = commits(&["determine"]).args(walk).output().unwrap();
    assert!(
        out.status.success() && stdout_lines(&out).is_empty(),
        "{out:?}"
    );
    eprintln!(
        "loop on `{}`: 2 commits claimed, 12 metric rows, 2 complete commit rows; detect-regression exit {:?}: {}",
        store::redact_url(db),
        detect_code,
        report["regressions"]
    );
}

#[test]
fn continuous_loop_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    continuous_loop(&sqlite(dir.path()));
}

#[test]
fn continuous_loop_on_postgres() {
    let Some(backend) = postgres("continuous_loop_on_postgres") else {
        return;
    };
    continuous_loop(&backend);
}

/// Five runs of six commands for `commit`, rps around 100 000 with a fixed ±1 % pattern, SET
/// at `set_rps` instead. Six cases: pushed results of two commits come from two invocations,
/// and the variation between invocations is estimated from the cases.
fn synthetic(commit: &str, time: &str, set_rps: f64) -> Value {
    let wiggle = [1.0, 0.99, 1.01, 0.995, 1.005];
    let mut records = Vec::new();
    for command in ["SET", "GET", "INCR", "LPUSH", "HSET", "SADD"] {
        let rps = if command == "SET" { set_rps } else { 100_000.0 };
        for (i, w) in wiggle.iter().enumerate() {
            records.push(json!({
                "timestamp": time, "commit": commit, "command": command, "data_size": 16,
                "pipeline": 1, "clients": 50, "requests": 100000, "benchmark_mode": "requests",
                "keyspacelen": 1000, "rps": rps * w, "avg_latency_ms": 0.4 / w,
                "min_latency_ms": 0.1, "p50_latency_ms": 0.4 / w, "p95_latency_ms": 0.6 / w,
                "p99_latency_ms": 0.8 / w, "max_latency_ms": 3.0, "cluster_mode": false,
                "tls": false, "io_threads": 1, "valkey_benchmark_threads": null, "warmup": 0,
                "architecture": "x86_64", "run_index": i, "engine": "native",
                "run_started_at": format!("{}T00:00:0{i}.000Z", &time[..10]),
            }));
        }
    }
    Value::Array(records)
}

fn push_file(db: &str, dir: &Path, name: &str, records: &Value) {
    let d = dir.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("metrics.json"), records.to_string()).unwrap();
    vp(db)
        .args(["push", "--results-dir", d.to_str().unwrap()])
        .assert()
        .success();
}

fn detects_a_planted_drop_and_not_an_aa_pair(backend: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.url.as_str();
    // One commit: nothing to compare yet (exit 2).
    push_file(
        db,
        dir.path(),
        "a",
        &synthetic("aaaa", "2025-01-01T00:00:00Z", 100_000.0),
    );
    vp(db).arg("detect-regression").assert().code(2);
    // A/A: the same numbers again under a newer commit.
    push_file(
        db,
        dir.path(),
        "b",
        &synthetic("bbbb", "2025-01-02T00:00:00Z", 100_000.0),
    );
    let out = vp(db).arg("detect-regression").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["has_regression"], json!(false));
    // A 10 % drop of SET in every run of the newest commit.
    push_file(
        db,
        dir.path(),
        "c",
        &synthetic("cccc", "2025-01-03T00:00:00Z", 90_000.0),
    );
    let out = vp(db)
        .args(["detect-regression", "--threshold", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["new_commit"], json!("cccc"));
    assert_eq!(report["baseline_commit"], json!("bbbb"));
    let rps = crate::support::rps_regressions(&report);
    assert_eq!(rps.len(), 1, "{report}");
    assert!(
        rps[0]["case"].as_str().unwrap().starts_with("SET"),
        "{report}"
    );
    for r in rps {
        let pct = r["pct_change"].as_f64().unwrap();
        assert!((pct + 10.0).abs() < 0.5, "{r}");
    }
    // Against the pooled window of the two previous commits too.
    vp(db)
        .args(["detect-regression", "--window", "2"])
        .assert()
        .code(6);
}

#[test]
fn detect_regression_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    detects_a_planted_drop_and_not_an_aa_pair(&sqlite(dir.path()));
}

#[test]
fn detect_regression_on_postgres() {
    let Some(backend) = postgres("detect_regression_on_postgres") else {
        return;
    };
    detects_a_planted_drop_and_not_an_aa_pair(&backend);
}

#[test]
fn push_names_a_malformed_file_and_still_pushes_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let backend = sqlite(dir.path());
    let results = dir.path().join("results");
    for (name, text) in [
        (
            "good",
            synthetic("aaaa", "2025-01-01T00:00:00Z", 1000.0).to_string(),
        ),
        ("bad", "[{\"commit\": \"x\",\n  \"rps\": }]".to_string()),
    ] {
        fs::create_dir_all(results.join(name)).unwrap();
        fs::write(results.join(name).join("metrics.json"), text).unwrap();
    }
    let out = vp(&backend.url)
        .args(["push", "--results-dir", results.to_str().unwrap()])
        .output()
        .unwrap();
    // Some files pushed, one not: exit 5 (as some runs failed), not 2 (nothing started).
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad/metrics.json"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("good/metrics.json: inserted 30, 0 already present"),
        "{stdout}"
    );
}
