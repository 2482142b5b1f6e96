//! The continuous workflow's shell logic (`scripts/continuous.sh`, which the workflow's claim,
//! detect and alert steps call) over a simulated sequence of ticks, with the real `valkey-perf`
//! (claims on a git repository, push, detect-regression on SQLite) and a stand-in for GitHub's
//! `gh` CLI on PATH that keeps issues in a JSON file (GitHub is not reachable here).
//!
//! History of 8 flat commits; then a 15 % SET drop lands and stays: one issue for it, later
//! ticks whose baseline window still holds commits from before the drop comment on that issue
//! instead of opening others; once the window is past the drop nothing alarms; with nothing to
//! claim nothing else runs; a closed issue stays closed when the same step is seen again.

use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FAKE_GH: &str = r#"#!/usr/bin/env bash
# Stand-in for GitHub's CLI: the issue subcommands the alert step uses, on a JSON file.
set -euo pipefail
state="$FAKE_GH_DIR/issues.json"
[ -f "$state" ] || echo '[]' > "$state"
printf '%s\n' "$*" >> "$FAKE_GH_DIR/calls.log"
arg() { local want="$1"; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "$1 $2" in
  "issue list") cat "$state" ;;
  "label create") ;;
  "issue create")
    n=$(( $(jq length "$state") + 1 ))
    jq --arg t "$(arg --title "$@")" --arg b "$(arg --body "$@")" --arg l "$(arg --label "$@")" --argjson n "$n" \
      '. + [{number: $n, title: $t, body: $b, state: "OPEN", labels: [$l], comments: []}]' "$state" > "$state.new"
    mv "$state.new" "$state"
    echo "https://github.com/o/r/issues/$n" ;;
  "issue comment")
    jq --arg b "$(arg --body "$@")" --argjson n "$3" \
      'map(if .number == $n then .comments += [$b] else . end)' "$state" > "$state.new"
    mv "$state.new" "$state" ;;
  *) echo "fake gh: unsupported: $*" >&2; exit 1 ;;
esac
"#;

struct Loop {
    dir: tempfile::TempDir,
    repo: PathBuf,
    bin: PathBuf,
    db: String,
    day: usize,
}

fn git(repo: &Path, args: &[&str], date: Option<&str>) -> String {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo).args(args);
    for k in ["GIT_AUTHOR", "GIT_COMMITTER"] {
        cmd.env(format!("{k}_NAME"), "t")
            .env(format!("{k}_EMAIL"), "t@t");
        if let Some(d) = date {
            cmd.env(format!("{k}_DATE"), d);
        }
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Five runs of six cases at `commit`; SET at `factor` of its level; a small deterministic
/// per-commit wiggle so the machine's drift can be estimated.
fn records(commit: &str, time: &str, k: usize, factor: f64) -> Value {
    let shared = 1.0 + 0.004 * ((k * 7) % 5) as f64 - 0.008;
    let mut out = Vec::new();
    for command in ["SET", "GET", "INCR", "LPUSH", "HSET", "SADD"] {
        for (i, w) in [1.0, 0.99, 1.01, 0.995, 1.005].iter().enumerate() {
            let rps = 100_000.0 * shared * w * if command == "SET" { factor } else { 1.0 };
            out.push(json!({
                "timestamp": time, "commit": commit, "command": command, "data_size": 16,
                "pipeline": 1, "clients": 50, "requests": 100000, "benchmark_mode": "requests",
                "keyspacelen": 1000, "rps": rps, "p50_latency_ms": 50.0 / rps * 1000.0,
                "p99_latency_ms": 90.0 / rps * 1000.0, "cluster_mode": false, "tls": false,
                "io_threads": 1, "architecture": "x86_64", "run_index": i, "engine": "native",
                "invocation_id": format!("inv-{commit}"),
                "run_started_at": format!("{}.{i:03}Z", &time[..19]),
            }));
        }
    }
    Value::Array(out)
}

/// What one tick did.
struct Tick {
    output: String,
    code: Option<i32>,
    alert: String,
}

impl Loop {
    fn new() -> Loop {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("valkey");
        fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "--quiet", "-b", "unstable"], None);
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(
            assert_cmd::cargo::cargo_bin("valkey-perf"),
            bin.join("valkey-perf"),
        )
        .unwrap();
        let gh = bin.join("gh");
        fs::write(&gh, FAKE_GH).unwrap();
        let mut perms = fs::metadata(&gh).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(&gh, perms).unwrap();
        fs::write(
            dir.path().join("config.json"),
            json!([{"requests": [1000], "keyspacelen": [100], "data_sizes": [16],
                    "pipelines": [1], "clients": [50], "commands": ["SET", "GET"],
                    "cluster_mode": "no", "tls_mode": "no", "warmup": 0}])
            .to_string(),
        )
        .unwrap();
        let db = format!("sqlite:{}", dir.path().join("perf.db").display());
        Loop {
            dir,
            repo,
            bin,
            db,
            day: 0,
        }
    }

    /// New commits on the branch.
    fn commit(&mut self, n: usize) {
        for _ in 0..n {
            self.day += 1;
            let date = format!("2025-03-{:02}T10:00:00+00:00", self.day);
            git(
                &self.repo,
                &["commit", "--quiet", "--allow-empty", "-m", &date],
                Some(&date),
            );
        }
    }

    fn script(&self, step: &str, output: &Path, max_commits: usize) -> Output {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap());
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/continuous.sh"))
            .arg(step)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("VALKEY_PERF_DB", &self.db)
            .env("FAKE_GH_DIR", self.dir.path())
            .env("GITHUB_OUTPUT", output)
            .env("CONFIG", self.dir.path().join("config.json"))
            .env("BRANCH", "unstable")
            .env("VALKEY_REPO", &self.repo)
            .env("MAX_COMMITS", max_commits.to_string())
            .env("RUNNER_ID", "runner-1")
            .env("THRESHOLD", "2")
            .env("WINDOW", "3")
            .env("REPOSITORY", "valkey-io/valkey")
            .env("RUN_URL", "https://github.com/o/r/actions/runs/1")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    /// One tick of the workflow: claim; for what was claimed, push its results (SET at
    /// `factor`) and mark it complete; detect; on a regression, alert. Steps run only when
    /// the workflow would run them.
    fn tick(&self, n: usize, max_commits: usize, factor: f64) -> Tick {
        let output = self.dir.path().join(format!("output-{n}"));
        let out = self.script("claim", &output, max_commits);
        assert!(out.status.success(), "claim: {out:?}");
        let text = fs::read_to_string(&output).unwrap_or_default();
        let mut tick = Tick {
            output: text.clone(),
            code: None,
            alert: String::new(),
        };
        if !text.lines().any(|l| l == "claimed=true") {
            return tick;
        }
        let shas = text.lines().find_map(|l| l.strip_prefix("shas=")).unwrap();
        for sha in shas.split(' ') {
            let time = git(&self.repo, &["show", "-s", "--format=%cI", sha], None);
            let k = self.day;
            let d = self.dir.path().join("results").join(sha);
            fs::create_dir_all(&d).unwrap();
            fs::write(
                d.join("metrics.json"),
                records(sha, &time, k, factor).to_string(),
            )
            .unwrap();
            let vp = |args: &[&str]| {
                let out = Command::new(self.bin.join("valkey-perf"))
                    .args(args)
                    .env("VALKEY_PERF_DB", &self.db)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{args:?}: {out:?}");
            };
            vp(&["push", "--results-dir", d.to_str().unwrap()]);
            let config = self.dir.path().join("config.json");
            vp(&[
                "commits",
                "mark",
                "--status",
                "complete",
                "--config-file",
                config.to_str().unwrap(),
                "--repo",
                self.repo.to_str().unwrap(),
                sha,
            ]);
        }
        let out = self.script("detect", &output, max_commits);
        assert!(out.status.success(), "detect: {out:?}");
        let text = fs::read_to_string(&output).unwrap();
        tick.code = text
            .lines()
            .find_map(|l| l.strip_prefix("code="))
            .map(|c| c.parse().unwrap());
        tick.output = text;
        if tick.code == Some(6) {
            let out = self.script("alert", &output, max_commits);
            assert!(out.status.success(), "alert: {out:?}");
            tick.alert = String::from_utf8_lossy(&out.stdout).to_string();
        }
        eprintln!(
            "tick {n}: claimed {shas}; detect-regression exit {:?}; {}",
            tick.code,
            tick.alert.lines().last().unwrap_or("no alert")
        );
        tick
    }

    fn issues(&self) -> Vec<Value> {
        let p = self.dir.path().join("issues.json");
        fs::read_to_string(p).map_or(Vec::new(), |s| serde_json::from_str(&s).unwrap())
    }

    fn head(&self) -> String {
        git(&self.repo, &["rev-parse", "HEAD"], None)
    }
}

#[test]
fn the_continuous_loop_alerts_once_per_regression() {
    for tool in ["jq", "git"] {
        if Command::new(tool).arg("--version").output().is_err() {
            assert!(std::env::var("CI").is_err(), "`{tool}` is missing");
            eprintln!("skipping: `{tool}` is missing");
            return;
        }
    }
    let mut l = Loop::new();
    // The history: 8 flat commits, claimed and measured in one tick; nothing alarms.
    l.commit(8);
    let t = l.tick(0, 8, 1.0);
    assert_eq!(t.code, Some(0), "{}", t.output);
    assert!(l.issues().is_empty());

    // The drop lands: one issue, titled and marked by its first bad commit.
    l.commit(1);
    let bad = l.head();
    let t = l.tick(1, 1, 0.85);
    assert_eq!(t.code, Some(6), "{}", t.output);
    let issues = l.issues();
    assert_eq!(issues.len(), 1, "{issues:?}");
    let title = issues[0]["title"].as_str().unwrap().to_string();
    assert_eq!(
        title,
        format!(
            "Performance regression on unstable (config.json) from {}",
            &bad[..12]
        )
    );
    assert!(
        issues[0]["body"]
            .as_str()
            .unwrap()
            .contains(&format!("first-bad={bad}"))
    );
    assert!(
        issues[0]["body"].as_str().unwrap().contains("| SET"),
        "{issues:?}"
    );
    let regression_at_bad = fs::read_to_string(l.dir.path().join("regression.json")).unwrap();

    // The next commits stay low: while the baseline window (3 commits) still holds commits
    // from before the drop, the same step is seen again; it updates the issue, no new one.
    let mut seen_again = 0;
    for n in 2..=4 {
        l.commit(1);
        let t = l.tick(n, 1, 0.85);
        if t.code == Some(6) {
            seen_again += 1;
            assert!(
                t.alert.contains("updated issue #1"),
                "tick {n}: {}",
                t.alert
            );
        } else {
            assert_eq!(t.code, Some(0), "tick {n}: {}", t.output);
        }
        let issues = l.issues();
        assert_eq!(issues.len(), 1, "tick {n}: {issues:?}");
        assert_eq!(issues[0]["title"], title.as_str());
    }
    assert!(
        seen_again >= 1,
        "the window never saw the drop again: the test proves nothing"
    );
    assert_eq!(
        l.issues()[0]["comments"].as_array().unwrap().len(),
        seen_again
    );
    // Past the window the new level is the baseline: the last tick judged no regression.
    let calls = fs::read_to_string(l.dir.path().join("calls.log")).unwrap();
    assert_eq!(calls.matches("issue create").count(), 1, "{calls}");

    // Nothing to claim: `claimed=false` and no `shas=` line, so nothing else runs.
    let t = l.tick(5, 1, 1.0);
    eprintln!("tick 5: {}", t.output.trim());
    assert_eq!(t.output, "claimed=false\n");
    assert_eq!(t.code, None);

    // A maintainer closes the issue; the same step seen again is not reported again.
    let p = l.dir.path().join("issues.json");
    let closed: Vec<Value> = l
        .issues()
        .into_iter()
        .map(|mut i| {
            i["state"] = json!("CLOSED");
            i
        })
        .collect();
    fs::write(&p, serde_json::to_string(&closed).unwrap()).unwrap();
    fs::write(l.dir.path().join("regression.json"), regression_at_bad).unwrap();
    let out = l.script("alert", &l.dir.path().join("output-again"), 1);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    eprintln!("after closing, the same step again: {}", said.trim());
    assert!(said.contains("is closed"), "{said}");
    let issues = l.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["state"], "CLOSED");
    assert_eq!(issues[0]["comments"].as_array().unwrap().len(), seen_again);
}
