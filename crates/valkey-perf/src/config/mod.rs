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
    let text = read_bounded(path, MAX_CONFIG_BYTES).map_err(|e| {
        crate::exit::usage(format!(
            "cannot read config file `{}`: {e}; pass an existing file with --config",
            path.display()
        ))
    })?;
    load_text(&text, &path.display().to_string(), facts)
}

/// The largest config file read (16 MiB; the shipped ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a text file of at most `limit` bytes without reading more than one byte past it (a
/// device such as `/dev/zero` never ends).
pub(crate) fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB, the most read",
            limit / (1024 * 1024)
        )));
    }
    Ok(text)
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
