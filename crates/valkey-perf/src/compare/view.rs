//! One record as `compare` and the dashboard read it: the facts they act on as typed fields,
//! read leniently so files of the upstream Python tool and of older valkey-perf versions load
//! (a missing or malformed field is `None`, never an error), and the record's fields by name
//! for what is generic over fields (case parameters, metrics, shown figures). A record `run`
//! just measured is read from its typed form, field by field, never through JSON.

use super::model::{Metric, SHOWN_FIELDS};
use crate::model::fields::case_fields;
use crate::model::{Record, RecordMode, RunStatus, Warning};
use serde_json::{Map, Value};

/// One record, as read.
pub type RecordMap = Map<String, Value>;

/// A record as `compare` and the dashboard read it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView {
    /// Every field by name, `run_details` flattened into the top level.
    fields: RecordMap,
    /// The `valkey-perf run` invocation the run belongs to.
    pub invocation_id: Option<String>,
    /// The round within its invocation.
    pub run_index: Option<u64>,
    /// A scenario stream's outcome; `None` for built-in cases and upstream's records.
    pub status: Option<RunStatus>,
    pub benchmark_mode: Option<RecordMode>,
    /// `false` when the record says its latencies do not describe the server (callgrind,
    /// memory mode).
    pub latency_meaningful: bool,
    /// Instructions mode: the callgrind dumps of the window.
    pub callgrind_files: Option<Vec<String>>,
    /// The requests the window completed (`requests_completed`, else the configured `requests`).
    pub requests_completed: Option<u64>,
    /// The per-second sampler's file.
    pub timeseries_file: Option<String>,
    /// What the run's numbers should be read with (unreadable entries are skipped).
    pub warnings: Vec<Warning>,
    /// Capacity mode: the ladder's steps and summary.
    pub capacity: Option<crate::model::capacity::CapacityFigures>,
}

impl RecordView {
    /// Reads a record map (with `run_details` already flattened), in one pass over its
    /// fields (records are read by the hundred thousand).
    pub fn from_map(fields: RecordMap) -> RecordView {
        let mut by_name: [Option<&Value>; FACTS.len()] = [None; FACTS.len()];
        let mut any_capacity = false;
        for (k, v) in &fields {
            if let Some(i) = FACTS.iter().position(|f| f == k) {
                by_name[i] = Some(v);
            }
            any_capacity |= k.starts_with("capacity_");
        }
        let [
            invocation_id,
            run_index,
            status,
            benchmark_mode,
            latency_meaningful,
            callgrind_files,
            warnings,
            requests_completed,
            requests,
            timeseries_file,
        ] = by_name;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let callgrind_files = callgrind_files.and_then(Value::as_array).and_then(|files| {
            files
                .iter()
                .map(|f| f.as_str().map(str::to_string))
                .collect()
        });
        let warnings = warnings
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| serde_json::from_value::<Warning>(w.clone()).ok())
            .collect();
        RecordView {
            invocation_id: text(invocation_id),
            run_index: run_index.and_then(Value::as_u64),
            status: status.and_then(status_of),
            benchmark_mode: benchmark_mode.and_then(|m| serde_json::from_value(m.clone()).ok()),
            latency_meaningful: latency_meaningful != Some(&Value::Bool(false)),
            callgrind_files,
            requests_completed: requests_completed.or(requests).and_then(Value::as_u64),
            timeseries_file: text(timeseries_file),
            warnings,
            capacity: if any_capacity {
                capacity_of(&fields)
            } else {
                None
            },
            fields,
        }
    }

    /// A record `run` just measured: the typed facts straight from the record, and the fields
    /// `compare` reads by name ([`read_by_name`]) as a file holds them.
    pub fn from_record(record: &Record) -> RecordView {
        let fields = read_by_name()
            .filter_map(|name| Some((name.to_string(), field_of(record, name)?)))
            .collect();
        let parts = &record.parts;
        RecordView {
            invocation_id: Some(record.invocation_id.clone()),
            run_index: Some(record.run_index),
            status: parts.scenario.as_ref().map(|s| s.status),
            benchmark_mode: Some(record.benchmark_mode),
            latency_meaningful: parts.latency_meaningful(),
            callgrind_files: parts
                .instructions
                .as_ref()
                .map(|i| i.callgrind_files.clone()),
            requests_completed: parts.requests_completed().or(record.requests),
            timeseries_file: parts.timeseries.as_ref().map(|t| t.timeseries_file.clone()),
            warnings: record.warnings.clone(),
            capacity: parts.capacity.clone(),
            fields,
        }
    }

    /// The fields by name: every field of a record read from a file; of a record `run` hands
    /// over, those `compare` reads by name.
    pub fn fields(&self) -> &RecordMap {
        &self.fields
    }

    /// A field by name.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// A field's number, when it is one.
    pub fn number(&self, field: &str) -> Option<f64> {
        self.get(field)?.as_f64()
    }

    /// Whether the run was a duet (`duet: true`): measured at the same time as the other
    /// target's.
    pub fn is_duet(&self) -> bool {
        self.get("duet").and_then(Value::as_bool) == Some(true)
    }

    /// Whether the record says its run failed (a scenario with `status: failed`).
    /// A capacity ladder in which no step met the SLO has no maximum to judge either.
    pub fn failed(&self) -> bool {
        self.status == Some(RunStatus::Failed)
            || (self.benchmark_mode == Some(RecordMode::Capacity)
                && self
                    .capacity
                    .as_ref()
                    .is_none_or(|c| c.capacity_max_rps.is_none()))
    }

    /// Whether the record is of memory mode, which times no load.
    pub fn untimed(&self) -> bool {
        self.benchmark_mode == Some(RecordMode::Memory)
    }

    /// The record with `engine` filled in as `valkey-benchmark` where it is missing: upstream
    /// writes none, and its load generator is valkey-benchmark (or redis-benchmark).
    pub fn with_default_engine(mut self) -> RecordView {
        self.fields
            .entry("engine")
            .or_insert_with(|| Value::String("valkey-benchmark".into()));
        self
    }
}

/// A record's capacity figures (the `capacity_*` fields), when it has readable ones.
fn capacity_of(fields: &RecordMap) -> Option<crate::model::capacity::CapacityFigures> {
    let part: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| k.starts_with("capacity_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if part.is_empty() {
        return None;
    }
    serde_json::from_value(Value::Object(part)).ok()
}

/// The fields [`RecordView::from_map`] reads into typed facts, in the order it takes them.
const FACTS: [&str; 10] = [
    "invocation_id",
    "run_index",
    "status",
    "benchmark_mode",
    "latency_meaningful",
    "callgrind_files",
    "warnings",
    "requests_completed",
    "requests",
    "timeseries_file",
];

/// What names each side of a comparison: its commits, refs, repository and server versions.
const SIDE_FIELDS: [&str; 4] = ["commit", "ref", "repository", "server_version"];

/// The fields a duet's coupling is read from ([`super::coupling`]).
const DUET_FIELDS: [&str; 2] = ["duet", "client_thread_busy_share"];

/// The fields `compare` reads by name: the case parameters, the judged metrics, the shown
/// figures, [`SIDE_FIELDS`] and [`DUET_FIELDS`].
fn read_by_name() -> impl Iterator<Item = &'static str> {
    case_fields()
        .chain(Metric::ALL.into_iter().map(Metric::field))
        .chain(SHOWN_FIELDS.iter().map(|&(field, _)| field))
        .chain(SIDE_FIELDS)
        .chain(DUET_FIELDS)
}

/// One of the [`read_by_name`] fields of a typed record, with the value `metrics.json` writes
/// (`null` for an absent value the file keeps); `None` where the file has no such field.
fn field_of(record: &Record, name: &str) -> Option<Value> {
    let parts = &record.parts;
    let m = &record.metrics;
    let usage = || parts.server_usage.as_ref();
    let scenario = || parts.scenario.as_ref();
    Some(match name {
        "commit" => record.commit.as_str().into(),
        "ref" => record.git_ref.as_str().into(),
        "repository" => record.repository.as_deref().into(),
        "server_version" => record.server_version.as_str().into(),
        "test_id" => scenario()?.test_id.as_str().into(),
        "test_phase" => scenario()?.test_phase.as_str().into(),
        "command" => record.command.as_str().into(),
        "data_size" => record.data_size.into(),
        "pipeline" => record.pipeline.into(),
        "clients" => record.clients.into(),
        "requests" => record.requests.into(),
        "duration" => record.duration.into(),
        "benchmark_mode" => record.benchmark_mode.as_str().into(),
        "keyspacelen" => record.keyspacelen.into(),
        "io_threads" => record.io_threads.into(),
        "cluster_mode" => record.cluster_mode.into(),
        "tls" => record.tls.into(),
        "config_set" => Value::Object(record.config_set.clone()),
        "engine" => record.engine.as_str().into(),
        "valkey_benchmark_threads" => record.valkey_benchmark_threads.into(),
        "key_distribution" => parts.key_distribution.as_deref()?.into(),
        "read_from_replicas" => parts.read_from_replicas.as_deref()?.into(),
        "rps" => m.rps.into(),
        "avg_latency_ms" => m.avg_latency_ms.into(),
        "min_latency_ms" => m.min_latency_ms.into(),
        "p50_latency_ms" => m.p50_latency_ms.into(),
        "p95_latency_ms" => m.p95_latency_ms.into(),
        "p99_latency_ms" => m.p99_latency_ms.into(),
        "max_latency_ms" => m.max_latency_ms.into(),
        "instructions_per_request" => parts.instructions.as_ref()?.instructions_per_request.into(),
        "overhead_bytes_per_item" => parts.memory.as_ref()?.overhead_bytes_per_item.into(),
        "server_cpu_us_per_request" => usage()?.server_cpu_us_per_request.into(),
        "used_memory" => usage()?.used_memory.into(),
        "used_memory_rss" => usage()?.used_memory_rss.into(),
        "mem_fragmentation_ratio" => usage()?.mem_fragmentation_ratio.into(),
        "keys" => usage()?.keys.into(),
        "usec_per_call" => usage()?.usec_per_call.into(),
        // Written only when true, as the file has it.
        "duet" => record.duet.then_some(true)?.into(),
        "client_thread_busy_share" => parts.native.as_ref()?.client_thread_busy_share.clone()?,
        _ => return parts.unknown.get(name).cloned(),
    })
}

/// A record's `status`, read leniently (anything but `success` or `failed` is `None`).
fn status_of(status: &Value) -> Option<RunStatus> {
    serde_json::from_value(status.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_leniently() {
        let v = RecordView::from_map(
            json!({"status": "failed", "run_index": 2, "benchmark_mode": "memory",
                   "latency_meaningful": false, "requests": 10, "warnings": [1],
                   "callgrind_files": ["a", 3]})
            .as_object()
            .unwrap()
            .clone(),
        );
        assert!(v.failed() && v.untimed() && !v.latency_meaningful);
        assert_eq!(
            (v.run_index, v.requests_completed, v.callgrind_files),
            (Some(2), Some(10), None)
        );
        assert!(v.warnings.is_empty());
        let upstream = RecordView::from_map(Map::new()).with_default_engine();
        assert_eq!(upstream.get("engine"), Some(&json!("valkey-benchmark")));
        assert!(upstream.latency_meaningful && !upstream.failed());
    }

    /// Today's files, upstream's included, read into views lose and reorder nothing: the
    /// fields a view keeps, nested again where the file nests them, are the file's JSON.
    #[test]
    fn todays_files_read_into_views_keep_every_field_in_order() {
        for text in [
            include_str!("../../tests/fixtures/upstream/run-a-metrics.json"),
            include_str!("../../tests/fixtures/upstream/run-b-metrics.json"),
            include_str!("../../tests/fixtures/records/native-memory-scenarios.json"),
            include_str!("../../tests/fixtures/records/instructions.json"),
        ] {
            let file: Vec<RecordMap> = serde_json::from_str(text).unwrap();
            let views = super::super::group::parse_records(text).unwrap();
            assert_eq!(views.len(), file.len());
            for (original, read) in file.into_iter().zip(views) {
                let nested = original.contains_key(crate::model::DETAILS_KEY);
                let view = RecordView::from_map(read);
                let back = if nested {
                    crate::model::nest_details(view.fields().clone())
                } else {
                    view.fields().clone()
                };
                assert_eq!(
                    serde_json::to_string(&back).unwrap(),
                    serde_json::to_string(&original).unwrap()
                );
            }
        }
    }

    /// A record handed over by `run` reads as the same record read back from its file: the
    /// same typed facts, and the same value of every field `compare` reads by name.
    #[test]
    fn a_record_reads_as_its_file_does() {
        for text in [
            include_str!("../../tests/fixtures/records/native-memory-scenarios.json"),
            include_str!("../../tests/fixtures/records/instructions.json"),
        ] {
            for map in super::super::group::parse_records(text).unwrap() {
                let record: Record = serde_json::from_value(Value::Object(map.clone())).unwrap();
                let typed = RecordView::from_record(&record);
                let read = RecordView::from_map(map);
                // Compared by name: a file keeps the per-run details after the rest.
                let sorted = |fields: &RecordMap| {
                    serde_json::to_string(
                        &fields.iter().collect::<std::collections::BTreeMap<_, _>>(),
                    )
                    .unwrap()
                };
                let read_by_name: RecordMap = read
                    .fields()
                    .iter()
                    .filter(|(k, _)| super::read_by_name().any(|f| f == k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(sorted(typed.fields()), sorted(&read_by_name));
                assert_eq!(
                    RecordView {
                        fields: Map::new(),
                        ..typed
                    },
                    RecordView {
                        fields: Map::new(),
                        ..read
                    }
                );
            }
        }
    }

    /// `compare` finds the same in the records `run` hands over as in the same records read
    /// from their file.
    #[test]
    fn run_records_compare_as_their_files_do() {
        let text = [
            include_str!("../../tests/fixtures/records/native-memory-scenarios.json"),
            include_str!("../../tests/fixtures/records/instructions.json"),
        ];
        let maps: Vec<RecordMap> = text
            .iter()
            .flat_map(|t| super::super::group::parse_records(t).unwrap())
            .collect();
        let typed: Vec<RecordView> = maps
            .iter()
            .map(|m| serde_json::from_value::<Record>(Value::Object(m.clone())).unwrap())
            .map(|r| RecordView::from_record(&r))
            .collect();
        let read: Vec<RecordView> = maps.into_iter().map(RecordView::from_map).collect();
        let opts = super::super::CompareOptions::default();
        let compare = |views: &[RecordView]| {
            let c = super::super::compare_views(views, views, "a", "b", &opts).unwrap();
            serde_json::to_string(&c).unwrap()
        };
        assert_eq!(compare(&typed), compare(&read));
    }
}
