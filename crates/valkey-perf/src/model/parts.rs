//! The optional parts of a [`super::Record`]: what one engine, one mode or one instrument adds
//! to a run's record (native engine figures, valkey-benchmark's command line, memory figures,
//! server usage, instructions, scenario fields). Each part is flattened into the record, so
//! its fields keep the names and the order `metrics.json` has always had; a part that is
//! `None` writes nothing.

use super::scenario::GroupId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `engine` in records: what generated the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EngineKind {
    #[serde(rename = "native")]
    Native,
    #[serde(rename = "valkey-benchmark")]
    ValkeyBenchmark,
    /// Memory mode: valkey-perf writes the keys itself, no load generator runs.
    #[serde(rename = "none")]
    None,
}

impl EngineKind {
    /// The record's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Native => "native",
            EngineKind::ValkeyBenchmark => "valkey-benchmark",
            EngineKind::None => "none",
        }
    }
}

/// `benchmark_mode` in records: how the measured window ends, or memory mode, which times no
/// load. (Instructions mode records the window's own mode.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordMode {
    Requests,
    Duration,
    Memory,
    /// A ladder of fixed rates: `rps` is the highest rate that met the SLO.
    Capacity,
}

impl RecordMode {
    /// The record's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordMode::Requests => "requests",
            RecordMode::Duration => "duration",
            RecordMode::Memory => "memory",
            RecordMode::Capacity => "capacity",
        }
    }
}

/// `status` of a scenario stream's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Success,
    Failed,
}

/// What the native engine reports besides the [`super::Metrics`]. Every field is optional: a
/// failed scenario stream records only `errors`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NativeFigures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999_latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p9999_latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors_by_kind: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_completed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_bound: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_thread_busy_share: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_thread_runqueue_share: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_thread_cpus: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miss_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_redirects: Option<u64>,
    /// The full histogram and per-second series of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram_file: Option<String>,
    /// Seconds the stream ran (scenario streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_s: Option<f64>,
}

/// What a valkey-benchmark run adds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BenchmarkFigures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_command_line: Option<String>,
    /// The error replies it printed, distinct and joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_errors: Option<String>,
}

/// Memory mode's figures (bytes, seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryFigures {
    pub memory_items: u64,
    pub key_size: u64,
    pub used_memory_empty: u64,
    pub used_memory_loaded: u64,
    pub bytes_per_item: f64,
    pub overhead_bytes_per_item: f64,
    pub load_seconds: f64,
    /// Always `false`: memory mode times no load. Not read back here: instructions mode
    /// writes the same field, and [`Instructions`] claims it when reading.
    #[serde(skip_deserializing)]
    pub latency_meaningful: bool,
}

/// The per-second sampler's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeseriesRef {
    pub timeseries_file: String,
    pub timeseries_lines: u64,
}

/// Where the window's CPU time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuSource {
    /// `/proc/<pid>/stat` of the servers valkey-perf started.
    Proc,
    /// `INFO cpu` of a running server.
    Info,
}

/// What the servers used in one window, as record fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowUsage {
    /// User CPU seconds, summed over every server process (all threads, all nodes).
    pub server_cpu_user_s: f64,
    /// System CPU seconds, likewise.
    pub server_cpu_sys_s: f64,
    pub server_cpu_source: CpuSource,
    /// The servers' own account of the same window (`INFO cpu`, user + system, summed over
    /// the nodes): with `proc` as the source, an independent check of it.
    pub server_cpu_info_s: f64,
    /// Commands the primaries processed in the window (`total_commands_processed`): the
    /// measured requests plus what else the engine sent (warm-up, a fill before LRANGE).
    pub server_commands: u64,
    /// Server CPU time per command processed, in microseconds.
    pub server_cpu_us_per_request: Option<f64>,
    /// Calls of the measured command on the primaries in the window (`INFO commandstats`).
    pub server_calls: u64,
    /// Microseconds per call of the measured command in the window, as the server times its
    /// execution (`INFO commandstats` usec / calls).
    pub usec_per_call: Option<f64>,
    /// Bytes, summed over every node, after the load.
    pub used_memory: u64,
    pub used_memory_rss: u64,
    /// RSS over used memory after the load (a single node's own figure; over nodes, weighted
    /// by their used memory).
    pub mem_fragmentation_ratio: Option<f64>,
    /// Keys in every database of the primaries after the load.
    pub keys: u64,
}

/// Instructions mode: the window's instructions summed over every server process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instructions {
    /// What the requests cost: the window's instructions less the background ones.
    pub instructions: u64,
    pub instructions_per_request: f64,
    /// The window's instructions in the server's timers (`serverCron` and the like) and its
    /// fast expire cycle: their amount follows the window's wall time, not its requests, so
    /// they are kept out of the figures above.
    /// `None` in records written before it was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_instructions: Option<u64>,
    /// The seed of the bytes the servers read as `/dev/urandom` (hence of their hash seed);
    /// `None` when each server drew its own (then the count per request varies by about
    /// 0.3 % from run to run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urandom_seed: Option<u64>,
    pub callgrind_files: Vec<String>,
    /// Always `false`: latencies under callgrind are those of a server slowed many times.
    pub latency_meaningful: bool,
}

/// A scenario stream's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioFields {
    pub test_id: String,
    pub test_phase: String,
    pub group: GroupId,
    pub scenario: String,
    /// `parallel` or `single`, in a cluster only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_execution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_name: Option<String>,
    pub status: RunStatus,
    /// Why the stream failed; `null` when it did not.
    pub error: Option<String>,
}

/// What a measurement adds to its record, in the order the fields are written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RecordParts {
    #[serde(flatten)]
    pub native: Option<NativeFigures>,
    #[serde(flatten)]
    pub benchmark: Option<BenchmarkFigures>,
    #[serde(flatten)]
    pub memory: Option<MemoryFigures>,
    /// Items a pop workload left in its seeded collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeded_items_left: Option<i64>,
    #[serde(flatten)]
    pub timeseries: Option<TimeseriesRef>,
    #[serde(flatten)]
    pub server_usage: Option<WindowUsage>,
    #[serde(flatten)]
    pub instructions: Option<Instructions>,
    /// A case parameter (records of different distributions are different cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_distribution: Option<String>,
    /// A case parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from_replicas: Option<String>,
    #[serde(flatten)]
    pub scenario: Option<ScenarioFields>,
    #[serde(flatten)]
    pub capacity: Option<super::capacity::CapacityFigures>,
    /// Fields this version does not know (records read from other or newer files).
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl RecordParts {
    /// The native engine's part, created empty when absent.
    pub fn native_mut(&mut self) -> &mut NativeFigures {
        self.native.get_or_insert_with(NativeFigures::default)
    }

    /// Requests completed in the window, as the native engine counted them.
    pub fn requests_completed(&self) -> Option<u64> {
        self.native.as_ref()?.requests_completed
    }

    /// Whether the record's latencies describe the server (not under callgrind, not memory).
    pub fn latency_meaningful(&self) -> bool {
        self.memory.is_none() && self.instructions.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(parts: &RecordParts) -> Vec<String> {
        match serde_json::to_value(parts).unwrap() {
            Value::Object(m) => m.keys().cloned().collect(),
            _ => unreachable!(),
        }
    }

    /// The order the fields had when each was inserted into one map as the run went on.
    #[test]
    fn parts_write_their_fields_in_the_order_of_the_run() {
        let parts = RecordParts {
            benchmark: Some(BenchmarkFigures {
                engine_command_line: Some("valkey-benchmark -t set".into()),
                server_errors: Some("ERR".into()),
            }),
            seeded_items_left: Some(3),
            timeseries: Some(TimeseriesRef {
                timeseries_file: "t.jsonl".into(),
                timeseries_lines: 5,
            }),
            key_distribution: Some("uniform".into()),
            read_from_replicas: Some("no".into()),
            ..RecordParts::default()
        };
        assert_eq!(
            keys(&parts),
            [
                "engine_command_line",
                "server_errors",
                "seeded_items_left",
                "timeseries_file",
                "timeseries_lines",
                "key_distribution",
                "read_from_replicas"
            ]
        );
        // A failed scenario stream: no figures but `errors`, and `error` says why.
        let mut failed = RecordParts {
            key_distribution: Some("uniform".into()),
            read_from_replicas: Some("no".into()),
            scenario: Some(ScenarioFields {
                test_id: "1_a".into(),
                test_phase: "write".into(),
                group: GroupId::Number(1),
                scenario: "a".into(),
                cluster_execution: Some("single".into()),
                group_description: None,
                scenario_description: None,
                test_name: None,
                status: RunStatus::Failed,
                error: Some("refused".into()),
            }),
            ..RecordParts::default()
        };
        failed.native_mut().errors = Some(0);
        assert_eq!(
            keys(&failed),
            [
                "errors",
                "key_distribution",
                "read_from_replicas",
                "test_id",
                "test_phase",
                "group",
                "scenario",
                "cluster_execution",
                "status",
                "error"
            ]
        );
        let v = serde_json::to_value(&failed).unwrap();
        assert_eq!(
            (&v["status"], &v["error"]),
            (&"failed".into(), &"refused".into())
        );
    }
}
