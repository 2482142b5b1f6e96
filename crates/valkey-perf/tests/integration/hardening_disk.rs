//! `run` where the results cannot go, and against a server that is not there, with real
//! processes and real file systems (a small tmpfs, mounted and unmounted by the test): a full
//! disk and a read-only one found before any server starts, a disk that fills up mid-run
//! (the runs stop at once, the measured record that could not be written is printed), and a
//! running server on a port nobody listens on (exit 4 before any case).

use crate::support::{Bins, Scratch, pid_in_server_log, server_logs, small_object};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs of `size` mounted on a directory of the scratch area, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts it (`options`: extra mount options such as `ro`), or `None` after saying why it
    /// cannot be (not root, no mount permission in this container); under `CI=true` that fails
    /// the test.
    fn mount(scratch: &Scratch, name: &str, size: &str, options: &str) -> Option<Tmpfs> {
        let dir = scratch.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut opts = format!("size={size}");
        if !options.is_empty() {
            opts.push(',');
            opts.push_str(options);
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(&dir)
            .output()
            .unwrap();
        if !out.status.success() {
            let why = format!(
                "cannot mount a tmpfs here ({}); the full and read-only disk cases need root and mount permission",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "{why}");
            eprintln!("skipped: {why}");
            return None;
        }
        Some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// `valkey-perf run` with the native engine, starting `server`, results into `results`.
fn run_into(scratch: &Scratch, config: &Path, server: &Path, results: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"));
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .args(["run", "--engine", "native", "--runs", "2", "--config"])
        .arg(config)
        .arg("--results-dir")
        .arg(results)
        .arg("--server-bin")
        .arg(server);
    cmd
}

/// The pids named in the server logs below `results`: the servers a run started.
fn started_servers(results: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(results) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| server_logs(&e.path()))
        .filter_map(|log| pid_in_server_log(&log))
        .collect()
}

/// A config of eight small cases.
fn eight_cases(scratch: &Scratch) -> PathBuf {
    scratch.config(&json!([small_object(json!({
        "commands": ["SET", "GET"], "pipelines": [1, 2, 4, 8], "clients": [2]
    }))]))
}

/// A full disk and a read-only one are usage errors (exit 2) found before any server
/// starts, naming the directory and the fix; they used to start servers and fail every run.
#[test]
fn a_full_or_read_only_results_disk_is_found_before_anything_starts() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = eight_cases(&scratch);
    let Some(full) = Tmpfs::mount(&scratch, "full", "64k", "") else {
        return;
    };
    // Filled to the last page (the file stops growing when the disk is full).
    let _ = std::fs::write(full.dir.join("filler"), vec![0u8; 128 * 1024]);
    let results = full.dir.join("results");
    std::fs::create_dir_all(&results).unwrap();
    let out = run_into(&scratch, &config, &bins.new, &results)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("`{}", results.display()))
            && stderr.contains("No space left on device")
            && stderr.contains("free some space")
            && stderr.contains("nothing was started"),
        "{stderr}"
    );
    assert!(!stderr.contains("run failed"), "{stderr}");
    assert!(started_servers(&results).is_empty(), "a server was started");
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());

    // A read-only mount.
    let Some(ro) = Tmpfs::mount(&scratch, "ro", "1m", "ro") else {
        return;
    };
    let out = run_into(&scratch, &config, &bins.new, &ro.dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("`{}", ro.dir.display()))
            && stderr.contains("Read-only file system")
            && stderr.contains("choose another --results-dir")
            && stderr.contains("nothing was started"),
        "{stderr}"
    );
}

/// A disk that fills up mid-run stops the runs at once (exit 5, not one failure per case),
/// names the file and the fix, keeps the records written before, and prints the record
/// measured but not written, whole.
#[test]
fn a_disk_that_fills_up_mid_run_stops_and_loses_no_measured_record() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = eight_cases(&scratch);
    let Some(disk) = Tmpfs::mount(&scratch, "disk", "64k", "") else {
        return;
    };
    // Sixteen records and their histograms need more than 64 KiB: the disk fills mid-run.
    let results = disk.dir.join("results");
    let out = run_into(&scratch, &config, &bins.new, &results)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("No space left on device")
            && stderr.contains("free some space")
            && stderr.contains("the runs stopped there, the records written before are kept"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("run failed"),
        "one failure per case: {stderr}"
    );
    let file = std::fs::read_dir(&results)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("metrics.json"))
        .find(|p| p.is_file())
        .expect("records were written before the disk filled up");
    let written: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
        .expect("metrics.json stays a whole JSON array");
    assert!(
        !written.is_empty() && written.len() < 16,
        "{}",
        written.len()
    );
    // A record whose append failed is printed; a run whose histogram failed made none.
    let printed: Vec<Value> = stderr
        .lines()
        .filter_map(|l| l.split_once("(add it to the file's array by hand): "))
        .map(|(_, json)| serde_json::from_str(json).expect("the printed record is JSON"))
        .collect();
    assert!(
        !printed.is_empty() || stderr.contains("histograms/"),
        "neither a printed record nor a histogram named: {stderr}"
    );
    for record in &printed {
        assert!(
            record["command"].is_string() && record["rps"].is_number(),
            "{record}"
        );
        assert!(
            !written.contains(record),
            "a printed record was written too"
        );
    }
}

/// `--use-running-server` on a port nobody listens on fails before the first case with
/// exit 4, naming the address and the fix; no case runs, no results directory is made and
/// stdout names no file. It used to run (and fail) every case, then exit 5.
#[test]
fn a_running_server_that_is_not_there_fails_before_the_first_case() {
    let scratch = Scratch::new();
    let config = eight_cases(&scratch);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is closed: nothing listens on `port`.
    let started = Instant::now();
    let out = scratch
        .run_against(&config, port)
        .args(["--runs", "2"])
        .assert()
        .code(4);
    let elapsed = started.elapsed();
    let stderr = crate::support::stderr_of(&out);
    assert!(
        stderr.contains(&format!("no server answers at `127.0.0.1:{port}`"))
            && stderr.contains("fix `--target-ip`/`--port`")
            && stderr.contains("nothing was run"),
        "{stderr}"
    );
    assert!(!stderr.contains("case 1/"), "a case ran: {stderr}");
    assert!(!stderr.contains("run failed"), "{stderr}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(crate::support::stdout_of(&out).trim().is_empty());
    assert!(
        !scratch.results().join("running-server").exists(),
        "a results directory was made"
    );
}
