//! What the benchmark modes allow: memory mode (no load settings, SET on one standalone
//! server), instructions mode (`benchmark_mode: "instructions"`: fixed requests, no warm-up),
//! the per-second sampler and `profiling_sets`, and which of them mix.

use super::ConfigObject;
use crate::config::checker::{Checker, show, suggest};
use crate::model::Builtin;
use serde_json::Value;

/// Keys that describe load, which memory mode does not generate: it writes each of the
/// `keyspacelen` keys once, pipelined over one connection.
const NOT_IN_MEMORY_MODE: &[&str] = &[
    "requests",
    "duration",
    "pipelines",
    "clients",
    "benchmark-threads",
    "client_cpu_range",
    "seed",
    "key_distribution",
    "read_from_replicas",
];

/// Memory mode generates no load: each key of [`NOT_IN_MEMORY_MODE`] is an error.
pub(super) fn no_load_keys(c: &mut Checker<'_>) {
    let obj = c.obj;
    for key in NOT_IN_MEMORY_MODE.iter().filter(|k| obj.contains_key(**k)) {
        c.err(
            key,
            "memory mode writes each of the `keyspacelen` keys once over one connection, \
             so it takes no load settings; remove this key or put it in another config object",
        );
    }
}

/// `benchmark_mode`: true for `"instructions"`, which counts a fixed number of requests
/// without warm-up.
pub(super) fn instructions(c: &mut Checker<'_>, duration: Option<u64>, warmup: u64) -> bool {
    let obj = c.obj;
    let instructions = match obj.get("benchmark_mode") {
        None => false,
        Some(Value::String(m)) if m == "instructions" => true,
        Some(Value::String(m))
            if m == "requests" || m == "duration" || m == "memory" || m == "capacity" =>
        {
            false
        }
        Some(v) => {
            c.err(
                "benchmark_mode",
                format!(
                    "value {} is not a mode; use \"instructions\" (instructions per request under callgrind), \"memory\" (bytes of overhead per key), \"capacity\" (a ladder of fixed rates under a latency SLO), or leave it out",
                    show(v)
                ),
            );
            false
        }
    };
    if instructions {
        if duration.is_some() {
            c.err(
                "duration",
                "instructions mode counts a fixed number of requests; use `requests` instead of `duration`",
            );
        }
        if warmup > 0 {
            c.err(
                "warmup",
                "instructions mode counts only the measured requests; set `warmup` to 0",
            );
        }
    }
    instructions
}

/// `per_second_sampling`: not in instructions mode, whose window would count its commands.
pub(super) fn sampling(c: &mut Checker<'_>, instructions: bool) -> bool {
    let obj = c.obj;
    let sampling = match obj.get("per_second_sampling") {
        None => false,
        Some(v) => c.toggle("per_second_sampling", v).unwrap_or(false),
    };
    if sampling && instructions {
        c.err(
            "per_second_sampling",
            "the sampler's INFO commands would count in instructions mode's window; sample in a timed config object instead",
        );
    }
    sampling
}

/// `profiling_sets`, which need timed load (not memory or instructions mode).
pub(super) fn profiling(
    c: &mut Checker<'_>,
    untimed: bool,
) -> Option<crate::model::case::Profiling> {
    let profiling = profiling_sets(c);
    if profiling.is_some() && untimed {
        c.err(
            "profiling_sets",
            "profiling needs timed load on servers running natively; remove it from memory and instructions mode objects",
        );
    }
    profiling
}

/// `duet`: two targets timed at once. Memory mode times nothing, and instructions mode counts
/// instructions, which a neighbour does not disturb: neither has anything to gain from it.
pub(super) fn duet(c: &mut Checker<'_>, memory: bool, instructions: bool) -> bool {
    let duet = match c.obj.get("duet") {
        None => false,
        Some(v) => c.toggle("duet", v).unwrap_or(false),
    };
    if duet && (memory || instructions) {
        c.err(
            "duet",
            "a duet times two targets at once; memory and instructions modes time nothing (a neighbour cannot disturb their figures), so remove `duet` from this object",
        );
    }
    if duet && c.obj.contains_key("requests") && !c.obj.contains_key("duration") {
        c.err(
            "duet",
            "a duet's two loads must stop together, which `requests` cannot promise (the faster target would finish first and the other run on alone); give `duration` instead",
        );
    }
    duet
}

/// Memory mode times no load, so the sampler has nothing to sample.
pub(super) fn sampling_without_load(c: &mut Checker<'_>, sampling: bool, memory: bool) {
    if sampling && memory {
        c.err(
            "per_second_sampling",
            "memory mode times no load, so there is nothing to sample; remove the key",
        );
    }
}

/// Memory mode measures SET keys on one standalone server, loaded once.
pub(super) fn memory(c: &mut Checker<'_>, object: &ConfigObject) {
    if !object.memory {
        return;
    }

    if let Some(other) = object.commands.iter().find(|c| **c != Builtin::Set) {
        c.err(
            "commands",
            format!(
                "memory mode measures string keys written by SET, not {}; use [\"SET\"]",
                other.command_name()
            ),
        );
    }
    if object.cluster_mode.contains(&true) {
        c.err(
            "cluster_mode",
            "memory mode measures one standalone server; set \"no\" or remove the key",
        );
    }
    if object.warmup > 0 {
        c.err("warmup", "memory mode loads keys once; set `warmup` to 0");
    }
}

/// `profiling_sets` (upstream's key): a list of `{"enabled": bool, "mode": "cpu",
/// "sampling_freq": n, "delay": s}`; disabled entries mean no profiling, at most one may be
/// enabled.
fn profiling_sets(c: &mut Checker) -> Option<crate::model::case::Profiling> {
    const KEYS: &[&str] = &["enabled", "mode", "sampling_freq", "delay"];
    let key = "profiling_sets";
    let v = c.obj.get(key)?;
    let Value::Array(items) = v else {
        c.err(
            key,
            format!(
                "value {} is not a list; write [{{\"enabled\": true, \"mode\": \"cpu\", \"sampling_freq\": 999}}]",
                show(v)
            ),
        );
        return None;
    };
    let mut enabled = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(set) = item else {
            c.err(key, format!("entry {i} ({}) is not an object", show(item)));
            continue;
        };
        for k in set.keys().filter(|k| !KEYS.contains(&k.as_str())) {
            let hint = match suggest(k, KEYS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys: {}", KEYS.join(", ")),
            };
            c.err(key, format!("entry {i}: unknown key `{k}`; {hint}"));
        }
        match set.get("enabled") {
            Some(Value::Bool(false)) => continue,
            Some(Value::Bool(true)) => {}
            other => {
                c.err(
                    key,
                    format!(
                        "entry {i}: `enabled` is {}; write true or false",
                        other.map_or_else(|| "missing".to_string(), show)
                    ),
                );
                continue;
            }
        }
        match set.get("mode") {
            None => {}
            Some(Value::String(m)) if m == "cpu" => {}
            Some(m) => c.err(
                key,
                format!(
                    "entry {i}: mode {} is not supported; use \"cpu\" (on-CPU samples of the cpu-clock software event)",
                    show(m)
                ),
            ),
        }
        let freq = match set.get("sampling_freq") {
            None => 999,
            Some(f) => match f.as_u64().filter(|n| (1..=100_000).contains(n)) {
                Some(n) => n as u32,
                None => {
                    c.err(
                        key,
                        format!(
                            "entry {i}: sampling_freq {} is not a number of samples per second from 1 to 100000, e.g. 999",
                            show(f)
                        ),
                    );
                    999
                }
            },
        };
        let delay = match set.get("delay") {
            None => 0,
            Some(d) => d.as_u64().unwrap_or_else(|| {
                c.err(
                    key,
                    format!(
                        "entry {i}: delay {} is not a whole number of seconds ≥ 0",
                        show(d)
                    ),
                );
                0
            }),
        };
        enabled.push(crate::model::case::Profiling {
            sampling_freq: freq,
            delay_secs: delay,
        });
    }
    if enabled.len() > 1 {
        c.err(
            key,
            format!(
                "{} entries are enabled; enable one (each case gets one extra profiled run)",
                enabled.len()
            ),
        );
    }
    enabled.first().copied()
}
