//! Engines generate load against a deployment and report one run's metrics: the external
//! `valkey-benchmark` (or `redis-benchmark`) binary, or valkey-perf's native generator.
//! Engines know cases and endpoints; they do not start servers or write results files.

pub mod native;
pub mod seed;
pub mod valkey_benchmark;

use crate::model::Metrics;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Client-side TLS files for a load generator.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub sni: Option<String>,
}

/// Where the load goes.
#[derive(Debug, Clone)]
pub struct LoadTarget {
    pub host: String,
    pub port: u16,
    pub cluster: bool,
    pub tls: Option<ClientTls>,
}

/// One measured run as an engine reports it.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    pub metrics: Metrics,
    /// Engine-specific record fields (extra percentiles, errors, histogram path ...).
    pub extra: Map<String, Value>,
    /// The CPUs the client process actually ran on (read back from /proc), if pinned.
    pub client_cpus: Option<String>,
}

/// The load generator a run uses.
#[derive(Debug, Clone)]
pub enum Engine {
    /// An external valkey-benchmark or redis-benchmark binary.
    External(valkey_benchmark::ValkeyBenchmark),
    /// valkey-perf's own load generator.
    Native,
}

impl Engine {
    /// `engine` in records.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::External(_) => "valkey-benchmark",
            Engine::Native => "native",
        }
    }

    /// `engine_version` in records.
    pub fn version(&self) -> String {
        match self {
            Engine::External(b) => b.version.clone(),
            Engine::Native => native::version(),
        }
    }

    /// For plans and logs: the name, and the binary for an external engine.
    pub fn describe(&self) -> String {
        match self {
            Engine::External(b) => format!(
                "valkey-benchmark engine: `{}` ({})",
                b.path.display(),
                b.version
            ),
            Engine::Native => format!("native engine ({})", native::version()),
        }
    }

    /// Why this engine cannot run `case` exactly as configured.
    pub fn check(&self, case: &crate::model::Case) -> Result<(), String> {
        match self {
            Engine::External(b) => b.check(case),
            Engine::Native => Ok(()),
        }
    }
}
