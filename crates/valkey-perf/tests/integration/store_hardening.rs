//! The database commands at their edges: a password with `/` never shown, a killed claimer
//! leaves no claim it did not print, a lost connection gives one error and exit 4, a partial
//! push exit 5, upstream records headed by their io-threads, the dashboard file readable.

use crate::dashboard::vp;
use crate::shared_db::{commit_repo, upstream_records};
use serde_json::{Value, json};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use store::test_support::PgInstance;

fn write(dir: &Path, name: &str, records: &Value) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("metrics.json"), records.to_string()).unwrap();
}

#[test]
fn a_password_with_slashes_is_masked_on_stderr_and_in_the_dashboard() {
    let Some(pg) = PgInstance::start_or_skip("a_password_with_slashes_is_masked") else {
        return;
    };
    let secret = "se/cr/et?x";
    let mut admin = pg.client("postgres").unwrap();
    admin
        .batch_execute(&format!("CREATE ROLE perf LOGIN PASSWORD '{secret}'"))
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE perf OWNER perf")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a",
        &upstream_records("a", "2026-01-01T00:00:00Z", 1.0),
    );
    let html = dir.path().join("d.html");
    // The password percent-encoded (as URLs want it) and raw in a libpq string.
    for db in [
        format!(
            "postgres://perf:se%2Fcr%2Fet%3Fx@127.0.0.1:{}/perf?sslmode=disable",
            pg.port()
        ),
        format!(
            "host=127.0.0.1 port={} user=perf password='{secret}' dbname=perf sslmode=disable",
            pg.port()
        ),
    ] {
        for args in [
            vec!["push", "--results-dir", dir.path().to_str().unwrap()],
            vec!["dashboard", "--output", html.to_str().unwrap()],
            vec!["push", "--results-dir", "/nonexistent"],
        ] {
            let out = vp(&db).args(&args).output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            for part in ["se/cr", "cr/et", "se%2Fcr", "%2Fet"] {
                assert!(!text.contains(part), "{args:?} shows `{part}`: {text}");
            }
        }
        let page = std::fs::read_to_string(&html).unwrap();
        for part in ["se/cr", "cr/et", "se%2Fcr", "%2Fet", "et?x"] {
            assert!(!page.contains(part), "the dashboard holds `{part}`");
        }
        // Readable by everyone, as a page to share or serve.
        let mode = std::fs::metadata(&html).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{mode:o}");
        // Upstream's records (no io-threads field) are headed by the server default.
        assert!(page.contains("io-threads default"));
        assert!(!page.contains("io-threads ?"));
    }
    // A database that cannot be reached is not an internal error.
    let out = vp(&format!(
        "postgres://perf:se%2Fcr%2Fet@127.0.0.1:{}/perf?sslmode=disable",
        store_free_port()
    ))
    .args(["push", "--results-dir", dir.path().to_str().unwrap()])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
}

fn store_free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_partial_push_exits_5_and_a_lost_connection_prints_one_error() {
    let Some(pg) = PgInstance::start_or_skip("a_partial_push_exits_5") else {
        return;
    };
    let url = pg.create_database("perf").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    write(
        &good,
        "a",
        &upstream_records("a", "2026-01-01T00:00:00Z", 1.0),
    );
    write(&good, "b", &json!([{"commit": "b", "command": "SET"}]));
    let out = vp(&url)
        .args(["push", "--results-dir", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    // Only the bad file: nothing pushed, a usage error.
    let bad = dir.path().join("bad");
    write(&bad, "b", &json!([{"commit": "b", "command": "SET"}]));
    let out = vp(&url)
        .args(["push", "--results-dir", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // Many files; the connection is cut once the push is under way.
    let many = dir.path().join("many");
    for i in 0..400 {
        let sha = format!("{i:040x}");
        write(
            &many,
            &sha,
            &upstream_records(&sha, "2026-01-01T00:00:00Z", 1.0),
        );
    }
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"))
        .env_remove("RUST_LOG")
        .args([
            "push",
            "--db",
            &url,
            "--results-dir",
            many.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut admin = pg.client("postgres").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pushed: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'valkey-perf' AND datname = 'perf'",
                &[],
            )
            .unwrap()
            .get(0);
        // Some files are stored: the table exists and holds rows.
        let rows: i64 = pg
            .client("perf")
            .unwrap()
            .query_one(
                "SELECT CASE WHEN to_regclass('benchmark_metrics') IS NULL THEN 0 \
                 ELSE (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM benchmark_metrics', false, true, '')))[1]::text::int8 END",
                &[],
            )
            .unwrap()
            .get(0);
        if pushed > 0 && rows > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the push never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'valkey-perf' AND datname = 'perf'",
        )
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let pushed = stdout.lines().count();
    assert!(
        pushed < 400,
        "the push finished before the cut: {pushed} files"
    );
    assert_eq!(status.code(), Some(4), "{stderr}");
    let errors = stderr.lines().filter(|l| l.starts_with("error")).count();
    assert_eq!(errors, 1, "one error, not one per file:\n{stderr}");
    assert!(
        stderr.contains("lost") && stderr.contains(&format!("{pushed} of 400 files")),
        "{stderr}"
    );
    eprintln!(
        "connection cut after {pushed} of 400 files: {} stderr lines",
        stderr.lines().count()
    );
}

/// `commits claim` killed at random moments: every `in_progress` row afterwards is a SHA some
/// claimer printed.
#[test]
fn a_killed_claimer_leaves_no_claim_it_did_not_print() {
    let Some(pg) = PgInstance::start_or_skip("a_killed_claimer_leaves_no_claim") else {
        return;
    };
    let url = pg.create_database("perf").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (repo, shas) = commit_repo(dir.path(), 40);
    let config = dir.path().join("config.json");
    std::fs::write(&config, json!([{"commands": ["SET"]}]).to_string()).unwrap();
    let mut printed = std::collections::HashSet::new();
    let claim = |i: u64| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"))
            .env_remove("RUST_LOG")
            .args([
                "commits",
                "claim",
                "--db",
                &url,
                "--runner-id",
                &format!("r{i}"),
            ])
            .args(["--config-file", config.to_str().unwrap()])
            .args([
                "--repo",
                repo.to_str().unwrap(),
                "--branch",
                "main",
                "--max-commits",
                "1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a whole claim takes here, to spread the kill points over its life (start,
    // connect, migrate, claim, print, commit, exit).
    let started = Instant::now();
    let mut first = claim(100);
    first.wait().unwrap();
    let whole = started.elapsed();
    let mut out = String::new();
    first
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    printed.extend(out.lines().map(str::to_owned));
    let mut kills = 0;
    for i in 0..36u64 {
        let mut child = claim(i);
        // Kill points from 0 to 120 % of a claim's time, in a fixed scattered order.
        std::thread::sleep(whole.mul_f64(((i * 17) % 36) as f64 / 30.0));
        if nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .is_ok()
        {
            kills += 1;
        }
        child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        printed.extend(out.lines().map(str::to_owned));
    }
    let out = vp(&url)
        .args([
            "commits",
            "query",
            "--status",
            "in_progress",
            "--format",
            "json",
        ])
        .args(["--config-file", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let claimed: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sha"].as_str().unwrap())
        .collect();
    let orphans: Vec<&&str> = claimed.iter().filter(|s| !printed.contains(**s)).collect();
    eprintln!(
        "{kills} kills: {} claims, {} SHAs printed, orphans {orphans:?}",
        claimed.len(),
        printed.len()
    );
    assert!(orphans.is_empty(), "claimed but never printed: {orphans:?}");
    assert!(
        claimed.len() > 1,
        "no kill landed after a claim: {claimed:?}"
    );
    assert!(shas.len() == 40);
}
