//! Which functions got more expensive: inclusive instruction counts per function from the
//! callgrind dumps that instructions-mode records name (`callgrind_files`), per request, for
//! the baseline and the new side of a case, and the functions whose cost changed most.
//!
//! The callgrind format (valgrind's "Callgrind Format Specification"): `fn=` starts a
//! function's block, cost lines (`<position> <Ir>`) are its own cost, and after
//! `calls=<count> <target>` the next cost line is the inclusive cost of that call. A function's
//! inclusive cost is its own cost plus the inclusive cost of its calls, as `callgrind_annotate
//! --inclusive=yes` computes it. Names are compressed: `(id) name` the first time, `(id)` after.

use super::view::RecordView;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// One function whose inclusive cost per request changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionChange {
    pub function: String,
    /// Inclusive instructions per request on each side.
    pub baseline_per_request: f64,
    pub new_per_request: f64,
    /// new − baseline, instructions per request.
    pub change_per_request: f64,
    /// The function's share of all instructions on the new side (inclusive, percent).
    pub new_share_pct: f64,
}

/// Inclusive instructions per function in one dump, and the dump's total.
pub fn inclusive_costs(text: &str) -> (HashMap<String, u64>, u64) {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut resolve = |spec: &str| -> String {
        let spec = spec.trim();
        match spec.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((id, rest)) => {
                let rest = rest.trim();
                if rest.is_empty() {
                    names.get(id).cloned().unwrap_or_else(|| format!("({id})"))
                } else {
                    names.insert(id.to_string(), rest.to_string());
                    rest.to_string()
                }
            }
            None => spec.to_string(),
        }
    };
    let mut costs: HashMap<String, u64> = HashMap::new();
    let mut total = 0u64;
    let mut current: Option<String> = None;
    // Own cost lines and the inclusive cost line after each `calls=` both add to the current
    // function's inclusive cost.
    for line in text.lines() {
        if let Some(spec) = line.strip_prefix("fn=") {
            current = Some(resolve(spec));
        } else if let Some(spec) = line.strip_prefix("cfn=") {
            // Register the name (the id may be first seen here).
            resolve(spec);
        } else if let Some(v) = line.strip_prefix("totals:") {
            total = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(total);
        } else if line
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '+' || c == '-' || c == '*')
        {
            let cost: u64 = line
                .split_whitespace()
                .last()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if let Some(f) = &current {
                *costs.entry(f.clone()).or_default() += cost;
            }
        }
    }
    (costs, total)
}

/// Sums the inclusive costs of every dump of `records` (the runs of one side of a case) and
/// divides by the requests they completed. `None` when a record names no dump or a dump cannot
/// be read.
fn per_request(records: &[&RecordView]) -> Option<(HashMap<String, f64>, f64)> {
    let mut sum: HashMap<String, u64> = HashMap::new();
    let mut total = 0u64;
    let mut requests = 0u64;
    for r in records {
        let files = r.callgrind_files.as_ref()?;
        requests += r.requests_completed?;
        for f in files {
            let text = std::fs::read_to_string(Path::new(f)).ok()?;
            let (costs, t) = inclusive_costs(&text);
            total += t;
            for (k, v) in costs {
                *sum.entry(k).or_default() += v;
            }
        }
    }
    if requests == 0 || total == 0 {
        return None;
    }
    let per: HashMap<String, f64> = sum
        .into_iter()
        .map(|(k, v)| (k, v as f64 / requests as f64))
        .collect();
    Some((per, total as f64 / requests as f64))
}

/// The `top` functions whose inclusive instructions per request changed most between the two
/// sides, the function where the change happens first (see the ranking below). Empty when either side has no readable dumps.
pub fn top_changes(
    baseline: &[&RecordView],
    new: &[&RecordView],
    top: usize,
) -> Vec<FunctionChange> {
    let (Some((b, _)), Some((n, n_total))) = (per_request(baseline), per_request(new)) else {
        return Vec::new();
    };
    let mut names: Vec<&String> = b.keys().chain(n.keys()).collect();
    names.sort();
    names.dedup();
    let mut changes: Vec<FunctionChange> = names
        .into_iter()
        .map(|name| {
            let bv = b.get(name).copied().unwrap_or(0.0);
            let nv = n.get(name).copied().unwrap_or(0.0);
            FunctionChange {
                function: name.clone(),
                baseline_per_request: bv,
                new_per_request: nv,
                change_per_request: nv - bv,
                new_share_pct: nv / n_total * 100.0,
            }
        })
        .filter(|c| c.change_per_request != 0.0)
        .collect();
    // Every caller up the chain shows the same inclusive change as the function where the
    // work really changed. Rank by the change weighted by how much of the function's own
    // inclusive cost it is: the function that (nearly) only does the new work comes first,
    // then its closest callers, and `main`-like ancestors last.
    let score = |c: &FunctionChange| {
        let size = c.baseline_per_request.max(c.new_per_request);
        c.change_per_request.abs() * (c.change_per_request.abs() / size)
    };
    changes.sort_by(|a, b| score(b).total_cmp(&score(a)));
    changes.truncate(top);
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive_cost_is_own_cost_plus_calls() {
        let dump = "events: Ir\n\
            fn=(1) main\n0 10\n\
            cfn=(2) work\ncalls=2 5\n0 100\n\
            fn=(2)\n0 100\n\
            cfn=(3) leaf\ncalls=1 0\n0 7\n\
            fn=(3)\n0 7\n\
            totals: 117\n";
        let (costs, total) = inclusive_costs(dump);
        assert_eq!(total, 117);
        assert_eq!(costs["main"], 110);
        assert_eq!(costs["work"], 107);
        assert_eq!(costs["leaf"], 7);
    }
}
