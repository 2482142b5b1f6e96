//! Config files (docs/design.md §4): the upstream JSON format, validated strictly before anything starts
//! and expanded into cases in the documented order. Owns no processes and touches no servers.

/// The JSON Schema (draft 2020-12) of the config format, as shipped in `schema/`.
pub const SCHEMA: &str = include_str!("../../../../schema/benchmark-config.schema.json");

mod checker;
mod cpu_allocation;
mod expand;
mod facts;
pub mod scenario;
mod validate;

pub use checker::{ConfigError, suggest};
pub use expand::expand;
pub use facts::{ConfigWarning, MachineFacts};
pub use validate::{ConfigObject, KNOWN_KEYS, parse_config_text};

use crate::model::Case;
use anyhow::Result;
use std::path::Path;

/// A validated config file: its objects and the cases they expand into.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: String,
    pub objects: Vec<ConfigObject>,
    pub cases: Vec<Case>,
    /// Non-fatal findings (e.g. a CPU range that only exists on a remote server).
    pub warnings: Vec<ConfigWarning>,
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
