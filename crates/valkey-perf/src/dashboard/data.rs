//! The page's one data block: the commits once, and per panel (a case's command within a
//! chart) its series per commit, its change points, its noise and its levels, as compact JSON
//! the page's script draws from. Numbers keep five significant digits, far below run-to-run
//! noise.
//!
//! The change points of every panel are found here (E-divisive, [`changepoint`]), on the mean
//! log rps per commit, each panel at a Bonferroni share of [`CHANGE_POINT_ALPHA`]; panels are
//! spread over the machine's cores.

use super::{Commit, Panel};
use crate::history::changepoint::{self, ChangePoint};
use crate::history::drift::median;
use serde_json::{Value, json};

/// Chance of any false change point mark over all the panels of the page.
pub const CHANGE_POINT_ALPHA: f64 = 0.05;

/// One panel's figures, before they become JSON.
#[derive(Debug, Clone)]
pub struct PanelData {
    /// Per x position: mean, lowest and highest run of rps; mean p50 and p99 latency.
    pub rps: Vec<Option<[f64; 3]>>,
    pub p50: Vec<Option<f64>>,
    pub p99: Vec<Option<f64>>,
    /// Mean log rps per x position (what change points and drift are computed on).
    pub log_rps: Vec<Option<f64>>,
    /// Change points as (x position of the first commit at the new level, change point).
    pub change_points: Vec<(usize, ChangePoint)>,
    /// The commit-to-commit noise of the mean log rps: 1.4826·MAD of consecutive differences
    /// over √2 (robust to the steps themselves); `None` with fewer than 3 commits.
    pub noise_sd_log: Option<f64>,
    /// Levels between change points: (first x, last x, median rps of the commit means).
    pub levels: Vec<(usize, usize, f64)>,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// FNV-1a of the panel's key: the seed of its permutation test, stable across builds.
fn seed_of(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The figures of one panel; its change points are tested at `level`.
pub fn panel_data(panel: &Panel, level: f64, key: &str) -> PanelData {
    let n = panel.runs.len();
    let mut out = PanelData {
        rps: Vec::with_capacity(n),
        p50: Vec::with_capacity(n),
        p99: Vec::with_capacity(n),
        log_rps: Vec::with_capacity(n),
        change_points: Vec::new(),
        noise_sd_log: None,
        levels: Vec::new(),
    };
    for runs in &panel.runs {
        let rps: Vec<f64> = runs.iter().filter_map(|r| r.rps).collect();
        let logs: Vec<f64> = rps.iter().filter(|v| **v > 0.0).map(|v| v.ln()).collect();
        out.rps.push(mean(&rps).map(|m| {
            let lo = rps.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            [m, lo, hi]
        }));
        out.log_rps.push(mean(&logs));
        out.p50
            .push(mean(&runs.iter().filter_map(|r| r.p50).collect::<Vec<_>>()));
        out.p99
            .push(mean(&runs.iter().filter_map(|r| r.p99).collect::<Vec<_>>()));
    }
    let (at, values): (Vec<usize>, Vec<f64>) = out
        .log_rps
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .unzip();
    out.change_points = changepoint::detect(
        &values,
        &changepoint::Options::at_level(level, seed_of(key)),
    )
    .into_iter()
    .map(|cp| (at[cp.index], cp))
    .collect();
    let diffs: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
    if diffs.len() >= 2 {
        let m = median(&diffs).unwrap_or(0.0);
        let dev: Vec<f64> = diffs.iter().map(|d| (d - m).abs()).collect();
        out.noise_sd_log = median(&dev).map(|mad| 1.4826 * mad / 2f64.sqrt());
    }
    // Levels: the median commit mean between consecutive change points.
    let mut starts: Vec<usize> = vec![0];
    starts.extend(out.change_points.iter().map(|(x, _)| *x));
    for (i, &from) in starts.iter().enumerate() {
        let to = starts.get(i + 1).map_or(n, |&s| s);
        let means: Vec<f64> = (from..to)
            .filter_map(|x| out.rps[x].map(|p| p[0]))
            .collect();
        if let Some(level) = median(&means) {
            out.levels.push((from, to.saturating_sub(1), level));
        }
    }
    out
}

/// The figures of every panel (`(chart, panel, key)`), each with its JSON for the page's
/// data block ([`panel_json`], script-safe), computed on up to as many threads as the
/// machine has cores, each taking the next panel when done with one: a panel with a change
/// point costs thousands of shuffles, one without a few dozen, so fixed shares would leave a
/// thread idle.
pub fn all_panels(panels: &[(usize, &Panel, String)], level: f64) -> Vec<(PanelData, String)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, panels.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, (PanelData, String))> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((chart, p, key)) = panels.get(i) else {
                            return mine;
                        };
                        let d = panel_data(p, level, key);
                        let json = script_safe(&panel_json(*chart, p, &d));
                        mine.push((i, (d, json)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a dashboard worker thread panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, d)| d).collect()
}

/// A number with five significant digits, as JSON.
fn num(v: f64) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    let digits = 4 - v.abs().log10().floor().clamp(-12.0, 12.0) as i32;
    let scale = 10f64.powi(digits.max(0));
    let rounded = if digits >= 0 {
        (v * scale).round() / scale
    } else {
        let s = 10f64.powi(-digits);
        (v / s).round() * s
    };
    if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
        return json!(rounded as i64);
    }
    json!(rounded)
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, num)
}

fn pct(log: f64) -> f64 {
    (log.exp() - 1.0) * 100.0
}

/// The JSON of one panel (keys kept short: the block holds thousands of numbers per panel).
pub fn panel_json(chart: usize, panel: &Panel, d: &PanelData) -> Value {
    let col = |i: usize| -> Vec<Value> {
        d.rps
            .iter()
            .map(|p| p.map_or(Value::Null, |p| num(p[i])))
            .collect()
    };
    json!({
        "chart": chart,
        "command": panel.command,
        "detail": panel.detail,
        "rps": col(0),
        "lo": col(1),
        "hi": col(2),
        "p50": d.p50.iter().map(|v| opt(*v)).collect::<Vec<_>>(),
        "p99": d.p99.iter().map(|v| opt(*v)).collect::<Vec<_>>(),
        "noise": d.noise_sd_log.map_or(Value::Null, |s| num(s * 100.0)),
        "levels": d.levels.iter().map(|(a, b, l)| json!([a, b, num(*l)])).collect::<Vec<_>>(),
        "cps": d.change_points.iter().map(|(x, cp)| json!([
            x, num(pct(cp.step)), num(pct(cp.step_ci95[0])), num(pct(cp.step_ci95[1])),
            num(cp.p_value)
        ])).collect::<Vec<_>>(),
    })
}

/// The JSON of the commits: `[full SHA, commit time, ref, link or null]`.
pub fn commits_json(commits: &[Commit]) -> Value {
    Value::Array(
        commits
            .iter()
            .map(|c| json!([c.sha, c.time_text, c.git_ref, c.href()]))
            .collect(),
    )
}

/// Text for `<script type="application/json">`: `</` cannot end the element early.
pub fn script_safe(v: &Value) -> String {
    v.to_string().replace("</", "<\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_five_significant_digits() {
        assert_eq!(num(123_456.7).to_string(), "123460");
        assert_eq!(num(0.123_456), json!(0.12346));
        assert_eq!(num(f64::NAN), Value::Null);
        assert_eq!(
            script_safe(&json!({"a": "</script>"})),
            r#"{"a":"<\/script>"}"#
        );
    }
}
