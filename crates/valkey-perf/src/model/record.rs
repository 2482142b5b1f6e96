//! One run's metrics as written to `metrics.json` (SPEC §6). Field names are the upstream
//! names plus valkey-perf's additions; fields are added over time, never renamed.

use super::warning::Warning;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Latency and throughput of one measured run. Latencies in milliseconds, rps in requests/s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Metrics {
    pub rps: f64,
    pub avg_latency_ms: f64,
    pub min_latency_ms: f64,
    pub p50_latency_ms: f64,
    pub p95_latency_ms: f64,
    pub p99_latency_ms: f64,
    pub max_latency_ms: f64,
}

/// Facts about the machine a run happened on (`env_*` fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EnvInfo {
    pub env_kernel_version: String,
    pub env_os: String,
    pub env_cpu_model: String,
    pub env_cpu_governor: String,
    pub env_turbo_boost: String,
    pub env_idle_states: String,
    pub env_aslr: String,
    pub env_thp: String,
    pub env_numa_nodes: String,
    /// Written only when the config pins the server (as upstream does: consumers key on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_server_cpu_range: Option<String>,
    /// Written only when the config pins the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_client_cpu_range: Option<String>,
    pub env_benchmark_tool_version: String,
}

/// One record of `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Commit time (ISO 8601), or the binary's modification time for `--server-bin`.
    pub timestamp: String,
    /// Full SHA, or the server binary's version and content hash.
    pub commit: String,
    /// The target as the user typed it.
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub repository: Option<String>,
    pub command: String,
    pub data_size: u64,
    pub pipeline: u64,
    pub clients: u64,
    pub requests: Option<u64>,
    pub duration: Option<u64>,
    pub benchmark_mode: String,
    pub keyspacelen: u64,
    #[serde(flatten)]
    pub metrics: Metrics,
    pub cluster_mode: bool,
    pub tls: bool,
    pub io_threads: u64,
    pub valkey_benchmark_threads: Option<u64>,
    pub warmup: u64,
    pub architecture: String,
    pub run_started_at: String,
    pub run_index: u64,
    /// One id per `valkey-perf run` invocation: runs of two targets with the same id and
    /// `run_index` ran in the same round, which `compare` pairs.
    #[serde(default)]
    pub invocation_id: String,
    pub engine: String,
    pub engine_version: String,
    pub seed: Option<u64>,
    pub server_version: String,
    pub server_restarted: bool,
    pub config_set: Map<String, Value>,
    /// What this run's numbers should be read with (see [`Warning`]).
    #[serde(default)]
    pub warnings: Vec<Warning>,
    #[serde(flatten)]
    pub env: EnvInfo,
    /// Engine-specific additions (native engine percentiles, errors, histogram path ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
