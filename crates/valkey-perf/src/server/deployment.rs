//! A deployment is what one run talks to: servers valkey-perf started for the run (fresh per
//! run), or a server someone else runs (`--use-running-server`, `--mode client`).

use super::control::{Control, info_field};
use super::standalone::{ServerHandle, ServerSpec};
use crate::model::ServerTopology;
use anyhow::{Context, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to start the servers of one topology.
#[derive(Debug, Clone)]
pub struct DeploySpec {
    pub binary: PathBuf,
    pub topology: ServerTopology,
    /// Listen address (`127.0.0.1`; all addresses in `--mode server`).
    pub bind: String,
    /// Address clients use.
    pub host: String,
    pub log_dir: PathBuf,
}

/// The servers one run talks to.
pub enum Deployment {
    /// One server started by valkey-perf.
    Standalone(ServerHandle),
    /// A server valkey-perf did not start and never stops.
    External { host: String, port: u16 },
}

impl Deployment {
    /// Starts the servers for `spec` and waits until they are ready.
    pub fn start(spec: &DeploySpec) -> Result<Deployment> {
        let t = &spec.topology;
        let server = ServerSpec {
            name: "valkey-server".into(),
            binary: spec.binary.clone(),
            bind: spec.bind.clone(),
            host: spec.host.clone(),
            port: None,
            io_threads: t.io_threads,
            cpus: t.server_cpus.clone(),
            custom_configs: t.custom_configs.clone(),
            extra_args: Vec::new(),
            log_dir: spec.log_dir.clone(),
        };
        Ok(Deployment::Standalone(ServerHandle::start(&server)?))
    }

    /// A server already running at `host:port`.
    pub fn external(host: &str, port: u16) -> Deployment {
        Deployment::External {
            host: host.to_string(),
            port,
        }
    }

    /// Whether valkey-perf started (and will stop) these servers.
    pub fn is_managed(&self) -> bool {
        !matches!(self, Deployment::External { .. })
    }

    /// The address load generators connect to first.
    pub fn endpoint(&self) -> (String, u16) {
        match self {
            Deployment::Standalone(s) => (s.host.clone(), s.port),
            Deployment::External { host, port } => (host.clone(), *port),
        }
    }

    /// A control connection to the (first) server.
    pub fn control(&self) -> Result<Control> {
        let (host, port) = self.endpoint();
        Control::connect(&host, port, Duration::from_secs(10))
    }

    /// Empties every database (between runs on a server that is not restarted).
    pub fn flushall(&self) -> Result<()> {
        self.control()?.call(&["FLUSHALL"])?;
        Ok(())
    }

    /// Applies one `config_sets` bundle with CONFIG SET.
    pub fn apply_config_set(&self, set: &Map<String, Value>) -> Result<()> {
        if set.is_empty() {
            return Ok(());
        }
        let mut control = self.control()?;
        for (key, value) in set {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            control
                .call(&["CONFIG", "SET", key, &value])
                .with_context(|| format!("applying config_sets entry `{key}` = `{value}`; check the setting exists in this server version"))?;
        }
        Ok(())
    }

    /// The server's version from `INFO server`.
    pub fn server_version(&self) -> Result<String> {
        let info = self.control()?.info("server")?;
        Ok(info_field(&info, "valkey_version")
            .or_else(|| info_field(&info, "redis_version"))
            .unwrap_or("unknown")
            .to_string())
    }

    /// An error, with the log's tail, when a server valkey-perf started has died.
    pub fn check_alive(&mut self) -> Result<()> {
        match self {
            Deployment::Standalone(s) => s.check_alive(),
            Deployment::External { .. } => Ok(()),
        }
    }

    /// PIDs of the processes valkey-perf started.
    pub fn pids(&self) -> Vec<u32> {
        match self {
            Deployment::Standalone(s) => vec![s.pid()],
            Deployment::External { .. } => Vec::new(),
        }
    }

    /// The CPUs the server processes may run on, read back from /proc; empty for servers
    /// valkey-perf did not start.
    pub fn server_cpus(&self) -> String {
        self.pids()
            .iter()
            .filter_map(|&pid| super::process::cpus_allowed(pid))
            .collect::<Vec<_>>()
            .join(";")
    }

    pub fn log_paths(&self) -> Vec<&Path> {
        match self {
            Deployment::Standalone(s) => vec![s.log_path()],
            Deployment::External { .. } => Vec::new(),
        }
    }

    /// Stops what valkey-perf started. Idempotent.
    pub fn stop(&mut self) {
        if let Deployment::Standalone(s) = self {
            s.stop();
        }
    }
}
