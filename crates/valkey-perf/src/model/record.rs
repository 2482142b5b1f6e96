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

/// The nested object `metrics.json` keeps per-run and per-target details in (run index, seed,
/// run start time, versions, the native engine's extras ...).
///
/// Upstream's `utils/compare_benchmark_results.py` groups runs by every top-level field whose
/// value is a string, number, boolean or null (minus the commit, timestamps and the metrics);
/// objects are ignored. With these details at the top level every run would form a group of
/// its own. So the file keeps at the top level only upstream's fields and the case
/// parameters ([`TOP_LEVEL`]), everything else in this object; valkey-perf flattens it back
/// ([`flatten_details`]) wherever it reads records, so every field keeps its name.
pub const DETAILS_KEY: &str = "run_details";

/// Fields that stay at the top level of a record in `metrics.json` (besides `env_*`): upstream's
/// fields and the parameters that define a case, which are equal across runs and targets.
pub const TOP_LEVEL: &[&str] = &[
    "timestamp",
    "commit",
    "repository",
    "command",
    "data_size",
    "pipeline",
    "clients",
    "requests",
    "duration",
    "benchmark_mode",
    "keyspacelen",
    "rps",
    "avg_latency_ms",
    "min_latency_ms",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "max_latency_ms",
    "cluster_mode",
    "tls",
    "io_threads",
    "valkey_benchmark_threads",
    "warmup",
    "architecture",
    "engine",
    "config_set",
    "key_distribution",
    "read_from_replicas",
    "warnings",
    "test_id",
    "test_phase",
    "group",
    "scenario",
];

/// A record as `metrics.json` stores it: the fields outside [`TOP_LEVEL`] (and not `env_*`)
/// moved into the [`DETAILS_KEY`] object, in their order.
pub fn nest_details(record: Map<String, Value>) -> Map<String, Value> {
    let mut top = Map::new();
    let mut details = match record.get(DETAILS_KEY) {
        Some(Value::Object(d)) => d.clone(),
        _ => Map::new(),
    };
    for (k, v) in record {
        if k == DETAILS_KEY {
            continue;
        }
        if TOP_LEVEL.contains(&k.as_str()) || k.starts_with("env_") {
            top.insert(k, v);
        } else {
            details.insert(k, v);
        }
    }
    if !details.is_empty() {
        top.insert(DETAILS_KEY.to_string(), Value::Object(details));
    }
    top
}

/// A record as valkey-perf reads it: the [`DETAILS_KEY`] object's fields moved back to the top
/// level (a field already at the top level wins). Records without the object (upstream's, or
/// older valkey-perf files) come back unchanged.
pub fn flatten_details(mut record: Map<String, Value>) -> Map<String, Value> {
    if let Some(Value::Object(details)) = record.remove(DETAILS_KEY) {
        for (k, v) in details {
            record.entry(k).or_insert(v);
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nesting_and_flattening_keep_every_field() {
        let flat = json!({"commit": "abc", "rps": 1.0, "run_index": 2, "seed": 7,
            "ref": "unstable", "env_os": "Debian", "p90_latency_ms": 0.4,
            "errors_by_kind": {"moved": 1}});
        let nested = nest_details(flat.as_object().unwrap().clone());
        assert_eq!(
            Value::Object(nested.clone()),
            json!({"commit": "abc", "rps": 1.0, "env_os": "Debian", "run_details": {
                "run_index": 2, "seed": 7, "ref": "unstable", "p90_latency_ms": 0.4,
                "errors_by_kind": {"moved": 1}}})
        );
        let sorted =
            |m: Map<String, Value>| m.into_iter().collect::<std::collections::BTreeMap<_, _>>();
        assert_eq!(
            sorted(flatten_details(nested)),
            sorted(flat.as_object().unwrap().clone())
        );
    }
}
