//! How the scenario checks report problems of nested objects (groups, scenarios, streams):
//! [`At`] names where a problem is, [`Nested`] moves it into the config object's checker with
//! that path; plus the value readers scenarios and streams share (command lines, toggles,
//! `cluster_execution`). Knows no scenario keys itself.

use super::REFUSED;
use crate::config::checker::{Checker, show, suggest};
use serde_json::{Map, Value};

/// Where a problem is: the path of keys and the group / scenario it belongs to.
pub(super) struct At {
    pub path: String,
    pub context: String,
}

/// Collects problems of nested objects with their path into the config object's checker.
pub(super) struct Nested<'c, 'a> {
    pub c: &'c mut Checker<'a>,
    /// Warnings (facts about this host under `config validate`), with their key path.
    pub notes: Vec<String>,
}

impl Nested<'_, '_> {
    pub(super) fn warn(&mut self, at: &At, key: &str, message: impl Into<String>) {
        self.notes.push(format!(
            "config[{}] `{}.{key}`: ({}) {}",
            self.c.index,
            at.path,
            at.context,
            message.into()
        ));
    }

    pub(super) fn err(&mut self, at: &At, key: &str, message: impl Into<String>) {
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
    pub(super) fn with<T>(
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

    pub(super) fn unknown_keys(
        &mut self,
        at: &At,
        obj: &Map<String, Value>,
        known: &[&str],
        what: &str,
    ) {
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

pub(super) fn string_of(v: &Value) -> Option<&str> {
    v.as_str()
}

/// A command line key (`command`, `populate_with`): split into arguments.
pub(super) fn command_at(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    key: &str,
) -> Option<Vec<String>> {
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

pub(super) fn flag(c: &mut Checker<'_>, key: &str) -> bool {
    match c.obj.get(key) {
        None | Some(Value::Null) => false,
        Some(v) => c.toggle(key, v).unwrap_or(false),
    }
}

/// `cluster_execution`: `Some(true)` for `parallel`, `Some(false)` for `single`. Both run as
/// one load generator binding each client to one primary; with `parallel` a keyless command
/// stays on its client's primary. The valkey-benchmark engine refuses `parallel` (checked
/// where the engine is known).
pub(super) fn cluster_execution(c: &mut Checker<'_>) -> Option<bool> {
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
