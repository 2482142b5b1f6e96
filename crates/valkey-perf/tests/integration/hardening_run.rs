//! `run` and `loadgen` under hostile conditions, with real processes: two invocations writing
//! into one results directory, Ctrl-C and `--run-timeout` during a multi-million-key seed, a
//! server that sleeps (`DEBUG SLEEP`), a SIGKILLed invocation whose data dir the next one
//! sweeps, stdout closed early, an HTTP listener where a server should be, flags that make no
//! run, and the open-files limit.

use crate::support::{
    Bins, ChildGuard, Resp, Scratch, ServerGuard, assert_no_server_left, pid_in_server_log,
    server_logs, small_object, wait_for,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The pids named in the server logs below `results`.
fn logged_pids(results: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(results) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| server_logs(&e.path()))
        .filter_map(|log| pid_in_server_log(&log))
        .collect()
}

/// Sends `signal` to the process `pid` (a child this test spawned).
fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).unwrap();
}

/// A `valkey-perf run` child against the running server at `port`, stdout and stderr into
/// files of the scratch area.
fn spawn_against(scratch: &Scratch, config: &Path, port: u16, extra: &[&str]) -> ChildGuard {
    let mut cmd = scratch.run_against_std(config, port);
    cmd.args(["--engine", "native"]).args(extra);
    redirect(&mut cmd, scratch);
    ChildGuard::spawn(cmd)
}

/// `valkey-perf run` with the native engine, starting `server` binaries, in the scratch
/// area (its results dir, its private TMPDIR).
fn native_run(scratch: &Scratch, config: &Path, server: &Path) -> Command {
    native_run_into(scratch, config, server, &scratch.results())
}

/// [`native_run`] with another results dir.
fn native_run_into(scratch: &Scratch, config: &Path, server: &Path, results: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"));
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .args(["run", "--engine", "native", "--config"])
        .arg(config)
        .arg("--results-dir")
        .arg(results)
        .arg("--server-bin")
        .arg(server);
    cmd
}

/// A free TCP port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redirect(cmd: &mut Command, scratch: &Scratch) {
    let file = |name: &str| Stdio::from(std::fs::File::create(scratch.path().join(name)).unwrap());
    cmd.stdout(file("stdout.txt")).stderr(file("stderr.txt"));
}

fn output(scratch: &Scratch, name: &str) -> String {
    std::fs::read_to_string(scratch.path().join(name)).unwrap_or_default()
}

/// The number of keys in the server at `port`.
fn dbsize(port: u16) -> u64 {
    Resp::connect(port)
        .and_then(|mut c| c.call(&["DBSIZE"]))
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Two `run`s into one `--results-dir` at the same time keep every record (they append
/// under a lock, re-reading the file), where each used to rewrite the file from its own list.
#[test]
fn two_concurrent_runs_into_one_results_dir_keep_every_record() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_object(json!({
        "requests": [2000], "commands": ["SET", "GET"]
    }))]));
    let spawn = |i: usize| {
        let mut cmd = native_run(&scratch, &config, &bins.new);
        cmd.args(["--runs", "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(scratch.path().join(format!("stderr{i}.txt"))).unwrap(),
            ))
            .process_group(0);
        ChildGuard::spawn(cmd)
    };
    let mut a = spawn(1);
    let mut b = spawn(2);
    for (child, i) in [(&mut a, 1), (&mut b, 2)] {
        let status = child.wait(Duration::from_secs(60));
        assert!(
            status.success(),
            "run {i}: {status:?}\n{}",
            output(&scratch, &format!("stderr{i}.txt"))
        );
    }
    assert_eq!(
        scratch.records().len(),
        16,
        "2 invocations × 4 runs × 2 cases must all be in metrics.json"
    );
    assert_no_server_left(&bins.new, &logged_pids(&scratch.results()), scratch.path());
}

/// Ctrl-C while millions of keys are seeded into a running server stops the run within
/// a second or two (exit 130), where seeding used to go on to the end.
#[test]
fn sigint_during_a_multi_million_key_seed_stops_within_two_seconds() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_object(json!({
        "keyspacelen": [20_000_000], "commands": ["GET"]
    }))]));
    let mut child = spawn_against(&scratch, &config, server.port, &[]);
    wait_for("seeding to start", Duration::from_secs(30), || {
        (dbsize(server.port) > 1000).then_some(())
    });
    let sent = Instant::now();
    signal(child.pid(), Signal::SIGINT);
    let status = child.wait(Duration::from_secs(10));
    let waited = sent.elapsed();
    let stderr = output(&scratch, "stderr.txt");
    assert_eq!(status.code(), Some(130), "{status:?}\n{stderr}");
    assert!(
        waited < Duration::from_secs(2),
        "exit {waited:?} after SIGINT\n{stderr}"
    );
    assert!(dbsize(server.port) < 20_000_000, "seeding ran to the end");
}

/// `--run-timeout` covers seeding: a 20 M-key seed stops at the timeout with a message
/// that says how far it got and what to change.
#[test]
fn run_timeout_bounds_seeding() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_object(json!({
        "keyspacelen": [20_000_000], "commands": ["GET"]
    }))]));
    let started = Instant::now();
    let mut child = spawn_against(&scratch, &config, server.port, &["--run-timeout", "2"]);
    let status = child.wait(Duration::from_secs(20));
    let stderr = output(&scratch, "stderr.txt");
    assert_eq!(status.code(), Some(5), "{status:?}\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}\n{stderr}",
        started.elapsed()
    );
    assert!(
        stderr.contains("seeding with SET did not finish within --run-timeout"),
        "{stderr}"
    );
}

/// A `valkey-server` with `DEBUG` enabled, in its own process group, killed on drop.
fn debug_server(binary: &Path, dir: &Path) -> (ChildGuard, u16) {
    let port = free_port();
    let mut cmd = Command::new(binary);
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "yes",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let guard = ChildGuard::spawn(cmd);
    wait_for(
        "the DEBUG server to answer PING",
        Duration::from_secs(20),
        || {
            Resp::connect(port)
                .and_then(|mut c| c.call(&["PING"]))
                .ok()
                .filter(|r| r == "PONG")
        },
    );
    (guard, port)
}

/// A live server that sleeps (`DEBUG SLEEP 30`) during a run with `--run-timeout 3`
/// fails the run at the timeout, named as unresponsive, not dead (it used to take about 4×
/// the timeout and say "the server died ... os error 11"); stdout names no metrics.json,
/// since no record was written.
#[test]
fn debug_sleep_with_run_timeout_is_reported_as_unresponsive_in_time() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let data = tempfile::tempdir().unwrap();
    let (_server, port) = debug_server(&bins.new, data.path());
    let config = scratch.config(&json!([small_object(json!({
        "requests": [50_000_000], "commands": ["SET"]
    }))]));
    let mut child = spawn_against(&scratch, &config, port, &["--run-timeout", "3"]);
    wait_for("the load to start", Duration::from_secs(20), || {
        (dbsize(port) > 0).then_some(())
    });
    let started = Instant::now();
    // Sent without waiting for the reply: the server is busy for 30 s; it is killed with the
    // guard at the end of the test.
    let mut sleeper = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sleeper
        .write_all(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$2\r\n30\r\n")
        .unwrap();
    let status = child.wait(Duration::from_secs(30));
    let took = started.elapsed();
    let stderr = output(&scratch, "stderr.txt");
    assert_eq!(status.code(), Some(5), "{status:?}\n{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}\n{stderr}");
    assert!(stderr.contains("alive but unresponsive"), "{stderr}");
    assert!(
        !stderr.contains("died") && !stderr.contains("os error 11"),
        "{stderr}"
    );
    let stdout = output(&scratch, "stdout.txt");
    assert!(!stdout.contains("metrics.json"), "stdout: {stdout}");
}

/// After a SIGKILLed invocation, its server's data dir stays in the temp folder; the
/// next invocation removes it (its owner is gone).
#[test]
fn the_next_invocation_sweeps_the_data_dir_of_a_sigkilled_one() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let long = scratch.config(&json!([small_object(json!({
        "requests": [50_000_000], "commands": ["SET"]
    }))]));
    let mut cmd = native_run(&scratch, &long, &bins.new);
    cmd.process_group(0);
    redirect(&mut cmd, &scratch);
    let mut child = ChildGuard::spawn(cmd);
    let left = wait_for("a marked data dir", Duration::from_secs(20), || {
        let dir = std::fs::read_dir(scratch.tmp())
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("valkey-perf.owner").exists())?;
        Some(dir)
    });
    let pids = wait_for("the server's banner", Duration::from_secs(20), || {
        let pids = logged_pids(&scratch.results());
        (!pids.is_empty()).then_some(pids)
    });
    signal(child.pid(), Signal::SIGKILL);
    child.wait(Duration::from_secs(10));
    // The server dies with its parent (parent-death signal).
    wait_for(
        "the server to die with valkey-perf",
        Duration::from_secs(10),
        || {
            pids.iter()
                .all(|p| !crate::support::is_running_binary(*p, &bins.new))
                .then_some(())
        },
    );
    assert!(left.exists(), "the killed run's data dir is there to sweep");

    let short = scratch.config(&json!([small_object(json!({"commands": ["SET"]}))]));
    let out = native_run(&scratch, &short, &bins.new).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!left.exists(), "`{}` was not swept", left.display());
    scratch.assert_no_tmp_leftovers();
    assert_no_server_left(&bins.new, &logged_pids(&scratch.results()), scratch.path());
}

/// `run --dry-run` whose stdout reader is gone (`| head -1`) exits normally instead of
/// panicking with exit 101.
#[test]
fn dry_run_into_a_closed_pipe_does_not_panic() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_object(json!({
        "commands": ["SET", "GET", "INCR", "LPUSH"]
    }))]));
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"))
        .args(["run", "--dry-run", "--engine", "native", "--config"])
        .arg(&config)
        .arg("--results-dir")
        .arg(scratch.results())
        .arg("--server-bin")
        .arg(&bins.new)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the plan is printed.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A listener that answers every connection the way a web server answers bytes it does not
/// understand, until the test ends.
fn http_listener() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 400 Bad Request\nContent-Type: text/html\n\n<html>bad request</html>\n",
            );
        }
    });
    port
}

/// An HTTP server where a Valkey server should be is named as such, by `run` and by
/// `loadgen` (not "RESP protocol error at byte 15: bare LF in line"); `run` finds it before
/// any case (exit 4, as a server that does not answer) and its stdout names no metrics.json,
/// since nothing was written.
#[test]
fn an_http_listener_on_the_port_is_named_not_a_valkey_server() {
    let port = http_listener();
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_object(json!({"commands": ["SET"]}))]));
    let out = scratch
        .run_against(&config, port)
        .args(["--engine", "native"])
        .assert()
        .code(4);
    let stderr = crate::support::stderr_of(&out);
    assert!(stderr.contains("it is not a Valkey server"), "{stderr}");
    assert!(!stderr.contains("bare LF"), "{stderr}");
    assert!(stderr.contains("nothing was run"), "{stderr}");
    let stdout = crate::support::stdout_of(&out);
    assert!(!stdout.contains("metrics.json"), "stdout: {stdout}");
    assert!(
        !scratch
            .results()
            .join("running-server/metrics.json")
            .exists()
    );

    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .args([
            "loadgen",
            "-p",
            &port.to_string(),
            "-n",
            "100",
            "-q",
            "-t",
            "set",
        ])
        .assert()
        .code(5);
    let stderr = crate::support::stderr_of(&out);
    assert!(stderr.contains("it is not a Valkey server"), "{stderr}");
    assert!(
        !crate::support::stdout_of(&out).contains("requests per second"),
        "a run that failed prints no throughput"
    );
}

/// `loadgen` flags that make no run are usage errors (exit 2) naming the flag, found
/// before anything connects (nothing listens on the port); then the port itself is a failed
/// run.
#[test]
fn loadgen_flags_that_make_no_run_are_usage_errors() {
    let port = free_port().to_string();
    let cases: [(&[&str], &str); 7] = [
        (&["-r", "0"], "`-r 0`"),
        (&["-n", "0"], "`-n 0`"),
        (&["-c", "0"], "`-c 0`"),
        (&["-P", "0"], "`-P 0`"),
        (&["--threads", "0"], "`--threads 0`"),
        (&["--rps", "0"], "`--rps 0`"),
        (&["--max-error-share", "1.5"], "`--max-error-share 1.5`"),
    ];
    for (flags, named) in cases {
        let out = assert_cmd::Command::cargo_bin("valkey-perf")
            .unwrap()
            .args(["loadgen", "-p", &port, "-t", "set", "-q"])
            .args(flags)
            .assert()
            .code(2);
        let stderr = crate::support::stderr_of(&out);
        assert!(stderr.contains(named), "{flags:?}: {stderr}");
    }
    // With good flags, a server nobody runs is a failed run (exit 5, as `run` gives), named
    // with its address, not an internal error.
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .args(["loadgen", "-p", &port, "-t", "set", "-q", "-n", "10"])
        .assert()
        .code(5);
    let stderr = crate::support::stderr_of(&out);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("Connection refused"),
        "{stderr}"
    );
}

/// Against a real server, a wrong `-a` is a usage error (exit 2) as in `run`; a run
/// whose every request failed prints no "requests per second"; a 100 KB command name is not
/// echoed whole.
#[test]
fn loadgen_against_a_server_exits_and_reports_honestly() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let port = server.port.to_string();
    let loadgen = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
        cmd.env_remove("VALKEY_PERF_PASSWORD")
            .args(["loadgen", "-p", &port, "-q"])
            .args(args);
        cmd.timeout(Duration::from_secs(30));
        cmd
    };
    let out = loadgen(&["-n", "1000", "--", "NOSUCHCMD", "x"])
        .assert()
        .code(5);
    let stdout = crate::support::stdout_of(&out);
    assert!(!stdout.contains("requests per second"), "stdout: {stdout}");
    assert!(
        crate::support::stderr_of(&out).contains("1000 of 1000 requests failed"),
        "{}",
        crate::support::stderr_of(&out)
    );

    let name = "X".repeat(100_000);
    let out = loadgen(&["-n", "10", "--", &name]).assert().code(5);
    let said = crate::support::stderr_of(&out).len() + crate::support::stdout_of(&out).len();
    assert!(said < 5_000, "{said} bytes of output for a 100 KB command");

    let mut admin = Resp::connect(server.port).unwrap();
    admin
        .call(&["CONFIG", "SET", "requirepass", "right"])
        .unwrap();
    let out = loadgen(&["-a", "wrong", "-n", "10", "-t", "set"])
        .assert()
        .code(2);
    let stderr = crate::support::stderr_of(&out);
    assert!(stderr.contains("authentication failed"), "{stderr}");
}

/// A hard open-files limit too low for the run is a usage error naming the limit and
/// the fix, before anything starts; a results dir that cannot be created is one too.
#[test]
fn an_unusable_environment_is_a_usage_error_naming_the_fix() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_object(json!({"commands": ["SET"]}))]));
    let mut cmd = native_run(&scratch, &config, &bins.new);
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the limit is 64") && stderr.contains("ulimit -n"),
        "{stderr}"
    );
    assert!(
        logged_pids(&scratch.results()).is_empty(),
        "a server was started"
    );

    // A results dir below a regular file can never be created, even by root.
    let file = scratch.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = native_run_into(&scratch, &config, &bins.new, &file.join("results"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a-file/results") && stderr.contains("nothing was started"),
        "{stderr}"
    );
}
