//! The files a config object in the scenario shape makes every server load at start:
//! `modules` and `custom-server-config-file`. Paths are made absolute (servers run in their
//! own data directory); a file missing here is a fact about this host, refused by `run` and a
//! warning for `config validate`.

use crate::config::checker::{Checker, show, suggest};
use crate::config::facts::{ConfigWarning, MachineFacts};
use crate::model::case::Module;
use serde_json::Value;

/// `modules`: `[{"path": "...", "startup_args": [...]}]`, loaded by every server at start.
/// Paths are made absolute (servers run in their own data directory); a file missing here is a
/// fact about this host: an error for `run`, a warning for `config validate`.
pub(in crate::config) fn modules(
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
                warnings.push(ConfigWarning::host_fact(
                    c.index,
                    format!("config[{}] `{at}.path`: {msg}", c.index),
                ));
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
pub(in crate::config) fn config_file(
    c: &mut Checker<'_>,
    facts: &MachineFacts,
    warnings: &mut Vec<ConfigWarning>,
) -> Option<std::path::PathBuf> {
    let key = "custom-server-config-file";
    let v = c.obj.get(key)?;
    let Some(text) = v.as_str().filter(|s| !s.is_empty()) else {
        c.err(
            key,
            format!(
                "value {} is not a file path; write the server config file's path as a string, e.g. \"/etc/valkey/extra.conf\"",
                show(v)
            ),
        );
        return None;
    };
    let path = std::path::absolute(text).unwrap_or_else(|_| text.into());
    if !path.is_file() {
        let msg = format!(
            "`{}` does not exist on this machine; give an existing server config file",
            path.display()
        );
        if facts.host_facts_are_warnings {
            warnings.push(ConfigWarning::host_fact(
                c.index,
                format!("config[{}] `{key}`: {msg}", c.index),
            ));
        } else {
            c.err(key, msg);
            return None;
        }
    }
    Some(path)
}
