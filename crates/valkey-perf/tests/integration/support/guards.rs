//! Free ports, polling with a deadline, and guards around what a test starts itself (a child
//! process, a `valkey-server`, a cluster): each is killed and reaped on drop, so a failing
//! assertion never leaks it.

use super::fixtures::cluster_topology;
use super::resp::Resp;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use valkey_perf::server::{Deployment, StartOptions};

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
                urandom_seed: None,
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
