//! The streams of a `mixed` scenario: its `writes` and `reads` lists, each entry a command
//! line with its own clients, pipeline and bound, run together in one load generator (all
//! start at one instant). A stream's bound is, as upstream's `_normalize_mixed_configs` and
//! its command builder give it: its own `duration`, else the scenario's duration, else its own
//! `requests`, else the scenario's requests. Checks what a stream may and may not set apart
//! from its scenario.

use super::STREAM_KEYS;
use super::nested::{At, Nested, cluster_execution, command_at};
use crate::config::checker::{Checker, show};
use crate::model::{BenchmarkMode, Phase, Stream};
use serde_json::{Map, Value};

/// What the streams of a mixed scenario take from it.
#[derive(Clone, Copy)]
pub(super) struct Parent {
    pub pipeline: u64,
    pub mode: Option<BenchmarkMode>,
    /// Whether the scenario (or its config object) wrote `mode`; otherwise it is upstream's
    /// default duration, which a stream's own `requests` overrides.
    pub mode_written: bool,
    pub parallel: bool,
}

/// The streams of a mixed scenario (`writes`, then `reads`), with the checks of the scenario
/// keys a mixed one takes differently: no `command` and at least one stream. `errors_before`
/// is the error count when the scenario's checks began: a scenario with errors already is not
/// also told it has no streams. Each stream comes with its bound in `mode` (see [`bound`]).
pub(super) fn streams(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    parent: Parent,
    errors_before: usize,
) -> Vec<Stream> {
    if obj.contains_key("command") {
        n.err(
            at,
            "command",
            "a \"mixed\" scenario measures its `writes` and `reads`; move the command into one of them",
        );
    }
    let mut streams = Vec::new();
    for (key, phase) in [("writes", Phase::MixedWrite), ("reads", Phase::MixedRead)] {
        streams.extend(stream_list(n, at, obj, key, phase, parent));
    }
    if streams.is_empty() && n.c.errors.len() == errors_before {
        n.err(
            at,
            "writes",
            "a \"mixed\" scenario needs at least one entry in `writes` or `reads`",
        );
    }
    streams
}

/// The `writes` or `reads` of a mixed scenario.
fn stream_list(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    key: &str,
    phase: Phase,
    parent: Parent,
) -> Vec<Stream> {
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
        let Some(sub_id) = stream_id(n, &sat, sobj, phase) else {
            continue;
        };
        if !seen.insert(sub_id.clone()) {
            n.err(
                &sat,
                "id",
                format!("id `{sub_id}` is used twice in `{key}`; give each stream its own id"),
            );
        }
        let (clients, pipeline, mode) = n.with(&sat, sobj, |c| stream_settings(c, parent));
        match command_at(n, &sat, sobj, "command") {
            Some(args) => out.push(Stream {
                phase,
                sub_id: Some(sub_id),
                args,
                clients,
                pipeline,
                mode,
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

/// A stream's `id`: `w` or `r` by default; `None` (with an error) when it is not an id.
fn stream_id(n: &mut Nested, at: &At, obj: &Map<String, Value>, phase: Phase) -> Option<String> {
    let default_id = if phase == Phase::MixedWrite { "w" } else { "r" };
    match obj.get("id") {
        None => Some(default_id.to_string()),
        Some(Value::String(s)) if !s.is_empty() && !s.contains([',', ' ']) => Some(s.clone()),
        Some(v) => {
            n.err(
                at,
                "id",
                format!(
                    "value {} is not an id; use a short name, e.g. \"w\"",
                    show(v)
                ),
            );
            None
        }
    }
}

/// A stream's `(clients, pipeline, bound)`; its `cluster_execution` may only repeat the
/// scenario's, since all streams run in one load generator. The bound: the stream's own
/// `duration`, else the scenario's written duration, else the stream's own `requests`, else
/// the scenario's bound (upstream: duration wins over requests; its default duration only
/// applies to a stream without either).
fn stream_settings(c: &mut Checker<'_>, parent: Parent) -> (u64, u64, Option<BenchmarkMode>) {
    let clients = match c.obj.get("clients") {
        None => 1,
        Some(v) => c.positive("clients", v, "8").unwrap_or(1),
    };
    let pipeline = match c.obj.get("pipeline") {
        None => parent.pipeline,
        Some(v) => c.positive("pipeline", v, "1").unwrap_or(parent.pipeline),
    };
    let duration = match c.obj.get("duration") {
        Some(v) => c.positive("duration", v, "30"),
        None => None,
    };
    let requests = match c.obj.get("requests") {
        Some(v) => c.positive("requests", v, "100000"),
        None => None,
    };
    let parent_duration = match parent.mode {
        Some(BenchmarkMode::Duration(d)) if parent.mode_written => Some(d),
        _ => None,
    };
    let mode = duration
        .or(parent_duration)
        .map(BenchmarkMode::Duration)
        .or(requests.map(BenchmarkMode::Requests))
        .or(parent.mode);
    if cluster_execution(c).is_some_and(|p| p != parent.parallel) {
        c.err(
            "cluster_execution",
            "differs from the scenario's; the streams of a mixed scenario run in one load generator, so set `cluster_execution` on the scenario",
        );
    }
    (clients, pipeline, mode)
}

/// The bound of a mixed scenario's case. Streams that share one bound leave it to the case
/// (their `mode` cleared); streams with different bounds keep their own, and the case takes
/// the one expected to run longest (requests counted at 2 000 per second, as the run's
/// deadline counts them), so the deadline covers every stream. `None` without streams.
pub(super) fn bound(streams: &mut [Stream]) -> Option<BenchmarkMode> {
    let secs = |m: &BenchmarkMode| match *m {
        BenchmarkMode::Duration(s) => s,
        BenchmarkMode::Requests(n) => n / 2000,
    };
    let longest = streams
        .iter()
        .filter_map(|s| s.mode)
        .max_by_key(|m| (secs(m), matches!(m, BenchmarkMode::Duration(_))));
    if streams.windows(2).all(|w| w[0].mode == w[1].mode) {
        for s in streams.iter_mut() {
            s.mode = None;
        }
    }
    longest
}
