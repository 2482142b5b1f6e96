//! `run --duet` with real servers (two copies of one valkey-server): on a machine disturbed by
//! a CPU hog switched on and off every second, an A/A duet's per-round ratios spread at most
//! half as much as sequential A B, B A rounds' and give no verdict; a planted slowdown is
//! found; what cannot run as a duet is refused before anything starts; `compare` never pairs
//! duet records with solo ones.

use crate::support::{
    Bins, ChildGuard, Scratch, assert_no_server_left, pid_in_server_log, server_logs,
};
use assert_cmd::Command;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use valkey_perf::compare::{CompareOptions, MetricSet, compare_files, render_json};

/// `valkey-perf run` of `base` and `new` into `results`; its wall time and stdout.
fn run(
    scratch: &Scratch,
    results: &Path,
    config: &Path,
    (base, new): (&Path, &Path),
    runs: u32,
    extra: &[&str],
) -> (Duration, String) {
    let started = Instant::now();
    let out = Command::cargo_bin("valkey-perf")
        .unwrap()
        .env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--results-dir")
        .arg(results)
        .arg("--baseline-server-bin")
        .arg(base)
        .arg("--server-bin")
        .arg(new)
        .args(["--runs", &runs.to_string(), "--log-level", "warn"])
        .args(extra)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    (started.elapsed(), stdout)
}

/// The baseline's and the new target's `metrics.json` in `results`.
fn metrics_files(results: &Path, base: &Path) -> (PathBuf, PathBuf) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap()
        .map(|e| e.unwrap().path().join("metrics.json"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let is_base = |p: &PathBuf| {
        std::fs::read_to_string(p)
            .unwrap()
            .contains(&base.display().to_string())
    };
    if is_base(&files[0]) {
        (files[0].clone(), files[1].clone())
    } else {
        (files[1].clone(), files[0].clone())
    }
}

fn records(file: &Path) -> Vec<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            Value::Object(valkey_perf::model::flatten_details(
                r.as_object().unwrap().clone(),
            ))
        })
        .collect()
}

/// ln(new rps / baseline rps) of every round, paired by `run_index`.
fn round_log_ratios(results: &Path, base: &Path) -> Vec<f64> {
    let (b, n) = metrics_files(results, base);
    let (b, n) = (records(&b), records(&n));
    b.iter()
        .filter_map(|rb| {
            let rn = n.iter().find(|rn| rn["run_index"] == rb["run_index"])?;
            Some((rn["rps"].as_f64()? / rb["rps"].as_f64()?).ln())
        })
        .collect()
}

fn sd(v: &[f64]) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
}

/// The rps comparison of the two targets in `results`, as the JSON report shows it.
fn rps_comparison(results: &Path, base: &Path) -> Value {
    let (b, n) = metrics_files(results, base);
    let opts = CompareOptions {
        metrics: MetricSet::Rps,
        ..CompareOptions::default()
    };
    let cmp = compare_files(&b, &n, &opts).unwrap();
    let report: Value = serde_json::from_str(&render_json(&cmp)).unwrap();
    report["cases"][0]["metrics"][0].clone()
}

/// Every server the runs in `results` started is gone.
fn assert_servers_gone(scratch: &Scratch, results: &Path, binary: &Path) {
    let pids: Vec<u32> = std::fs::read_dir(results)
        .unwrap()
        .flat_map(|e| server_logs(&e.unwrap().path()))
        .filter_map(|log| pid_in_server_log(&log))
        .collect();
    assert!(!pids.is_empty(), "no server log in `{}`", results.display());
    assert_no_server_left(binary, &pids, scratch.path());
}

/// A CPU hog (two `yes` into /dev/null, one per CPU of a two-CPU machine, in a process group
/// of their own) stopped and continued every second by a thread of the test; the group is
/// killed through its leader's handle when dropped.
struct Hog {
    child: ChildGuard,
    stop: Arc<AtomicBool>,
    toggler: Option<std::thread::JoinHandle<()>>,
}

impl Hog {
    fn start() -> Hog {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "yes >/dev/null & yes >/dev/null & wait"])
            .process_group(0);
        let child = ChildGuard::spawn(cmd);
        let group = Pid::from_raw(child.pid() as i32);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let toggler = std::thread::spawn(move || {
            let mut on = true;
            while !flag.load(Ordering::SeqCst) {
                // Waits a second in steps, so the end of the test is not held up.
                for _ in 0..20 {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                on = !on;
                let signal = if on { Signal::SIGCONT } else { Signal::SIGSTOP };
                let _ = killpg(group, signal);
            }
        });
        Hog {
            child,
            stop,
            toggler: Some(toggler),
        }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.toggler.take() {
            let _ = t.join();
        }
        // A stopped process dies of SIGKILL too; the guard kills the group and reaps it.
        let _ = killpg(Pid::from_raw(self.child.pid() as i32), Signal::SIGKILL);
        let _ = self.child.child.wait();
    }
}

fn get_config(scratch: &Scratch, extra: Value) -> PathBuf {
    let mut obj = json!({
        "duration": 1, "keyspacelen": 10000, "data_sizes": [16], "pipelines": [16],
        "clients": [50], "commands": ["GET"]
    });
    for (k, v) in extra.as_object().unwrap() {
        obj[k] = v.clone();
    }
    scratch.config(&json!([obj]))
}

#[test]
fn duet_a_a_under_a_switching_cpu_hog_spreads_at_most_half_of_abba() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let (a, b) = scratch.two_copies(&bins.new);
    let config = get_config(&scratch, json!({}));
    let hog = Hog::start();
    // Six A B / B A rounds (12 one-second windows one after the other) against six duet
    // rounds (6 shared windows): the duet gets less wall time, never more.
    let sequential = scratch.path().join("sequential");
    let (seq_wall, _) = run(&scratch, &sequential, &config, (&a, &b), 6, &[]);
    let duet = scratch.path().join("duet");
    let (duet_wall, _) = run(&scratch, &duet, &config, (&a, &b), 6, &["--duet"]);
    drop(hog);
    let (seq, du) = (
        round_log_ratios(&sequential, &a),
        round_log_ratios(&duet, &a),
    );
    assert_eq!((seq.len(), du.len()), (6, 6), "{seq:?} {du:?}");
    eprintln!(
        "sequential: sd {:.4} in {seq_wall:.1?} {seq:.3?}; duet: sd {:.4} in {duet_wall:.1?} {du:.3?}",
        sd(&seq),
        sd(&du)
    );
    assert!(
        sd(&du) <= 0.5 * sd(&seq),
        "duet per-round log-ratio sd {:.4} is more than half of sequential's {:.4}",
        sd(&du),
        sd(&seq)
    );
    let rps = rps_comparison(&duet, &a);
    assert_eq!(rps["analysis"], "paired", "{rps:#}");
    assert_eq!(rps["verdict"], "no_significant_change", "{rps:#}");
    let ci = &rps["difference"]["pct_change_ci95"];
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(
        lo <= 0.0 && 0.0 <= hi,
        "an A/A bias beyond the interval: {rps:#}"
    );
    // Each round: one record per target, same invocation and round, `duet: true`, the
    // pinning crossed and swapped, the same key seed, per-second ratios in the histogram file.
    let (fb, fn_) = metrics_files(&duet, &a);
    let (rb, rn) = (records(&fb), records(&fn_));
    for (x, y) in rb.iter().zip(&rn) {
        assert_eq!(
            (&x["duet"], &x["run_index"], &x["invocation_id"], &x["seed"]),
            (&y["duet"], &y["run_index"], &y["invocation_id"], &y["seed"])
        );
        assert_eq!(x["duet"], true);
        assert_eq!(
            x["env_server_cpu_range"], y["env_client_cpu_range"],
            "{x:#}"
        );
        assert_eq!(
            x["env_client_cpu_range"], y["env_server_cpu_range"],
            "{x:#}"
        );
        let hist: Value = serde_json::from_str(
            &std::fs::read_to_string(x["histogram_file"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        assert!(
            hist["duet"]["per_second_rps_ratio"].is_array(),
            "{:#}",
            hist["duet"]
        );
    }
    assert_ne!(rb[0]["env_server_cpu_range"], rb[1]["env_server_cpu_range"]);
    assert_servers_gone(&scratch, &duet, &a);
    assert_servers_gone(&scratch, &duet, &b);
    scratch.assert_no_tmp_leftovers();
}

#[test]
fn duet_finds_a_planted_slowdown() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    // The same server logging every command to the slow log: measured beforehand on this
    // machine (GET P16, 50 clients, duet, 6 rounds of 2 s): −8.9 % rps (−16.1 … −1.2 %);
    // one after the other the same runs gave −24.7 % (−49.8 … +12.9 %), no verdict.
    let slow = scratch.wrapper(
        "slowlog-valkey-server",
        &bins.new,
        "--slowlog-log-slower-than 0",
    );
    let config = get_config(&scratch, json!({"duration": 2}));
    let results = scratch.results();
    // Ten rounds: with the per-round sd of 5-8 % seen here, a 10 % change is found nearly
    // always; six rounds missed it now and then.
    run(
        &scratch,
        &results,
        &config,
        (&bins.new, &slow),
        10,
        &["--duet"],
    );
    // The cost shows as throughput lost where the server is the bottleneck, and always as
    // more server CPU per request (where the test's unoptimized client holds the rate, rps
    // alone moved by only -3 % on a quiet machine).
    let (b, n) = metrics_files(&results, &bins.new);
    let cmp = compare_files(&b, &n, &CompareOptions::default()).unwrap();
    let report: Value = serde_json::from_str(&render_json(&cmp)).unwrap();
    let metric = |name: &str| -> Value {
        report["cases"][0]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["field"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no `{name}` in {report:#}"))
    };
    let (rps, cpu) = (metric("rps"), metric("server_cpu_us_per_request"));
    eprintln!(
        "planted slow log, duet: rps {} {:+.1} %, server CPU per request {} {:+.1} %, warnings {}",
        rps["verdict"],
        rps["difference"]["pct_change"].as_f64().unwrap_or(f64::NAN),
        cpu["verdict"],
        cpu["difference"]["pct_change"].as_f64().unwrap_or(f64::NAN),
        report["warnings"]
    );
    assert_eq!(rps["analysis"], "paired", "{rps:#}");
    // Each client shares a CPU with the other target's server: beside this debug-built client,
    // which costs more CPU per request than the server, the dearer server slows the *other*
    // target's client, and rps can read as an improvement. The report must then say so.
    let coupled =
        report["warnings"].as_array().unwrap().iter().any(|w| {
            w["kind"] == "duet_coupling" && w["message"].as_str().unwrap().contains("`GET`")
        });
    if !coupled {
        assert_ne!(rps["verdict"], "improvement", "{rps:#}\n{report:#}");
    }
    assert!(
        rps["verdict"] == "regression" || cpu["verdict"] == "regression",
        "{rps:#}\n{cpu:#}"
    );
    assert_servers_gone(&scratch, &results, &bins.new);
}

#[test]
fn what_cannot_run_as_a_duet_is_refused_before_anything_starts() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let (a, b) = scratch.two_copies(&bins.new);
    let refuse = |config: &Path, extra: &[&str], targets: &[&Path], expect: &str| {
        let mut cmd = Command::cargo_bin("valkey-perf").unwrap();
        cmd.env("TMPDIR", scratch.tmp())
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--results-dir")
            .arg(scratch.results())
            .args(extra);
        if let Some((first, rest)) = targets.split_first() {
            cmd.arg("--baseline-server-bin").arg(first);
            for t in rest {
                cmd.arg("--server-bin").arg(t);
            }
        }
        let out = cmd.timeout(Duration::from_secs(60)).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expect), "expected `{expect}` in: {stderr}");
    };
    let timed = get_config(&scratch, json!({}));
    refuse(
        &timed,
        &["--duet"],
        &[&a],
        "runs two targets at once, and this run has 1",
    );
    refuse(
        &timed,
        &[
            "--duet",
            "--engine",
            "valkey-benchmark",
            "--valkey-benchmark-path",
            "/usr/bin/redis-benchmark",
        ],
        &[&a, &b],
        "needs the native engine",
    );
    let requests = scratch.path().join("requests.json");
    std::fs::write(
        &requests,
        json!([{"requests": [1000], "keyspacelen": 100, "data_sizes": [16], "pipelines": [1],
                "clients": [5], "commands": ["GET"]}])
        .to_string(),
    )
    .unwrap();
    refuse(
        &requests,
        &["--duet", "--instructions"],
        &[&a, &b],
        "drop one of them",
    );
    refuse(&requests, &["--duet"], &[&a, &b], "give `duration`");
    let memory = scratch.path().join("memory.json");
    std::fs::write(
        &memory,
        json!([{"benchmark_mode": "memory", "keyspacelen": 100, "data_sizes": [16],
                "duet": true}])
        .to_string(),
    )
    .unwrap();
    refuse(&memory, &[], &[&a, &b], "remove `duet` from this object");
    let lone_range = get_config(&scratch, json!({"server_cpu_range": "0"}));
    refuse(
        &lone_range,
        &["--duet"],
        &[&a, &b],
        "give both `server_cpu_range` and `client_cpu_range`",
    );
    assert!(!scratch.results().exists() || scratch.records().is_empty());
    scratch.assert_no_tmp_leftovers();
}

/// `--precision` adds duet rounds to duet cases (both targets at once, a record each with
/// `duet: true`), at least six, as it adds A B / B A rounds to solo ones.
#[test]
fn precision_runs_duet_cases_as_duet_rounds() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let (a, b) = scratch.two_copies(&bins.new);
    let config = get_config(&scratch, json!({"duet": true}));
    let out = scratch
        .native_run(&config)
        .arg("--baseline-server-bin")
        .arg(&a)
        .arg("--server-bin")
        .arg(&b)
        .args(["--precision", "50", "--max-time", "2m"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("round 1 duet"), "{stderr}");
    let records = scratch.records();
    assert!(records.len() >= 12, "{}", records.len());
    assert!(records.iter().all(|r| r["duet"] == true), "{records:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("95 % interval (± half-width)"), "{stdout}");
    scratch.assert_no_tmp_leftovers();
}

/// A config's `duet: true` says how to compare two targets; a run of one target (the same
/// config, no baseline) runs its cases solo and says so, as `--duet` would refuse.
#[test]
fn a_config_duet_with_one_target_runs_solo() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = get_config(
        &scratch,
        json!({"duet": true, "server_cpu_range": "0", "client_cpu_range": "1"}),
    );
    let out = scratch
        .native_run(&config)
        .arg("--server-bin")
        .arg(&bins.new)
        .args(["--runs", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("running solo"), "{stderr}");
    let records = scratch.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0]["duet"].is_null(), "{}", records[0]);
    scratch.assert_no_tmp_leftovers();
}

#[test]
fn compare_refuses_to_pair_duet_records_with_solo_ones() {
    let scratch = Scratch::new();
    let rec = |duet: bool, rps: f64, round: u64| {
        let mut r = json!({"command": "GET", "data_size": 16, "pipeline": 1, "clients": 50,
            "rps": rps, "invocation_id": "i", "run_index": round});
        if duet {
            r["duet"] = true.into();
        }
        r
    };
    let write = |name: &str, recs: Vec<Value>| {
        let p = scratch.path().join(name);
        std::fs::write(&p, Value::Array(recs).to_string()).unwrap();
        p
    };
    let duet = write("duet.json", (0..3).map(|i| rec(true, 100.0, i)).collect());
    let solo = write("solo.json", (0..3).map(|i| rec(false, 100.0, i)).collect());
    let out = Command::cargo_bin("valkey-perf")
        .unwrap()
        .arg("compare")
        .arg("--baseline")
        .arg(&duet)
        .arg("--new")
        .arg(&solo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("holds 3 duet record(s)")
            && stderr.contains("holds 3 solo record(s)")
            && stderr.contains("never paired with solo"),
        "{stderr}"
    );
}

#[test]
fn a_cluster_runs_as_a_duet_with_its_nodes_on_their_targets_cpus() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let (a, b) = scratch.two_copies(&bins.new);
    let config = get_config(
        &scratch,
        json!({"cluster_mode": "yes", "cluster_nodes": 3, "keyspacelen": 1000, "clients": [20]}),
    );
    let results = scratch.results();
    let (_, stdout) = run(&scratch, &results, &config, (&a, &b), 2, &["--duet"]);
    assert!(
        stdout.contains("their absolute rps is not a solo run's"),
        "{stdout}"
    );
    let (fb, fn_) = metrics_files(&results, &a);
    let (rb, rn) = (records(&fb), records(&fn_));
    assert_eq!((rb.len(), rn.len()), (2, 2));
    for (x, y) in rb.iter().zip(&rn) {
        assert_eq!(
            (&x["duet"], &x["cluster_mode"]),
            (&json!(true), &json!(true))
        );
        assert_eq!(x["run_index"], y["run_index"]);
        // Every node of a target on its set: the affinity read back from the three servers.
        assert_eq!(
            x["env_server_cpu_range"], y["env_client_cpu_range"],
            "{x:#}"
        );
        assert!(
            x["rps"].as_f64().unwrap() > 0.0 && x["errors"] == 0,
            "{x:#}"
        );
    }
    assert_servers_gone(&scratch, &results, &a);
    assert_servers_gone(&scratch, &results, &b);
    scratch.assert_no_tmp_leftovers();
}
