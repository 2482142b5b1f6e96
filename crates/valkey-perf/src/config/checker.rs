//! The checking helpers of config validation: a [`Checker`] per config object collects every
//! problem with its key, value and fix; [`suggest`] finds the likely typo'd name.

use crate::model::Builtin;
use crate::model::case::CpuSet;
use serde_json::{Map, Value};
use std::fmt;

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

/// The longest run setting in seconds (`duration`, `warmup`, `socket_timeout`): 24 hours.
pub const MAX_SECS: u64 = 24 * 60 * 60;

/// Upper bounds of numeric keys, checked before anything is allocated or started: generous
/// for any real benchmark, small enough that no count, buffer or deadline overflows. Each
/// with why (shown in the message). docs/design.md §4 lists them.
pub const LIMITS: &[(&str, u64, &str)] = &[
    ("duration", MAX_SECS, "24 hours"),
    ("warmup", MAX_SECS, "24 hours"),
    ("socket_timeout", MAX_SECS, "24 hours"),
    ("clients", 10_000, "Valkey's default `maxclients`"),
    ("pipelines", 10_000, "requests in flight per connection"),
    ("pipeline", 10_000, "requests in flight per connection"),
    (
        "data_sizes",
        512 * 1024 * 1024,
        "512 MiB, Valkey's default `proto-max-bulk-len`",
    ),
    (
        "data_size",
        512 * 1024 * 1024,
        "512 MiB, Valkey's default `proto-max-bulk-len`",
    ),
    ("benchmark-threads", 1024, "client threads"),
    ("io-threads", 256, "Valkey accepts at most 256"),
    ("cluster_nodes", 1000, "primaries"),
    ("cluster_replicas", 16, "replicas per primary"),
];

/// The most cases one config file may expand into (a case runs for seconds at least, so this
/// is days of benchmarking); counted before any case is built.
pub const MAX_CASES: u64 = 100_000;

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

/// Renders a JSON value for messages, shortened.
pub(super) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

pub(super) struct Checker<'a> {
    pub index: usize,
    pub obj: &'a Map<String, Value>,
    pub errors: Vec<ConfigError>,
}

impl<'a> Checker<'a> {
    pub(super) fn err(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            index: Some(self.index),
            key: Some(key.to_string()),
            message: message.into(),
        });
    }

    /// Reports `n` when it is above the key's bound in [`LIMITS`]; `Some(n)` when it is not.
    fn bounded(&mut self, key: &str, n: u64) -> Option<u64> {
        match LIMITS.iter().find(|(k, _, _)| *k == key) {
            Some((_, max, why)) if n > *max => {
                self.err(
                    key,
                    format!("value {n} is too large; use at most {max} ({why})"),
                );
                None
            }
            _ => Some(n),
        }
    }

    pub(super) fn positive(&mut self, key: &str, v: &Value, example: &str) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n > 0 => self.bounded(key, n),
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
    pub(super) fn positive_list(
        &mut self,
        key: &str,
        example: &str,
        default: Option<u64>,
    ) -> Vec<u64> {
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

    pub(super) fn non_negative(&mut self, key: &str, default: u64, example: &str) -> u64 {
        match self.obj.get(key) {
            None => default,
            Some(v) => match v.as_u64() {
                Some(n) => self.bounded(key, n).unwrap_or(default),
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

    pub(super) fn toggle(&mut self, key: &str, v: &Value) -> Option<bool> {
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

    pub(super) fn cpu_range(&mut self, key: &str) -> Option<CpuSet> {
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

    pub(super) fn commands(&mut self) -> Vec<Builtin> {
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
            match Builtin::from_config_name(name.trim()) {
                Some(c) => out.push(c),
                None => {
                    let supported: Vec<&str> =
                        Builtin::CONFIG.iter().map(|c| c.command_name()).collect();
                    let upper = name.trim().to_ascii_uppercase();
                    let hint = match suggest(&upper, &supported) {
                        Some(s) => format!("did you mean \"{s}\"? "),
                        None => String::new(),
                    };
                    self.err(
                        key,
                        format!(
                            "command \"{}\" is not supported; {hint}supported: {}",
                            crate::util::truncated(name, 60),
                            supported.join(" ")
                        ),
                    );
                }
            }
        }
        out
    }

    pub(super) fn string_map(&mut self, key: &str, v: &Value) -> Option<Map<String, Value>> {
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
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            {
                self.err(
                    key,
                    format!("setting name `{name}` is not a server setting name; use lowercase names like `maxmemory-policy` (or a module's `search.reader-threads`)"),
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

/// The closest known name to `word`, if close enough to be a likely typo (edits counting a
/// swap of two neighbouring letters as one): one edit for short
/// names, one per three letters of the shorter name for longer ones, never more than three
/// (so `foo` is not taken for `port`).
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let len = word.chars().count();
    known
        .iter()
        .map(|k| (strsim::osa_distance(word, k), *k))
        .filter(|(d, k)| *d <= (len.min(k.chars().count()) / 3).clamp(1, 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(super) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
