//! Strict validation of config objects: every problem is reported with the config index, the
//! key, the bad value and the fix, all at once.

use super::{ConfigWarning, MachineFacts};
use crate::model::case::CpuSet;
use crate::model::{Command, Warning, WarningKind};
use serde_json::{Map, Value};
use std::fmt;

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
];

/// Server settings valkey-perf chooses itself; a config may not override them.
const MANAGED_SERVER_SETTINGS: &[(&str, &str)] = &[
    (
        "port",
        "valkey-perf picks a free port (use --port with --use-running-server)",
    ),
    ("tls-port", "set `tls_mode` instead"),
    (
        "bind",
        "valkey-perf binds to the loopback address, or all addresses in --mode server",
    ),
    (
        "dir",
        "valkey-perf gives every server its own data directory",
    ),
    (
        "logfile",
        "valkey-perf writes server logs into the results directory",
    ),
    ("daemonize", "valkey-perf manages the server process itself"),
    ("cluster-enabled", "set `cluster_mode` instead"),
    (
        "cluster-config-file",
        "valkey-perf keeps it in the node's data directory",
    ),
    (
        "io-threads",
        "use the `io-threads` key of the config object",
    ),
];

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Index of the config object, or `None` for file-level problems.
    pub index: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.index, &self.key) {
            (Some(i), Some(k)) => write!(f, "config[{i}] `{k}`: {}", self.message),
            (Some(i), None) => write!(f, "config[{i}]: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

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
}

/// Renders a JSON value for messages, shortened.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

struct Checker<'a> {
    index: usize,
    obj: &'a Map<String, Value>,
    errors: Vec<ConfigError>,
}

impl<'a> Checker<'a> {
    fn err(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            index: Some(self.index),
            key: Some(key.to_string()),
            message: message.into(),
        });
    }

    fn positive(&mut self, key: &str, v: &Value, example: &str) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                let hint = match v {
                    Value::String(s) if s.trim().parse::<u64>().is_ok_and(|n| n > 0) => {
                        format!("write the number without quotes, e.g. {}", s.trim())
                    }
                    _ => format!("use a whole number ≥ 1, e.g. {example}"),
                };
                self.err(
                    key,
                    format!("value {} is not a positive integer; {hint}", show(v)),
                );
                None
            }
        }
    }

    /// A positive integer or a non-empty list of them.
    fn positive_list(&mut self, key: &str, example: &str, default: Option<u64>) -> Vec<u64> {
        let Some(v) = self.obj.get(key) else {
            if let Some(d) = default {
                return vec![d];
            }
            self.err(key, format!("missing; add it, e.g. \"{key}\": [{example}]"));
            return Vec::new();
        };
        match v {
            Value::Array(items) if items.is_empty() => {
                self.err(
                    key,
                    format!("the list is empty; give at least one value, e.g. [{example}]"),
                );
                Vec::new()
            }
            Value::Array(items) => items
                .iter()
                .filter_map(|item| self.positive(key, item, example))
                .collect(),
            other => self.positive(key, other, example).into_iter().collect(),
        }
    }

    fn non_negative(&mut self, key: &str, default: u64, example: &str) -> u64 {
        match self.obj.get(key) {
            None => default,
            Some(v) => match v.as_u64() {
                Some(n) => n,
                None => {
                    self.err(
                        key,
                        format!(
                            "value {} is not a whole number ≥ 0; use e.g. {example}",
                            show(v)
                        ),
                    );
                    default
                }
            },
        }
    }

    fn toggle(&mut self, key: &str, v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("yes") || s == "true" => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("no") || s == "false" => Some(false),
            other => {
                self.err(
                    key,
                    format!(
                        "value {} is not a switch; use \"yes\" or \"no\" (or true / false)",
                        show(other)
                    ),
                );
                None
            }
        }
    }

    fn cpu_range(&mut self, key: &str) -> Option<CpuSet> {
        let v = self.obj.get(key)?;
        match v {
            Value::String(s) => match CpuSet::parse(s) {
                Ok(set) => Some(set),
                Err(e) => {
                    self.err(key, format!("value {}: {e}", show(v)));
                    None
                }
            },
            other => {
                self.err(
                    key,
                    format!(
                        "value {} is not a CPU range string; write it in quotes, e.g. \"0-3\" or \"0,2,4\"",
                        show(other)
                    ),
                );
                None
            }
        }
    }

    fn commands(&mut self) -> Vec<Command> {
        let key = "commands";
        let Some(v) = self.obj.get(key) else {
            self.err(
                key,
                "missing; add it, e.g. \"commands\": [\"SET\", \"GET\"]",
            );
            return Vec::new();
        };
        let items: Vec<&Value> = match v {
            Value::Array(items) if items.is_empty() => {
                self.err(
                    key,
                    "the list is empty; name at least one command, e.g. [\"SET\", \"GET\"]",
                );
                return Vec::new();
            }
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::new();
        for item in items {
            let Some(name) = item.as_str() else {
                self.err(
                    key,
                    format!(
                        "value {} is not a command name; write it as a string, e.g. \"GET\"",
                        show(item)
                    ),
                );
                continue;
            };
            match Command::from_config_name(name.trim()) {
                Some(c) => out.push(c),
                None => {
                    let supported: Vec<&str> =
                        Command::CONFIG.iter().map(|c| c.command_name()).collect();
                    let upper = name.trim().to_ascii_uppercase();
                    let hint = match suggest(&upper, &supported) {
                        Some(s) => format!("did you mean \"{s}\"? "),
                        None => String::new(),
                    };
                    self.err(
                        key,
                        format!(
                            "command \"{name}\" is not supported; {hint}supported: {}",
                            supported.join(" ")
                        ),
                    );
                }
            }
        }
        out
    }

    fn string_map(&mut self, key: &str, v: &Value) -> Option<Map<String, Value>> {
        let Value::Object(map) = v else {
            self.err(
                key,
                format!(
                    "value {} is not an object; write settings as {{\"maxmemory-policy\": \"allkeys-lru\"}}",
                    show(v)
                ),
            );
            return None;
        };
        let mut ok = true;
        for (name, value) in map {
            if !matches!(value, Value::String(_) | Value::Number(_)) {
                self.err(
                    key,
                    format!(
                        "setting `{name}` has value {}; use a string or a number",
                        show(value)
                    ),
                );
                ok = false;
            }
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                self.err(
                    key,
                    format!("setting name `{name}` is not a server setting name; use lowercase names like `maxmemory-policy`"),
                );
                ok = false;
            }
            if let Some((_, why)) = MANAGED_SERVER_SETTINGS.iter().find(|(n, _)| n == name) {
                self.err(key, format!("setting `{name}` cannot be set here: {why}"));
                ok = false;
            }
        }
        ok.then(|| map.clone())
    }
}

/// The closest known name to `word`, if close enough to be a likely typo.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(word, k), *k))
        .filter(|(d, k)| *d <= 3 && *d < k.len().max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

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
    for key in obj.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            let hint = match suggest(key, KNOWN_KEYS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys: {}", KNOWN_KEYS.join(", ")),
            };
            c.err(key, format!("unknown key; {hint}"));
        }
    }

    let (requests, duration) = match (obj.get("requests"), obj.get("duration")) {
        (Some(_), Some(_)) => {
            c.err(
                "duration",
                "both `requests` and `duration` are set; keep exactly one of them",
            );
            (Vec::new(), None)
        }
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
    let keyspacelen = c.positive_list("keyspacelen", "100000", None);
    let data_sizes = c.positive_list("data_sizes", "16, 64", None);
    let pipelines = c.positive_list("pipelines", "1, 16", None);
    let clients = c.positive_list("clients", "50", Some(50));
    let commands = c.commands();

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
            if facts.cpus_may_be_remote && key == "server_cpu_range" {
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
        })
    } else {
        Err(c.errors)
    }
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
