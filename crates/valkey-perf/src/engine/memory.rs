//! Memory mode (`benchmark_mode: "memory"`): no load is timed. On a fresh server, the memory
//! in use is read while the server holds no key, then `keyspacelen` string keys of
//! `data_size` bytes are written once (the seeding writes, pipelined over the control
//! connection), and the memory is read again. What each key costs beyond its own name and
//! value is the per-key overhead of the server's data structures (dictionary entry, object
//! header, allocator rounding, the table's buckets), which differs between versions.
//!
//! Readings wait for `used_memory` to settle, so that a hash table still rehashing into a
//! larger one (two tables alive at once) is not measured halfway.

use super::Measurement;
use super::seed::{self, SeedPlan};
use crate::model::{Builtin, Case, MemoryFigures, Metrics, RecordParts};
use crate::server::control::{Control, Frame, info_field};
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

/// The key names seeding writes: `key:` and twelve digits.
const KEY_PREFIX: &str = "key:";
const KEY_BYTES: u64 = KEY_PREFIX.len() as u64 + 12;

/// How often, and how long at most, `used_memory` is polled until two readings agree.
const SETTLE_EVERY: Duration = Duration::from_millis(100);
const SETTLE_WITHIN: Duration = Duration::from_secs(20);

/// `used_memory` once two readings [`SETTLE_EVERY`] apart agree.
fn settled_used_memory(control: &mut Control) -> Result<u64> {
    let read = |control: &mut Control| -> Result<u64> {
        let info = control.info("memory")?;
        let text = info_field(&info, "used_memory")
            .context("`INFO memory` has no `used_memory`; is it a Valkey server?")?;
        text.parse()
            .with_context(|| format!("`used_memory:{text}` is not a number"))
    };
    let until = Instant::now() + SETTLE_WITHIN;
    let mut last = read(control)?;
    loop {
        std::thread::sleep(SETTLE_EVERY);
        let now = read(control)?;
        if now == last {
            return Ok(now);
        }
        if Instant::now() > until {
            bail!(
                "`used_memory` of `{}` kept changing for {}s (last {last} → {now} bytes); is something else writing to it?",
                control.addr(),
                SETTLE_WITHIN.as_secs()
            );
        }
        last = now;
    }
}

/// The bytes each item costs beyond its key and value, from the memory in use before and
/// after loading `items` keys of `key_bytes` + `value_bytes`.
pub fn overhead_per_item(
    empty: u64,
    loaded: u64,
    items: u64,
    key_bytes: u64,
    value_bytes: u64,
) -> f64 {
    (loaded as f64 - empty as f64) / items as f64 - key_bytes as f64 - value_bytes as f64
}

/// Runs memory mode on the (fresh, empty) server behind `control`. The record's timing
/// metrics are not numbers (`null` in `metrics.json`): nothing was timed.
pub fn measure(case: &Case, control: &mut Control) -> Result<Measurement> {
    if case.builtin() != Some(Builtin::Set) {
        bail!(
            "memory mode measures string keys written by SET, not {}",
            case.command
        );
    }
    let dbsize = control.call(&["DBSIZE"])?;
    if !matches!(dbsize, Frame::Integer(0)) {
        bail!(
            "memory mode needs an empty server, but `{}` holds keys ({dbsize:?})",
            control.addr()
        );
    }
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let empty = settled_used_memory(control)?;
    let plan = SeedPlan {
        write: Builtin::Set,
        count: case.keyspacelen,
        key: KEY_PREFIX,
        pops: false,
    };
    let loaded_at = Instant::now();
    let written = seed::seed(control, &plan, case.data_size, None)?;
    let load_secs = loaded_at.elapsed().as_secs_f64();
    let loaded = settled_used_memory(control)?;
    let keys = match control.call(&["DBSIZE"])? {
        Frame::Integer(n) => n as u64,
        other => bail!("`DBSIZE` returned {other:?}"),
    };
    if keys != case.keyspacelen {
        bail!(
            "wrote {written} keys but the server holds {keys}; memory mode needs a server nothing else writes to"
        );
    }
    let overhead = overhead_per_item(empty, loaded, keys, KEY_BYTES, case.data_size);
    let memory = MemoryFigures {
        memory_items: keys,
        key_size: KEY_BYTES,
        used_memory_empty: empty,
        used_memory_loaded: loaded,
        bytes_per_item: round2((loaded as f64 - empty as f64) / keys as f64),
        overhead_bytes_per_item: round2(overhead),
        load_seconds: round2(load_secs),
        latency_meaningful: false,
    };
    let not_timed = f64::NAN;
    Ok(Measurement {
        metrics: Metrics {
            rps: not_timed,
            avg_latency_ms: not_timed,
            min_latency_ms: not_timed,
            p50_latency_ms: not_timed,
            p95_latency_ms: not_timed,
            p99_latency_ms: not_timed,
            max_latency_ms: not_timed,
        },
        parts: RecordParts {
            memory: Some(memory),
            ..RecordParts::default()
        },
        client_cpus: None,
        started_at,
        seed: None,
        warnings: Vec::new(),
    })
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_is_what_remains_beyond_key_and_value() {
        // 1000 keys of 16 + 64 bytes costing 120 000 bytes: 40 bytes each beyond them.
        assert_eq!(overhead_per_item(1_000_000, 1_120_000, 1000, 16, 64), 40.0);
        assert_eq!(KEY_BYTES, 16);
    }
}
