//! Instructions mode: servers under valgrind's callgrind count the instructions of the measured
//! window, a figure that does not move with the machine's load. Real servers and real valgrind.

use crate::support::{Bins, ChildGuard, Scratch, require};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn valgrind() -> Option<PathBuf> {
    require("/usr/bin/valgrind", "apt-get install valgrind")
}

/// A small instructions-mode config: SET and GET, one client, no pipeline, fixed seed. 6 000
/// requests: what the window counts besides the requests (connection setup, a timer tick,
/// about 20 000 instructions at most) stays below 0.05 % of it.
fn config(scratch: &Scratch) -> PathBuf {
    scratch.config(&json!([{
        "requests": [6000], "keyspacelen": [1000], "data_sizes": [16], "pipelines": [1],
        "clients": [1], "commands": ["SET", "GET"], "warmup": 0, "seed": 7,
        "benchmark_mode": "instructions"
    }]))
}

fn run(scratch: &Scratch, config: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--results-dir")
        .arg(scratch.results())
        .args(["--log-level", "warn"])
        .args(args)
        .timeout(Duration::from_secs(400));
    cmd.assert()
}

/// Records of every `metrics.json` below the results, flattened as valkey-perf reads them.
fn records(scratch: &Scratch) -> Vec<(PathBuf, Vec<Value>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(scratch.results()).unwrap() {
        let file = entry.unwrap().path().join("metrics.json");
        if !file.is_file() {
            continue;
        }
        let recs =
            valkey_perf::compare::group::load_records(&file).expect("a readable metrics.json");
        out.push((file, recs.into_iter().map(Value::Object).collect()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn ipr(r: &Value) -> f64 {
    r["instructions_per_request"]
        .as_f64()
        .unwrap_or_else(|| panic!("no instructions_per_request: {r}"))
}

/// A fixed hash seed needs a bind mount over `/dev/urandom` in a mount namespace of the
/// server's own, hence root; without it the counts vary by about 0.3 % from run to run and
/// the 0.1 % promise cannot be checked.
fn root() -> bool {
    let can = nix::unistd::geteuid().is_root()
        && Command::new("unshare")
            .args(["--mount", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if can {
        return true;
    }
    let why = "the servers' hash seed is fixed by a bind mount in a private mount namespace \
               (`unshare --mount`), which needs root";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("this test cannot run here under CI: {why}");
    }
    eprintln!("skipping: {why}");
    false
}

/// The promise: two copies of one server, 4 rounds, agree within 0.1 % per case, here
/// while a neighbour wants a whole CPU (a slower window runs more timer ticks, which are kept
/// out as background). No config seed: each round draws its own keys and hash seed, the same
/// for both targets.
#[test]
fn a_a_two_copies_agree_within_a_tenth_of_a_percent_per_case_under_a_cpu_hog() {
    let (Some(bins), Some(_)) = (Bins::get(), valgrind()) else {
        return;
    };
    if !root() {
        return;
    }
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [4000], "keyspacelen": [1000], "data_sizes": [16], "pipelines": [1],
        "clients": [1], "commands": ["SET", "GET"], "warmup": 0,
        "benchmark_mode": "instructions"
    }]));
    let (a, b) = scratch.two_copies(&bins.new);
    let mut hog = Command::new("sh");
    hog.args(["-c", "while :; do :; done"]).process_group(0);
    let _hog = ChildGuard::spawn(hog);
    run(
        &scratch,
        &config,
        &[
            "--baseline-server-bin",
            a.to_str().unwrap(),
            "--server-bin",
            b.to_str().unwrap(),
            "--runs",
            "4",
        ],
    )
    .success();
    let all = records(&scratch);
    assert_eq!(all.len(), 2);
    let by_round = |recs: &[Value], command: &str| -> Vec<(u64, f64, u64)> {
        let mut v: Vec<(u64, f64, u64)> = recs
            .iter()
            .filter(|r| r["command"] == command)
            .map(|r| {
                assert_eq!(r["latency_meaningful"], json!(false), "{r}");
                assert!(r["background_instructions"].as_u64().unwrap() > 0, "{r}");
                let files = r["callgrind_files"].as_array().unwrap();
                assert_eq!(files.len(), 1, "one dump per server process: {r}");
                assert!(Path::new(files[0].as_str().unwrap()).is_file());
                (
                    r["run_index"].as_u64().unwrap(),
                    ipr(r),
                    r["urandom_seed"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort_by_key(|x| x.0);
        v
    };
    for command in ["SET", "GET"] {
        let (base, new) = (by_round(&all[0].1, command), by_round(&all[1].1, command));
        assert_eq!(base.len(), 4, "{command}: {base:?}");
        assert_eq!(new.len(), 4, "{command}: {new:?}");
        let mean = |v: &[(u64, f64, u64)]| v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
        let per_case = mean(&new) / mean(&base) - 1.0;
        let worst_round = base
            .iter()
            .zip(&new)
            .map(|(x, y)| {
                assert_eq!(
                    x.2, y.2,
                    "{command}: both targets of a round share a hash seed"
                );
                (y.1 / x.1 - 1.0).abs()
            })
            .fold(0.0, f64::max);
        eprintln!(
            "{command}: per case {:+.4} %, worst round {:.4} %, base {base:?}, new {new:?}",
            per_case * 100.0,
            worst_round * 100.0
        );
        assert!(per_case.abs() < 0.001, "{command}: {base:?} {new:?}");
        // A single round can differ by the heap's layout (timer work resizes buffers at
        // moments that follow wall time, and later allocations land elsewhere): 0.1-0.3 %.
        assert!(worst_round < 0.005, "{command}: {base:?} {new:?}");
        assert!(base[0].1 > 1000.0, "{command}: {base:?}");
        let seeds: std::collections::BTreeSet<u64> = base.iter().map(|x| x.2).collect();
        assert_eq!(seeds.len(), 4, "every round its own hash seed: {base:?}");
    }
}

/// `compare --format json` of the two targets' files (baseline first by name order).
fn compare_json(scratch: &Scratch, base_prefix: &str) -> Value {
    let all = records(scratch);
    let (base, new): (Vec<_>, Vec<_>) = all.iter().map(|(f, _)| f.clone()).partition(|f| {
        f.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(base_prefix)
    });
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .arg("compare")
        .arg("--baseline")
        .arg(&base[0])
        .arg("--new")
        .arg(&new[0])
        .args(["--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

fn instructions_metric(case: &Value) -> &Value {
    case["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "instructions_per_request")
        .unwrap_or_else(|| panic!("no instructions metric: {case}"))
}

#[test]
fn two_versions_differ_per_case_with_the_functions_that_changed() {
    let (Some(bins), Some(_)) = (Bins::get(), valgrind()) else {
        return;
    };
    let scratch = Scratch::new();
    run(
        &scratch,
        &config(&scratch),
        &[
            "--baseline-server-bin",
            bins.base.to_str().unwrap(),
            "--server-bin",
            bins.new.to_str().unwrap(),
            "--runs",
            "2",
        ],
    )
    .success();
    let report = compare_json(&scratch, "8.1.8");
    // How fast the client or the rps was under callgrind is no finding in this mode.
    let kinds: Vec<&Value> = report["warnings"]
        .as_array()
        .map(|w| w.iter().map(|w| &w["kind"]).collect())
        .unwrap_or_default();
    assert!(
        !kinds.contains(&&json!("noisy")) && !kinds.contains(&&json!("client_bound")),
        "{kinds:?}"
    );
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let m = instructions_metric(case);
        assert_eq!(m["analysis"], "paired", "{m}");
        let pct = m["difference"]["pct_change"].as_f64().unwrap();
        eprintln!(
            "{}: 8.1.8 → 9.1.2 instructions per request {pct:+.2} %",
            case["label"]
        );
        assert!(pct.abs() > 0.5, "two versions count differently: {m}");
        // Timing under callgrind is not judged.
        let rps = &case["metrics"][0];
        assert_eq!(rps["verdict"], "not_judged", "{rps}");
        if m["verdict"] == "regression" || m["verdict"] == "improvement" {
            let functions = case["functions"].as_array().unwrap();
            assert!(!functions.is_empty(), "{case}");
            eprintln!("  top: {}", functions[0]["function"]);
        }
    }
    // The markdown report names the analysis and lists functions.
    let md = std::fs::read_dir(scratch.results())
        .unwrap()
        .map(|e| e.unwrap().path().join("report.md"))
        .find(|p| p.is_file())
        .expect("run wrote a report");
    let text = std::fs::read_to_string(md).unwrap();
    assert!(text.contains("(paired)"), "{text}");
    assert!(text.contains("Where the instructions changed"), "{text}");
}

#[test]
fn a_setting_that_adds_work_per_request_is_an_instruction_regression() {
    let (Some(bins), Some(_)) = (Bins::get(), valgrind()) else {
        return;
    };
    let scratch = Scratch::new();
    // The same server logging every command to the slow log: thousands of instructions more
    // per request. A wrapper script, which valgrind follows into the server through exec.
    let slow = scratch.wrapper(
        "slowlog-valkey-server",
        &bins.new,
        "--slowlog-log-slower-than 0",
    );
    run(
        &scratch,
        &config(&scratch),
        &[
            "--baseline-server-bin",
            bins.new.to_str().unwrap(),
            "--server-bin",
            slow.to_str().unwrap(),
            "--runs",
            "2",
        ],
    )
    .success();
    let all = records(&scratch);
    let base_commit = all
        .iter()
        .find(|(_, recs)| recs[0]["ref"] == json!(bins.new.display().to_string()))
        .map(|(f, _)| {
            f.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string()
        })
        .unwrap();
    let report = compare_json(&scratch, &base_commit);
    for case in report["cases"].as_array().unwrap() {
        let m = instructions_metric(case);
        assert_eq!(m["verdict"], "regression", "{m}");
        let per_request =
            m["new"]["mean"].as_f64().unwrap() - m["baseline"]["mean"].as_f64().unwrap();
        eprintln!(
            "{}: slowlog adds {per_request:.0} instructions per request",
            case["label"]
        );
        assert!(per_request > 500.0, "{m}");
        // First comes the function doing the new work: it barely ran before and now carries
        // about the whole change (this build has no symbol for the slow-log code, so it is
        // named by address). `call`, which logs each command to the slow log, is among the
        // top five with about the whole change too.
        let first = &case["functions"][0];
        let first_change = first["change_per_request"].as_f64().unwrap();
        assert!(first_change > 0.8 * per_request, "{first} vs {per_request}");
        assert!(
            first["baseline_per_request"].as_f64().unwrap()
                < 0.2 * first["new_per_request"].as_f64().unwrap(),
            "{first}"
        );
        let top5: Vec<&Value> = case["functions"]
            .as_array()
            .unwrap()
            .iter()
            .take(5)
            .collect();
        let call = top5
            .iter()
            .find(|f| f["function"] == "call")
            .unwrap_or_else(|| panic!("`call` not among {top5:?}"));
        let change = call["change_per_request"].as_f64().unwrap();
        assert!(change > 0.8 * per_request, "{call} vs {per_request}");
    }
}

#[test]
fn without_valgrind_instructions_mode_is_a_usage_error_before_anything_starts() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .env("PATH", scratch.path())
        .env("TMPDIR", scratch.tmp())
        .arg("run")
        .arg("--config")
        .arg(config(&scratch))
        .arg("--results-dir")
        .arg(scratch.results())
        .args(["--server-bin", bins.new.to_str().unwrap()])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("valgrind") && stderr.contains("apt-get install valgrind"),
        "{stderr}"
    );
    assert!(
        !scratch.results().exists(),
        "nothing was started or written"
    );
}
