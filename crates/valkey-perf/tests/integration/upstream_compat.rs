//! Drop-in compatibility with the workflows Valkey already has:
//! - upstream's `utils/compare_benchmark_results.py` groups runs by every top-level scalar
//!   field except the commit, timestamps and metrics; real records of two targets must form
//!   exactly one group per case under that rule (per-run details are nested);
//! - after `run --commits unstable --baseline <tag>`, `results/<ref as typed>/metrics.json`
//!   resolves (also for a ref with `/`), and `find results -name "*<version>*"` finds the tag.

use crate::support::{Bins, Scratch, deps_dir};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use valkey_perf::compare::group::{group, load_records};

/// The fields upstream's grouping leaves out, as the issue lists them.
fn excluded(field: &str) -> bool {
    const FIXED: &[&str] = &[
        "timestamp",
        "commit",
        "module_commit",
        "module_commit_timestamp",
        "repository",
        "run_count",
        "rps",
    ];
    const SUFFIXES: &[&str] = &[
        "",
        "_stdev",
        "_cv",
        "_ci_lower",
        "_ci_upper",
        "_ci_percent",
        "_pi_lower",
        "_pi_upper",
        "_pi_percent",
    ];
    if FIXED.contains(&field) {
        return true;
    }
    let stats = ["rps", "avg", "min", "p50", "p95", "p99", "max"];
    stats.iter().any(|m| {
        let base = if *m == "rps" {
            "rps".to_string()
        } else {
            format!("{m}_latency_ms")
        };
        SUFFIXES.iter().any(|s| field == format!("{base}{s}"))
    })
}

/// Upstream's grouping key: every top-level string, number, boolean or null field that is not
/// excluded; objects and lists are ignored.
fn upstream_key(record: &Map<String, Value>) -> String {
    let key: BTreeMap<&String, &Value> = record
        .iter()
        .filter(|(k, v)| !excluded(k) && !matches!(v, Value::Object(_) | Value::Array(_)))
        .collect();
    serde_json::to_string(&key).unwrap()
}

fn raw_records(file: &Path) -> Vec<Map<String, Value>> {
    let v: Value = serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

/// Groups of (baseline runs, new runs) under upstream's rule.
fn upstream_groups(
    base: &[Map<String, Value>],
    new: &[Map<String, Value>],
) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in base {
        out.entry(upstream_key(r)).or_default().0 += 1;
    }
    for r in new {
        out.entry(upstream_key(r)).or_default().1 += 1;
    }
    out
}

#[test]
fn real_records_of_two_targets_group_by_case_under_upstreams_rule() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [2000], "keyspacelen": [100], "data_sizes": [16, 128], "pipelines": [1],
        "clients": [4], "commands": ["SET", "GET"], "cluster_mode": "no", "tls_mode": "no",
        "warmup": 0
    }]));
    let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--results-dir")
        .arg(scratch.results())
        .arg("--baseline-server-bin")
        .arg(&bins.base)
        .arg("--server-bin")
        .arg(&bins.new)
        .args(["--runs", "3"])
        .timeout(std::time::Duration::from_secs(180));
    let out = cmd.output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 6)), "{out:?}");
    let files: Vec<PathBuf> = fs::read_dir(scratch.results())
        .unwrap()
        .map(|e| e.unwrap().path().join("metrics.json"))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let mut sides: Vec<Vec<Map<String, Value>>> = files.iter().map(|f| raw_records(f)).collect();
    // The baseline is the 8.1.8 file.
    sides.sort_by_key(|rs| {
        rs[0]
            .get("run_details")
            .map(|d| d["server_version"].to_string())
    });
    let (base, new) = (&sides[0], &sides[1]);
    assert_eq!((base.len(), new.len()), (12, 12));

    let groups = upstream_groups(base, new);
    assert_eq!(
        groups.len(),
        4,
        "one group per case under upstream's rule: {:#?}",
        groups.keys().collect::<Vec<_>>()
    );
    assert!(
        groups.values().all(|&(b, n)| (b, n) == (3, 3)),
        "{groups:?}"
    );

    // The rule bites: with the details flattened back, every run is a group of its own.
    let flat = |rs: &[Map<String, Value>]| -> Vec<Map<String, Value>> {
        rs.iter()
            .map(|r| valkey_perf::model::flatten_details(r.clone()))
            .collect()
    };
    assert_eq!(upstream_groups(&flat(base), &flat(new)).len(), 24);

    // valkey-perf itself reads every field under its own name, and pairs the same 4 cases.
    let (a, b) = (
        load_records(&files[0]).unwrap(),
        load_records(&files[1]).unwrap(),
    );
    for r in a.iter().chain(&b) {
        for f in [
            "ref",
            "run_index",
            "run_started_at",
            "seed",
            "server_version",
            "engine_version",
        ] {
            assert!(r.contains_key(f), "`{f}` missing after reading: {r:?}");
        }
        assert!(!r.contains_key("run_details"));
    }
    assert_eq!(group(&a, &b).groups.len(), 4);
    eprintln!(
        "upstream rule on two real targets: {} groups, runs per group {:?}",
        groups.len(),
        groups.values().collect::<Vec<_>>()
    );
}

fn git(repo: &Path, args: &[&str], date: Option<&str>) {
    let mut cmd = std::process::Command::new("git");
    cmd.arg("-C").arg(repo).args(args);
    for (k, v) in [
        ("GIT_AUTHOR_NAME", "t"),
        ("GIT_AUTHOR_EMAIL", "t@t"),
        ("GIT_COMMITTER_NAME", "t"),
        ("GIT_COMMITTER_EMAIL", "t@t"),
    ] {
        cmd.env(k, v);
    }
    if let Some(d) = date {
        cmd.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A repository whose `make` installs a real server: tag `8.1.8` (valkey 8.1.8), branch
/// `unstable` (9.1.2) and branch `feature/x` (9.1.2, one more commit).
fn fixture_repo(root: &Path) -> PathBuf {
    let repo = root.join("repo");
    fs::create_dir_all(&repo).unwrap();
    let deps = deps_dir().canonicalize().unwrap();
    git(&repo, &["init", "--quiet", "-b", "unstable"], None);
    fs::write(repo.join(".gitignore"), "/src/\n").unwrap();
    let commit = |server: &str, note: &str, date: &str| {
        let makefile = format!(
            "all:\n\tmkdir -p src\n\tcp '{d}/{server}/valkey-server' src/valkey-server\n\tcp '{d}/valkey-8.1.8/valkey-cli' src/valkey-cli\n",
            d = deps.display()
        );
        fs::write(repo.join("Makefile"), makefile).unwrap();
        fs::write(repo.join("NOTE"), note).unwrap();
        git(&repo, &["add", "."], None);
        git(&repo, &["commit", "--quiet", "-m", note], Some(date));
    };
    commit("valkey-8.1.8", "release", "2025-01-01T10:00:00+00:00");
    git(&repo, &["tag", "8.1.8"], None);
    commit("valkey-9.1.2", "unstable", "2025-02-01T10:00:00+00:00");
    git(&repo, &["checkout", "--quiet", "-b", "feature/x"], None);
    commit("valkey-9.1.2", "feature", "2025-02-02T10:00:00+00:00");
    git(&repo, &["checkout", "--quiet", "unstable"], None);
    repo
}

#[test]
fn drop_in_paths_exist_after_run_commits_with_a_baseline_tag() {
    let Some(_bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let repo = fixture_repo(scratch.path());
    let config = scratch.config(&json!([{
        "requests": [2000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "clients": [4], "commands": ["SET"], "cluster_mode": "no", "tls_mode": "no",
        "warmup": 0
    }]));
    let results = scratch.results();
    let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--results-dir")
        .arg(&results)
        .args(["--valkey-repo", repo.to_str().unwrap()])
        .args([
            "--build-dir",
            scratch.path().join("cache").to_str().unwrap(),
        ])
        .args(["--commits", "unstable", "feature/x", "--baseline", "8.1.8"])
        .args(["--runs", "2"])
        .timeout(std::time::Duration::from_secs(180));
    let out = cmd.output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 6)), "{out:?}");

    for r in ["unstable", "feature/x", "8.1.8"] {
        let link = results.join(r);
        let meta = fs::symlink_metadata(&link).unwrap_or_else(|e| panic!("`{r}`: {e}"));
        assert!(meta.file_type().is_symlink(), "`{r}` is a link");
        let target = fs::canonicalize(&link).unwrap();
        let sha = target.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(sha.len(), 40, "`{r}` → {target:?}");
        assert_eq!(target.parent().unwrap(), results.canonicalize().unwrap());
        // Valkey's workflows read this path; the records are the SHA directory's.
        let records = load_records(&link.join("metrics.json")).unwrap();
        assert_eq!(records.len(), 2);
        assert!(
            records
                .iter()
                .all(|x| x["commit"] == json!(sha) && x["ref"] == json!(r))
        );
    }
    // `feature` is a real directory holding only the link `x`.
    assert!(
        fs::symlink_metadata(results.join("feature"))
            .unwrap()
            .is_dir()
    );
    // Upstream's release step: `find results -name "*8.1.8*"`.
    let found = std::process::Command::new("find")
        .arg(&results)
        .args(["-name", "*8.1.8*"])
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.trim(), results.join("8.1.8").display().to_string());
    // push walks the SHA directories only: links are not pushed twice.
    let db = format!("sqlite:{}", scratch.path().join("perf.db").display());
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .args([
            "push",
            "--db",
            &db,
            "--results-dir",
            results.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
}
