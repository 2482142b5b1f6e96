//! Capacity mode (`benchmark_mode: "capacity"`): its keys `slo` (latency bounds, e.g.
//! `{"p99_ms": 1.0}`) and `capacity_rates` (an explicit ladder; without it the ladder is
//! automatic), and what the mode needs from the rest of the object (`duration` per step, a
//! built-in command list, no instructions or memory mode).

use crate::config::checker::{Checker, show, suggest};
use crate::model::capacity::{CapacitySpec, SloBound, SloPercentile};
use serde_json::Value;

/// Most steps an explicit ladder may have (each runs `warmup` + `duration` seconds).
const MAX_RATES: usize = 100;

/// Highest rate a step may ask for, in requests per second.
const MAX_RATE: f64 = 1e9;

/// The object's capacity settings: `Some` in capacity mode. `slo` and `capacity_rates`
/// outside it are errors, as is a capacity object without `slo` or with `requests`.
pub(super) fn capacity(c: &mut Checker<'_>, scenario_shape: bool) -> Option<CapacitySpec> {
    let obj = c.obj;
    let on = obj.get("benchmark_mode").and_then(Value::as_str) == Some("capacity");
    if !on {
        for key in ["slo", "capacity_rates"] {
            if obj.contains_key(key) {
                c.err(
                    key,
                    "only capacity mode uses this key; add \"benchmark_mode\": \"capacity\" or remove it",
                );
            }
        }
        return None;
    }
    if scenario_shape {
        c.err(
            "benchmark_mode",
            "capacity mode measures built-in `commands`, not `test_groups` scenarios; put it in an object of the basic shape",
        );
        return None;
    }
    if obj.contains_key("requests") {
        c.err(
            "requests",
            "capacity mode runs each step of its ladder for `duration` seconds; use `duration` (e.g. 5) instead of `requests`",
        );
    }
    let slo = slo(c);
    let rates = rates(c);
    Some(CapacitySpec { rates, slo })
}

fn slo(c: &mut Checker<'_>) -> Vec<SloBound> {
    let keys: Vec<&str> = SloPercentile::ALL.iter().map(|p| p.key()).collect();
    let Some(v) = c.obj.get("slo") else {
        c.err(
            "slo",
            "capacity mode needs a latency SLO to judge each step; add e.g. \"slo\": {\"p99_ms\": 1.0}",
        );
        return Vec::new();
    };
    let Value::Object(map) = v else {
        c.err(
            "slo",
            format!(
                "value {} is not an object; write e.g. {{\"p99_ms\": 1.0}} (keys {})",
                show(v),
                keys.join(", ")
            ),
        );
        return Vec::new();
    };
    if map.is_empty() {
        c.err(
            "slo",
            format!("is empty; bound at least one of {}", keys.join(", ")),
        );
    }
    let mut bounds = Vec::new();
    for (k, v) in map {
        let Some(percentile) = SloPercentile::from_key(k) else {
            let hint = match suggest(k, &keys) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys: {}", keys.join(", ")),
            };
            c.err("slo", format!("unknown key `{k}`; {hint}"));
            continue;
        };
        match v.as_f64().filter(|ms| ms.is_finite() && *ms > 0.0) {
            Some(ms) if ms <= 86_400_000.0 => bounds.push(SloBound { percentile, ms }),
            _ => c.err(
                "slo",
                format!(
                    "`{k}` is {}; give a positive number of milliseconds, e.g. 1.0",
                    show(v)
                ),
            ),
        }
    }
    bounds
}

fn rates(c: &mut Checker<'_>) -> Vec<f64> {
    let Some(v) = c.obj.get("capacity_rates") else {
        return Vec::new();
    };
    let Value::Array(items) = v else {
        c.err(
            "capacity_rates",
            format!(
                "value {} is not a list; write increasing rates in requests per second, e.g. [10000, 20000, 40000], or remove the key for an automatic ladder",
                show(v)
            ),
        );
        return Vec::new();
    };
    if items.is_empty() || items.len() > MAX_RATES {
        c.err(
            "capacity_rates",
            format!(
                "has {} rates; give 1 to {MAX_RATES}, or remove the key for an automatic ladder",
                items.len()
            ),
        );
        return Vec::new();
    }
    let mut rates = Vec::with_capacity(items.len());
    for item in items {
        match item.as_f64().filter(|r| r.is_finite() && *r > 0.0) {
            Some(r) if r <= MAX_RATE => rates.push(r),
            _ => {
                c.err(
                    "capacity_rates",
                    format!(
                        "{} is not a rate; give positive numbers of requests per second up to {MAX_RATE:e}",
                        show(item)
                    ),
                );
                return Vec::new();
            }
        }
    }
    if let Some(w) = rates.windows(2).find(|w| w[1] <= w[0]) {
        c.err(
            "capacity_rates",
            format!(
                "rates must increase ({} is followed by {}); the ladder stops at the first rate that breaks the SLO",
                w[0], w[1]
            ),
        );
        return Vec::new();
    }
    rates
}
