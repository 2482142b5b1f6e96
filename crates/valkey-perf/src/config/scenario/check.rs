//! One scenario of a group: its keys checked (id, type, run settings, seed, setup and
//! populate commands, streams, data set), then expanded into one [`ScenarioSpec`] per
//! `options` variant. Every problem is reported; a scenario with any gives no specs.

use super::dataset::{DatasetSpec, dataset_of};
use super::mixed::{self, Parent};
use super::nested::{At, Nested, cluster_execution, command_at, flag, split_command};
use super::{DEFAULT_DATA_SIZE, DEFAULT_DURATION_SECS, Defaults, SCENARIO_KEYS, ScenarioSpec};
use crate::config::checker::{Checker, show, suggest};
use crate::model::{BenchmarkMode, GroupId, Phase, Scenario, ScenarioKind, Stream};
use serde_json::{Map, Value};

/// The run settings of a scenario, each from its key or its default.
struct Settings {
    clients: u64,
    pipeline: u64,
    data_size: u64,
    warmup: u64,
    sequential: bool,
    flush_before: bool,
    restart_before: bool,
    /// `cluster_execution: "parallel"`.
    parallel: bool,
}

/// Checks one scenario and returns it expanded by its `options`, or nothing when it has a
/// problem (reported through `n`).
pub(super) fn check_scenario(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    group: &GroupId,
    group_description: &Option<String>,
    defaults: &Defaults,
) -> Vec<ScenarioSpec> {
    n.unknown_keys(at, obj, SCENARIO_KEYS, "scenario");
    let errors_before = n.c.errors.len();
    let id = scenario_id(n, at, obj);
    let kind = scenario_kind(n, at, obj);
    let settings = n.with(at, obj, |c| settings(c, defaults));
    let mode = n.with(at, obj, |c| run_mode(c, defaults));
    let seed = seed(n, at, obj, defaults);
    let setup_commands = setup_commands(n, at, obj);
    let populate_with = populate_with(n, at, obj);
    let variants = variants(n, at, obj);
    let dataset = dataset_of(n, at, obj, defaults);

    // The streams, before option variants.
    let mut streams = match kind {
        ScenarioKind::Write | ScenarioKind::Read => single_stream(n, at, obj, kind, &settings)
            .into_iter()
            .collect(),
        ScenarioKind::Mixed => {
            let parent = Parent {
                pipeline: settings.pipeline,
                mode,
                mode_written: obj.contains_key("requests")
                    || obj.contains_key("duration")
                    || defaults.mode.is_some(),
                parallel: settings.parallel,
            };
            mixed::streams(n, at, obj, parent, errors_before)
        }
    };
    // A mixed scenario's streams may each have their own bound.
    let mode = match kind {
        ScenarioKind::Mixed => mixed::bound(&mut streams).or(mode),
        _ => mode,
    };
    // Every `__field:NAME__` names a column of the dataset, checked before anything starts.
    let lines = streams
        .iter()
        .map(|s| ("command", &s.args))
        .chain(populate_with.iter().map(|p| ("populate_with", p)));
    dataset.check_fields(n, at, lines);
    if n.c.errors.len() > errors_before {
        return Vec::new();
    }
    let Some(mode) = mode else {
        return Vec::new();
    };
    let DatasetSpec {
        path: dataset_path,
        maxdocs,
        ..
    } = &dataset;
    let base = ScenarioSpec {
        scenario: Scenario {
            group: group.clone(),
            group_description: group_description.clone(),
            id,
            description: obj
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            kind,
            streams,
            setup_commands,
            populate_with,
            flush_before: settings.flush_before,
            restart_before: settings.restart_before,
            sequential: settings.sequential,
            test_name: None,
            setup_timeout_secs: None,
            dataset: dataset_path.clone(),
            maxdocs: *maxdocs,
            parallel: settings.parallel,
        },
        mode: dataset.mode(obj, mode),
        warmup: settings.warmup,
        data_size: settings.data_size,
        pipeline: settings.pipeline,
        seed,
    };
    variants
        .into_iter()
        .map(|(flag, suffix)| with_option(&base, &flag, &suffix))
        .collect()
}

/// `id`: a short name without spaces or commas (empty, with an error, when it is not).
fn scenario_id(n: &mut Nested, at: &At, obj: &Map<String, Value>) -> String {
    match obj.get("id") {
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
    }
}

/// `type`: `write`, `read` or `mixed` (`read`, with an error, when it is none of them).
fn scenario_kind(n: &mut Nested, at: &At, obj: &Map<String, Value>) -> ScenarioKind {
    match obj.get("type").and_then(Value::as_str) {
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
    }
}

fn settings(c: &mut Checker<'_>, defaults: &Defaults) -> Settings {
    let one = |c: &mut Checker<'_>, key: &str, default: u64, example: &str| match c.obj.get(key) {
        None => default,
        Some(v) => c.positive(key, v, example).unwrap_or(default),
    };
    let clients = one(c, "clients", 1, "10");
    let pipeline = one(c, "pipeline", 1, "16");
    let data_size = one(c, "data_size", DEFAULT_DATA_SIZE, "64");
    let warmup = c.non_negative("warmup", defaults.warmup, "5");
    let parallel = cluster_execution(c).unwrap_or(false);
    Settings {
        clients,
        pipeline,
        data_size,
        warmup,
        sequential: flag(c, "sequential"),
        flush_before: flag(c, "flush_before"),
        restart_before: flag(c, "restart_before"),
        parallel,
    }
}

/// `requests` or `duration`, else the config object's, else upstream's default duration.
fn run_mode(c: &mut Checker<'_>, defaults: &Defaults) -> Option<BenchmarkMode> {
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
}

/// `seed`, else the config object's; `false` (here or there) asks for a random seed per run.
fn seed(n: &mut Nested, at: &At, obj: &Map<String, Value>, defaults: &Defaults) -> Option<u64> {
    match obj.get("seed") {
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
    }
}

/// `setup_commands`: a list of command lines, each split into arguments.
fn setup_commands(n: &mut Nested, at: &At, obj: &Map<String, Value>) -> Vec<Vec<String>> {
    match obj.get("setup_commands") {
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
    }
}

/// `populate_with`: a command line that names each key with `__rand_int__`.
fn populate_with(n: &mut Nested, at: &At, obj: &Map<String, Value>) -> Option<Vec<String>> {
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
    populate_with
}

/// The one stream of a `write` or `read` scenario: its `command`.
fn single_stream(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    kind: ScenarioKind,
    settings: &Settings,
) -> Option<Stream> {
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
        Some(args) => Some(Stream {
            phase: if kind == ScenarioKind::Write {
                Phase::Write
            } else {
                Phase::Read
            },
            sub_id: None,
            args,
            clients: settings.clients,
            pipeline: settings.pipeline,
            mode: None,
        }),
        None => {
            if !obj.contains_key("command") {
                n.err(
                    at,
                    "command",
                    "missing; give the command line to measure, e.g. \"GET key:__rand_int__\"",
                );
            }
            None
        }
    }
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

/// One option variant of a scenario: the option's arguments appended to its command (to
/// every read of a mixed one, as upstream does), its suffix to the id, its text to the
/// description. The variant without an option is the scenario as written.
fn with_option(base: &ScenarioSpec, flag: &str, suffix: &str) -> ScenarioSpec {
    let extra: Vec<String> = if flag.is_empty() {
        Vec::new()
    } else {
        shlex::split(flag).unwrap_or_else(|| vec![flag.to_string()])
    };
    let mut spec = base.clone();
    let scenario = &mut spec.scenario;
    let kind = scenario.kind;
    for s in &mut scenario.streams {
        if kind != ScenarioKind::Mixed || s.phase == Phase::MixedRead {
            s.args.extend(extra.iter().cloned());
        }
    }
    scenario.id = format!("{}{suffix}", base.scenario.id);
    if !flag.is_empty() {
        scenario.description = scenario.description.take().map(|d| format!("{d} + {flag}"));
    }
    spec
}
