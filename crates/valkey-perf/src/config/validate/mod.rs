//! Strict validation of config objects: every problem is reported with the config index, the
//! key, the bad value and the fix, all at once.
//!
//! This module reads the file and walks each object through its checks in a fixed order (the
//! order of the messages); [`keys`] reads the values of single keys, [`modes`] checks what
//! the benchmark modes allow, [`host`] the facts about this machine, [`shape`] the keys of
//! the scenario shape.

mod capacity;
mod host;
mod keys;
mod modes;
mod shape;

use super::checker::{Checker, ConfigError, MAX_CASES, show};
use super::facts::{ConfigWarning, MachineFacts};
use super::scenario::{CpuAllocation, ScenarioSpec};
use crate::model::case::CpuSet;
use crate::model::{Builtin, KeyDistribution, ReadFromReplicas};
use serde_json::{Map, Value};

/// Every key a config object may hold.
pub const KNOWN_KEYS: &[&str] = &[
    "requests",
    "duration",
    "keyspacelen",
    "data_sizes",
    "pipelines",
    "clients",
    "commands",
    "cluster_mode",
    "tls_mode",
    "warmup",
    "io-threads",
    "benchmark-threads",
    "server_cpu_range",
    "client_cpu_range",
    "cluster_nodes",
    "cluster_replicas",
    "custom-server-configs",
    "config_sets",
    "seed",
    "benchmark_mode",
    "slo",
    "capacity_rates",
    "key_distribution",
    "read_from_replicas",
    "per_second_sampling",
    "duet",
    "profiling_sets",
    "custom-server-config-file",
];

/// One validated config object.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigObject {
    pub index: usize,
    pub requests: Vec<u64>,
    pub duration: Option<u64>,
    pub keyspacelen: Vec<u64>,
    pub data_sizes: Vec<u64>,
    pub pipelines: Vec<u64>,
    pub clients: Vec<u64>,
    pub commands: Vec<Builtin>,
    pub cluster_mode: Vec<bool>,
    pub tls: bool,
    pub warmup: u64,
    pub io_threads: Vec<u32>,
    pub benchmark_threads: Option<u64>,
    pub server_cpus: Option<CpuSet>,
    pub client_cpus: Option<CpuSet>,
    pub cluster_nodes: u32,
    pub cluster_replicas: u32,
    pub custom_server_configs: Vec<(String, String)>,
    pub config_sets: Vec<Map<String, Value>>,
    pub seed: Option<u64>,
    /// `benchmark_mode: "instructions"`: count instructions per request under callgrind.
    pub instructions: bool,
    /// The scenario shape (`test_groups`): its scenarios, expanded by their options; empty
    /// for the basic shape.
    pub scenarios: Vec<ScenarioSpec>,
    /// Modules every server loads at start (scenario shape).
    pub modules: Vec<crate::model::case::Module>,
    pub key_distribution: KeyDistribution,
    /// Upstream's `cpu_allocation` (scenario shape), resolved per topology at expansion.
    pub cpu_allocation: Option<CpuAllocation>,
    /// `custom-server-config-file` (both shapes).
    pub config_file: Option<std::path::PathBuf>,
    /// `per_second_sampling: true`: a 1 Hz server sampler during the measured window.
    pub sampling: bool,
    /// The enabled `profiling_sets` entry, if any.
    pub profiling: Option<crate::model::case::Profiling>,
    /// `benchmark_mode: "memory"`: load `keyspacelen` keys once on a fresh server and record
    /// the memory each costs beyond its key and value.
    pub memory: bool,
    /// Where cluster reads go; checked to come with a cluster that has replicas.
    pub read_from_replicas: ReadFromReplicas,
    /// `duet: true`: the targets run at once (checked against the modes here, against the
    /// targets and the engine when `run` lowers its plan).
    pub duet: bool,
    /// `benchmark_mode: "capacity"`: a ladder of fixed rates under the `slo`.
    pub capacity: Option<crate::model::capacity::CapacitySpec>,
}

fn check_object(
    index: usize,
    obj: &Map<String, Value>,
    facts: &MachineFacts,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<ConfigObject, Vec<ConfigError>> {
    // The scenario shape (upstream's `test_groups`) instead of `commands`; the basic shape's
    // keys that do not apply there are warned about and left out.
    let scenario_shape = obj.contains_key("test_groups");
    let kept;
    let obj = if scenario_shape {
        kept = shape::without_basic_keys(index, obj, warnings);
        &kept
    } else {
        obj
    };
    let mut c = Checker {
        index,
        obj,
        errors: Vec::new(),
    };
    keys::key_names(&mut c, scenario_shape);
    if scenario_shape {
        shape::object_keys(&mut c, warnings);
    }

    let memory =
        !scenario_shape && obj.get("benchmark_mode").and_then(Value::as_str) == Some("memory");
    if memory {
        modes::no_load_keys(&mut c);
    }
    let (requests, duration) = keys::requests_and_duration(&mut c, memory, scenario_shape);
    let lists = keys::lists(&mut c, scenario_shape, memory);
    let cluster_mode = keys::cluster_mode(&mut c);
    let tls = match obj.get("tls_mode") {
        None => false,
        Some(v) => c.toggle("tls_mode", v).unwrap_or(false),
    };
    let warmup = c.non_negative("warmup", 0, "10");
    let io_threads = keys::io_threads(&mut c);
    let benchmark_threads = obj
        .get("benchmark-threads")
        .and_then(|v| c.positive("benchmark-threads", v, "4"));
    let (cluster_nodes, cluster_replicas) = keys::cluster_size(&mut c);
    let (server_cpus, client_cpus) = keys::cpu_ranges(&mut c);
    host::cpu_ranges(&mut c, facts, &server_cpus, &client_cpus, warnings);
    let custom_server_configs = keys::custom_server_configs(&mut c);
    let config_sets = keys::config_sets(&mut c);
    let seed = keys::seed(&mut c);
    let key_distribution = keys::key_distribution(&mut c);
    let read_from_replicas = keys::read_from_replicas(&mut c, &cluster_mode, cluster_replicas);
    let instructions = modes::instructions(&mut c, duration, warmup);
    let capacity = capacity::capacity(&mut c, scenario_shape);
    let sampling = modes::sampling(&mut c, instructions);
    let profiling = modes::profiling(&mut c, memory || instructions);
    modes::sampling_without_load(&mut c, sampling, memory);
    let duet = modes::duet(&mut c, memory, instructions);
    let scenario_parts = if scenario_shape {
        let defaults = shape::ObjectDefaults {
            requests: &requests,
            duration,
            warmup,
            seed,
        };
        shape::parts(&mut c, facts, defaults, warnings)
    } else {
        // Upstream reads `custom-server-config-file` in both shapes.
        shape::ScenarioParts {
            config_file: super::scenario::config_file(&mut c, facts, warnings),
            ..Default::default()
        }
    };

    let object = ConfigObject {
        index,
        requests,
        duration,
        keyspacelen: lists.keyspacelen,
        data_sizes: lists.data_sizes,
        pipelines: lists.pipelines,
        clients: lists.clients,
        commands: lists.commands,
        cluster_mode,
        tls,
        warmup,
        io_threads,
        benchmark_threads,
        server_cpus,
        client_cpus,
        cluster_nodes,
        cluster_replicas,
        custom_server_configs,
        config_sets,
        seed,
        instructions,
        scenarios: scenario_parts.scenarios,
        modules: scenario_parts.modules,
        key_distribution,
        cpu_allocation: scenario_parts.cpu_allocation,
        config_file: scenario_parts.config_file,
        memory,
        read_from_replicas,
        sampling,
        profiling,
        duet,
        capacity,
    };
    // Checks across keys, on the object as read.
    host::cpu_allocation(&mut c, &object, facts, warnings);
    modes::memory(&mut c, &object);
    if c.errors.is_empty() {
        Ok(object)
    } else {
        Err(c.errors)
    }
}

/// How deep serde_json reads nested lists and objects (its fixed recursion limit).
const JSON_DEPTH_LIMIT: usize = 128;

/// Parses and validates a whole config file. Returns every error found, not just the first.
pub fn parse_config_text(
    text: &str,
    facts: &MachineFacts,
) -> Result<(Vec<ConfigObject>, Vec<ConfigWarning>), Vec<ConfigError>> {
    let file_err = |message: String| {
        vec![ConfigError {
            index: None,
            key: None,
            message,
        }]
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json stops at 128 levels of nesting, however valid the rest is.
        if e.to_string().starts_with("recursion limit exceeded") {
            return file_err(format!(
                "nested too deeply at line {}, column {}: at most {JSON_DEPTH_LIMIT} levels of lists and objects are read; a config file needs a handful (objects, test_groups, scenarios, streams)",
                e.line(),
                e.column()
            ));
        }
        file_err(format!(
            "not valid JSON at line {}, column {}: {e}; a config file is a JSON array of objects",
            e.line(),
            e.column()
        ))
    })?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(_) => {
            return Err(file_err(
                "the file holds a single object; wrap it in [ ] to make a list of config objects"
                    .into(),
            ));
        }
        other => {
            return Err(file_err(format!(
                "the file holds {}; a config file is a JSON array of objects",
                show(&other)
            )));
        }
    };
    if items.is_empty() {
        return Err(file_err(
            "the file holds an empty list; add at least one config object".into(),
        ));
    }
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::Object(obj) => match check_object(index, obj, facts, &mut warnings) {
                Ok(o) => objects.push(o),
                Err(mut e) => errors.append(&mut e),
            },
            other => errors.push(ConfigError {
                index: Some(index),
                key: None,
                message: format!(
                    "{} is not an object; each list item is {{\"commands\": [...], ...}}",
                    show(other)
                ),
            }),
        }
    }
    if errors.is_empty() {
        errors.extend(too_many_cases(&objects));
    }
    if errors.is_empty() {
        Ok((objects, warnings))
    } else {
        Err(errors)
    }
}

/// How many cases `obj` expands into, counted without building one, with the lists that
/// multiply into it (`key × count`) for the message.
fn case_count(obj: &ConfigObject) -> (u64, Vec<(&'static str, usize)>) {
    let mut factors = vec![
        ("cluster_mode", obj.cluster_mode.len()),
        ("config_sets", obj.config_sets.len()),
        ("io-threads", obj.io_threads.len()),
    ];
    if obj.scenarios.is_empty() && obj.duration.is_none() && !obj.memory {
        factors.push(("requests", obj.requests.len()));
    }
    factors.push(("keyspacelen", obj.keyspacelen.len()));
    if !obj.scenarios.is_empty() {
        factors.push(("test_groups (scenarios)", obj.scenarios.len()));
    } else {
        factors.extend([
            ("data_sizes", obj.data_sizes.len()),
            ("pipelines", obj.pipelines.len()),
            ("clients", obj.clients.len()),
            ("commands", obj.commands.len()),
        ]);
    }
    let count = factors
        .iter()
        .fold(1u64, |n, (_, len)| n.saturating_mul(*len as u64));
    factors.retain(|(_, len)| *len > 1);
    (count, factors)
}

/// The file's cases counted before any is built: at most [`MAX_CASES`] in all.
fn too_many_cases(objects: &[ConfigObject]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut total = 0u64;
    for obj in objects {
        let (count, factors) = case_count(obj);
        total = total.saturating_add(count);
        if count > MAX_CASES {
            let product: Vec<String> = factors
                .iter()
                .map(|(key, len)| format!("`{key}` {len}"))
                .collect();
            errors.push(ConfigError {
                index: Some(obj.index),
                key: None,
                message: format!(
                    "expands into {count} cases ({}); a config file may hold at most {MAX_CASES} cases: shorten these lists or split them into several files",
                    product.join(" × ")
                ),
            });
        }
    }
    if errors.is_empty() && total > MAX_CASES {
        errors.push(ConfigError {
            index: None,
            key: None,
            message: format!(
                "the file expands into {total} cases over {} config objects; a config file may hold at most {MAX_CASES} cases: split it into several files",
                objects.len()
            ),
        });
    }
    errors
}
