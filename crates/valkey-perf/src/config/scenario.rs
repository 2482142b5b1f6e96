//! The scenario shape of a config object (upstream's `test_groups`): groups of scenarios, each
//! an arbitrary command line (or, for `mixed`, write and read streams at once), with setup and
//! populate steps and `options` variants. Checked as strictly as the basic shape: every
//! problem at once, each naming the group, the scenario and the key.

use super::checker::{Checker, show, suggest};
pub use super::cpu_allocation::CpuAllocation;
use super::{ConfigWarning, MachineFacts};
use crate::model::case::Module;
use crate::model::{
    BenchmarkMode, GroupId, Phase, Scenario, ScenarioKind, Stream, Warning, WarningKind,
};
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

/// Where a problem is: the path of keys and the group / scenario it belongs to.
struct At {
    path: String,
    context: String,
}

/// Collects problems of nested objects with their path into the config object's checker.
struct Nested<'c, 'a> {
    c: &'c mut Checker<'a>,
    /// Warnings (facts about this host under `config validate`), with their key path.
    notes: Vec<String>,
}

impl Nested<'_, '_> {
    fn warn(&mut self, at: &At, key: &str, message: impl Into<String>) {
        self.notes.push(format!(
            "config[{}] `{}.{key}`: ({}) {}",
            self.c.index,
            at.path,
            at.context,
            message.into()
        ));
    }

    fn err(&mut self, at: &At, key: &str, message: impl Into<String>) {
        let key = if key.is_empty() {
            at.path.clone()
        } else {
            format!("{}.{key}", at.path)
        };
        let message = message.into();
        let message = if at.context.is_empty() {
            message
        } else {
            format!("({}) {message}", at.context)
        };
        self.c.err(&key, message);
    }

    /// Checks one nested object with a fresh [`Checker`], moving its errors here with the path.
    fn with<T>(
        &mut self,
        at: &At,
        obj: &Map<String, Value>,
        f: impl FnOnce(&mut Checker<'_>) -> T,
    ) -> T {
        let mut inner = Checker {
            index: self.c.index,
            obj,
            errors: Vec::new(),
        };
        let out = f(&mut inner);
        for e in inner.errors {
            let key = e.key.unwrap_or_default();
            self.err(at, &key, e.message);
        }
        out
    }

    fn unknown_keys(&mut self, at: &At, obj: &Map<String, Value>, known: &[&str], what: &str) {
        for key in obj.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            if let Some((_, why)) = REFUSED.iter().find(|(k, _)| k == key) {
                self.err(at, key, format!("not supported: {why}"));
                continue;
            }
            let hint = match suggest(key, known) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("{what} keys: {}", known.join(", ")),
            };
            self.err(at, key, format!("unknown key; {hint}"));
        }
    }
}

/// Splits a command line as a shell does (quotes, backslashes), as upstream's `shlex.split`.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let args = shlex::split(line).ok_or_else(|| {
        "has an unclosed quote or a trailing backslash; close the quote".to_string()
    })?;
    if args.is_empty() {
        return Err("is empty; write a command line, e.g. \"GET key:__rand_int__\"".into());
    }
    Ok(args)
}

fn string_of(v: &Value) -> Option<&str> {
    v.as_str()
}

/// The option variants of a scenario: `(extra arguments, id suffix)` in file order, or one
/// variant without either when there are no options.
fn variants(n: &mut Nested, at: &At, obj: &Map<String, Value>) -> Vec<(String, String)> {
    match obj.get("options") {
        None | Some(Value::Null) => vec![(String::new(), String::new())],
        Some(Value::Object(m)) if m.is_empty() => vec![(String::new(), String::new())],
        Some(Value::Object(m)) => {
            let mut out = Vec::new();
            for (flag, suffix) in m {
                match suffix.as_str() {
                    Some(s) => out.push((flag.clone(), s.to_string())),
                    None => n.err(
                        at,
                        "options",
                        format!(
                            "option `{flag}` has suffix {}; map each extra argument string to its id suffix, e.g. {{\"NOCONTENT\": \"_nc\"}}",
                            show(suffix)
                        ),
                    ),
                }
            }
            let mut seen = std::collections::HashSet::new();
            for (_, suffix) in &out {
                if !seen.insert(suffix) {
                    n.err(
                        at,
                        "options",
                        format!("two options have the id suffix \"{suffix}\"; give each its own"),
                    );
                }
            }
            out
        }
        Some(other) => {
            n.err(
                at,
                "options",
                format!(
                    "value {} is not an object; write {{\"EXTRA ARGS\": \"_suffix\"}}",
                    show(other)
                ),
            );
            Vec::new()
        }
    }
}

/// A command line key (`command`, `populate_with`): split into arguments.
fn command_at(n: &mut Nested, at: &At, obj: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    let v = obj.get(key)?;
    let Some(line) = string_of(v) else {
        n.err(
            at,
            key,
            format!(
                "value {} is not a command line; write it as one string, e.g. \"GET key:__rand_int__\"",
                show(v)
            ),
        );
        return None;
    };
    match split_command(line) {
        Ok(args) => Some(args),
        Err(e) => {
            n.err(at, key, format!("command line {} {e}", show(v)));
            None
        }
    }
}

fn flag(c: &mut Checker<'_>, key: &str) -> bool {
    match c.obj.get(key) {
        None | Some(Value::Null) => false,
        Some(v) => c.toggle(key, v).unwrap_or(false),
    }
}

/// `cluster_execution`: upstream's `single` (one load generator routing by slot) is what the
/// engines do in cluster mode; `parallel` (one process per primary) is refused.
/// `cluster_execution`: `Some(true)` for `parallel`, `Some(false)` for `single`.
fn cluster_execution(c: &mut Checker<'_>) -> Option<bool> {
    match c.obj.get("cluster_execution") {
        None => None,
        Some(Value::String(s)) if s == "single" => Some(false),
        Some(Value::String(s)) if s == "parallel" => Some(true),
        Some(v) => {
            c.err(
                "cluster_execution",
                format!("value {} is not \"single\" or \"parallel\"", show(v)),
            );
            None
        }
    }
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
    warnings.extend(n.notes.into_iter().map(|note| ConfigWarning {
        config_index: index,
        warning: Warning::new(WarningKind::Config, note).with_hint(
            "`run` refuses this on this machine; `config validate --strict` checks as `run` does",
        ),
    }));
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
        let group = match gobj.get("group") {
            Some(Value::Number(num)) if num.as_u64().is_some() => {
                GroupId::Number(num.as_u64().unwrap_or_default())
            }
            Some(Value::String(s)) if !s.is_empty() && !s.contains([',', ' ']) => {
                GroupId::Name(s.clone())
            }
            Some(v) => {
                n.err(
                    &gat,
                    "group",
                    format!(
                        "value {} is not a group id; use a whole number or a name without spaces or commas, e.g. 1 or \"P1\"",
                        show(v)
                    ),
                );
                continue;
            }
            None => {
                n.err(
                    &gat,
                    "group",
                    "missing; give the group an id, e.g. \"group\": 1",
                );
                continue;
            }
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

fn check_scenario(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    group: &GroupId,
    group_description: &Option<String>,
    defaults: &Defaults,
) -> Vec<ScenarioSpec> {
    n.unknown_keys(at, obj, SCENARIO_KEYS, "scenario");
    let errors_before = n.c.errors.len();
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() && !s.contains([',', ' ']) => s.clone(),
        Some(v) => {
            n.err(
                at,
                "id",
                format!(
                    "value {} is not a scenario id; use a short name without spaces or commas, e.g. \"a\"",
                    show(v)
                ),
            );
            String::new()
        }
        None => {
            n.err(
                at,
                "id",
                "missing; give the scenario an id, e.g. \"id\": \"a\"",
            );
            String::new()
        }
    };
    let kind = match obj.get("type").and_then(Value::as_str) {
        Some("write") => ScenarioKind::Write,
        Some("read") => ScenarioKind::Read,
        Some("mixed") => ScenarioKind::Mixed,
        other => {
            let v = obj.get("type").cloned().unwrap_or(Value::Null);
            let hint = other
                .and_then(|t| suggest(t, &["write", "read", "mixed"]))
                .map(|s| format!("did you mean \"{s}\"? "))
                .unwrap_or_default();
            n.err(
                at,
                "type",
                format!(
                    "{} is not a scenario type; {hint}use \"write\", \"read\" or \"mixed\"",
                    if obj.contains_key("type") {
                        format!("value {}", show(&v))
                    } else {
                        "missing:".into()
                    }
                ),
            );
            ScenarioKind::Read
        }
    };
    let (clients, pipeline, data_size, warmup, sequential, flush_before, restart_before, parallel) =
        n.with(at, obj, |c| {
            let one = |c: &mut Checker<'_>, key: &str, default: u64, example: &str| match c
                .obj
                .get(key)
            {
                None => default,
                Some(v) => c.positive(key, v, example).unwrap_or(default),
            };
            let clients = one(c, "clients", 1, "10");
            let pipeline = one(c, "pipeline", 1, "16");
            let data_size = one(c, "data_size", DEFAULT_DATA_SIZE, "64");
            let warmup = c.non_negative("warmup", defaults.warmup, "5");
            let parallel = cluster_execution(c).unwrap_or(false);
            (
                clients,
                pipeline,
                data_size,
                warmup,
                flag(c, "sequential"),
                flag(c, "flush_before"),
                flag(c, "restart_before"),
                parallel,
            )
        });
    let mode = n.with(at, obj, |c| {
        match (c.obj.get("requests"), c.obj.get("duration")) {
            (Some(_), Some(_)) => {
                c.err(
                    "duration",
                    "both `requests` and `duration` are set; keep exactly one of them",
                );
                None
            }
            (Some(v), None) => c
                .positive("requests", v, "100000")
                .map(BenchmarkMode::Requests),
            (None, Some(v)) => c.positive("duration", v, "30").map(BenchmarkMode::Duration),
            (None, None) => Some(
                defaults
                    .mode
                    .unwrap_or(BenchmarkMode::Duration(DEFAULT_DURATION_SECS)),
            ),
        }
    });
    let seed = match obj.get("seed") {
        None | Some(Value::Null) => {
            if defaults.seed_disabled {
                None
            } else {
                defaults.seed
            }
        }
        Some(Value::Bool(false)) => None,
        Some(v) => match v.as_u64() {
            Some(s) => Some(s),
            None => {
                n.err(
                    at,
                    "seed",
                    format!(
                        "value {} is not a seed; use a whole number ≥ 0, or false for a random seed",
                        show(v)
                    ),
                );
                None
            }
        },
    };
    let setup_commands = match obj.get("setup_commands") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let key = format!("setup_commands[{i}]");
                match item.as_str().map(split_command) {
                    Some(Ok(args)) => out.push(args),
                    Some(Err(e)) => n.err(at, &key, format!("command line {} {e}", show(item))),
                    None => n.err(
                        at,
                        &key,
                        format!(
                            "value {} is not a command line; write each as one string, e.g. \"FT.CREATE idx ON HASH SCHEMA title TEXT\"",
                            show(item)
                        ),
                    ),
                }
            }
            out
        }
        Some(v) => {
            n.err(
                at,
                "setup_commands",
                format!(
                    "value {} is not a list; write [\"COMMAND ARGS\", ...]",
                    show(v)
                ),
            );
            Vec::new()
        }
    };
    let populate_with = command_at(n, at, obj, "populate_with");
    if let Some(p) = &populate_with {
        if !p.iter().any(|a| a.contains("__rand_int__")) {
            n.err(
                at,
                "populate_with",
                "has no `__rand_int__`; it fills the keyspace key by key, so name the key with it, e.g. \"SET key:__rand_int__ v\"",
            );
        }
    }
    let variants = variants(n, at, obj);
    let (dataset, maxdocs, columns) = dataset_of(n, at, obj, defaults);

    // The streams, before option variants.
    let mut streams = Vec::new();
    match kind {
        ScenarioKind::Write | ScenarioKind::Read => {
            for key in ["writes", "reads"] {
                if obj.contains_key(key) {
                    n.err(
                        at,
                        key,
                        format!(
                            "only a \"mixed\" scenario has `{key}`; set \"type\": \"mixed\" or use `command`"
                        ),
                    );
                }
            }
            match command_at(n, at, obj, "command") {
                Some(args) => streams.push(Stream {
                    phase: if kind == ScenarioKind::Write {
                        Phase::Write
                    } else {
                        Phase::Read
                    },
                    sub_id: None,
                    args,
                    clients,
                    pipeline,
                }),
                None if !obj.contains_key("command") => n.err(
                    at,
                    "command",
                    "missing; give the command line to measure, e.g. \"GET key:__rand_int__\"",
                ),
                None => {}
            }
        }
        ScenarioKind::Mixed => {
            if obj.contains_key("command") {
                n.err(
                    at,
                    "command",
                    "a \"mixed\" scenario measures its `writes` and `reads`; move the command into one of them",
                );
            }
            if matches!(mode, Some(BenchmarkMode::Requests(_))) {
                n.err(
                    at,
                    "requests",
                    "the streams of a \"mixed\" scenario run for one `duration` so that they start and stop together; use \"duration\" instead",
                );
            }
            for (key, phase) in [("writes", Phase::MixedWrite), ("reads", Phase::MixedRead)] {
                let parent = Parent {
                    pipeline,
                    mode,
                    parallel,
                };
                streams.extend(mixed_streams(n, at, obj, key, phase, parent));
            }
            if streams.is_empty() && n.c.errors.len() == errors_before {
                n.err(
                    at,
                    "writes",
                    "a \"mixed\" scenario needs at least one entry in `writes` or `reads`",
                );
            }
        }
    }
    // Every `__field:NAME__` names a column of the dataset, checked before anything starts.
    let lines = streams
        .iter()
        .map(|s| ("command", &s.args))
        .chain(populate_with.iter().map(|p| ("populate_with", p)));
    for (key, args) in lines {
        for name in field_names(args) {
            match &columns {
                None if dataset.is_none() => n.err(
                    at,
                    key,
                    format!("uses `__field:{name}__` but the scenario has no `dataset`; add \"dataset\": \"file.csv\" with a `{name}` column"),
                ),
                Some(cols) if !cols.contains(&name) => n.err(
                    at,
                    key,
                    format!(
                        "uses `__field:{name}__`, but `{}` has no column `{name}` (its columns: {})",
                        dataset.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                        cols.join(", ")
                    ),
                ),
                _ => {}
            }
        }
    }
    if n.c.errors.len() > errors_before {
        return Vec::new();
    }
    let Some(mode) = mode else {
        return Vec::new();
    };
    // Upstream: without `requests` or `duration`, a dataset scenario sends `maxdocs` requests.
    let mode = match (
        obj.contains_key("requests") || obj.contains_key("duration"),
        maxdocs,
    ) {
        (false, Some(m)) => BenchmarkMode::Requests(m),
        _ => mode,
    };
    variants
        .into_iter()
        .map(|(flag, suffix)| {
            let extra: Vec<String> = if flag.is_empty() {
                Vec::new()
            } else {
                shlex::split(&flag).unwrap_or_else(|| vec![flag.clone()])
            };
            let mut streams = streams.clone();
            for s in &mut streams {
                // Upstream appends an option to the command, or to every read of a mixed one.
                if kind != ScenarioKind::Mixed || s.phase == Phase::MixedRead {
                    s.args.extend(extra.iter().cloned());
                }
            }
            let description = obj.get("description").and_then(Value::as_str).map(|d| {
                if flag.is_empty() {
                    d.to_string()
                } else {
                    format!("{d} + {flag}")
                }
            });
            ScenarioSpec {
                scenario: Scenario {
                    group: group.clone(),
                    group_description: group_description.clone(),
                    id: format!("{id}{suffix}"),
                    description,
                    kind,
                    streams,
                    setup_commands: setup_commands.clone(),
                    populate_with: populate_with.clone(),
                    flush_before,
                    restart_before,
                    sequential,
                    test_name: None,
                    setup_timeout_secs: None,
                    dataset: dataset.clone(),
                    maxdocs,
                    parallel,
                },
                mode,
                warmup,
                data_size,
                pipeline,
                seed,
            }
        })
        .collect()
}

/// The names in a command's `__field:NAME__` placeholders.
fn field_names(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        let mut rest = a.as_str();
        while let Some(at) = rest.find("__field:") {
            let after = &rest[at + "__field:".len()..];
            match after.find("__") {
                Some(end) => {
                    out.push(after[..end].to_string());
                    rest = &after[end + 2..];
                }
                None => break,
            }
        }
    }
    out
}

/// `dataset` (made absolute) and `maxdocs`, with the file's columns when it can be read here.
/// A file missing here is a fact about this host: an error for `run`, a warning for
/// `config validate` (then the columns are not checked).
fn dataset_of(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    defaults: &Defaults,
) -> (Option<std::path::PathBuf>, Option<u64>, Option<Vec<String>>) {
    let maxdocs = n.with(at, obj, |c| {
        c.obj
            .get("maxdocs")
            .and_then(|v| c.positive("maxdocs", v, "1000"))
    });
    let Some(v) = obj.get("dataset") else {
        if maxdocs.is_some() {
            n.err(at, "maxdocs", "limits the rows of a `dataset`, and there is none; add `dataset` or drop `maxdocs`");
        }
        return (None, None, None);
    };
    let Some(text) = v.as_str().filter(|s| !s.is_empty()) else {
        n.err(
            at,
            "dataset",
            format!("value {} is not a file path", show(v)),
        );
        return (None, None, None);
    };
    let path = std::path::absolute(text).unwrap_or_else(|_| text.into());
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    match std::fs::read_to_string(&path) {
        Ok(content) => match loadgen::Dataset::parse(&content, tsv, Some(1)) {
            Ok(d) => (Some(path), maxdocs, Some(d.columns)),
            Err(e) => {
                n.err(
                    at,
                    "dataset",
                    format!("`{}` is not a dataset: {e}; give a CSV (or .tsv) file with a header line naming the columns", path.display()),
                );
                (None, None, None)
            }
        },
        Err(e) if defaults.host_facts_are_warnings => {
            n.warn(
                at,
                "dataset",
                format!(
                    "`{}` cannot be read here ({e}); its columns were not checked",
                    path.display()
                ),
            );
            (Some(path), maxdocs, None)
        }
        Err(e) => {
            n.err(
                at,
                "dataset",
                format!(
                    "`{}` cannot be read: {e}; give an existing CSV or TSV file",
                    path.display()
                ),
            );
            (None, None, None)
        }
    }
}

/// What the streams of a mixed scenario take from it.
#[derive(Clone, Copy)]
struct Parent {
    pipeline: u64,
    mode: Option<BenchmarkMode>,
    parallel: bool,
}

/// The `writes` or `reads` of a mixed scenario.
fn mixed_streams(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    key: &str,
    phase: Phase,
    parent: Parent,
) -> Vec<Stream> {
    let Parent {
        pipeline,
        mode,
        parallel,
    } = parent;
    let items = match obj.get(key) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(v) => {
            n.err(
                at,
                key,
                format!(
                    "value {} is not a list; write [{{\"id\": \"w\", \"command\": \"SET key:__rand_int__ v\", \"clients\": 2}}]",
                    show(v)
                ),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let sat = At {
            path: format!("{}.{key}[{i}]", at.path),
            context: at.context.clone(),
        };
        let Value::Object(sobj) = item else {
            n.err(&sat, "", format!("{} is not an object", show(item)));
            continue;
        };
        n.unknown_keys(&sat, sobj, STREAM_KEYS, "stream");
        let default_id = if phase == Phase::MixedWrite { "w" } else { "r" };
        let sub_id = match sobj.get("id") {
            None => default_id.to_string(),
            Some(Value::String(s)) if !s.is_empty() && !s.contains([',', ' ']) => s.clone(),
            Some(v) => {
                n.err(
                    &sat,
                    "id",
                    format!(
                        "value {} is not an id; use a short name, e.g. \"w\"",
                        show(v)
                    ),
                );
                continue;
            }
        };
        if !seen.insert(sub_id.clone()) {
            n.err(
                &sat,
                "id",
                format!("id `{sub_id}` is used twice in `{key}`; give each stream its own id"),
            );
        }
        let (clients, pipeline) = n.with(&sat, sobj, |c| {
            let clients = match c.obj.get("clients") {
                None => 1,
                Some(v) => c.positive("clients", v, "8").unwrap_or(1),
            };
            let pipeline = match c.obj.get("pipeline") {
                None => pipeline,
                Some(v) => c.positive("pipeline", v, "1").unwrap_or(pipeline),
            };
            if let Some(v) = c.obj.get("duration") {
                if let (Some(d), Some(BenchmarkMode::Duration(parent))) =
                    (c.positive("duration", v, "30"), mode)
                {
                    if d != parent {
                        c.err(
                            "duration",
                            format!(
                                "{d} differs from the scenario's duration {parent}; the streams of a mixed scenario run together for the scenario's duration, so drop it here"
                            ),
                        );
                    }
                }
            }
            if cluster_execution(c).is_some_and(|p| p != parallel) {
                c.err(
                    "cluster_execution",
                    "differs from the scenario's; the streams of a mixed scenario run in one load generator, so set `cluster_execution` on the scenario",
                );
            }
            (clients, pipeline)
        });
        match command_at(n, &sat, sobj, "command") {
            Some(args) => out.push(Stream {
                phase,
                sub_id: Some(sub_id),
                args,
                clients,
                pipeline,
            }),
            None if !sobj.contains_key("command") => n.err(
                &sat,
                "command",
                "missing; give the stream's command line, e.g. \"GET key:__rand_int__\"",
            ),
            None => {}
        }
    }
    out
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

/// `modules`: `[{"path": "...", "startup_args": [...]}]`, loaded by every server at start.
/// Paths are made absolute (servers run in their own data directory); a file missing here is a
/// fact about this host: an error for `run`, a warning for `config validate`.
pub(super) fn modules(
    c: &mut Checker<'_>,
    facts: &MachineFacts,
    warnings: &mut Vec<ConfigWarning>,
) -> Vec<Module> {
    let key = "modules";
    let items = match c.obj.get(key) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(v) => {
            c.err(
                key,
                format!(
                    "value {} is not a list; write [{{\"path\": \"/path/to/module.so\", \"startup_args\": []}}]",
                    show(v)
                ),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{key}[{i}]");
        let Value::Object(m) = item else {
            c.err(&at, format!("{} is not an object with `path`", show(item)));
            continue;
        };
        for k in m.keys() {
            if k != "path" && k != "startup_args" {
                let hint = suggest(k, &["path", "startup_args"])
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "module keys: path, startup_args".into());
                c.err(&format!("{at}.{k}"), format!("unknown key; {hint}"));
            }
        }
        let Some(path) = m
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        else {
            c.err(
                &format!("{at}.path"),
                "missing or not a string; give the module's shared object, e.g. \"path\": \"../valkey-search/libsearch.so\"",
            );
            continue;
        };
        let args: Vec<String> = match m.get("startup_args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(v) => {
                c.err(
                    &format!("{at}.startup_args"),
                    format!("value {} is not a list of strings", show(v)),
                );
                continue;
            }
        };
        if let Some(bad) = args
            .iter()
            .find(|a| a.is_empty() || a.contains(['"', '\'', '\n']))
        {
            c.err(
                &format!("{at}.startup_args"),
                format!("argument {bad:?} cannot be passed on the server's command line; leave out quotes, newlines and empty arguments"),
            );
            continue;
        }
        if path.contains(char::is_whitespace) {
            c.err(
                &format!("{at}.path"),
                format!("path {path:?} has white space, which the server's `--loadmodule` cannot take; move the module to a path without it"),
            );
            continue;
        }
        let path = std::path::absolute(path).unwrap_or_else(|_| path.into());
        if !path.is_file() {
            let msg = format!(
                "module file `{}` does not exist on this machine; build the module or fix `path`",
                path.display()
            );
            if facts.host_facts_are_warnings {
                warnings.push(ConfigWarning {
                    config_index: c.index,
                    warning: Warning::new(
                        WarningKind::Config,
                        format!("config[{}] `{at}.path`: {msg}", c.index),
                    )
                    .with_hint("`run` refuses this on this machine; `config validate --strict` checks as `run` does"),
                });
            } else {
                c.err(&format!("{at}.path"), msg);
                continue;
            }
        }
        out.push(Module { path, args });
    }
    out
}

/// `custom-server-config-file`: made absolute (servers run in their own data directory); a
/// file missing here is a fact about this host, as for `modules`.
pub(super) fn config_file(
    c: &mut Checker<'_>,
    facts: &MachineFacts,
    warnings: &mut Vec<ConfigWarning>,
) -> Option<std::path::PathBuf> {
    let key = "custom-server-config-file";
    let v = c.obj.get(key)?;
    let Some(text) = v.as_str().filter(|s| !s.is_empty()) else {
        c.err(key, format!("value {} is not a file path", show(v)));
        return None;
    };
    let path = std::path::absolute(text).unwrap_or_else(|_| text.into());
    if !path.is_file() {
        let msg = format!(
            "`{}` does not exist on this machine; give an existing server config file",
            path.display()
        );
        if facts.host_facts_are_warnings {
            warnings.push(ConfigWarning {
                config_index: c.index,
                warning: Warning::new(WarningKind::Config, format!("config[{}] `{key}`: {msg}", c.index))
                    .with_hint("`run` refuses this on this machine; `config validate --strict` checks as `run` does"),
            });
        } else {
            c.err(key, msg);
            return None;
        }
    }
    Some(path)
}

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
