//! `valkey-perf run` against running servers that require authentication: a `requirepass`
//! server, an ACL user (with the default user switched off, so every connection must
//! authenticate), and a cluster whose nodes require a password. Right credentials work for
//! the load and every control connection (seeding, INFO, FLUSHALL, CONFIG SET, CLUSTER);
//! wrong or missing ones are a usage error (exit 2) before anything runs; the password is in
//! no file under `results/` and in no process's command line while the run goes on.

use crate::support::{
    Bins, ChildGuard, PASSWORD_ENV, Resp, Scratch, ServerGuard, TestCluster, wait_for,
};
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A password no file or command line holds before the test makes it up.
fn secret(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{nanos:x}-{}", std::process::id())
}

/// A GET (seeded through a control connection) and a SADD case, with a `config_sets`
/// bundle so CONFIG SET runs on the server too.
fn config(scratch: &Scratch, requests: u64) -> std::path::PathBuf {
    scratch.config(&json!([{
        "requests": [requests],
        "keyspacelen": [1000],
        "data_sizes": [16],
        "pipelines": [4],
        "clients": [4],
        "commands": ["GET", "SADD"],
        "config_sets": [{"maxmemory-policy": "allkeys-lru"}],
        "warmup": 0
    }]))
}

/// `valkey-perf run --use-running-server` (native engine), in its own process group, with
/// the password (if any) in `VALKEY_PERF_PASSWORD` only.
fn run_command(scratch: &Scratch, config: &Path, port: u16, password: Option<&str>) -> Command {
    let mut cmd = scratch.run_against_std(config, port);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = password {
        cmd.env(PASSWORD_ENV, p);
    }
    cmd
}

/// What one command did: its exit code, its stderr, and the processes whose command line
/// held `secret` at some point while it ran.
struct Outcome {
    code: i32,
    stderr: String,
    leaked_into: Vec<String>,
}

/// Runs `cmd` to its end, scanning every process's command line for `secret` meanwhile.
fn run_watching(cmd: Command, secret: &str) -> Outcome {
    let mut guard = ChildGuard::spawn(cmd);
    let mut stderr = guard.child.stderr.take().unwrap();
    let mut stdout = guard.child.stdout.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut leaked_into = Vec::new();
    let status = wait_for("valkey-perf to finish", Duration::from_secs(120), || {
        leaked_into.extend(cmdlines_holding(secret));
        guard.child.try_wait().unwrap()
    });
    let stderr = err_reader.join().unwrap();
    let _ = out_reader.join();
    leaked_into.sort();
    leaked_into.dedup();
    Outcome {
        code: status.code().unwrap_or(-1),
        stderr,
        leaked_into,
    }
}

/// `pid: command line` of every process whose command line holds `secret`.
fn cmdlines_holding(secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
        if text.contains(secret) {
            found.push(format!("{pid}: {text}"));
        }
    }
    found
}

/// Files below `dir` whose bytes hold `secret`.
fn files_holding(dir: &Path, secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, secret));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// A successful run with the right credentials: records written, the load and the seeding
/// reached the server, the password nowhere.
fn assert_runs_with(scratch: &Scratch, port: u16, client: &mut Resp, user: Option<&str>, pw: &str) {
    let requests = 20_000;
    let config = config(scratch, requests);
    client
        .call(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .unwrap();
    client.call(&["CONFIG", "RESETSTAT"]).unwrap();
    let mut cmd = run_command(scratch, &config, port, Some(pw));
    if let Some(u) = user {
        cmd.args(["--user", u]);
    }
    let out = run_watching(cmd, pw);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert!(
        out.leaked_into.is_empty(),
        "the password was on a command line: {:?}",
        out.leaked_into
    );
    let recs = scratch.records();
    assert_eq!(recs.len(), 2, "{recs:?}");
    // Seeding (1000 SETs over a control connection) and the measured GETs and SADDs.
    assert_eq!(client.calls("set"), 1000);
    assert_eq!(client.calls("get"), requests);
    assert_eq!(client.calls("sadd"), requests);
    // FLUSHALL before each run and CONFIG SET of the bundle: both authenticated.
    assert!(client.calls("flushall") >= 2);
    assert!(client.calls("config|set") >= 2);
    let hits = client.info_u64("stats", "keyspace_hits");
    assert!(
        hits >= requests,
        "GETs missed their seeded keys: {hits} hits"
    );
    let leaks = files_holding(&scratch.results(), pw);
    assert!(leaks.is_empty(), "the password is in {leaks:?}");
    assert!(!out.stderr.contains(pw));
}

/// A run that must fail before anything runs: exit 2, stderr holding `fragments` and not the
/// password, no records.
fn assert_refused(scratch: &Scratch, cmd: Command, pw: &str, fragments: &[&str]) {
    let out = run_watching(cmd, pw);
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    for f in fragments {
        assert!(
            out.stderr.contains(f),
            "stderr lacks `{f}`:\n{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains(pw), "stderr holds the password");
    assert!(out.leaked_into.is_empty(), "{:?}", out.leaked_into);
    assert!(
        !scratch
            .results()
            .join("running-server/metrics.json")
            .exists(),
        "a refused run wrote records"
    );
}

#[test]
fn running_server_with_requirepass() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let pw = secret("requirepass");
    let mut client = Resp::connect(server.port).unwrap();
    // Set at run time, so the password is not on the server's own command line either.
    client.call(&["CONFIG", "SET", "requirepass", &pw]).unwrap();
    let addr = format!("`127.0.0.1:{}`", server.port);

    let scratch = Scratch::new();
    let cfg = config(&scratch, 2000);
    // No password: the server says NOAUTH; the error says how to give one.
    assert_refused(
        &scratch,
        run_command(&scratch, &cfg, server.port, None),
        &pw,
        &[&addr, "requires authentication", "VALKEY_PERF_PASSWORD"],
    );
    // A wrong password.
    let wrong = secret("wrong");
    assert_refused(
        &scratch,
        run_command(&scratch, &cfg, server.port, Some(&wrong)),
        &wrong,
        &[&format!("authentication at {addr} failed"), "WRONGPASS"],
    );
    // The valkey-benchmark engine would need the password on its command line: refused.
    let mut bench = run_command(&scratch, &cfg, server.port, Some(&pw));
    bench.args(["--valkey-benchmark-path", crate::support::REDIS_BENCHMARK]);
    assert_refused(
        &scratch,
        bench,
        &pw,
        &["valkey-benchmark engine", "--engine native"],
    );

    let scratch = Scratch::new();
    assert_runs_with(&scratch, server.port, &mut client, None, &pw);
}

#[test]
fn running_server_with_an_acl_user() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let pw = secret("acl");
    let mut admin = Resp::connect(server.port).unwrap();
    admin
        .call(&[
            "ACL",
            "SETUSER",
            "bench",
            "on",
            &format!(">{pw}"),
            "~*",
            "&*",
            "+@all",
        ])
        .unwrap();
    admin.call(&["AUTH", "bench", &pw]).unwrap();
    // Without AUTH as `bench`, no connection may do anything.
    admin.call(&["ACL", "SETUSER", "default", "off"]).unwrap();
    let mut client = Resp::connect(server.port).unwrap();
    client.call(&["AUTH", "bench", &pw]).unwrap();

    let scratch = Scratch::new();
    let cfg = config(&scratch, 2000);
    let mut wrong_user = run_command(&scratch, &cfg, server.port, Some(&pw));
    wrong_user.args(["--user", "nobody"]);
    assert_refused(
        &scratch,
        wrong_user,
        &pw,
        &["for user `nobody`", "WRONGPASS", "--user"],
    );
    let wrong = secret("wrong");
    let mut wrong_pw = run_command(&scratch, &cfg, server.port, Some(&wrong));
    wrong_pw.args(["--user", "bench"]);
    assert_refused(&scratch, wrong_pw, &wrong, &["for user `bench`"]);
    let mut no_pw = run_command(&scratch, &cfg, server.port, None);
    no_pw.args(["--user", "bench"]);
    assert_refused(
        &scratch,
        no_pw,
        &pw,
        &["--user `bench` needs a password", "VALKEY_PERF_PASSWORD"],
    );

    let scratch = Scratch::new();
    assert_runs_with(&scratch, server.port, &mut client, Some("bench"), &pw);
}

#[test]
fn running_cluster_with_a_password() {
    let Some(bins) = Bins::get() else { return };
    let cluster = TestCluster::start(&bins.new, 0);
    let pw = secret("cluster");
    let mut nodes = Vec::new();
    for port in cluster.node_ports() {
        let mut c = Resp::connect(port).unwrap();
        c.call(&["CONFIG", "SET", "requirepass", &pw]).unwrap();
        c.call(&["CONFIG", "RESETSTAT"]).unwrap();
        nodes.push(c);
    }
    let seed = cluster.port();
    let scratch = Scratch::new();
    let requests = 6000;
    let cfg = scratch.config(&json!([{
        "requests": [requests], "keyspacelen": [3000], "data_sizes": [16], "pipelines": [4],
        "clients": [6], "commands": ["GET"], "cluster_mode": "yes", "warmup": 0
    }]));
    let mut cmd = run_command(&scratch, &cfg, seed, Some(&pw));
    cmd.arg("--cluster");
    let out = run_watching(cmd, &pw);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert!(out.leaked_into.is_empty(), "{:?}", out.leaked_into);
    // Every primary was flushed, seeded and loaded through authenticated connections.
    let (mut gets, mut sets) = (0, 0);
    for c in &mut nodes {
        assert!(c.calls("flushall") >= 1);
        gets += c.calls("get");
        sets += c.calls("set");
    }
    assert_eq!(gets, requests);
    assert_eq!(sets, 3000);
    assert!(files_holding(&scratch.results(), &pw).is_empty());
}
