//! `run --precision PCT`: rounds are added until every case's paired 95 % interval of
//! new / baseline is narrower than ±PCT, or `--max-time` is up.
//!
//! The interval is the one `compare` reports (the paired analysis, variances moderated across
//! cases), and the rule looks only at its width, never at the estimate, so when it stops says
//! nothing about which way the difference points. A round is one unit of cases on every
//! target, in the interleaved order (A B, B A, ...); each pass adds one round to every unit
//! that still has a case wider than the goal, so the time goes where the noise is. Owns the
//! stopping rule and its loop; running a unit's round is `run`'s ([`super::run_unit`]).

use super::lifecycle::RunContext;
use super::{Stop, Tally, describe, round_order, run_unit, take_outcome, units};
use crate::commands::logging::Progress;
use crate::compare::{CaseComparison, CompareOptions, Comparison, RecordView, Verdict};
use crate::process::interrupted;
use anyhow::Result;
use std::time::{Duration, Instant};

/// Rounds every unit gets before the rule is first applied: with fewer, the interval rests on
/// so few degrees of freedom that a lucky small spread stops it too early (the Monte Carlo
/// test below measures the coverage this keeps).
pub(super) const MIN_ROUNDS: u32 = 6;

/// What `--precision` asks for, lowered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Precision {
    /// The goal: every case's interval narrower than ±`pct` percent.
    pub pct: f64,
    /// No round starts after this long.
    pub max_time: Duration,
}

/// How one case of the comparison ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CaseWidth {
    pub label: String,
    /// Half-width of its interval, in percent; `None` without one.
    pub half_width_pct: Option<f64>,
    /// The width the stopping rule reads ([`rule_width_pct`]).
    pub rule_width_pct: Option<f64>,
}

/// The half-width of an interval of the ratio as a percentage: the log interval's half-width
/// h as exp(h) − 1, which does not depend on where the interval lies.
pub(super) fn half_width_pct(case: &CaseComparison) -> Option<f64> {
    let (h, _) = log_half_width(case)?;
    Some(h.exp_m1() * 100.0)
}

/// The primary metric's log half-width and the degrees of freedom of its variance.
fn log_half_width(case: &CaseComparison) -> Option<(f64, f64)> {
    let m = case
        .metrics
        .iter()
        .find(|m| m.verdict != Verdict::NotJudged)?;
    let d = m.difference.as_ref()?;
    let [lo, hi] = d.pct_change_ci95?;
    let h = ((1.0 + hi / 100.0).ln() - (1.0 + lo / 100.0).ln()) / 2.0;
    (h.is_finite() && h >= 0.0).then_some((h, d.df.unwrap_or(1.0).max(1.0)))
}

/// Quantile of the variance's χ² at which the rule reads it: the upper 70 % bound.
const VARIANCE_QUANTILE: f64 = 0.3;

/// What the stopping rule reads: the half-width (percent) the interval would have if the
/// noise were at the upper 70 % confidence bound of what the rounds show, s²·df / χ²₀.₃(df).
/// Stopping on the plain width stops on rounds whose spread happened to be small, and their
/// interval then covers less often than it says; reading the width with this margin leaves
/// those lucky stops out (the Monte Carlo test below measures what it keeps).
pub(super) fn rule_width_pct(case: &CaseComparison) -> Option<f64> {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let (h, df) = log_half_width(case)?;
    let q = ChiSquared::new(df).ok()?.inverse_cdf(VARIANCE_QUANTILE);
    (q > 0.0).then(|| (h * (df / q).sqrt()).exp_m1() * 100.0)
}

/// Every case's width in `cmp`, as reported and as the rule reads it.
pub(super) fn widths(cmp: &Comparison) -> Vec<CaseWidth> {
    cmp.cases
        .iter()
        .map(|c| CaseWidth {
            label: c.label.clone(),
            half_width_pct: half_width_pct(c),
            rule_width_pct: rule_width_pct(c),
        })
        .collect()
}

/// Whether a case still needs rounds: no interval yet, or one at least ±`pct` wide.
pub(super) fn open(w: Option<f64>, pct: f64) -> bool {
    w.is_none_or(|w| w >= pct)
}

/// The comparison `compare` would make of the records so far (baseline `bi` against `ni`).
fn comparison(tally: &Tally, bi: usize, ni: usize) -> Result<Comparison> {
    let views = |rs: &[crate::model::Record]| -> Vec<RecordView> {
        rs.iter().map(RecordView::from_record).collect()
    };
    crate::compare::compare_views(
        &views(&tally.records[bi]),
        &views(&tally.records[ni]),
        "baseline",
        "new",
        &CompareOptions::default(),
    )
}

/// Whether a record belongs to the case of a comparison: every parameter of the case has the
/// record's value.
fn belongs(case: &CaseComparison, record: &RecordView) -> bool {
    use crate::compare::group::canonical;
    case.params
        .iter()
        .all(|p| canonical(record.get(&p.name)) == canonical(Some(&p.value)))
}

/// What the loop ended with: why it stopped early (Ctrl-C, a server that did not start, a
/// record that could not be written), and every case's final width.
pub(super) struct Outcome {
    pub stop: Option<Stop>,
    pub widths: Vec<CaseWidth>,
    pub rounds: u32,
}

impl Outcome {
    /// The runs stopped early (Ctrl-C, a server that did not start): no widths to report.
    fn halted(stop: Stop, rounds: u32) -> Outcome {
        Outcome {
            stop: Some(stop),
            widths: Vec::new(),
            rounds,
        }
    }
}

/// Runs rounds until every case is precise, or the time is up (see the module docs).
pub(super) fn run_precise(
    ctx: &RunContext,
    tally: &mut Tally,
    precision: Precision,
) -> Result<Outcome> {
    let plan = ctx.plan;
    let bi = plan
        .targets
        .iter()
        .position(|t| t.is_baseline)
        .expect("--precision is lowered only with a baseline");
    let ni = usize::from(bi == 0);
    let units = units(&plan.cases);
    // Per unit: rounds run; per baseline record: the unit it came from.
    let mut rounds = vec![0u32; units.len()];
    let mut unit_of: Vec<usize> = Vec::new();
    let started = Instant::now();
    let min_rounds = plan.runs.max(MIN_ROUNDS);
    loop {
        let cmp = comparison(tally, bi, ni)?;
        let widths = widths(&cmp);
        let mut wanted = vec![false; units.len()];
        for (u, r) in rounds.iter().enumerate() {
            wanted[u] = *r < min_rounds;
        }
        for (case, w) in cmp.cases.iter().zip(&widths) {
            if !open(w.rule_width_pct, precision.pct) {
                continue;
            }
            let baseline = &tally.records[bi];
            if let Some(i) =
                (0..baseline.len()).find(|&i| belongs(case, &RecordView::from_record(&baseline[i])))
            {
                wanted[unit_of[i]] = true;
            }
        }
        // A unit whose runs all failed has no case in the comparison yet.
        for (u, r) in rounds.iter().enumerate() {
            if *r > 0 && !unit_of.contains(&u) {
                wanted[u] = true;
            }
        }
        let todo: Vec<usize> = (0..units.len()).filter(|&u| wanted[u]).collect();
        let round = rounds.iter().copied().max().unwrap_or(0);
        if todo.is_empty() || started.elapsed() >= precision.max_time {
            let mut widths = widths;
            // Cases the time left no run of (or whose runs all failed) have no interval.
            for (u, unit) in units.iter().enumerate() {
                if !unit_of.contains(&u) {
                    widths.extend(unit.clone().map(|ci| CaseWidth {
                        label: plan.cases[ci].label(),
                        half_width_pct: None,
                        rule_width_pct: None,
                    }));
                }
            }
            return Ok(Outcome {
                stop: None,
                widths,
                rounds: round,
            });
        }
        let unit_runs: usize = todo.iter().map(|&u| units[u].len()).sum();
        tracing::info!(
            "round {}: {} of {} units still wider than ±{} % ({:.0} s left)",
            round + 1,
            todo.len(),
            units.len(),
            precision.pct,
            precision
                .max_time
                .saturating_sub(started.elapsed())
                .as_secs_f64()
        );
        let progress = Progress::new((unit_runs * plan.targets.len()) as u64);
        for u in todo {
            if started.elapsed() >= precision.max_time {
                break;
            }
            let run_index = rounds[u];
            if plan.cases[units[u].start].duet {
                // Both targets at once: one round gives a record per target.
                if interrupted() {
                    progress.finish();
                    return Ok(Outcome::halted(Stop::Interrupted, round));
                }
                let before = tally.records[bi].len();
                let stop = super::duet::round(ctx, &progress, tally, units[u].start, run_index)?;
                unit_of.extend(std::iter::repeat_n(u, tally.records[bi].len() - before));
                if let Some(stop) = stop {
                    progress.finish();
                    return Ok(Outcome::halted(stop, round));
                }
                rounds[u] += 1;
                continue;
            }
            for ti in round_order(plan.targets.len(), run_index) {
                if interrupted() {
                    progress.finish();
                    return Ok(Outcome::halted(Stop::Interrupted, round));
                }
                for (ci, outcome) in run_unit(ctx, &progress, units[u].clone(), run_index, ti) {
                    let what = describe(plan, ci, run_index, ti);
                    let before = tally.records[bi].len();
                    let stop = take_outcome(&plan.cases[ci], ti, outcome, &what, tally)?;
                    unit_of.extend(std::iter::repeat_n(u, tally.records[bi].len() - before));
                    if let Some(stop) = stop {
                        progress.finish();
                        return Ok(Outcome::halted(stop, round));
                    }
                }
                progress.inc_by(units[u].len() as u64);
            }
            rounds[u] += 1;
        }
        progress.finish();
    }
}

/// Says how precise every case got, and which did not reach the goal. `true` when every case
/// did.
pub(super) fn report(outcome: &Outcome, precision: Precision) -> bool {
    let unfinished: Vec<&CaseWidth> = outcome
        .widths
        .iter()
        .filter(|w| open(w.rule_width_pct, precision.pct))
        .collect();
    for w in &outcome.widths {
        tracing::info!(
            "{}: paired 95 % interval ±{}",
            w.label,
            w.half_width_pct
                .map_or_else(|| "? (no interval)".to_string(), |h| format!("{h:.2} %"))
        );
    }
    if unfinished.is_empty() {
        tracing::info!(
            "every case's interval is narrower than ±{} % after {} rounds at most",
            precision.pct,
            outcome.rounds
        );
        return true;
    }
    tracing::warn!(
        "{} of {} cases did not get narrower than ±{} % within --max-time {} s: {}; give more time (--max-time) or accept a wider goal",
        unfinished.len(),
        outcome.widths.len(),
        precision.pct,
        precision.max_time.as_secs(),
        unfinished
            .iter()
            .map(|w| format!(
                "`{}` (±{})",
                w.label,
                w.half_width_pct
                    .map_or_else(|| "?".to_string(), |h| format!("{h:.2} %"))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    false
}

/// `--max-time`: whole seconds, or a number with `s`, `m` or `h`.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: f64 = num.trim().parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0 && secs < 1e7).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        for bad in ["", "0", "-3m", "5d", "m", "nan"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    /// SplitMix64 and Box-Muller: standard normal draws from a fixed seed.
    struct Normal(u64);

    impl Normal {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }

        fn draw(&mut self) -> f64 {
            let u = self.uniform().max(f64::MIN_POSITIVE);
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
        }
    }

    /// The per-round log-ratio noise of each synthetic case: one level for all, and one that
    /// differs between commands as it does on a real machine.
    const EQUAL: [f64; 4] = [0.04; 4];
    const UNEQUAL: [f64; 4] = [0.03, 0.04, 0.05, 0.06];

    fn record(command: &str, round: u32, rps: f64) -> RecordView {
        let serde_json::Value::Object(map) = serde_json::json!({
            "command": command, "run_index": round, "invocation_id": "mc", "rps": rps,
        }) else {
            unreachable!()
        };
        RecordView::from_map(map)
    }

    /// One invocation under the stopping rule: rounds of every open case until all are
    /// narrower than ±`pct` % (at least [`MIN_ROUNDS`], at most `max_rounds`), with a true
    /// change of `truth` (log scale), per-round noise `noise` by case and a machine drift
    /// shared by both sides of a round. Returns the comparison at the stop and the rounds run.
    fn stopped(
        rng: &mut Normal,
        noise: &[f64; 4],
        truth: f64,
        pct: f64,
        max_rounds: u32,
    ) -> (Comparison, u32) {
        let names = ["GET", "SET", "LPUSH", "LPOP"];
        let (mut base, mut new) = (Vec::new(), Vec::new());
        let mut rounds = [0u32; 4];
        loop {
            let cmp = compare_views(&base, &new);
            let ws = widths(&cmp);
            let todo: Vec<usize> = (0..names.len())
                .filter(|&c| {
                    rounds[c] < MIN_ROUNDS
                        || ws
                            .iter()
                            .find(|w| w.label.contains(names[c]))
                            .is_none_or(|w| open(w.rule_width_pct, pct))
                })
                .filter(|&c| rounds[c] < max_rounds)
                .collect();
            if todo.is_empty() {
                return (cmp, rounds.into_iter().max().unwrap_or(0));
            }
            for c in todo {
                let drift = 0.1 * rng.draw();
                let sd = noise[c] / std::f64::consts::SQRT_2;
                let b = 100_000.0 * (drift + sd * rng.draw()).exp();
                let n = 100_000.0 * (drift + truth + sd * rng.draw()).exp();
                base.push(record(names[c], rounds[c], b));
                new.push(record(names[c], rounds[c], n));
                rounds[c] += 1;
            }
        }
    }

    fn compare_views(base: &[RecordView], new: &[RecordView]) -> Comparison {
        crate::compare::compare_views(base, new, "a", "b", &CompareOptions::default()).unwrap()
    }

    /// Monte Carlo, fixed seeds, 1 000 invocations a setting under `--precision 4` with
    /// per-round noise `noise`. The promises: the 95 % intervals at the stop still cover the
    /// truth at least 93 % of the time (the rule looks at widths only, so stopping early on a
    /// lucky draw does not bias the estimate), every case stops narrower than the goal, and
    /// with no change the report shows a primary verdict in at most 5 % of invocations (plus
    /// two Monte Carlo standard errors).
    fn keeps_coverage_and_the_false_alarm_rate(noise: &[f64; 4], settings: &[(f64, u64)]) {
        const TRIALS: usize = 1000;
        let pct = 4.0;
        for &(truth, seed) in settings {
            let mut rng = Normal(seed);
            let (mut covered, mut intervals, mut alarms, mut rounds) = (0, 0, 0, 0u64);
            for _ in 0..TRIALS {
                let (cmp, r) = stopped(&mut rng, noise, truth, pct, 200);
                rounds += u64::from(r);
                for case in &cmp.cases {
                    let w = half_width_pct(case).unwrap();
                    assert!(w < pct, "{} stopped at ±{w} %", case.label);
                    let [lo, hi] = case.metrics[0]
                        .difference
                        .as_ref()
                        .unwrap()
                        .pct_change_ci95
                        .unwrap();
                    let t = truth.exp_m1() * 100.0;
                    intervals += 1;
                    covered += usize::from(lo <= t && t <= hi);
                }
                let verdict = |v: Verdict| matches!(v, Verdict::Regression | Verdict::Improvement);
                let any = cmp.cases.iter().any(|c| verdict(c.metrics[0].verdict))
                    || cmp.overall.iter().any(|o| verdict(o.verdict));
                alarms += usize::from(any);
            }
            let coverage = covered as f64 / intervals as f64;
            let alarm_rate = alarms as f64 / TRIALS as f64;
            eprintln!(
                "noise {noise:?}, truth {:+.1} %: coverage {:.3} over {intervals} intervals, invocations with a verdict {alarm_rate:.3}, mean rounds {:.1}",
                truth.exp_m1() * 100.0,
                coverage,
                rounds as f64 / TRIALS as f64
            );
            assert!(coverage >= 0.93, "coverage {coverage}");
            if truth == 0.0 {
                // 5 % plus two Monte Carlo standard errors at 1 000 trials.
                assert!(alarm_rate <= 0.05 + 0.014, "false alarms {alarm_rate}");
            }
        }
    }

    /// Every case at 4 % noise, with no change and with 4 % everywhere.
    #[test]
    fn stopping_on_width_keeps_coverage_and_the_false_alarm_rate() {
        keeps_coverage_and_the_false_alarm_rate(&EQUAL, &[(0.0, 11), (0.04f64.ln_1p(), 12)]);
    }

    /// The cases at 3, 4, 5 and 6 % noise, with no change: the noisiest case runs the most
    /// rounds and must not alarm beyond its share.
    #[test]
    fn stopping_on_width_with_unequal_noise_keeps_the_false_alarm_rate() {
        keeps_coverage_and_the_false_alarm_rate(&UNEQUAL, &[(0.0, 13)]);
    }
}
