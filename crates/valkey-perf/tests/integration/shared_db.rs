//! valkey-perf and valkey-perf-benchmark's own Python scripts (push, commit tracking,
//! `detect_regression.py`) on one PostgreSQL with TLS and a password, in both directions:
//! each reads what the other wrote, the same results pushed by both are stored once, a 30 %
//! drop is found by both, and upstream's cleanup leaves valkey-perf's live claims alone.
//!
//! The scripts are not part of this repository: `VALKEY_PERF_UPSTREAM` names a checkout of
//! valkey-perf-benchmark (by default `../shared/upstream-snapshot` beside the repository);
//! `scripts/install-deps.sh` makes the Python environment they need
//! (`.deps/upstream-venv`).

use crate::dashboard::fixture_records;
use crate::support::deps_dir;
use assert_cmd::Command;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::test_support::{PgInstance, PgOptions, TlsFiles};

/// The upstream checkout and the Python that runs its scripts; `None` (skip) when there is
/// no checkout, or when the Python environment is missing outside CI.
pub struct Upstream {
    dir: PathBuf,
    python: PathBuf,
}

impl Upstream {
    pub fn find() -> Option<Upstream> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = std::env::var_os("VALKEY_PERF_UPSTREAM")
            .map(PathBuf::from)
            .or_else(|| {
                [
                    "../shared/upstream-snapshot",
                    "../../shared/upstream-snapshot",
                ]
                .iter()
                .map(|p| root.join(p))
                .find(|p| p.join("utils/detect_regression.py").is_file())
            })
            .unwrap_or_else(|| root.join("../shared/upstream-snapshot"));
        let python = deps_dir().join("upstream-venv/bin/python");
        // The scripts are outside the repository and nothing can install them (they are not
        // on a package registry): without a checkout these tests skip, also under CI, and say
        // so. The Python environment is installed by the test command, so it must be there.
        if !dir.join("utils/push_to_postgres.py").is_file() {
            eprintln!(
                "skipping: no valkey-perf-benchmark checkout at `{}`; set VALKEY_PERF_UPSTREAM",
                dir.display()
            );
            return None;
        }
        crate::support::require(&python, "run scripts/install-deps.sh")?;
        Some(Upstream { dir, python })
    }

    /// `python -m utils.<script> ARGS --host ... --password ...` against `db`.
    pub fn run(&self, pg: &PgInstance, db: &str, script: &str, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(&self.python);
        cmd.current_dir(&self.dir)
            .arg("-m")
            .arg(format!("utils.{script}"))
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &pg.port().to_string()])
            .args(["--database", db, "--username", "postgres"])
            .args(["--password", pg.password()]);
        let out = cmd.output().unwrap();
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A throwaway PostgreSQL that also serves TLS (upstream's scripts connect with
/// `sslmode=require`).
pub fn pg_with_tls(test: &str) -> Option<PgInstance> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let options = PgOptions {
        tls: Some(TlsFiles {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }),
    };
    PgInstance::start_or_skip_with(test, &options)
}

pub fn vp(db: &str) -> Command {
    let mut cmd = Command::cargo_bin("valkey-perf").unwrap();
    cmd.env_remove("RUST_LOG")
        .env("VALKEY_PERF_DB", db)
        .timeout(Duration::from_secs(60));
    cmd
}

/// Records as valkey-perf-benchmark writes them (no run details, no io-threads field): three
/// runs of SET and GET at 16 and 512 B, the SET runs scaled by `set_factor`.
pub fn upstream_records(commit: &str, time: &str, set_factor: f64) -> Value {
    let mut out = Vec::new();
    for (c, (command, size)) in [("SET", 16), ("GET", 16), ("SET", 512), ("GET", 512)]
        .into_iter()
        .enumerate()
    {
        for run in 0..3 {
            let mut rps = 200_000.0 * (1.0 + 0.004 * run as f64 + 0.01 * c as f64);
            if command == "SET" {
                rps *= set_factor;
            }
            let rps = (rps * 100.0_f64).round() / 100.0;
            out.push(json!({
                "timestamp": time, "commit": commit, "repository": null,
                "command": command, "data_size": size, "pipeline": 1, "clients": 50,
                "rps": rps, "avg_latency_ms": 0.25, "min_latency_ms": 0.05,
                "p50_latency_ms": 0.239, "p95_latency_ms": 0.4, "p99_latency_ms": 0.6,
                "max_latency_ms": 1.9, "cluster_mode": false, "tls": false,
                "requests": 100000, "benchmark_mode": "requests", "warmup": 0,
                "architecture": "x86_64", "env_os": "Debian GNU/Linux 12 (bookworm)",
                "env_benchmark_tool_version": "redis-benchmark 7.0.15"
            }));
        }
    }
    Value::Array(out)
}

const OLD: (&str, &str) = (
    "1111111111111111111111111111111111111111",
    "2026-01-01T10:00:00Z",
);
const NEW: (&str, &str) = (
    "2222222222222222222222222222222222222222",
    "2026-01-02T10:00:00Z",
);

/// Writes `results/<commit>/metrics.json` for each (commit, records).
fn write_results(dir: &Path, files: &[(&str, Value)]) -> PathBuf {
    for (commit, records) in files {
        let d = dir.join(commit);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("metrics.json"), records.to_string()).unwrap();
    }
    dir.to_path_buf()
}

fn count(pg: &PgInstance, db: &str) -> i64 {
    pg.client(db)
        .unwrap()
        .query_one("SELECT count(*) FROM benchmark_metrics", &[])
        .unwrap()
        .get(0)
}

fn upstream_push(up: &Upstream, pg: &PgInstance, db: &str, results: &Path) -> Output {
    let out = up.run(
        pg,
        db,
        "push_to_postgres",
        &["--results-dir", results.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(0), "upstream push: {out:?}");
    out
}

fn our_push(url: &str, results: &Path) -> String {
    let out = vp(url)
        .args(["push", "--results-dir", results.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Upstream's verdict on the two newest commits: (has_regression, the SET regression's size).
fn upstream_detect(up: &Upstream, pg: &PgInstance, db: &str) -> (bool, Option<f64>) {
    let out = up.run(
        pg,
        db,
        "detect_regression",
        &["--table-name", "benchmark_metrics", "--threshold", "5"],
    );
    assert!(matches!(out.code, Some(0 | 1)), "{out:?}");
    let report: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert!(report.get("error").is_none(), "{report}");
    let set = report["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r.to_string().contains("SET"))
        .and_then(|r| r["change_magnitude"].as_f64());
    (report["has_regression"].as_bool().unwrap(), set)
}

#[test]
fn upstream_scripts_and_valkey_perf_share_one_results_table() {
    let Some(up) = Upstream::find() else { return };
    let Some(pg) = pg_with_tls("upstream_scripts_and_valkey_perf_share_one_results_table") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();

    // Upstream-format results of two commits, the newer 30 % slower on SET.
    let upstream_results = write_results(
        &tmp.path().join("upstream"),
        &[
            (OLD.0, upstream_records(OLD.0, OLD.1, 1.0)),
            (NEW.0, upstream_records(NEW.0, NEW.1, 0.7)),
        ],
    );

    // 1. Upstream writes first (it creates the table), then valkey-perf pushes the same files:
    //    nothing is added, and both detectors see the drop.
    let url = pg.create_database("upstream_first").unwrap();
    upstream_push(&up, &pg, "upstream_first", &upstream_results);
    assert_eq!(count(&pg, "upstream_first"), 24);
    let first = our_push(&url, &upstream_results);
    assert_eq!(count(&pg, "upstream_first"), 24, "{first}");
    assert!(first.contains("inserted 0, 12 already present"), "{first}");
    our_push(&url, &upstream_results);
    upstream_push(&up, &pg, "upstream_first", &upstream_results);
    assert_eq!(
        count(&pg, "upstream_first"),
        24,
        "pushed 4 times by two tools"
    );
    let (found, size) = upstream_detect(&up, &pg, "upstream_first");
    assert!(found, "upstream after our migration: {size:?}");
    assert!((29.0..31.0).contains(&size.unwrap()), "{size:?}");
    let out = vp(&url)
        .args(["detect-regression", "--threshold", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    eprintln!(
        "upstream first: 24 rows after 2 pushes by each tool; upstream detect: SET -{:.1} %; ours: exit 6",
        size.unwrap()
    );

    // 2. valkey-perf writes first (it creates the table), upstream pushes the same files.
    let url = pg.create_database("ours_first").unwrap();
    our_push(&url, &upstream_results);
    upstream_push(&up, &pg, "ours_first", &upstream_results);
    our_push(&url, &upstream_results);
    assert_eq!(count(&pg, "ours_first"), 24, "pushed twice by each tool");
    let (found, size) = upstream_detect(&up, &pg, "ours_first");
    assert!(found && (29.0..31.0).contains(&size.unwrap()), "{size:?}");
    eprintln!(
        "ours first: 24 rows after 2 pushes by each tool; upstream detect: SET -{:.1} %",
        size.unwrap()
    );

    // 3. valkey-perf's own records (per-run details nested, as `run` writes them): upstream's
    //    detector groups the runs of each case and finds the 30 % drop.
    let url = pg.create_database("ours_only").unwrap();
    let ours = |sha: &str, time: &str, factor: f64| -> Value {
        let mut v = fixture_records(sha, time, 0, false, "unstable");
        for r in v.as_array_mut().unwrap() {
            if r["command"] == "SET" && r["data_size"] == 16 {
                r["rps"] = json!(r["rps"].as_f64().unwrap() * factor);
            }
            // A fresh invocation per commit, as the continuous loop runs them.
            r["invocation_id"] = json!(format!("inv-{sha}"));
            *r = Value::Object(valkey_perf::model::nest_details(
                r.as_object().unwrap().clone(),
            ));
        }
        v
    };
    let results = write_results(
        &tmp.path().join("ours"),
        &[
            (OLD.0, ours(OLD.0, OLD.1, 1.0)),
            (NEW.0, ours(NEW.0, NEW.1, 0.7)),
        ],
    );
    our_push(&url, &results);
    // Upstream's push cannot read valkey-perf's files (the nested `run_details` object is
    // nothing psycopg2 can store): it fails and adds nothing.
    let out = up.run(
        &pg,
        "ours_only",
        "push_to_postgres",
        &["--results-dir", results.to_str().unwrap()],
    );
    assert_ne!(out.code, Some(0), "{out:?}");
    assert_eq!(count(&pg, "ours_only"), 24);
    eprintln!(
        "upstream push of valkey-perf's files: exit {:?}: {}",
        out.code,
        out.stderr.trim()
    );
    let (found, size) = upstream_detect(&up, &pg, "ours_only");
    assert!(found, "upstream's detector on valkey-perf rows: {size:?}");
    assert!((29.0..31.0).contains(&size.unwrap()), "{size:?}");
    // Upstream-format results of later commits pushed by upstream into this table: both tools
    // keep reading it.
    let later = write_results(
        &tmp.path().join("later"),
        &[(
            "3333333333333333333333333333333333333333",
            upstream_records(
                "3333333333333333333333333333333333333333",
                "2026-01-03T10:00:00Z",
                0.7,
            ),
        )],
    );
    upstream_push(&up, &pg, "ours_only", &later);
    assert_eq!(count(&pg, "ours_only"), 24 + 12);
    let out = vp(&url)
        .args(["detect-regression", "--history"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 7)), "{out:?}");
    eprintln!(
        "valkey-perf rows: upstream detect finds SET 16 B -{:.1} %; upstream push into our table works",
        size.unwrap()
    );
}

/// A repository of `n` empty commits on `main`, one a day; returns it and the SHAs, oldest
/// first.
pub fn commit_repo(root: &Path, n: usize) -> (PathBuf, Vec<String>) {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str], date: Option<String>| -> String {
        let mut cmd = std::process::Command::new("git");
        cmd.arg("-C").arg(&repo).args(args);
        for (k, v) in [
            ("GIT_AUTHOR_NAME", "t"),
            ("GIT_AUTHOR_EMAIL", "t@t"),
            ("GIT_COMMITTER_NAME", "t"),
            ("GIT_COMMITTER_EMAIL", "t@t"),
        ] {
            cmd.env(k, v);
        }
        if let Some(d) = date {
            cmd.env("GIT_AUTHOR_DATE", &d).env("GIT_COMMITTER_DATE", &d);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "--quiet", "-b", "main"], None);
    let shas = (0..n)
        .map(|i| {
            let date = chrono::DateTime::parse_from_rfc3339("2025-01-01T10:00:00+00:00").unwrap()
                + chrono::Duration::days(i as i64);
            git(
                &["commit", "--quiet", "--allow-empty", "-m", &format!("c{i}")],
                Some(date.to_rfc3339()),
            );
            git(&["rev-parse", "HEAD"], None)
        })
        .collect();
    (repo, shas)
}

#[test]
fn upstream_commit_tracking_keeps_valkey_perf_claims() {
    let Some(up) = Upstream::find() else { return };
    let Some(pg) = pg_with_tls("upstream_commit_tracking_keeps_valkey_perf_claims") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (repo, shas) = commit_repo(tmp.path(), 4);
    let config = tmp.path().join("config.json");
    std::fs::write(
        &config,
        json!([{"requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
                "clients": [4], "commands": ["SET"], "cluster_mode": "no", "tls_mode": "no",
                "warmup": 0}])
        .to_string(),
    )
    .unwrap();
    let url = pg.create_database("commits").unwrap();
    let repo_s = repo.to_str().unwrap();
    let cfg = config.to_str().unwrap();
    let ours = |args: &[&str]| -> std::process::Output {
        vp(&url)
            .arg("commits")
            .args(args)
            .args(["--config-file", cfg])
            .output()
            .unwrap()
    };
    // valkey-perf claims the newest commit; another commit failed once.
    let out = ours(&[
        "claim",
        "--runner-id",
        "r1",
        "--repo",
        repo_s,
        "--branch",
        "main",
        "--max-commits",
        "1",
    ]);
    assert!(out.status.success(), "{out:?}");
    let claimed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(claimed, shas[3]);
    let short = &shas[1][..8];
    let out = ours(&[
        "mark", "--status", "failed", "--error", "boom", "--repo", repo_s, short,
    ]);
    assert!(out.status.success(), "{out:?}");
    // An upstream runner with the same config: `determine` (which first deletes in_progress
    // rows of its config) and a global `cleanup` (every in_progress row).
    let arch = store_arch();
    let up_args = |op: &str| -> Vec<String> {
        let mut v = vec![
            op.to_owned(),
            "--config-file".into(),
            cfg.into(),
            "--architecture".into(),
            arch.clone(),
        ];
        if op == "determine" {
            v.extend([
                "--repo".into(),
                repo_s.into(),
                "--branch".into(),
                "main".into(),
                "--max-commits".into(),
                "10".into(),
            ]);
        }
        v
    };
    let determine = up.run(
        &pg,
        "commits",
        "postgres_track_commits",
        &up_args("determine")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(determine.code, Some(0), "{determine:?}");
    let cleanup = up.run(&pg, "commits", "postgres_track_commits", &["cleanup"]);
    assert_eq!(cleanup.code, Some(0), "{cleanup:?}");
    let in_progress = |status: &str| -> Vec<String> {
        let out = ours(&["query", "--status", status, "--format", "json"]);
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["sha"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        in_progress("in_progress"),
        std::slice::from_ref(&claimed),
        "upstream deleted a live claim"
    );
    // What cannot be prevented from this side: upstream's determine lists commits valkey-perf
    // has claimed or given up on (it skips only `complete` rows).
    let listed: Vec<&str> = determine.stdout.split_whitespace().collect();
    eprintln!(
        "upstream determine lists {listed:?}; stderr: {}",
        determine.stderr.trim()
    );
    assert!(listed.contains(&claimed.as_str()) && listed.contains(&shas[1].as_str()));
    // valkey-perf does not hand the claimed commit to a second runner.
    let out = ours(&[
        "claim",
        "--runner-id",
        "r2",
        "--repo",
        repo_s,
        "--branch",
        "main",
        "--max-commits",
        "10",
    ]);
    let second: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(!second.contains(&claimed), "{second:?}");
    // Our own cleanup still removes our stale claims; `reset` takes the short SHA `mark` took.
    let out = ours(&["cleanup", "--stale-after", "0"]);
    assert!(out.status.success(), "{out:?}");
    assert!(in_progress("in_progress").is_empty());
    let out = ours(&["reset", short]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&shas[1]),
        "{out:?}"
    );
    // Upstream marks a commit complete: valkey-perf sees it as done.
    let mut mark = up_args("mark");
    mark.truncate(5);
    mark.extend([
        "--repo".into(),
        repo_s.into(),
        "--status".into(),
        "complete".into(),
        shas[0].clone(),
    ]);
    let out = up.run(
        &pg,
        "commits",
        "postgres_track_commits",
        &mark.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    eprintln!(
        "after upstream's mark: complete rows {:?}",
        in_progress("complete")
    );
}

/// The architecture both tools record on this machine.
fn store_arch() -> String {
    std::process::Command::new("uname")
        .arg("-m")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap()
}
