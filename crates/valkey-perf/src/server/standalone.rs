//! One `valkey-server` process: started on a free port with its own data dir and log file,
//! polled until it answers PING, stopped through its process group. Also the TLS probe, which
//! starts a server briefly to learn whether a binary was built with TLS.
//!
//! Owns `ServerSpec` (inert) and `ServerHandle` (the live process). May import, inside
//! `server/`, `control` (to PING), `tls` (server arguments and material) and `process`; from
//! the rest of the crate only `exit` and `model`. `cluster` and `deployment` build on it, never
//! the other way round.

use super::control::{Connector, Control};
use super::process::{ManagedChild, describe_status, interrupted};
use super::tls::{ServerTls, TlsMaterial, log_says_no_tls, no_tls_error};
use crate::exit::{Code, Failure};
use crate::model::case::CpuSet;
use anyhow::{Context, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after its start.
pub const READY_DEADLINE: Duration = Duration::from_secs(20);

/// Everything needed to start one server process (inert; see `ServerHandle` for the live one).
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// A short name for messages and the log file, e.g. `server` or `node-2`.
    pub name: String,
    pub binary: PathBuf,
    /// Address the server listens on (`127.0.0.1`, or `0.0.0.0` in `--mode server`).
    pub bind: String,
    /// Address clients use to reach it.
    pub host: String,
    /// Fixed port, or `None` for a free one chosen here.
    pub port: Option<u16>,
    pub io_threads: u32,
    pub cpus: Option<CpuSet>,
    /// `custom-server-configs`: passed as `--key value` at start.
    pub custom_configs: Vec<(String, String)>,
    /// A config file the server reads first (the command line's settings win over it).
    pub config_file: Option<PathBuf>,
    /// Extra arguments added by topologies (cluster, TLS), after the defaults.
    pub extra_args: Vec<String>,
    /// Directory the log file goes into.
    pub log_dir: PathBuf,
    /// TLS on the client port (the plaintext port is then closed).
    pub tls: Option<ServerTls>,
    /// Run under valgrind's callgrind, dumps into this directory (instructions mode).
    pub callgrind_dir: Option<PathBuf>,
    /// Instructions mode: the seed of the bytes the server reads as `/dev/urandom`, so that
    /// servers given one seed draw one hash seed (see [`super::callgrind::write_entropy`]).
    /// Ignored where [`super::callgrind::fixed_entropy`] fails.
    pub urandom_seed: Option<u64>,
}

/// A running server owned by valkey-perf. Stopped on `stop()` or drop, data dir removed.
pub struct ServerHandle {
    child: ManagedChild,
    pub name: String,
    pub host: String,
    pub port: u16,
    connector: Connector,
    data_dir: tempfile::TempDir,
}

/// Picks a free TCP port on the loopback interface.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

impl ServerSpec {
    /// The command line for this server, given its port and data dir.
    pub fn command(&self, port: u16, data_dir: &Path) -> Command {
        let mut cmd = match &self.callgrind_dir {
            Some(dir) => {
                super::callgrind::wrap(&self.binary, dir, self.entropy_file(data_dir).as_deref())
            }
            None => Command::new(&self.binary),
        };
        // The file comes first: the server reads its arguments in order, so every setting
        // valkey-perf gives after it (port, bind, dir, log file ...) wins.
        if let Some(file) = &self.config_file {
            cmd.arg(file);
        }
        match &self.tls {
            Some(tls) => cmd.args(tls.server_args(port, false)),
            None => cmd.arg("--port").arg(port.to_string()),
        };
        cmd.args(["--bind", &self.bind])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .args(["--daemonize", "no"])
            .args(["--logfile", ""])
            .arg("--dir")
            .arg(data_dir)
            .args(["--io-threads", &self.io_threads.to_string()]);
        if self.callgrind_dir.is_some() {
            // Instructions mode: the timer (serverCron) does work per second, not per request
            // (its work is counted apart as background, and once a second it hardly runs);
            // without active rehashing, tables are rehashed only by the requests, as many
            // steps whatever the window's wall time.
            cmd.args(["--hz", "1", "--dynamic-hz", "no", "--activerehashing", "no"]);
        }
        cmd.args(&self.extra_args);
        for (key, value) in &self.custom_configs {
            cmd.arg(format!("--{key}")).arg(value);
        }
        cmd
    }
}

impl ServerSpec {
    /// Where the server's own `/dev/urandom` lies (in its data dir), when it gets one.
    fn entropy_file(&self, data_dir: &Path) -> Option<PathBuf> {
        (self.callgrind_dir.is_some()
            && self.urandom_seed.is_some()
            && super::callgrind::fixed_entropy().is_ok())
        .then(|| data_dir.join("urandom"))
    }
}

impl ServerHandle {
    /// Starts the server and waits until it answers PING (exit code 4 on failure, with the
    /// log's tail).
    pub fn start(spec: &ServerSpec) -> Result<ServerHandle> {
        std::fs::create_dir_all(&spec.log_dir)
            .with_context(|| format!("creating `{}`", spec.log_dir.display()))?;
        let connector = Connector::new(spec.tls.as_ref().map(|t| &t.client))
            .map_err(|e| Failure::new(Code::ServerStart, format!("{e:#}")))?;
        let mut last_err = None;
        // A free port can be taken between choosing and binding; try a few.
        for _ in 0..3 {
            let port = match spec.port {
                Some(p) => p,
                None => free_port()?,
            };
            let data_dir = tempfile::Builder::new()
                .prefix("valkey-perf-data-")
                .tempdir()
                .context("creating a server data directory")?;
            super::process::mark_owned(data_dir.path())?;
            if let (Some(file), Some(seed)) =
                (spec.entropy_file(data_dir.path()), spec.urandom_seed)
            {
                super::callgrind::write_entropy(&file, seed)?;
            }
            let log_path = spec.log_dir.join(format!("{}-{port}.log", spec.name));
            let child = ManagedChild::spawn(
                &spec.name,
                spec.command(port, data_dir.path()),
                &log_path,
                spec.cpus.as_ref(),
            )
            .map_err(|e| Failure::new(Code::ServerStart, format!("{e:#}")))?;
            let mut handle = ServerHandle {
                child,
                name: spec.name.clone(),
                host: spec.host.clone(),
                port,
                connector: connector.clone(),
                data_dir,
            };
            match handle.wait_ready(READY_DEADLINE) {
                Ok(()) => return Ok(handle),
                Err(e) => {
                    let in_use = handle.child.log_tail(20).contains("Address already in use");
                    handle.stop();
                    if in_use && spec.port.is_none() {
                        last_err = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("server did not start")))
    }

    fn wait_ready(&mut self, deadline: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if interrupted() {
                return Err(Failure::new(
                    Code::Interrupted,
                    "interrupted while waiting for the server",
                ));
            }
            if let Some(status) = self.child.try_exit_status() {
                return Err(self.start_failure(&format!("exited ({})", describe_status(status))));
            }
            let ping = self
                .connector
                .connect(&self.host, self.port, Duration::from_secs(1))
                .and_then(|mut c| c.call_text(&["PING"]));
            if let Ok(reply) = ping {
                if reply == "PONG" {
                    return Ok(());
                }
            }
            if started.elapsed() > deadline {
                return Err(self.start_failure(&format!(
                    "did not answer PING within {}s",
                    deadline.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn start_failure(&self, what: &str) -> anyhow::Error {
        Failure::new(
            Code::ServerStart,
            format!(
                "{} on port {} {what}; last lines of `{}`:\n{}",
                self.name,
                self.port,
                self.child.log_path().display(),
                self.child.log_tail(15)
            ),
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn log_path(&self) -> &Path {
        self.child.log_path()
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// A new control connection to this server.
    pub fn control(&self) -> Result<Control> {
        self.connector
            .connect(&self.host, self.port, Duration::from_secs(10))
    }

    /// How control connections reach this server (plain or TLS).
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// An error when the process has exited, carrying the log's tail.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_exit_status() {
            Some(status) => Err(anyhow::anyhow!(
                "{} on port {} died ({}); last lines of `{}`:\n{}",
                self.name,
                self.port,
                describe_status(status),
                self.child.log_path().display(),
                self.child.log_tail(15)
            )),
            None => Ok(()),
        }
    }

    /// Stops the process (SIGTERM, grace, SIGKILL, reap). Idempotent.
    pub fn stop(&mut self) {
        self.child.stop();
    }
}

/// Checks that `binary` can serve TLS by starting it briefly on a TLS port and completing a
/// TLS PING (never `CONFIG SET tls-port` on a running server, which crashes some builds).
/// Call before any case runs.
pub fn probe_tls(binary: &Path, material: &TlsMaterial, log_dir: &Path) -> Result<()> {
    let spec = ServerSpec {
        name: "tls-probe".into(),
        binary: binary.to_path_buf(),
        bind: "127.0.0.1".into(),
        host: "127.0.0.1".into(),
        port: None,
        io_threads: 1,
        cpus: None,
        custom_configs: Vec::new(),
        config_file: None,
        extra_args: Vec::new(),
        log_dir: log_dir.to_path_buf(),
        tls: Some(material.server()),
        callgrind_dir: None,
        urandom_seed: None,
    };
    match ServerHandle::start(&spec) {
        Ok(mut server) => {
            server.stop();
            let _ = std::fs::remove_file(server.log_path());
            Ok(())
        }
        Err(e) if log_says_no_tls(&format!("{e:#}")) => Err(no_tls_error(binary)),
        Err(e) => Err(e.context(format!("checking that `{}` supports TLS", binary.display()))),
    }
}
