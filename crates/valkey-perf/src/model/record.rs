//! One run's metrics as written to `metrics.json` (docs/design.md §6.2). Field names are the upstream
//! names plus valkey-perf's additions; fields are added over time, never renamed.

use super::fields::is_top_level;
use super::parts::{EngineKind, RecordMode, RecordParts};
use super::warning::Warning;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Latency and throughput of one measured run. Latencies in milliseconds, rps in requests/s.
/// A run that times no load (memory mode) has NaN figures, which JSON writes as `null`; reading
/// turns `null` back into NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Metrics {
    #[serde(deserialize_with = "nan_if_null")]
    pub rps: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub avg_latency_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub min_latency_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p50_latency_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p95_latency_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_latency_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub max_latency_ms: f64,
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
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
    pub benchmark_mode: RecordMode,
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
    /// Set on the baseline's records when the baseline ran as a reference for the other
    /// targets (`run --reference`): their commits, comma-separated. Readers of a commit's own
    /// series leave such rows out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_for: Option<String>,
    /// A duet run: this target and the other ran at the same time, each with its own load
    /// (`run --duet`). Its rps is not a solo run's; `compare` pairs it only with duet runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duet: bool,
    pub engine: EngineKind,
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
    /// What the engine, the mode and the instruments add (see [`RecordParts`]).
    #[serde(flatten)]
    pub parts: RecordParts,
}

/// The nested object `metrics.json` keeps per-run and per-target details in (run index, seed,
/// run start time, versions, the native engine's extras ...).
///
/// Upstream's `utils/compare_benchmark_results.py` groups runs by every top-level field whose
/// value is a string, number, boolean or null (minus the commit, timestamps and the metrics);
/// objects are ignored. With these details at the top level every run would form a group of
/// its own. So the file keeps at the top level only upstream's fields and the case
/// parameters ([`is_top_level`]), everything else in this object; valkey-perf flattens it back
/// ([`flatten_details`]) wherever it reads records, so every field keeps its name.
pub const DETAILS_KEY: &str = "run_details";

/// A record as `metrics.json` stores it: the fields that are not [`is_top_level`] moved into
/// the [`DETAILS_KEY`] object, in their order.
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
        if is_top_level(&k) {
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

    /// Files written by valkey-perf read into [`Record`] and written back give the same bytes,
    /// field order included: the typed parts keep `metrics.json` as it was.
    #[test]
    fn records_written_by_valkey_perf_round_trip_byte_for_byte() {
        for text in [
            include_str!("../../tests/fixtures/records/native-memory-scenarios.json"),
            include_str!("../../tests/fixtures/records/instructions.json"),
        ] {
            let items: Vec<Map<String, Value>> = serde_json::from_str(text).unwrap();
            let again: Vec<Value> = items
                .into_iter()
                .map(|item| {
                    let record: Record =
                        serde_json::from_value(Value::Object(flatten_details(item))).unwrap();
                    assert!(
                        record.parts.unknown.is_empty(),
                        "{:?}",
                        record.parts.unknown
                    );
                    let Value::Object(map) = serde_json::to_value(&record).unwrap() else {
                        panic!("a record is an object");
                    };
                    Value::Object(nest_details(map))
                })
                .collect();
            assert_eq!(serde_json::to_string_pretty(&again).unwrap(), text);
        }
    }
}
