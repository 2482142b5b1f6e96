//! Engines generate load against a deployment and report one run's metrics: the external
//! `valkey-benchmark` (or `redis-benchmark`) binary, or valkey-perf's native generator.
//! Engines know cases and endpoints; they do not start servers or write results files.

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
