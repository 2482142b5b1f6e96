//! Pairs the runs of two result sets case by case and judges every metric: Welch's test, the
//! noise threshold and the multiple-comparison correction (docs/design.md §7.4). Pure computation on
//! records already read; [`compare_files`] is the one entry point that reads files.

use super::effects::{self, Analysis};
use super::group::{self, RecordMap};
use super::model::*;
use super::overall;
use super::stats::{self, Difference, Summary};
use super::view::RecordView;
use crate::model::{Warning, WarningKind};
use std::path::Path;

/// Compares two `metrics.json` files.
pub fn compare_files(
    baseline: &Path,
    new: &Path,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    let b = group::load_records(baseline)?;
    let n = group::load_records(new)?;
    compare_records(
        &b,
        &n,
        &baseline.display().to_string(),
        &new.display().to_string(),
        opts,
    )
}

fn distinct(records: &[RecordView], field: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in records {
        match group::canonical(r.get(field)) {
            Some(v) if !out.contains(&v) => out.push(v),
            _ => {}
        }
    }
    out
}

fn side_info(records: &[RecordView], source: &str) -> SideInfo {
    SideInfo {
        source: source.to_string(),
        records: records.len(),
        commits: distinct(records, "commit"),
        refs: distinct(records, "ref"),
        repository: distinct(records, "repository").into_iter().next(),
        server_versions: distinct(records, "server_version"),
    }
}

fn value(record: &RecordView, metric: Metric) -> Option<f64> {
    record
        .get(metric.field())?
        .as_f64()
        .filter(|v| v.is_finite())
}

fn values_of(records: &[RecordView], idx: &[usize], metric: Metric) -> Vec<f64> {
    idx.iter()
        .filter_map(|&i| value(&records[i], metric))
        .collect()
}

/// Every metric field present must be a number (or null): a string would silently drop the
/// run from the statistics.
fn check_metric_types(records: &[RecordView], source: &str) -> anyhow::Result<()> {
    for (i, r) in records.iter().enumerate() {
        for metric in Metric::ALL {
            match r.get(metric.field()) {
                None | Some(serde_json::Value::Null | serde_json::Value::Number(_)) => {}
                Some(other) => anyhow::bail!(
                    "`{source}` record {i}: field `{}` is {other}, not a number; fix or remove that record",
                    metric.field()
                ),
            }
        }
    }
    Ok(())
}

/// The records with `engine` filled in as `valkey-benchmark` where it is missing.
fn with_engine(records: Vec<RecordView>) -> Vec<RecordView> {
    records
        .into_iter()
        .map(RecordView::with_default_engine)
        .collect()
}

/// Where the runs of one case come from, which decides the analysis.
enum Origin {
    /// Both targets ran in one invocation, round by round: (baseline run, new run) per round.
    Paired(Vec<(usize, usize)>),
    /// One invocation, but the runs cannot be matched round by round.
    OneInvocation,
    /// Different invocations, or records that do not say.
    Across,
}

impl Origin {
    fn of(baseline: &[RecordView], bi: &[usize], new: &[RecordView], ni: &[usize]) -> Origin {
        let inv = |r: &RecordView| r.invocation_id.clone();
        let round = |r: &RecordView| r.run_index;
        let mut pairs = Vec::new();
        for &b in bi {
            let key = (inv(&baseline[b]), round(&baseline[b]));
            if key.0.is_none() || key.1.is_none() {
                continue;
            }
            if let Some(&n) = ni.iter().find(|&&n| (inv(&new[n]), round(&new[n])) == key) {
                pairs.push((b, n));
            }
        }
        if pairs.len() >= 2 {
            return Origin::Paired(pairs);
        }
        let ids =
            |recs: &[RecordView], idx: &[usize]| -> Option<std::collections::BTreeSet<String>> {
                idx.iter().map(|&i| inv(&recs[i])).collect()
            };
        match (ids(baseline, bi), ids(new, ni)) {
            (Some(b), Some(n)) if !b.is_empty() && b == n => Origin::OneInvocation,
            _ => Origin::Across,
        }
    }
}

/// A log-scale effect as the [`Difference`] reports show: percent change and interval from
/// the log ratio, the mean difference relative to the baseline mean.
fn from_effect(e: &effects::LogEffect, base_mean: f64) -> Difference {
    let pct = e.pct_change();
    let [lo, hi] = e.pct_ci95();
    Difference {
        mean_diff: base_mean.abs() * pct / 100.0,
        pct_change: Some(pct),
        t: e.log_ratio / e.se,
        df: e.df,
        p_value: e.p_value,
        mean_diff_ci95: [base_mean.abs() * lo / 100.0, base_mean.abs() * hi / 100.0],
        pct_change_ci95: Some([lo, hi]),
    }
}

/// The records of runs that succeeded: a scenario run with `status: failed` (a setup
/// command or its own command was refused) has no numbers worth comparing; a warning counts
/// what was left out.
fn measured_only(
    records: &[RecordView],
    side: &str,
    warnings: &mut Vec<Warning>,
) -> Vec<RecordView> {
    let kept: Vec<RecordView> = records.iter().filter(|r| !r.failed()).cloned().collect();
    let left = records.len() - kept.len();
    if left > 0 {
        warnings.push(Warning::new(
            WarningKind::Input,
            format!("{left} {side} record(s) have `status: failed` and were left out"),
        ));
    }
    kept
}

/// Compares two record sets as read from files (see [`compare_views`]).
pub fn compare_records(
    baseline: &[RecordMap],
    new: &[RecordMap],
    baseline_source: &str,
    new_source: &str,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    let view = |rs: &[RecordMap]| -> Vec<RecordView> {
        rs.iter().cloned().map(RecordView::from_map).collect()
    };
    compare_views(
        &view(baseline),
        &view(new),
        baseline_source,
        new_source,
        opts,
    )
}

/// The first stage: checks the options and the records' metric types, and keeps the records
/// worth comparing (see [`measured_only`], [`with_engine`]), warning about empty sides.
fn admit(
    sides: [(&[RecordView], &str); 2],
    opts: &CompareOptions,
    warnings: &mut Vec<Warning>,
) -> anyhow::Result<(Vec<RecordView>, Vec<RecordView>)> {
    anyhow::ensure!(
        opts.threshold_pct >= 0.0 && opts.threshold_pct.is_finite(),
        "the noise threshold must be a non-negative percentage, got {}",
        opts.threshold_pct
    );
    anyhow::ensure!(
        opts.alpha > 0.0 && opts.alpha < 1.0,
        "alpha must lie between 0 and 1, got {}",
        opts.alpha
    );
    let [(baseline, baseline_source), (new, new_source)] = sides;
    for (side, recs, src) in [
        ("baseline", baseline, baseline_source),
        ("new", new, new_source),
    ] {
        if recs.is_empty() {
            warnings.push(Warning::new(
                WarningKind::Input,
                format!("the {side} file `{src}` holds no records"),
            ));
        }
    }
    for (recs, src) in [(baseline, baseline_source), (new, new_source)] {
        check_metric_types(recs, src)?;
    }
    // A record without `engine` was measured by valkey-benchmark (upstream writes none), and
    // runs of different engines are never paired: `engine` is a case field.
    Ok((
        with_engine(measured_only(baseline, "baseline", warnings)),
        with_engine(measured_only(new, "new", warnings)),
    ))
}

/// Compares two record sets: pairs their runs case by case and judges every metric.
/// `baseline_source` and `new_source` name them in the report.
pub fn compare_views(
    baseline: &[RecordView],
    new: &[RecordView],
    baseline_source: &str,
    new_source: &str,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    let mut warnings = Vec::new();
    let (baseline, new) = &admit(
        [(baseline, baseline_source), (new, new_source)],
        opts,
        &mut warnings,
    )?;
    let grouping = group::group(baseline, new);
    for ign in &grouping.ignored {
        warnings.push(Warning::new(
            WarningKind::Input,
            format!(
                "`{}` appears only in the {} records and was ignored for pairing",
                ign.name, ign.only_in
            ),
        ));
    }
    let (fixed_config, varying) = group::fixed_and_varying(&grouping.groups, &grouping.fields);
    let metrics = opts.metrics.metrics();
    let min_runs = opts.min_runs.max(2);

    let mut cases = Vec::new();
    let mut only_in_baseline = Vec::new();
    let mut only_in_new = Vec::new();
    let mut few_runs = false;
    // Cases compared across invocations, per metric: (case, metric slot, y, v), judged once
    // the between-invocation variance of all of them is known.
    // (case, metric slot in `metrics`, index in the case's metrics, y, v).
    let mut across: Vec<(usize, usize, usize, f64, f64)> = Vec::new();
    // Per case and metric slot, the log ratio and its variance for the overall line (cases of
    // one invocation only: across invocations a change everywhere looks like drift).
    let mut pool: Vec<(usize, f64, f64)> = Vec::new();
    for g in &grouping.groups {
        let label = group::label(&g.params, &varying);
        let origin = Origin::of(baseline, &g.baseline, new, &g.new);
        // Times measured against a server under callgrind (instructions mode) say nothing
        // about the server: only its instruction counts are judged there.
        let timing_meaningless = g
            .baseline
            .iter()
            .map(|&i| &baseline[i])
            .chain(g.new.iter().map(|&i| &new[i]))
            .any(|r| !r.latency_meaningful);
        // Memory mode times nothing: its records have no rps or latencies to show.
        let untimed = g
            .baseline
            .iter()
            .map(|&i| &baseline[i])
            .chain(g.new.iter().map(|&i| &new[i]))
            .all(RecordView::untimed);
        let mut mcs = Vec::new();
        for (slot, &metric) in metrics.iter().enumerate() {
            let bv = values_of(baseline, &g.baseline, metric);
            let nv = values_of(new, &g.new, metric);
            if bv.is_empty() && nv.is_empty() && (metric.optional() || untimed) {
                // Timing records have no instruction counts, older records no server CPU,
                // memory records no timing: nothing to show.
                continue;
            }
            let enough = bv.len() >= min_runs && nv.len() >= min_runs;
            few_runs |= enough && (bv.len() < 3 || nv.len() < 3);
            let floor = effects::sd_floor(effects::resolution(&bv, &nv));
            let timing = metric.is_timing();
            let (analysis, difference) = match (&origin, enough) {
                (_, false) => (None, None),
                (Origin::Paired(pairs), true) => {
                    let pv: Vec<(f64, f64)> = pairs
                        .iter()
                        .filter_map(|&(bi, ni)| {
                            Some((value(&baseline[bi], metric)?, value(&new[ni], metric)?))
                        })
                        .collect();
                    let scale = stats::mean(&bv).unwrap_or(1.0).abs().max(f64::MIN_POSITIVE);
                    let effect = effects::paired(&pv, floor / scale);
                    if let Some(e) = effect.as_ref().filter(|_| !(timing_meaningless && timing)) {
                        pool.push((slot, e.log_ratio, e.se * e.se));
                    }
                    (
                        Some(Analysis::Paired),
                        effect.map(|e| from_effect(&e, stats::mean(&bv).unwrap_or(0.0))),
                    )
                }
                (Origin::OneInvocation, true) => {
                    if let Some((y, v)) = effects::log_ratio_of_means(&bv, &nv, floor)
                        .filter(|_| !(timing_meaningless && timing))
                    {
                        pool.push((slot, y, v));
                    }
                    (
                        Some(Analysis::Welch),
                        stats::difference_with_floor(&bv, &nv, floor),
                    )
                }
                (Origin::Across, true) => {
                    if let Some((y, v)) = effects::log_ratio_of_means(&bv, &nv, floor) {
                        // Enough runs on both sides: this case goes into `cases`, at this index.
                        across.push((cases.len(), slot, mcs.len(), y, v));
                    }
                    (Some(Analysis::BetweenInvocations), None)
                }
            };
            let verdict = if !metric.judged() || (timing_meaningless && timing) {
                Verdict::NotJudged
            } else if difference.is_none() {
                Verdict::InsufficientData
            } else {
                // Decided after the correction, below.
                Verdict::NoSignificantChange
            };
            mcs.push(MetricComparison {
                metric,
                field: metric.field(),
                baseline: Summary::of(&bv),
                new: Summary::of(&nv),
                baseline_values: bv,
                new_values: nv,
                analysis,
                difference,
                p_adjusted: None,
                verdict,
            });
        }
        let case = CaseComparison {
            label,
            params: g.params.clone(),
            baseline_runs: g.baseline.len(),
            new_runs: g.new.len(),
            metrics: mcs,
            functions: Vec::new(),
            server: shown_figures(baseline, &g.baseline, new, &g.new),
        };
        match (g.baseline.is_empty(), g.new.is_empty()) {
            (false, false) => cases.push(case),
            (false, true) => only_in_baseline.push(case),
            _ => only_in_new.push(case),
        }
    }
    warnings.extend(widen_across(&mut cases, &metrics, &across, opts));

    let family = correct(&mut cases, opts);
    // Not-judged metrics still get the raw p-value shown; no adjustment.
    // Instructions mode: for a case whose instructions per request changed, which functions
    // the change is in.
    attach_functions(&mut cases, &grouping, baseline, new);
    let changes = changes_of(&cases);

    if few_runs {
        warnings.push(
            Warning::new(
                WarningKind::FewRuns,
                "some cases have only 2 runs on a side: intervals are very wide (t = 12.7 at 1 \
                 degree of freedom)",
            )
            .with_hint("use --runs 3 or more"),
        );
    }
    if cases.is_empty() && !(baseline.is_empty() || new.is_empty()) {
        warnings.push(
            Warning::new(WarningKind::Input, "no case appears in both files")
                .with_hint("check that both were run with the same config"),
        );
    }
    warnings.extend(noisy_warning(&cases));
    // What the runs themselves reported (`warnings` in their records), each once.
    for w in run_warnings(baseline).into_iter().chain(run_warnings(new)) {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }

    let overall = metrics
        .iter()
        .enumerate()
        .filter(|(_, m)| m.judged())
        .map(|(slot, &metric)| {
            let (ys, vs): (Vec<f64>, Vec<f64>) = pool
                .iter()
                .filter(|p| p.0 == slot)
                .map(|p| (p.1, p.2))
                .unzip();
            overall::overall_of(metric, &ys, &vs, across.iter().any(|a| a.1 == slot), opts)
        })
        .collect();
    let overall = overall::correct_overall(overall, opts);

    Ok(Comparison {
        overall,
        baseline: side_info(baseline, baseline_source),
        new: side_info(new, new_source),
        options: opts.clone(),
        pairing_fields: grouping.fields,
        ignored_fields: grouping.ignored,
        fixed_config,
        comparisons: family,
        cases,
        only_in_baseline,
        only_in_new,
        changes,
        warnings,
    })
}

/// Cases compared across invocations: every case's interval widened by the
/// between-invocation variance of its metric, estimated from all cases of that metric (only
/// cases on both sides get here). `across` holds (case, metric slot, index in the case's
/// metrics, log ratio, variance). The warning says when too few cases allow no estimate.
fn widen_across(
    cases: &mut [CaseComparison],
    metrics: &[Metric],
    across: &[(usize, usize, usize, f64, f64)],
    opts: &CompareOptions,
) -> Option<Warning> {
    let mut too_few_across = false;
    for (slot, &metric) in metrics.iter().enumerate() {
        let these: Vec<&(usize, usize, usize, f64, f64)> =
            across.iter().filter(|a| a.1 == slot).collect();
        if these.is_empty() {
            continue;
        }
        let ys: Vec<f64> = these.iter().map(|a| a.3).collect();
        let vs: Vec<f64> = these.iter().map(|a| a.4).collect();
        let Some(tau2) = effects::between_invocation_variance(&ys, &vs) else {
            too_few_across |= metric.judged();
            continue;
        };
        for &&(ci, _, mi, y, v) in &these {
            let mc = &mut cases[ci].metrics[mi];
            let base_mean = mc.baseline.as_ref().map_or(0.0, |s| s.mean);
            mc.difference = effects::LogEffect::test(ys.len(), y, (v + tau2).sqrt(), None)
                .map(|e| from_effect(&e, base_mean));
            if mc.difference.is_some() && mc.verdict == Verdict::InsufficientData {
                mc.verdict = Verdict::NoSignificantChange;
            }
        }
    }
    too_few_across.then(|| {
            Warning::new(
                WarningKind::Input,
                format!(
                    "the two sides come from different invocations (or from files that do not say), and fewer than {} cases are compared: the variation between invocations cannot be estimated, so no verdict is possible at the {} % threshold",
                    effects::MIN_CASES_FOR_BETWEEN,
                    opts.threshold_pct
                ),
            )
            .with_hint("run both targets in one `valkey-perf run` invocation, which interleaves them and pairs their runs")
    })
}

/// The multiple-comparison correction: every judged metric with a test is one family, which
/// Holm adjusts at once; each gets its verdict from its adjusted p-value. Returns the size of
/// the family.
fn correct(cases: &mut [CaseComparison], opts: &CompareOptions) -> usize {
    // The family: every judged metric with a test. Holm adjusts over all of them at once.
    let family: Vec<(usize, usize)> = cases
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| {
            c.metrics
                .iter()
                .enumerate()
                .filter(|(_, m)| m.verdict != Verdict::NotJudged && m.difference.is_some())
                .map(move |(mi, _)| (ci, mi))
        })
        .collect();
    let raw: Vec<f64> = family
        .iter()
        .map(|&(ci, mi)| {
            cases[ci].metrics[mi]
                .difference
                .as_ref()
                .map_or(1.0, |d| d.p_value)
        })
        .collect();
    let adjusted = match opts.correction {
        Correction::Holm => stats::holm_adjust(&raw),
        Correction::None => raw.clone(),
    };
    for (&(ci, mi), &p_adj) in family.iter().zip(&adjusted) {
        let mc = &mut cases[ci].metrics[mi];
        mc.p_adjusted = Some(p_adj);
        mc.verdict = judge(mc.metric, mc.difference.as_ref(), p_adj, opts);
    }
    family.len()
}

/// Instructions mode: for a case whose instructions per request changed, which functions the
/// change is in.
fn attach_functions(
    cases: &mut [CaseComparison],
    grouping: &group::Grouping,
    baseline: &[RecordView],
    new: &[RecordView],
) {
    for case in cases.iter_mut() {
        let changed = case.metrics.iter().any(|m| {
            m.metric == Metric::InstructionsPerRequest
                && matches!(m.verdict, Verdict::Regression | Verdict::Improvement)
        });
        if changed {
            let g = grouping
                .groups
                .iter()
                .find(|g| g.params == case.params && !g.baseline.is_empty() && !g.new.is_empty());
            if let Some(g) = g {
                let b: Vec<&RecordView> = g.baseline.iter().map(|&i| &baseline[i]).collect();
                let n: Vec<&RecordView> = g.new.iter().map(|&i| &new[i]).collect();
                case.functions = super::functions::top_changes(&b, &n, 10);
            }
        }
    }
}

/// The significant changes, largest first.
fn changes_of(cases: &[CaseComparison]) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    for c in cases {
        for m in &c.metrics {
            if let (Verdict::Improvement | Verdict::Regression, Some(d), Some(p_adj)) =
                (m.verdict, &m.difference, m.p_adjusted)
            {
                changes.push(Change {
                    case: c.label.clone(),
                    metric: m.metric,
                    verdict: m.verdict,
                    pct_change: d.pct_change,
                    pct_change_ci95: d.pct_change_ci95,
                    p_value: d.p_value,
                    p_adjusted: p_adj,
                });
            }
        }
    }
    changes.sort_by(|a, b| {
        let mag = |c: &Change| c.pct_change.map_or(f64::INFINITY, f64::abs);
        mag(b).total_cmp(&mag(a))
    });
    changes
}

/// The warning for cases whose rps varies by more than 5 % between runs.
fn noisy_warning(cases: &[CaseComparison]) -> Option<Warning> {
    let noisy: Vec<String> = cases
        .iter()
        .filter(|c| {
            c.metrics.iter().any(|m| {
                m.metric == Metric::Rps
                    && [&m.baseline, &m.new]
                        .iter()
                        .any(|s| s.as_ref().and_then(|s| s.cv_pct).is_some_and(|cv| cv > 5.0))
            })
        })
        .map(|c| format!("`{}`", c.label))
        .collect();
    // The remedy stays inside the sentence, as the report has always shown it.
    (!noisy.is_empty()).then(|| {
        Warning::new(
            WarningKind::Noisy,
            format!(
                "rps CV above 5 % in {}: the machine is noisy, small changes cannot be detected \
                 (pin CPUs, set the governor to `performance`, add runs)",
                summarise(&noisy)
            ),
        )
    })
}

/// The [`SHOWN_FIELDS`] some run of the case has, as means per side.
fn shown_figures(
    baseline: &[RecordView],
    bi: &[usize],
    new: &[RecordView],
    ni: &[usize],
) -> Vec<ShownFigure> {
    let mean = |recs: &[RecordView], idx: &[usize], field: &str| {
        let v: Vec<f64> = idx
            .iter()
            .filter_map(|&i| recs[i].number(field))
            .filter(|v| v.is_finite())
            .collect();
        stats::mean(&v)
    };
    SHOWN_FIELDS
        .iter()
        .map(|&(field, label)| ShownFigure {
            field,
            label,
            baseline_mean: mean(baseline, bi, field),
            new_mean: mean(new, ni, field),
        })
        .filter(|f| f.baseline_mean.is_some() || f.new_mean.is_some())
        .collect()
}

/// The verdict for one judged metric given its (adjusted) p-value.
fn judge(metric: Metric, d: Option<&Difference>, p_adj: f64, opts: &CompareOptions) -> Verdict {
    let Some(d) = d else {
        return Verdict::InsufficientData;
    };
    // Significant only when the interval of the change excludes 0 *and* the corrected p-value
    // is below α. Without correction the two agree (the Fieller interval is built with the
    // Welch critical value); with Holm the p-value is the stricter test.
    let [lo, hi] = d.pct_change_ci95.unwrap_or(d.mean_diff_ci95);
    let interval_excludes_zero = lo > 0.0 || hi < 0.0;
    if !interval_excludes_zero || p_adj.is_nan() || p_adj >= opts.alpha {
        return Verdict::NoSignificantChange;
    }
    if d.pct_change
        .is_some_and(|p| p.abs() < opts.threshold_for(metric))
    {
        return Verdict::NoSignificantChange;
    }
    if (d.mean_diff > 0.0) == metric.higher_is_better() {
        Verdict::Improvement
    } else {
        Verdict::Regression
    }
}

/// Names a list of cases in a warning: all of them when few, else a count and the first few.
fn summarise(names: &[String]) -> String {
    const SHOWN: usize = 5;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!("{} cases ({}, ...)", names.len(), names[..SHOWN].join(", "))
    }
}

/// The distinct warnings the records carry (`warnings: [...]`, written by `run`).
fn run_warnings(records: &[RecordView]) -> Vec<Warning> {
    let mut out: Vec<Warning> = Vec::new();
    for w in records.iter().flat_map(|r| &r.warnings) {
        if !out.contains(w) {
            out.push(w.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_case_lists_are_summarised() {
        let names: Vec<String> = (0..140).map(|i| format!("`c{i}`")).collect();
        let text = summarise(&names);
        assert!(
            text.starts_with("140 cases (`c0`, `c1`, `c2`, `c3`, `c4`, ...)"),
            "{text}"
        );
        assert_eq!(summarise(&names[..2]), "`c0`, `c1`");
    }
}
