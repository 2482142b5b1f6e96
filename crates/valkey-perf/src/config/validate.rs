//! Strict validation of config objects: every problem is reported with the config index, the
//! key, the bad value and the fix, all at once.

use super::checker::{Checker, ConfigError, show, suggest, value_text};
use super::scenario::{self, SCENARIO_CONFIG_KEYS, ScenarioSpec};
use super::{ConfigWarning, MachineFacts};
use crate::model::case::CpuSet;
use crate::model::{Command, KeyDistribution, ReadFromReplicas, Warning, WarningKind};
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
    "key_distribution",
    "read_from_replicas",
    "per_second_sampling",
    "profiling_sets",
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
    pub commands: Vec<Command>,
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
    pub cpu_allocation: Option<scenario::CpuAllocation>,
    /// `custom-server-config-file` (scenario shape).
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
}

/// Keys that describe load, which memory mode does not generate: it writes each of the
/// `keyspacelen` keys once, pipelined over one connection.
const NOT_IN_MEMORY_MODE: &[&str] = &[
    "requests",
    "duration",
    "pipelines",
    "clients",
    "benchmark-threads",
    "client_cpu_range",
    "seed",
    "key_distribution",
    "read_from_replicas",
];

fn check_object(
    index: usize,
    obj: &Map<String, Value>,
    facts: &MachineFacts,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<ConfigObject, Vec<ConfigError>> {
    let mut c = Checker {
        index,
        obj,
        errors: Vec::new(),
    };
    // The scenario shape (upstream's `test_groups`) instead of `commands`.
    let scenario_shape = obj.contains_key("test_groups");
    let known = if scenario_shape {
        SCENARIO_CONFIG_KEYS
    } else {
        KNOWN_KEYS
    };
    for key in obj.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
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
    if scenario_shape {
        for (key, note) in scenario::IGNORED {
            if let Some(v) = obj.get(*key) {
                warnings.push(ConfigWarning {
                    config_index: index,
                    warning: Warning::new(
                        WarningKind::Config,
                        format!("config[{index}] `{key}` ({}) is not used: {note}", show(v)),
                    ),
                });
            }
        }
        if let Some(v) = obj.get("test_name") {
            if !v.is_string() {
                c.err(
                    "test_name",
                    format!("value {} is not a name; write it as a string", show(v)),
                );
            }
        }
        if let Some(v) = obj.get("socket_timeout") {
            c.positive("socket_timeout", v, "30");
        }
    }

    let memory =
        !scenario_shape && obj.get("benchmark_mode").and_then(Value::as_str) == Some("memory");
    if memory {
        for key in NOT_IN_MEMORY_MODE.iter().filter(|k| obj.contains_key(**k)) {
            c.err(
                key,
                "memory mode writes each of the `keyspacelen` keys once over one connection, \
                 so it takes no load settings; remove this key or put it in another config object",
            );
        }
    }
    let (requests, duration) = match (obj.get("requests"), obj.get("duration")) {
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
    };
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

    let cluster_mode = match obj.get("cluster_mode") {
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
    };
    let tls = match obj.get("tls_mode") {
        None => false,
        Some(v) => c.toggle("tls_mode", v).unwrap_or(false),
    };
    let warmup = c.non_negative("warmup", 0, "10");
    let io_threads = c
        .positive_list("io-threads", "1, 4", Some(1))
        .into_iter()
        .filter_map(|n| match u32::try_from(n) {
            Ok(n) if n <= 256 => Some(n),
            _ => {
                c.err(
                    "io-threads",
                    format!("value {n} is too large; Valkey accepts at most 256"),
                );
                None
            }
        })
        .collect();
    let benchmark_threads = obj
        .get("benchmark-threads")
        .and_then(|v| c.positive("benchmark-threads", v, "4"));
    let cluster_nodes = match obj.get("cluster_nodes") {
        None => 3,
        Some(v) => c.positive("cluster_nodes", v, "3").unwrap_or(3) as u32,
    };
    let cluster_replicas = c.non_negative("cluster_replicas", 0, "1") as u32;
    if cluster_nodes > 1000 {
        c.err(
            "cluster_nodes",
            format!("value {cluster_nodes} is too large; use at most 1000 primaries"),
        );
    }

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
    if let Some(online) = &facts.online_cpus {
        for (key, set) in [
            ("server_cpu_range", &server_cpus),
            ("client_cpu_range", &client_cpus),
        ] {
            let Some(set) = set else { continue };
            let missing: Vec<usize> = set.cpus.difference(&online.cpus).copied().collect();
            if missing.is_empty() {
                continue;
            }
            let msg = format!(
                "CPUs {} do not exist on this machine (online: {}); use CPUs from that list",
                crate::model::case::format_cpu_list(missing),
                online.canonical()
            );
            if facts.host_facts_are_warnings {
                warnings.push(ConfigWarning {
                    config_index: index,
                    warning: Warning::new(
                        WarningKind::Config,
                        format!("config[{index}] `{key}`: {msg}"),
                    )
                    .with_hint(
                        "`run` refuses this on this machine; `config validate --strict` checks as `run` does",
                    ),
                });
            } else if facts.cpus_may_be_remote && key == "server_cpu_range" {
                warnings.push(ConfigWarning {
                    config_index: index,
                    warning: Warning::new(
                        WarningKind::Config,
                        format!(
                            "config[{index}] `{key}`: {msg} (ignored: the server runs elsewhere)"
                        ),
                    ),
                });
            } else {
                c.err(key, msg);
            }
        }
    }

    let custom_server_configs = match obj.get("custom-server-configs") {
        None => Vec::new(),
        Some(v) => c
            .string_map("custom-server-configs", v)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), value_text(v))).collect())
            .unwrap_or_default(),
    };
    let config_sets = match obj.get("config_sets") {
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
    };
    let seed = match obj.get("seed") {
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
    };

    let key_distribution = match obj.get("key_distribution") {
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
    };

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

    let instructions = match obj.get("benchmark_mode") {
        None => false,
        Some(Value::String(m)) if m == "instructions" => true,
        Some(Value::String(m)) if m == "requests" || m == "duration" || m == "memory" => false,
        Some(v) => {
            c.err(
                "benchmark_mode",
                format!(
                    "value {} is not a mode; use \"instructions\" (instructions per request under callgrind), \"memory\" (bytes of overhead per key), or leave it out",
                    show(v)
                ),
            );
            false
        }
    };
    if instructions {
        if duration.is_some() {
            c.err(
                "duration",
                "instructions mode counts a fixed number of requests; use `requests` instead of `duration`",
            );
        }
        if warmup > 0 {
            c.err(
                "warmup",
                "instructions mode counts only the measured requests; set `warmup` to 0",
            );
        }
    }

    let sampling = match obj.get("per_second_sampling") {
        None => false,
        Some(v) => c.toggle("per_second_sampling", v).unwrap_or(false),
    };
    if sampling && instructions {
        c.err(
            "per_second_sampling",
            "the sampler's INFO commands would count in instructions mode's window; sample in a timed config object instead",
        );
    }
    let profiling = profiling_sets(&mut c);
    if profiling.is_some() && (memory || instructions) {
        c.err(
            "profiling_sets",
            "profiling needs timed load on servers running natively; remove it from memory and instructions mode objects",
        );
    }
    if sampling && memory {
        c.err(
            "per_second_sampling",
            "memory mode times no load, so there is nothing to sample; remove the key",
        );
    }

    let modules = if scenario_shape {
        scenario::modules(&mut c, facts, warnings)
    } else {
        Vec::new()
    };
    let cpu_allocation = if scenario_shape {
        super::cpu_allocation::cpu_allocation(&mut c)
    } else {
        None
    };
    let config_file = if scenario_shape {
        scenario::config_file(&mut c, facts, warnings)
    } else {
        None
    };
    let scenarios = if scenario_shape {
        if requests.len() > 1 {
            c.err(
                "requests",
                "the `test_groups` shape takes one default `requests` for its scenarios; set other counts per scenario",
            );
        }
        let defaults = scenario::Defaults {
            host_facts_are_warnings: facts.host_facts_are_warnings,
            mode: match (requests.first(), duration) {
                (Some(&n), _) => Some(crate::model::BenchmarkMode::Requests(n)),
                (None, Some(s)) => Some(crate::model::BenchmarkMode::Duration(s)),
                (None, None) => None,
            },
            warmup,
            seed,
            seed_disabled: matches!(obj.get("seed"), Some(Value::Bool(false))),
        };
        let test_name = obj
            .get("test_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut specs = scenario::check_groups(&mut c, &defaults, warnings);
        for s in &mut specs {
            s.scenario.test_name = test_name.clone();
            s.scenario.setup_timeout_secs = obj.get("socket_timeout").and_then(Value::as_u64);
        }
        specs
    } else {
        Vec::new()
    };

    if let Some(alloc) = &cpu_allocation {
        let processes = scenarios
            .iter()
            .map(|s| scenario::load_processes(&s.scenario))
            .max()
            .unwrap_or(1);
        for &cluster in &cluster_mode {
            let nodes = if cluster { u64::from(cluster_nodes) } else { 1 };
            let (server, client) = (
                alloc.server_cpus(nodes),
                alloc.client_cpus(nodes, processes),
            );
            let what = if cluster {
                format!("with {nodes} cluster nodes")
            } else {
                "standalone".to_string()
            };
            let shared: Vec<usize> = server.cpus.intersection(&client.cpus).copied().collect();
            if !shared.is_empty() {
                c.err(
                    "cpu_allocation",
                    format!(
                        "{what}, the servers get CPUs {} and the load generator {}, which share {}; give them separate CPUs",
                        server.spec,
                        client.spec,
                        crate::model::case::format_cpu_list(shared)
                    ),
                );
            }
            let Some(online) = &facts.online_cpus else {
                continue;
            };
            let missing: Vec<usize> = server
                .cpus
                .union(&client.cpus)
                .filter(|cpu| !online.cpus.contains(cpu))
                .copied()
                .collect();
            if missing.is_empty() {
                continue;
            }
            let msg = format!(
                "{what} it allocates servers {} and load generator {}, but CPUs {} do not exist on this machine (online: {})",
                server.spec,
                client.spec,
                crate::model::case::format_cpu_list(missing),
                online.canonical()
            );
            if facts.host_facts_are_warnings {
                warnings.push(ConfigWarning {
                    config_index: index,
                    warning: Warning::new(
                        WarningKind::Config,
                        format!("config[{index}] `cpu_allocation`: {msg}"),
                    )
                    .with_hint(
                        "`run` refuses this on this machine; `config validate --strict` checks as `run` does",
                    ),
                });
            } else {
                c.err("cpu_allocation", format!("{msg}; allocate fewer cores"));
            }
        }
    }

    if memory {
        if let Some(other) = commands.iter().find(|c| **c != Command::Set) {
            c.err(
                "commands",
                format!(
                    "memory mode measures string keys written by SET, not {}; use [\"SET\"]",
                    other.command_name()
                ),
            );
        }
        if cluster_mode.contains(&true) {
            c.err(
                "cluster_mode",
                "memory mode measures one standalone server; set \"no\" or remove the key",
            );
        }
        if warmup > 0 {
            c.err("warmup", "memory mode loads keys once; set `warmup` to 0");
        }
    }

    if c.errors.is_empty() {
        Ok(ConfigObject {
            index,
            requests,
            duration,
            keyspacelen,
            data_sizes,
            pipelines,
            clients,
            commands,
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
            scenarios,
            modules,
            key_distribution,
            cpu_allocation,
            config_file,
            memory,
            read_from_replicas,
            sampling,
            profiling,
        })
    } else {
        Err(c.errors)
    }
}

/// `profiling_sets` (upstream's key): a list of `{"enabled": bool, "mode": "cpu",
/// "sampling_freq": n, "delay": s}`; disabled entries mean no profiling, at most one may be
/// enabled.
fn profiling_sets(c: &mut Checker) -> Option<crate::model::case::Profiling> {
    const KEYS: &[&str] = &["enabled", "mode", "sampling_freq", "delay"];
    let key = "profiling_sets";
    let v = c.obj.get(key)?;
    let Value::Array(items) = v else {
        c.err(
            key,
            format!(
                "value {} is not a list; write [{{\"enabled\": true, \"mode\": \"cpu\", \"sampling_freq\": 999}}]",
                show(v)
            ),
        );
        return None;
    };
    let mut enabled = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(set) = item else {
            c.err(key, format!("entry {i} ({}) is not an object", show(item)));
            continue;
        };
        for k in set.keys().filter(|k| !KEYS.contains(&k.as_str())) {
            let hint = match suggest(k, KEYS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys: {}", KEYS.join(", ")),
            };
            c.err(key, format!("entry {i}: unknown key `{k}`; {hint}"));
        }
        match set.get("enabled") {
            Some(Value::Bool(false)) => continue,
            Some(Value::Bool(true)) => {}
            other => {
                c.err(
                    key,
                    format!(
                        "entry {i}: `enabled` is {}; write true or false",
                        other.map_or_else(|| "missing".to_string(), show)
                    ),
                );
                continue;
            }
        }
        match set.get("mode") {
            None => {}
            Some(Value::String(m)) if m == "cpu" => {}
            Some(m) => c.err(
                key,
                format!(
                    "entry {i}: mode {} is not supported; use \"cpu\" (on-CPU samples of the cpu-clock software event)",
                    show(m)
                ),
            ),
        }
        let freq = match set.get("sampling_freq") {
            None => 999,
            Some(f) => match f.as_u64().filter(|n| (1..=100_000).contains(n)) {
                Some(n) => n as u32,
                None => {
                    c.err(
                        key,
                        format!(
                            "entry {i}: sampling_freq {} is not a number of samples per second from 1 to 100000, e.g. 999",
                            show(f)
                        ),
                    );
                    999
                }
            },
        };
        let delay = match set.get("delay") {
            None => 0,
            Some(d) => d.as_u64().unwrap_or_else(|| {
                c.err(
                    key,
                    format!(
                        "entry {i}: delay {} is not a whole number of seconds ≥ 0",
                        show(d)
                    ),
                );
                0
            }),
        };
        enabled.push(crate::model::case::Profiling {
            sampling_freq: freq,
            delay_secs: delay,
        });
    }
    if enabled.len() > 1 {
        c.err(
            key,
            format!(
                "{} entries are enabled; enable one (each case gets one extra profiled run)",
                enabled.len()
            ),
        );
    }
    enabled.first().copied()
}

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
        Ok((objects, warnings))
    } else {
        Err(errors)
    }
}
