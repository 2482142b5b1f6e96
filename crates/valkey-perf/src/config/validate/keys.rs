//! The values of single keys of a config object (and the pairs that only make sense
//! together, such as both CPU ranges): each read with its default, or reported with the key,
//! the bad value and the fix. Facts about this machine are checked in [`super::host`], what
//! the benchmark modes allow in [`super::modes`].

use super::KNOWN_KEYS;
use crate::config::checker::{Checker, show, suggest, value_text};
use crate::config::scenario::{self, SCENARIO_CONFIG_KEYS};
use crate::model::case::CpuSet;
use crate::model::{Builtin, KeyDistribution, ReadFromReplicas};
use serde_json::{Map, Value};

/// Every key is known in its shape; `commands` in the scenario shape, or a key upstream has
/// and valkey-perf refuses, says why; a typo gets the likely name.
pub(super) fn key_names(c: &mut Checker<'_>, scenario_shape: bool) {
    let obj = c.obj;
    let known = if scenario_shape {
        SCENARIO_CONFIG_KEYS
    } else {
        KNOWN_KEYS
    };
    for key in obj.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
        // The other keys of the basic shape were left out with a warning (`super::shape`).
        if scenario_shape {
            if let Some((_, why)) = scenario::BASIC_ONLY.iter().find(|(k, _)| k == key) {
                c.err(key, format!("not part of the `test_groups` shape: {why}"));
                continue;
            }
        }
        if let Some(why) = scenario::refused(key) {
            c.err(key, format!("not supported: {why}"));
            continue;
        }
        let hint = match suggest(key, known) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("known keys: {}", known.join(", ")),
        };
        c.err(key, format!("unknown key; {hint}"));
    }
}

/// `requests` (a list) or `duration` (one number): exactly one of them, except in memory
/// mode (neither) and the scenario shape (either may be left to the scenarios).
pub(super) fn requests_and_duration(
    c: &mut Checker<'_>,
    memory: bool,
    scenario_shape: bool,
) -> (Vec<u64>, Option<u64>) {
    let obj = c.obj;
    match (obj.get("requests"), obj.get("duration")) {
        _ if memory => (Vec::new(), None),
        (Some(_), Some(_)) => {
            c.err(
                "duration",
                "both `requests` and `duration` are set; keep exactly one of them",
            );
            (Vec::new(), None)
        }
        (None, None) if scenario_shape => (Vec::new(), None),
        (None, None) => {
            c.err(
                "requests",
                "neither `requests` nor `duration` is set; add one, e.g. \"requests\": [100000] or \"duration\": 30",
            );
            (Vec::new(), None)
        }
        (Some(_), None) => (c.positive_list("requests", "100000", None), None),
        (None, Some(v)) => {
            if v.is_array() {
                c.err(
                    "duration",
                    format!(
                        "value {} is a list; `duration` takes one number of seconds, e.g. 30",
                        show(v)
                    ),
                );
                (Vec::new(), None)
            } else {
                (Vec::new(), c.positive("duration", v, "30"))
            }
        }
    }
}

/// The lists a config object of the basic shape multiplies into cases.
pub(super) struct Lists {
    pub keyspacelen: Vec<u64>,
    pub data_sizes: Vec<u64>,
    pub pipelines: Vec<u64>,
    pub clients: Vec<u64>,
    pub commands: Vec<Builtin>,
}

/// `keyspacelen`, `data_sizes`, `pipelines`, `clients` and `commands`; the scenario shape
/// takes only `keyspacelen`, memory mode fixes the pipeline and the client.
pub(super) fn lists(c: &mut Checker<'_>, scenario_shape: bool, memory: bool) -> Lists {
    let (keyspacelen, data_sizes, pipelines, clients, commands) = if scenario_shape {
        (
            c.positive_list("keyspacelen", "100000", Some(scenario::DEFAULT_KEYSPACELEN)),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        )
    } else if memory {
        // One connection, writes pipelined in the seeding's batches (see `expand`).
        (
            c.positive_list("keyspacelen", "100000", None),
            c.positive_list("data_sizes", "16, 64", None),
            vec![1000],
            vec![1],
            c.commands(),
        )
    } else {
        (
            c.positive_list("keyspacelen", "100000", None),
            c.positive_list("data_sizes", "16, 64", None),
            c.positive_list("pipelines", "1, 16", None),
            c.positive_list("clients", "50", Some(50)),
            c.commands(),
        )
    };
    Lists {
        keyspacelen,
        data_sizes,
        pipelines,
        clients,
        commands,
    }
}

/// `cluster_mode`: one toggle or a list of them, each value once.
pub(super) fn cluster_mode(c: &mut Checker<'_>) -> Vec<bool> {
    let obj = c.obj;
    match obj.get("cluster_mode") {
        None => vec![false],
        Some(Value::Array(items)) if items.is_empty() => {
            c.err(
                "cluster_mode",
                "the list is empty; use \"yes\", \"no\" or [\"no\", \"yes\"]",
            );
            Vec::new()
        }
        Some(Value::Array(items)) => {
            let mut seen = Vec::new();
            for item in items {
                if let Some(b) = c.toggle("cluster_mode", item) {
                    if !seen.contains(&b) {
                        seen.push(b);
                    }
                }
            }
            seen
        }
        Some(v) => c.toggle("cluster_mode", v).into_iter().collect(),
    }
}

/// `io-threads`: a list of thread counts Valkey accepts (1 to 256, bounded in `LIMITS`).
pub(super) fn io_threads(c: &mut Checker<'_>) -> Vec<u32> {
    c.positive_list("io-threads", "1, 4", Some(1))
        .into_iter()
        .filter_map(|n| u32::try_from(n).ok())
        .collect()
}

/// `cluster_nodes` (primaries) and `cluster_replicas` (per primary), both bounded in
/// `LIMITS` before they are narrowed.
pub(super) fn cluster_size(c: &mut Checker<'_>) -> (u32, u32) {
    let obj = c.obj;
    let cluster_nodes = match obj.get("cluster_nodes") {
        None => 3,
        Some(v) => c.positive("cluster_nodes", v, "3").unwrap_or(3),
    };
    let cluster_replicas = c.non_negative("cluster_replicas", 0, "1");
    (
        u32::try_from(cluster_nodes).unwrap_or(3),
        u32::try_from(cluster_replicas).unwrap_or(0),
    )
}

/// `server_cpu_range` and `client_cpu_range`, which may not share a CPU.
pub(super) fn cpu_ranges(c: &mut Checker<'_>) -> (Option<CpuSet>, Option<CpuSet>) {
    let server_cpus = c.cpu_range("server_cpu_range");
    let client_cpus = c.cpu_range("client_cpu_range");
    if let (Some(s), Some(cl)) = (&server_cpus, &client_cpus) {
        let shared: Vec<usize> = s.cpus.intersection(&cl.cpus).copied().collect();
        if !shared.is_empty() {
            c.err(
                "client_cpu_range",
                format!(
                    "CPUs {} are in both `server_cpu_range` (\"{}\") and `client_cpu_range` (\"{}\"); give server and client separate CPUs",
                    crate::model::case::format_cpu_list(shared),
                    s.spec,
                    cl.spec
                ),
            );
        }
    }
    (server_cpus, client_cpus)
}

/// `custom-server-configs`: server settings as `name: value`.
pub(super) fn custom_server_configs(c: &mut Checker<'_>) -> Vec<(String, String)> {
    let obj = c.obj;
    match obj.get("custom-server-configs") {
        None => Vec::new(),
        Some(v) => c
            .string_map("custom-server-configs", v)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), value_text(v))).collect())
            .unwrap_or_default(),
    }
}

/// `config_sets`: a list of server settings objects, one server start each; one empty set
/// without the key.
pub(super) fn config_sets(c: &mut Checker<'_>) -> Vec<Map<String, Value>> {
    let obj = c.obj;
    match obj.get("config_sets") {
        None => vec![Map::new()],
        Some(Value::Array(items)) if items.is_empty() => {
            c.err(
                "config_sets",
                "the list is empty; remove the key or give at least one object",
            );
            Vec::new()
        }
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| c.string_map("config_sets", item))
            .collect(),
        Some(v) => {
            c.err(
                "config_sets",
                format!(
                    "value {} is not a list; write [{{\"setting\": \"value\"}}, ...]",
                    show(v)
                ),
            );
            Vec::new()
        }
    }
}

/// `seed`: a whole number, or `false` (or nothing) for a random seed per run.
pub(super) fn seed(c: &mut Checker<'_>) -> Option<u64> {
    let obj = c.obj;
    match obj.get("seed") {
        None | Some(Value::Bool(false)) | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                c.err(
                    "seed",
                    format!("value {} is not a seed; use a whole number ≥ 0, or false for a random seed", show(v)),
                );
                None
            }
        },
    }
}

/// `key_distribution`: `uniform` (the default), `sequential` or `zipf:<exponent>`.
pub(super) fn key_distribution(c: &mut Checker<'_>) -> KeyDistribution {
    let obj = c.obj;
    match obj.get("key_distribution") {
        None => KeyDistribution::Uniform,
        Some(Value::String(text)) => match KeyDistribution::parse(text) {
            Ok(d) => d,
            Err(e) => {
                c.err("key_distribution", e);
                KeyDistribution::Uniform
            }
        },
        Some(v) => {
            c.err(
                "key_distribution",
                format!(
                    "value {} is not a key distribution; use \"uniform\", \"sequential\" or \"zipf:<exponent>\", e.g. \"zipf:0.99\"",
                    show(v)
                ),
            );
            KeyDistribution::Uniform
        }
    }
}

/// `read_from_replicas`: only for cluster cases that have replicas.
pub(super) fn read_from_replicas(
    c: &mut Checker<'_>,
    cluster_mode: &[bool],
    cluster_replicas: u32,
) -> ReadFromReplicas {
    let obj = c.obj;
    let read_from_replicas = match obj.get("read_from_replicas") {
        None | Some(Value::Bool(false)) => ReadFromReplicas::No,
        Some(Value::Bool(true)) => ReadFromReplicas::Yes,
        Some(Value::String(t)) if t == "no" => ReadFromReplicas::No,
        Some(Value::String(t)) if t == "yes" => ReadFromReplicas::Yes,
        Some(Value::String(t)) if t == "all" => ReadFromReplicas::All,
        Some(v) => {
            c.err(
                "read_from_replicas",
                format!(
                    "value {} is not a choice; use \"no\" (reads go to the primaries), \"yes\" (to the replicas) or \"all\" (to primaries and replicas)",
                    show(v)
                ),
            );
            ReadFromReplicas::No
        }
    };
    if read_from_replicas != ReadFromReplicas::No {
        if cluster_mode.iter().any(|&c| !c) {
            c.err(
                "read_from_replicas",
                format!(
                    "\"{read_from_replicas}\" reads from cluster replicas, but this object has standalone cases; set \"cluster_mode\": \"yes\" (and cluster_replicas ≥ 1), or remove `read_from_replicas`"
                ),
            );
        } else if cluster_replicas == 0 {
            c.err(
                "read_from_replicas",
                format!(
                    "\"{read_from_replicas}\" reads from replicas, but `cluster_replicas` is 0; set \"cluster_replicas\": 1 or more"
                ),
            );
        }
    }
    read_from_replicas
}
