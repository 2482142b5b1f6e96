//! The keys of a config object in the scenario shape (upstream's `test_groups`) beyond the
//! basic ones: upstream's keys accepted unused, `test_name`, `socket_timeout`, the files every
//! server loads, `cpu_allocation`, and the scenario defaults the object gives its groups
//! (checked in [`crate::config::scenario`]).

use crate::config::checker::{Checker, show};
use crate::config::facts::{ConfigWarning, MachineFacts};
use crate::config::scenario::{self, CpuAllocation, ScenarioSpec};
use crate::model::{Warning, WarningKind};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// The object without the basic shape's keys that do not apply to the scenario shape, each
/// reported as a warning naming what applies instead (upstream ignores them). `commands`
/// stays, to be refused: ignoring it would drop measurements asked for.
pub(super) fn without_basic_keys(
    index: usize,
    obj: &Map<String, Value>,
    warnings: &mut Vec<ConfigWarning>,
) -> Map<String, Value> {
    let mut kept = obj.clone();
    for (key, why) in scenario::BASIC_ONLY {
        if *key == "commands" {
            continue;
        }
        if let Some(v) = kept.remove(*key) {
            warnings.push(ConfigWarning {
                config_index: index,
                warning: Warning::new(
                    WarningKind::Config,
                    format!(
                        "config[{index}] `{key}` ({}) does not apply to the `test_groups` shape and is ignored: {why}",
                        show(&v)
                    ),
                ),
            });
        }
    }
    kept
}

/// Upstream's keys accepted without use (a warning each), `test_name` and `socket_timeout`.
pub(super) fn object_keys(c: &mut Checker<'_>, warnings: &mut Vec<ConfigWarning>) {
    let (index, obj) = (c.index, c.obj);
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

/// What the scenario shape adds to a config object; empty for the basic shape.
#[derive(Default)]
pub(super) struct ScenarioParts {
    pub modules: Vec<crate::model::case::Module>,
    pub cpu_allocation: Option<CpuAllocation>,
    pub config_file: Option<PathBuf>,
    pub scenarios: Vec<ScenarioSpec>,
}

/// The run settings of the object, as defaults of its scenarios.
pub(super) struct ObjectDefaults<'r> {
    pub requests: &'r [u64],
    pub duration: Option<u64>,
    pub warmup: u64,
    pub seed: Option<u64>,
}

/// `modules`, `cpu_allocation`, `custom-server-config-file` and `test_groups` with the
/// object's defaults.
pub(super) fn parts(
    c: &mut Checker<'_>,
    facts: &MachineFacts,
    object: ObjectDefaults<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> ScenarioParts {
    let obj = c.obj;
    let ObjectDefaults {
        requests,
        duration,
        warmup,
        seed,
    } = object;
    let modules = scenario::modules(c, facts, warnings);
    let cpu_allocation = crate::config::cpu_allocation::cpu_allocation(c);
    let config_file = scenario::config_file(c, facts, warnings);
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
    let mut specs = scenario::check_groups(c, &defaults, warnings);
    for s in &mut specs {
        s.scenario.test_name = test_name.clone();
        s.scenario.setup_timeout_secs = obj.get("socket_timeout").and_then(Value::as_u64);
    }
    ScenarioParts {
        modules,
        cpu_allocation,
        config_file,
        scenarios: specs,
    }
}
