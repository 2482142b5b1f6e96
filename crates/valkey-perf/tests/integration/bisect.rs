//! `valkey-perf bisect` end to end, on fixture repositories of 17 commits (a good end and 16
//! after it) whose `make` installs a real valkey-server 9.1.2 behind a wrapper script; from
//! commit k on the wrapper starts it with a setting that costs CPU per command. The costs were
//! measured with `run` on this project's 2-core machines (SET, 16-byte values, one client,
//! 5 000 requests, instructions mode; timed: 10 clients, pipeline 16, 1 s windows):
//!
//! | setting | instructions per SET | server CPU per request |
//! | --- | --- | --- |
//! | none | 8 874 | 1.5 µs |
//! | `--notify-keyspace-events K$` | +26 % | |
//! | `--notify-keyspace-events KE$` | +47 % | +30 % |
//! | `--maxmemory 1gb --maxmemory-policy allkeys-lfu` | +1.8 % | |
//! | [`HEAVY`]: `KE$` notifications and a slow log of every command | +82 % | +33 % (+11 % to +55 %) |
//!
//! Server CPU per request moved by ±20 % from run to run on these machines while other work
//! competed for the two cores (rps by far more), so the timed test plants the heaviest setting
//! and allows up to 16 rounds a step.
//! Everything else is the real path: mirror, builds and their cache, servers, the native
//! engine, callgrind, `compare`'s paired analysis, the state file, SQLite.

use crate::support::{Scratch, assert_no_server_left, deps_dir, server_logs, valkey_server};
use assert_cmd::Command;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Both kinds of notification: +47 % instructions per SET.
const NOTIFY_ALL: &str = "--notify-keyspace-events KE$";
/// Keyspace notifications only: about half of [`NOTIFY_ALL`]'s cost.
const NOTIFY_HALF: &str = "--notify-keyspace-events K$";
/// Notifications and a slow log of every command: +82 % instructions per SET.
const HEAVY: &str =
    "--notify-keyspace-events KE$ --slowlog-log-slower-than 0 --slowlog-max-len 128";
/// An LFU eviction policy under a memory limit: +1.8 % instructions per SET.
const SMALL: &str = "--maxmemory 1gb --maxmemory-policy allkeys-lfu";

/// Commits after the good end.
const N: usize = 16;

struct Fixture {
    scratch: Scratch,
    repo: PathBuf,
    /// `shas[0]` is the good end, `shas[N]` the bad one.
    shas: Vec<String>,
    server: PathBuf,
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Commits 0..=N; commit i's server runs with the setting of the last plant `(from, setting)`
/// with `from <= i`; the commits in `broken` fail to build.
fn fixture(plants: &[(usize, &str)], broken: &[usize]) -> Option<Fixture> {
    let server = valkey_server("9.1.2")?.canonicalize().unwrap();
    let deps = deps_dir().canonicalize().unwrap();
    let scratch = Scratch::new();
    let repo = scratch.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "-b", "main"]);
    fs::write(repo.join(".gitignore"), "/src/\n").unwrap();
    let mut shas = Vec::new();
    for i in 0..=N {
        let setting = plants
            .iter()
            .rfind(|(from, _)| *from <= i)
            .map_or("", |(_, s)| s);
        let makefile = if broken.contains(&i) {
            "all:\n\t@echo 'server.c:1: error: broken on purpose' >&2\n\t@exit 1\n".to_string()
        } else {
            format!(
                "all:\n\tmkdir -p src\n\tprintf '#!/bin/sh\\nexec {server} \"$$@\" {setting}\\n' > src/valkey-server\n\tchmod +x src/valkey-server\n\tcp '{deps}/valkey-8.1.8/valkey-cli' src/valkey-cli\n",
                server = server.display(),
                setting = setting.replace('$', "$$"),
                deps = deps.display(),
            )
        };
        fs::write(repo.join("Makefile"), makefile).unwrap();
        fs::write(repo.join("NOTES"), format!("commit {i}\n")).unwrap();
        git(&repo, &["add", "."]);
        let subject = match setting {
            "" => format!("commit {i}"),
            s => format!("commit {i}: {s}"),
        };
        git(&repo, &["commit", "--quiet", "-m", &subject]);
        shas.push(git(&repo, &["rev-parse", "HEAD"]));
    }
    Some(Fixture {
        scratch,
        repo,
        shas,
        server,
    })
}

impl Fixture {
    /// `valkey-perf bisect` over the whole fixture with this config and these flags.
    fn bisect_std(&self, config: &Value, extra: &[&str]) -> std::process::Command {
        self.bisect_between(config, &self.shas[0], "main", extra)
    }

    /// `valkey-perf bisect` from `good` to `bad`.
    fn bisect_between(
        &self,
        config: &Value,
        good: &str,
        bad: &str,
        extra: &[&str],
    ) -> std::process::Command {
        let config = self.scratch.config(config);
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"));
        cmd.env_remove("RUST_LOG")
            .env("TMPDIR", self.scratch.tmp())
            .arg("bisect")
            .args(["--good", good, "--bad", bad])
            .arg("--config")
            .arg(&config)
            .arg("--valkey-repo")
            .arg(&self.repo)
            .arg("--build-dir")
            .arg(self.scratch.path().join("cache"))
            .arg("--results-dir")
            .arg(self.scratch.results())
            .args(extra);
        cmd
    }

    /// [`Fixture::bisect_std`] with a deadline.
    fn bisect(&self, config: &Value, extra: &[&str]) -> Command {
        let mut cmd = Command::from_std(self.bisect_std(config, extra));
        cmd.timeout(Duration::from_secs(900));
        cmd
    }

    /// Bisects in instructions mode with the JSON report, which must end with exit 0.
    fn instructions_report(&self) -> (Value, std::process::Output) {
        let out = self
            .bisect(
                &instructions_config(),
                &["--metric", "instructions", "--format", "json"],
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        (json_of(&out), out)
    }

    fn index(&self, sha: &str) -> usize {
        self.shas.iter().position(|s| s == sha).unwrap()
    }

    /// The first bad commits the report names, as indices.
    fn first_bad(&self, report: &Value) -> Vec<usize> {
        report["found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                assert_eq!(f["kind"], "first_bad", "{report:#}");
                self.index(f["commit"]["commit"].as_str().unwrap())
            })
            .collect()
    }

    fn assert_no_server_left(&self) {
        let logs = server_logs(&self.scratch.results());
        let pids: Vec<u32> = logs
            .iter()
            .filter_map(|l| crate::support::pid_in_server_log(l))
            .collect();
        assert_no_server_left(&self.server, &pids, self.scratch.path());
        self.scratch.assert_no_tmp_leftovers();
    }
}

fn instructions_config() -> Value {
    json!([{
        "benchmark_mode": "instructions", "requests": [5000], "keyspacelen": [1000],
        "data_sizes": [16], "pipelines": [1], "clients": [1], "commands": ["SET"],
        "warmup": 0, "seed": 1
    }])
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every tested commit's position agrees with where the plant is.
fn assert_positions(fx: &Fixture, report: &Value, k: usize) {
    for t in report["tested"].as_array().unwrap() {
        let i = fx.index(t["commit"]["commit"].as_str().unwrap());
        let expected = if i < k { "like_good" } else { "like_bad" };
        assert_eq!(t["position"], expected, "commit {i}: {report:#}");
    }
}

#[test]
fn instructions_mode_finds_the_planted_commit_with_one_run_a_side_and_resumes() {
    let Some(fx) = fixture(&[(11, NOTIFY_ALL)], &[]) else {
        return;
    };
    let (report, _) = fx.instructions_report();
    assert_eq!(fx.first_bad(&report), vec![11], "{report:#}");
    let step = report["found"][0]["step_pct"].as_f64().unwrap();
    assert!((40.0..55.0).contains(&step), "{report:#}");
    let tested = report["tested"].as_array().unwrap();
    // log2(16) = 4 midpoints, each decided by one run of every target.
    assert_eq!(tested.len(), 4, "{report:#}");
    assert!(tested.iter().all(|t| t["rounds"] == 1), "{report:#}");
    assert_eq!(report["ends_rounds"], 1);
    assert_positions(&fx, &report, 11);
    // The ends and 4 midpoints were built, each once.
    assert_eq!(report["builds_compiled"], 6, "{report:#}");
    fx.assert_no_server_left();

    // The same command again measures nothing: every step is replayed from the state file;
    // --db pushes the tested commits' records.
    let db = fx.scratch.path().join("perf.db");
    let db_url = format!("sqlite:{}", db.display());
    let again = fx
        .bisect(
            &instructions_config(),
            &["--metric", "instructions", "--db", &db_url],
        )
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    let stdout = String::from_utf8_lossy(&again.stdout);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stdout.contains(&format!("first bad commit: {} commit 11", fx.shas[11])),
        "{stdout}"
    );
    assert!(stdout.contains("the difference reproduces"), "{stdout}");
    assert_eq!(stderr.matches("(recorded)").count(), 4, "{stderr}");
    assert!(
        !stderr.contains("rps="),
        "nothing is measured again: {stderr}"
    );
    // One run of each end in each of 5 sessions (the ends', then 4 midpoints'), one of
    // each midpoint.
    assert!(stderr.contains("14 rows inserted"), "{stderr}");
}

#[test]
fn a_change_split_over_two_commits_is_reported_as_two_steps() {
    let Some(fx) = fixture(&[(5, NOTIFY_HALF), (11, NOTIFY_ALL)], &[]) else {
        return;
    };
    let (report, _) = fx.instructions_report();
    assert_eq!(fx.first_bad(&report), vec![5, 11], "{report:#}");
    let tested = report["tested"].as_array().unwrap();
    let between: Vec<usize> = tested
        .iter()
        .filter(|t| t["position"] == "between")
        .map(|t| fx.index(t["commit"]["commit"].as_str().unwrap()))
        .collect();
    assert_eq!(between, vec![8], "{report:#}");
    let steps: Vec<f64> = report["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["step_pct"].as_f64().unwrap())
        .collect();
    // +26 % from nothing, then +17 % more on top of that.
    assert!((20.0..32.0).contains(&steps[0]), "{steps:?}");
    assert!((12.0..22.0).contains(&steps[1]), "{steps:?}");
    fx.assert_no_server_left();
}

#[test]
fn a_commit_that_does_not_build_is_skipped_and_a_small_step_still_found_after_ctrl_c() {
    // Commit 8 is the first midpoint; it does not build. The step is +1.8 %.
    let Some(fx) = fixture(&[(11, SMALL)], &[8]) else {
        return;
    };
    let state = fx.scratch.results().join("bisect").join(format!(
        "{}-{}-instructions.json",
        &fx.shas[0][..12],
        &fx.shas[N][..12]
    ));
    // Ctrl-C once the first midpoint is decided: what was learnt is kept.
    let mut child = fx
        .bisect_std(&instructions_config(), &["--metric", "instructions"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let steps = |path: &Path| -> usize {
        fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map_or(0, |v| v["steps"].as_array().map_or(0, Vec::len))
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while steps(&state) == 0 && child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no step decided in 10 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    fx.assert_no_server_left();
    let learnt = steps(&state);
    assert!(learnt >= 1);

    let (report, out) = fx.instructions_report();
    assert_eq!(fx.first_bad(&report), vec![11], "{report:#}");
    assert_eq!(
        report["skipped"][0]["commit"],
        json!(fx.shas[8]),
        "{report:#}"
    );
    let tested = report["tested"].as_array().unwrap();
    assert!(
        tested
            .iter()
            .all(|t| t["commit"]["commit"] != json!(fx.shas[8]))
    );
    assert_positions(&fx, &report, 11);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("(recorded)").count(), learnt, "{stderr}");
    fx.assert_no_server_left();
}

#[test]
fn a_and_a_ends_end_with_the_difference_does_not_reproduce() {
    let Some(fx) = fixture(&[], &[]) else {
        return;
    };
    let out = fx
        .bisect(&instructions_config(), &["--metric", "instructions"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("the difference does not reproduce"),
        "{stdout}"
    );
    assert!(!stdout.contains("first bad commit"), "{stdout}");
    fx.assert_no_server_left();
}

#[test]
fn timed_mode_finds_the_planted_commit_in_about_log2_steps() {
    let Some(fx) = fixture(&[(11, HEAVY)], &[]) else {
        return;
    };
    let config = json!([{
        "duration": 1, "keyspacelen": [10000], "data_sizes": [16], "pipelines": [16],
        "clients": [10], "commands": ["SET"], "warmup": 0
    }]);
    let out = fx
        .bisect(
            &config,
            &[
                "--metric",
                "server-cpu",
                "--max-rounds",
                "16",
                "--format",
                "json",
            ],
        )
        .output()
        .unwrap();
    let report = json_of(&out);
    // A step the round limit cannot decide is reported, never guessed: then the range it
    // leaves must hold the planted commit.
    for f in report["found"].as_array().unwrap() {
        if f["kind"] == "undecidable" {
            let (after, up_to) = (
                fx.index(f["after"].as_str().unwrap()),
                fx.index(f["up_to"].as_str().unwrap()),
            );
            assert!(after < 11 && 11 <= up_to, "{report:#}");
            assert_eq!(out.status.code(), Some(7), "{out:?}");
        }
    }
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(fx.first_bad(&report), vec![11], "{report:#}");
    assert!(
        report["tested"].as_array().unwrap().len() <= 5,
        "{report:#}"
    );
    assert_positions(&fx, &report, 11);
    fx.assert_no_server_left();
}

#[test]
fn usage_errors_exit_2_before_anything_is_built() {
    let Some(fx) = fixture(&[(11, NOTIFY_ALL)], &[]) else {
        return;
    };
    let timed = json!([{
        "duration": 1, "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "clients": [1], "commands": ["SET"], "warmup": 0
    }]);
    let cases: [(&Value, &[&str], &str); 3] = [
        (&timed, &["--case", "GET"], "--case `GET` matches no case"),
        (
            &timed,
            &["--metric", "instructions"],
            "counts a fixed number of requests without warm-up",
        ),
        (
            &timed,
            &["--max-rounds", "2"],
            "a paired interval needs 3 rounds",
        ),
    ];
    let swapped = Command::from_std(fx.bisect_between(&timed, "main", &fx.shas[3], &[]));
    let runs = cases
        .into_iter()
        .map(|(config, extra, message)| (fx.bisect(config, extra), message))
        .chain([(swapped, "is not an ancestor of")]);
    for (mut cmd, message) in runs {
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    // Nothing was built.
    assert!(!fx.scratch.path().join("cache").join("builds").exists());
}
