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

/// `config validate` of `config` (JSON), as `(success, stdout, stderr)`.
fn validate(config: &serde_json::Value) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let out = valkey_perf()
        .args(["config", "validate"])
        .arg(&path)
        .output()
        .unwrap();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Upstream's minimal valid config of the basic shape (its required keys).
fn upstream_minimal() -> serde_json::Value {
    serde_json::json!({"requests": [1000], "keyspacelen": [100], "data_sizes": [16],
        "pipelines": [1], "clients": [1], "commands": ["SET"], "cluster_mode": "no",
        "tls_mode": "no", "warmup": 0})
}

/// Upstream's `TestCustomServerConfigFileValidation`, replayed on the binary.
#[test]
fn custom_server_config_file_in_the_basic_shape_is_accepted_as_upstream_does() {
    let mut config = upstream_minimal();
    config["custom-server-config-file"] = "/etc/valkey/extra.conf".into();
    let (ok, stdout, stderr) = validate(&serde_json::json!([config]));
    assert!(ok, "test_valid_string_path: {stderr}");
    assert!(stdout.contains("is valid: 1 case"), "{stdout}");
    for bad in [
        serde_json::json!(42),
        serde_json::json!(["/path"]),
        serde_json::json!({"path": "x"}),
        serde_json::Value::Null,
        serde_json::json!(true),
    ] {
        let mut config = upstream_minimal();
        config["custom-server-config-file"] = bad.clone();
        let (ok, _, stderr) = validate(&serde_json::json!([config]));
        assert!(!ok, "test_reject_non_string {bad}");
        assert!(
            stderr.contains("`custom-server-config-file`: value")
                && stderr.contains("is not a file path"),
            "{bad}: {stderr}"
        );
    }
}

/// A `test_groups` config carrying keys of the basic shape, as upstream's configs do.
#[test]
fn basic_keys_in_a_test_groups_config_are_accepted_with_a_warning() {
    let (ok, stdout, stderr) = validate(&serde_json::json!([{
        "keyspacelen": 100, "data_sizes": [16], "pipelines": [1], "clients": [10],
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "g", "type": "read", "command": "GET key:__rand_int__", "requests": 100}]}]
    }]));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("is valid: 1 case"), "{stdout}");
    assert!(
        stderr.contains("`data_sizes` ([16]) does not apply to the `test_groups` shape and is ignored: in the `test_groups` shape set `data_size` per scenario"),
        "{stderr}"
    );
}

/// Upstream's `TestNormalizeMixedConfigs::test_sub_scenario_duration_overrides_parent` on a
/// real server: the write stream stops at its own 1 s, the read stream runs the scenario's
/// 3 s, and each record says its own bound; a request-bounded stream stops at its count.
#[test]
fn mixed_streams_run_to_their_own_bounds() {
    let Some(bins) = crate::support::Bins::get() else {
        return;
    };
    let server = crate::support::ServerGuard::start(&bins.new);
    let scratch = crate::support::Scratch::new();
    let config = scratch.config(&serde_json::json!([{
        "keyspacelen": 1000,
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "j", "type": "mixed", "duration": 3,
             "writes": [{"id": "w1", "command": "SET key:__rand_int__ v", "duration": 1}],
             "reads": [{"id": "r1", "command": "GET key:__rand_int__"}]},
            {"id": "n", "type": "mixed", "requests": 5000,
             "writes": [{"id": "w1", "command": "SET key:__rand_int__ v", "requests": 300}],
             "reads": [{"id": "r1", "command": "GET key:__rand_int__"}]}
        ]}]
    }]));
    scratch.run_against(&config, server.port).assert().success();
    let records = scratch.records();
    let w = crate::support::record(&records, "1_j_write_w1");
    let r = crate::support::record(&records, "1_j_read_r1");
    assert_eq!(
        (w["duration"].as_u64(), r["duration"].as_u64()),
        (Some(1), Some(3))
    );
    let (we, re) = (
        w["elapsed_s"].as_f64().unwrap(),
        r["elapsed_s"].as_f64().unwrap(),
    );
    assert!((0.9..2.0).contains(&we), "write window {we} s");
    assert!((2.9..4.0).contains(&re), "read window {re} s");
    let w = crate::support::record(&records, "1_n_write_w1");
    let r = crate::support::record(&records, "1_n_read_r1");
    assert_eq!(
        (w["requests"].as_u64(), r["requests"].as_u64()),
        (Some(300), Some(5000))
    );
    assert_eq!(w["requests_completed"].as_u64(), Some(300), "{w}");
    assert_eq!(r["requests_completed"].as_u64(), Some(5000), "{r}");
}

/// `dashboard --serve` on a fresh SQLite database: the child (in its own process group) and
/// the address it serves.
fn serve_dashboard(dir: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"))
        .args(["dashboard", "--serve", "127.0.0.1:0", "--db"])
        .arg(format!("sqlite:{}", dir.join("perf.db").display()))
        .arg("--output")
        .arg(dir.join("dashboard.html"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    (child, addr)
}

/// 50 connections that send nothing and one that sends a byte every 4 s do not keep a normal
/// `GET /` from being answered: it is answered within one connection's deadline (10 s).
#[test]
fn the_dashboard_server_answers_while_other_connections_idle() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve_dashboard(dir.path());
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let result = std::panic::catch_unwind(|| {
        let idle: Vec<TcpStream> = (0..50)
            .map(|_| TcpStream::connect(&addr).unwrap())
            .collect();
        let mut drip = TcpStream::connect(&addr).unwrap();
        let dripping = std::thread::spawn(move || {
            for b in b"GET / HTTP/1.1\r\n" {
                if drip.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(4));
            }
        });
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut page = String::new();
        let read = s.read_to_string(&mut page);
        assert!(read.is_ok(), "GET / was not answered within 10 s: {read:?}");
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("</html>"), "the whole page: {page}");
        drop(idle);
        drop(dripping);
    });
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let status = child.wait().unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    assert_eq!(status.code(), Some(130), "SIGTERM stops the server");
}

/// A 700-byte config whose four lists hold 1..200 each (1.6 × 10⁹ cases) is refused at once,
/// naming the lists and the limit, without building a case; values past their bound are
/// refused naming the key, the value given and the limit; a data set that never ends is not
/// read.
#[test]
fn unbounded_inputs_are_refused_before_anything_is_allocated() {
    let list: Vec<u64> = (1..=200).collect();
    let (ok, _, stderr) = validate(&serde_json::json!([{"requests": list, "keyspacelen": list,
        "data_sizes": list, "pipelines": list, "commands": ["SET"]}]));
    assert!(!ok);
    assert!(
        stderr.contains("expands into 1600000000 cases (`requests` 200 × `keyspacelen` 200 × `data_sizes` 200 × `pipelines` 200); a config file may hold at most 100000 cases"),
        "{stderr}"
    );
    let max = u64::MAX;
    for (key, value, want) in [
        (
            "data_sizes",
            serde_json::json!([9223372036854775807u64]),
            "value 9223372036854775807 is too large; use at most 536870912",
        ),
        (
            "clients",
            serde_json::json!([max]),
            "is too large; use at most 10000",
        ),
        (
            "warmup",
            serde_json::json!(max),
            "is too large; use at most 86400",
        ),
    ] {
        let mut config = upstream_minimal();
        config[key] = value;
        let (ok, _, stderr) = validate(&serde_json::json!([config]));
        assert!(!ok, "{key}");
        assert!(
            stderr.contains(&format!("`{key}`: ")) && stderr.contains(want),
            "{key}: {stderr}"
        );
    }
    let mut config = upstream_minimal();
    config.as_object_mut().unwrap().remove("requests");
    config["duration"] = max.into();
    let (ok, _, stderr) = validate(&serde_json::json!([config]));
    assert!(
        !ok && stderr.contains(&format!(
            "`duration`: value {max} is too large; use at most 86400 (24 hours)"
        )),
        "{stderr}"
    );
    let (ok, _, stderr) = validate(
        &serde_json::json!([{"test_groups": [{"group": 1, "scenarios": [
        {"id": "d", "type": "read", "command": "GET k", "dataset": "/dev/zero"}]}]}]),
    );
    assert!(
        !ok && stderr.contains("`/dev/zero` is not a regular file"),
        "{stderr}"
    );
    let out = valkey_perf()
        .args(["config", "validate", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("larger than 16 MiB"),
        "{}",
        text(&out.stderr)
    );
}

/// The config messages say what is wrong: the value given, the nesting limit, no far-fetched
/// suggestion.
#[test]
fn config_messages_name_the_value_given_and_the_real_problem() {
    let max = u64::MAX;
    let mut config = upstream_minimal();
    config["cluster_mode"] = "yes".into();
    config["cluster_nodes"] = max.into();
    let (_, _, stderr) = validate(&serde_json::json!([config]));
    assert!(
        stderr.contains(&format!(
            "`cluster_nodes`: value {max} is too large; use at most 1000"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("4294967295"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("deep.json");
    std::fs::write(&deep, format!("[{}{}]", "[".repeat(200), "]".repeat(200))).unwrap();
    let out = valkey_perf()
        .args(["config", "validate"])
        .arg(&deep)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("nested too deeply") && stderr.contains("at most 128 levels"),
        "{stderr}"
    );
    assert!(!stderr.contains("not valid JSON"), "{stderr}");

    let (_, _, stderr) = validate(&serde_json::json!([{"foo": 1, "keyspacelen": 100,
        "test_groups": [{"group": 1, "scenarios": [{"id": "a", "type": "read", "command": "GET k"}]}]}]));
    assert!(stderr.contains("`foo`: unknown key"), "{stderr}");
    assert!(!stderr.contains("did you mean"), "{stderr}");
}

/// A large file is pushed in batches, still as one file: a bad record after the first batch
/// leaves nothing of it, the good files beside it are pushed (exit 5: some were), and a second
/// push adds nothing.
#[test]
fn a_file_pushed_in_batches_is_stored_whole_or_not_at_all() {
    let results = tempfile::tempdir().unwrap();
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("upstream/run-a-metrics.json")).unwrap(),
    )
    .unwrap();
    let record = |i: usize| {
        let mut r = template[0].clone();
        r["timestamp"] = format!("2026-11-27T17:{:02}:{:02}Z", i / 60 % 60, i % 60).into();
        r
    };
    let good: Vec<_> = (0..2500).map(record).collect();
    let mut bad = good.clone();
    bad[1500]["commit"] = serde_json::Value::Null;
    for (dir, records) in [("a", &good), ("b", &bad)] {
        std::fs::create_dir(results.path().join(dir)).unwrap();
        std::fs::write(
            results.path().join(dir).join("metrics.json"),
            serde_json::to_string(records).unwrap(),
        )
        .unwrap();
    }
    let db = format!("sqlite:{}", results.path().join("perf.db").display());
    let push = || {
        valkey_perf()
            .args(["push", "--db", &db, "--results-dir"])
            .arg(results.path())
            .output()
            .unwrap()
    };
    let out = push();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stdout.contains("a/metrics.json: inserted 2500, 0 already present"),
        "{stdout}"
    );
    assert!(
        stderr.contains("b/metrics.json: nothing from this file was pushed")
            && stderr.contains("record 1500"),
        "{stderr}"
    );
    assert!(stderr.contains("2500 rows inserted"), "{stderr}");
    let again = push();
    assert!(text(&again.stdout).contains("a/metrics.json: inserted 0, 2500 already present"));
}
