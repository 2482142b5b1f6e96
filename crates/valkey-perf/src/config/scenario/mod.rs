//! The scenario shape of a config object (upstream's `test_groups`): groups of scenarios, each
//! an arbitrary command line (or, for `mixed`, write and read streams at once), with setup and
//! populate steps and `options` variants. Checked as strictly as the basic shape: every
//! problem at once, each naming the group, the scenario and the key.
//!
//! This module holds the keys of the shape and checks the groups; [`check`] checks one
//! scenario and expands its options, [`mixed`] the streams of a mixed one, [`dataset`] its
//! data set and `__field:NAME__` placeholders, [`files`] the module and server config files
//! every server loads, [`nested`] how problems of nested objects are reported.

mod check;
mod dataset;
mod files;
mod mixed;
mod nested;

use super::checker::{Checker, show};
pub use super::cpu_allocation::CpuAllocation;
use super::facts::ConfigWarning;
use crate::model::{BenchmarkMode, GroupId, Scenario, ScenarioKind};
use check::check_scenario;
pub(super) use files::{config_file, modules};
pub use nested::split_command;
use nested::{At, Nested};
use serde_json::{Map, Value};

/// Keys of a config object in the scenario shape.
pub const SCENARIO_CONFIG_KEYS: &[&str] = &[
    "test_name",
    "test_groups",
    "requests",
    "duration",
    "keyspacelen",
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
    "port",
    "cluster_ports",
    "bind_ip",
    "socket_timeout",
    "monitoring",
    "modules",
    "cpu_allocation",
    "custom-server-config-file",
    // Keys of the basic shape that do not apply here: left out with a warning (`BASIC_ONLY`).
    "data_sizes",
    "pipelines",
    "clients",
    "benchmark_mode",
    "key_distribution",
    "read_from_replicas",
    "per_second_sampling",
    "profiling_sets",
];

/// Keys of a group.
const GROUP_KEYS: &[&str] = &["group", "description", "scenarios"];

/// Keys of a scenario.
const SCENARIO_KEYS: &[&str] = &[
    "id",
    "type",
    "description",
    "command",
    "clients",
    "pipeline",
    "data_size",
    "requests",
    "duration",
    "warmup",
    "sequential",
    "seed",
    "setup_commands",
    "flush_before",
    "restart_before",
    "populate_with",
    "options",
    "writes",
    "reads",
    "cluster_execution",
    "dataset",
    "maxdocs",
];

/// Keys of an entry of a mixed scenario's `writes` / `reads`.
const STREAM_KEYS: &[&str] = &[
    "id",
    "command",
    "clients",
    "pipeline",
    "duration",
    "requests",
    "cluster_execution",
];

/// Keys upstream accepts that valkey-perf refuses, and why.
const REFUSED: &[(&str, &str)] = &[
    (
        "dataset_generation",
        "it downloads and generates data sets at run time; generate the file beforehand",
    ),
    (
        "query_generation",
        "it downloads and generates query sets at run time; generate the file beforehand",
    ),
    (
        "xml_root_element",
        "XML datasets are not supported; give `dataset` as a CSV or TSV file with a header line",
    ),
    (
        "profiling",
        "profiling per scenario is not supported yet; remove it",
    ),
    (
        "parallel_clients",
        "it belongs to upstream's per-node parallel search runs, which are not supported yet",
    ),
];

/// Default key space of a scenario config without `keyspacelen` (upstream's).
pub const DEFAULT_KEYSPACELEN: u64 = 1_000_000;
/// Default run length of a scenario without `requests` or `duration` (upstream's), seconds.
const DEFAULT_DURATION_SECS: u64 = 60;
/// valkey-benchmark's default value size (`-d`), for `__data__` in a command.
const DEFAULT_DATA_SIZE: u64 = 3;

/// One scenario of a config object, with the run parameters its cases take.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSpec {
    pub scenario: Scenario,
    pub mode: BenchmarkMode,
    pub warmup: u64,
    pub data_size: u64,
    pub pipeline: u64,
    /// `None`: a random seed per run (also for `seed: false`).
    pub seed: Option<u64>,
}

/// The scenario-level defaults a config object gives.
pub(super) struct Defaults {
    /// `config validate` without `--strict`: facts about this host are warnings.
    pub host_facts_are_warnings: bool,
    pub mode: Option<BenchmarkMode>,
    pub warmup: u64,
    pub seed: Option<u64>,
    pub seed_disabled: bool,
}

/// Checks `test_groups` and returns its scenarios, expanded by their `options`.
pub(super) fn check_groups(
    c: &mut Checker<'_>,
    defaults: &Defaults,
    warnings: &mut Vec<ConfigWarning>,
) -> Vec<ScenarioSpec> {
    let mut n = Nested {
        c,
        notes: Vec::new(),
    };
    let out = check_all_groups(&mut n, defaults);
    let index = n.c.index;
    warnings.extend(
        n.notes
            .into_iter()
            .map(|note| ConfigWarning::host_fact(index, note)),
    );
    out
}

fn check_all_groups(n: &mut Nested, defaults: &Defaults) -> Vec<ScenarioSpec> {
    let n = &mut *n;
    let groups = match n.c.obj.get("test_groups") {
        Some(Value::Array(g)) if !g.is_empty() => g.clone(),
        Some(Value::Array(_)) => {
            n.c.err(
                "test_groups",
                "the list is empty; give at least one group {\"group\": 1, \"scenarios\": [...]}",
            );
            return Vec::new();
        }
        Some(v) => {
            n.c.err(
                "test_groups",
                format!(
                    "value {} is not a list; write [{{\"group\": 1, \"scenarios\": [...]}}]",
                    show(v)
                ),
            );
            return Vec::new();
        }
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut seen_groups = std::collections::HashSet::new();
    let mut seen_ids = std::collections::HashSet::new();
    for (gi, g) in groups.iter().enumerate() {
        let gat = At {
            path: format!("test_groups[{gi}]"),
            context: String::new(),
        };
        let Value::Object(gobj) = g else {
            n.err(
                &gat,
                "",
                format!(
                    "{} is not an object; a group is {{\"group\": 1, \"description\": \"...\", \"scenarios\": [...]}}",
                    show(g)
                ),
            );
            continue;
        };
        n.unknown_keys(&gat, gobj, GROUP_KEYS, "group");
        let Some(group) = group_id(n, &gat, gobj) else {
            continue;
        };
        if !seen_groups.insert(group.to_string()) {
            n.err(
                &gat,
                "group",
                format!("group id {group} is used twice; give each group its own id"),
            );
        }
        let description = gobj
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        let scenarios = match gobj.get("scenarios") {
            Some(Value::Array(s)) if !s.is_empty() => s,
            _ => {
                n.err(
                    &gat,
                    "scenarios",
                    format!(
                        "(group {group}) missing or empty; give a list of scenarios, e.g. [{{\"id\": \"a\", \"type\": \"read\", \"command\": \"GET key:__rand_int__\"}}]"
                    ),
                );
                continue;
            }
        };
        for (si, s) in scenarios.iter().enumerate() {
            let path = format!("test_groups[{gi}].scenarios[{si}]");
            let Value::Object(sobj) = s else {
                n.err(
                    &At {
                        path,
                        context: format!("group {group}"),
                    },
                    "",
                    format!("{} is not an object", show(s)),
                );
                continue;
            };
            let id = sobj.get("id").and_then(Value::as_str).unwrap_or("");
            let at = At {
                path,
                context: if id.is_empty() {
                    format!("group {group}")
                } else {
                    format!("group {group}, scenario `{id}`")
                },
            };
            for spec in check_scenario(n, &at, sobj, &group, &description, defaults) {
                let name = spec.scenario.name();
                if !seen_ids.insert(name.clone()) {
                    n.err(
                        &at,
                        "id",
                        format!("scenario id `{name}` occurs twice in the config object; give each scenario (and option suffix) its own id"),
                    );
                }
                out.push(spec);
            }
        }
    }
    out
}

/// A group's `group`: a whole number or a name; `None` (with an error) when it is neither.
fn group_id(n: &mut Nested, at: &At, obj: &Map<String, Value>) -> Option<GroupId> {
    match obj.get("group") {
        Some(Value::Number(num)) if num.as_u64().is_some() => {
            Some(GroupId::Number(num.as_u64().unwrap_or_default()))
        }
        Some(Value::String(s)) if !s.is_empty() && !s.contains([',', ' ']) => {
            Some(GroupId::Name(s.clone()))
        }
        Some(v) => {
            n.err(
                at,
                "group",
                format!(
                    "value {} is not a group id; use a whole number or a name without spaces or commas, e.g. 1 or \"P1\"",
                    show(v)
                ),
            );
            None
        }
        None => {
            n.err(
                at,
                "group",
                "missing; give the group an id, e.g. \"group\": 1",
            );
            None
        }
    }
}

/// Keys of the basic shape that have no meaning in the scenario shape, and where they go.
pub(super) const BASIC_ONLY: &[(&str, &str)] = &[
    (
        "commands",
        "a config object has either `commands` or `test_groups`; split it into two objects",
    ),
    (
        "data_sizes",
        "in the `test_groups` shape set `data_size` per scenario",
    ),
    (
        "pipelines",
        "in the `test_groups` shape set `pipeline` per scenario",
    ),
    (
        "clients",
        "in the `test_groups` shape set `clients` per scenario",
    ),
    (
        "benchmark_mode",
        "instructions and memory modes are not available for scenarios yet",
    ),
    (
        "key_distribution",
        "scenarios draw keys uniformly, or in order with `sequential`; other distributions are not available for them yet",
    ),
    (
        "read_from_replicas",
        "reading from replicas is not available for scenarios yet",
    ),
    (
        "per_second_sampling",
        "per-second server sampling is not available for scenarios yet",
    ),
    (
        "profiling_sets",
        "profiling is not available for scenarios yet; profile built-in `commands` in a config object of the basic shape",
    ),
];

/// Upstream keys of the scenario shape that valkey-perf accepts without using, with the note
/// given as a warning.
pub(super) const IGNORED: &[(&str, &str)] = &[
    (
        "port",
        "valkey-perf starts every server on a free port (use --port with --use-running-server)",
    ),
    (
        "cluster_ports",
        "valkey-perf starts every cluster node on a free port",
    ),
    (
        "bind_ip",
        "valkey-perf binds started servers to the loopback address (all addresses in --mode server)",
    ),
    ("monitoring", "accepted and unused, as upstream does"),
];

/// Load processes upstream runs for a scenario: one, or one per stream of a mixed one (each
/// gets `cores_per_client` CPUs).
pub fn load_processes(scenario: &Scenario) -> u64 {
    match scenario.kind {
        ScenarioKind::Mixed => scenario.streams.len().max(1) as u64,
        _ => 1,
    }
}

/// Refusal messages for upstream keys at the config object level.
pub(super) fn refused(key: &str) -> Option<&'static str> {
    REFUSED.iter().find(|(k, _)| *k == key).map(|(_, why)| *why)
}
