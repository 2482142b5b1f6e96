//! Bad and hostile input to the binary: secrets never shown, libpq connection strings taken
//! as PostgreSQL, the options of a command group accepted after its subcommand, config
//! values bounded before anything is allocated, upstream's config shapes accepted as upstream
//! accepts them, push streaming large files, and the dashboard server answering while
//! other connections stay idle.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn valkey_perf() -> Command {
    Command::cargo_bin("valkey-perf").unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PASSWORD: &str = "S3cr/etPW";

#[test]
fn help_never_shows_the_database_password_from_the_environment() {
    for command in [
        &["push", "--help"][..],
        &["dashboard", "--help"],
        &["detect-regression", "--help"],
        &["commits", "--help"],
        &["commits", "claim", "--help"],
    ] {
        let out = valkey_perf()
            .args(command)
            .env(
                "VALKEY_PERF_DB",
                format!("postgres://u:{PASSWORD}@db.example/perf"),
            )
            .output()
            .unwrap();
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(out.status.success(), "{command:?}: {all}");
        assert!(
            all.contains("VALKEY_PERF_DB"),
            "{command:?} names the variable: {all}"
        );
        assert!(
            !all.contains(PASSWORD),
            "{command:?} shows the password: {all}"
        );
        assert!(
            !all.contains("db.example"),
            "{command:?} shows the value: {all}"
        );
    }
}

/// A results directory holding one real metrics.json.
fn results_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("upstream/run-a-metrics.json"),
        dir.path().join("metrics.json"),
    )
    .unwrap();
    dir
}

#[test]
fn a_libpq_connection_string_is_postgres_and_its_password_is_never_printed() {
    let results = results_dir();
    let cwd = tempfile::tempdir().unwrap();
    // Port 1 on the loopback: nothing listens, so the connection is refused at once.
    for db in [
        format!("host=127.0.0.1 port=1 user=u password={PASSWORD} dbname=perf sslmode=disable"),
        format!("postgres://u:{PASSWORD}@127.0.0.1:1/perf?sslmode=disable"),
    ] {
        let out = valkey_perf()
            .current_dir(cwd.path())
            .args(["push", "--db", &db, "--results-dir"])
            .arg(results.path())
            .output()
            .unwrap();
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(!out.status.success(), "{db}: nothing listens there: {all}");
        assert!(
            all.contains("PostgreSQL"),
            "{db}: taken as PostgreSQL: {all}"
        );
        assert!(
            !all.contains(PASSWORD),
            "{db}: the password is shown: {all}"
        );
        assert!(
            !all.contains("S3cr"),
            "{db}: part of the password is shown: {all}"
        );
    }
    let created: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(created.is_empty(), "no SQLite file is created: {created:?}");
}

#[test]
fn database_options_are_taken_after_the_commits_subcommand_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("commits.db");
    let config = dir.path().join("c.json");
    std::fs::write(&config, "[]").unwrap();
    // `--db` after `query`, as users type it; the same query with it before gives the same.
    let after = valkey_perf()
        .args(["commits", "query", "--db"])
        .arg(&db)
        .args(["--table", "core", "--format", "json", "--config-file"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(after.status.success(), "{}", text(&after.stderr));
    assert!(
        db.is_file(),
        "the database named after the subcommand is used"
    );
    let before = valkey_perf()
        .args(["commits", "--db"])
        .arg(&db)
        .args(["query", "--format", "json", "--config-file"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(before.status.success(), "{}", text(&before.stderr));
    assert_eq!(text(&after.stdout), text(&before.stdout));
    let claim = valkey_perf()
        .args(["commits", "claim", "--help"])
        .output()
        .unwrap();
    assert!(
        text(&claim.stdout).contains("--db <URL>"),
        "{}",
        text(&claim.stdout)
    );
}
