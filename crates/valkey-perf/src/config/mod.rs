//! Config files (docs/design.md §4): the upstream JSON format, validated strictly before anything starts
//! and expanded into cases in the documented order. Owns no processes and touches no servers.

/// The JSON Schema (draft 2020-12) of the config format, as shipped in `schema/`.
pub const SCHEMA: &str = include_str!("../../../../schema/benchmark-config.schema.json");

mod checker;
mod cpu_allocation;
mod expand;
pub mod scenario;
mod validate;

pub use checker::{ConfigError, suggest};
pub use expand::expand;
pub use validate::{ConfigObject, KNOWN_KEYS, parse_config_text};

use crate::model::Case;
use crate::model::case::CpuSet;
use anyhow::Result;
use std::path::Path;

/// What validation knows about the machine.
#[derive(Debug, Clone, Default)]
pub struct MachineFacts {
    /// CPUs online here; `None` when unknown (then ranges are not checked against it).
    pub online_cpus: Option<CpuSet>,
    /// When true (client-only modes), CPU ranges missing here are warnings, not errors:
    /// the server range may describe another machine.
    pub cpus_may_be_remote: bool,
    /// When true (`config validate` without `--strict`), facts about this host (CPUs that do
    /// not exist here) are warnings: the config may be meant for another machine. `run`
    /// keeps them errors.
    pub host_facts_are_warnings: bool,
}

impl MachineFacts {
    /// Reads the online CPUs of this machine.
    pub fn here() -> MachineFacts {
        let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|s| CpuSet::parse(s.trim()).ok());
        MachineFacts {
            online_cpus: online,
            cpus_may_be_remote: false,
            host_facts_are_warnings: false,
        }
    }
}

/// A validated config file: its objects and the cases they expand into.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: String,
    pub objects: Vec<ConfigObject>,
    pub cases: Vec<Case>,
    /// Non-fatal findings (e.g. a CPU range that only exists on a remote server).
    pub warnings: Vec<ConfigWarning>,
}

/// A non-fatal finding about one config object; it goes into the records of that object's
/// cases.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigWarning {
    pub config_index: usize,
    pub warning: crate::model::Warning,
}

impl ConfigWarning {
    /// A fact about this host (a CPU or file missing here) that `run` refuses and `config
    /// validate` without `--strict` only warns about: the config may be meant for another
    /// machine.
    pub(crate) fn host_fact(config_index: usize, message: String) -> ConfigWarning {
        ConfigWarning {
            config_index,
            warning: crate::model::Warning::new(crate::model::WarningKind::Config, message)
                .with_hint(
                    "`run` refuses this on this machine; `config validate --strict` checks as `run` does",
                ),
        }
    }
}

/// Reads, validates and expands a config file. Errors name the file, config index, key, bad
/// value and the fix; they are usage errors (exit 2).
pub fn load(path: &Path, facts: &MachineFacts) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::exit::usage(format!(
            "cannot read config file `{}`: {e}; pass an existing file with --config",
            path.display()
        ))
    })?;
    load_text(&text, &path.display().to_string(), facts)
}

/// Like [`load`], from text already read; `name` is used in messages.
pub fn load_text(text: &str, name: &str, facts: &MachineFacts) -> Result<ConfigFile> {
    let (objects, warnings) = parse_config_text(text, facts).map_err(|errors| {
        let mut msg = format!("config file `{name}` is invalid:");
        for e in &errors {
            msg.push_str(&format!("\n  - {e}"));
        }
        crate::exit::usage(msg)
    })?;
    let cases = expand(&objects);
    Ok(ConfigFile {
        path: name.to_string(),
        objects,
        cases,
        warnings,
    })
}

#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;
