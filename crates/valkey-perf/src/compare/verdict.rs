//! Pairs the runs of two result sets case by case and judges every metric: Welch's test, the
//! noise threshold and the multiple-comparison correction (docs/design.md §7.4). Pure computation on
//! records already read; [`compare_files`] is the one entry point that reads files.

use super::analyse::{self, AcrossRatio, Analysed, LogRatio};
use super::effects;
use super::group::{self, RecordMap};
use super::model::*;
use super::overall;
use super::stats::{self, Difference};
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
///
/// A pipeline of stages: admit the records, group them into cases, analyse every case and
/// metric, widen the intervals of cases compared across invocations, correct for multiple
/// comparisons, decide the verdicts (in [`decide`] only), then assemble what the reports show.
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
    warnings.extend(ignored_warnings(&grouping.ignored));
    let (fixed_config, varying) = group::fixed_and_varying(&grouping.groups, &grouping.fields);
    let metrics = opts.metrics.metrics();
    let Analysed {
        mut cases,
        only_in_baseline,
        only_in_new,
        few_runs,
        pool,
        across,
    } = analyse::analyse(
        baseline,
        new,
        &grouping,
        &varying,
        &metrics,
        opts.min_runs.max(2),
    );
    warnings.extend(widen_across(&mut cases, &metrics, &across, opts));
    let family = correct(&mut cases, opts);
    decide(&mut cases, opts);
    // Instructions mode: for a case whose instructions per request changed, which functions
    // the change is in.
    attach_functions(&mut cases, &grouping, baseline, new);
    let changes = changes_of(&cases);
    let both_sides = !(baseline.is_empty() || new.is_empty());
    closing_warnings(&mut warnings, &cases, few_runs, both_sides);
    // What the runs themselves reported (`warnings` in their records), each once.
    for w in run_warnings(baseline).into_iter().chain(run_warnings(new)) {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    let overall = overall_lines(&metrics, &pool, &across, opts);
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

/// One warning per case field only one side has.
fn ignored_warnings(ignored: &[group::IgnoredField]) -> Vec<Warning> {
    ignored
        .iter()
        .map(|ign| {
            Warning::new(
                WarningKind::Input,
                format!(
                    "`{}` appears only in the {} records and was ignored for pairing",
                    ign.name, ign.only_in
                ),
            )
        })
        .collect()
}

/// The warnings about the comparison as a whole: few runs, no case on both sides (when
/// `both_sides` have records), noisy cases.
fn closing_warnings(
    warnings: &mut Vec<Warning>,
    cases: &[CaseComparison],
    few_runs: bool,
    both_sides: bool,
) {
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
    if cases.is_empty() && both_sides {
        warnings.push(
            Warning::new(WarningKind::Input, "no case appears in both files")
                .with_hint("check that both were run with the same config"),
        );
    }
    warnings.extend(noisy_warning(cases));
}

/// The overall line of every judged metric: the pooled log ratios of its cases of one
/// invocation, Holm-corrected among the lines.
fn overall_lines(
    metrics: &[Metric],
    pool: &[LogRatio],
    across: &[AcrossRatio],
    opts: &CompareOptions,
) -> Vec<Overall> {
    let overall = metrics
        .iter()
        .enumerate()
        .filter(|(_, m)| m.judged())
        .map(|(slot, &metric)| {
            let (ys, vs): (Vec<f64>, Vec<f64>) = pool
                .iter()
                .filter(|p| p.slot == slot)
                .map(|p| (p.y, p.v))
                .unzip();
            let any_across = across.iter().any(|a| a.ratio.slot == slot);
            overall::overall_of(metric, &ys, &vs, any_across, opts)
        })
        .collect();
    overall::correct_overall(overall, opts)
}

/// Cases compared across invocations: every case's interval widened by the
/// between-invocation variance of its metric, estimated from all cases of that metric (only
/// cases on both sides get here). The warning says when too few cases allow no estimate.
fn widen_across(
    cases: &mut [CaseComparison],
    metrics: &[Metric],
    across: &[AcrossRatio],
    opts: &CompareOptions,
) -> Option<Warning> {
    let mut too_few_across = false;
    for (slot, &metric) in metrics.iter().enumerate() {
        let these: Vec<&AcrossRatio> = across.iter().filter(|a| a.ratio.slot == slot).collect();
        if these.is_empty() {
            continue;
        }
        let ys: Vec<f64> = these.iter().map(|a| a.ratio.y).collect();
        let vs: Vec<f64> = these.iter().map(|a| a.ratio.v).collect();
        let Some(tau2) = effects::between_invocation_variance(&ys, &vs) else {
            too_few_across |= metric.judged();
            continue;
        };
        for a in these {
            let mc = &mut cases[a.case].metrics[a.index];
            let base_mean = mc.baseline.as_ref().map_or(0.0, |s| s.mean);
            let se = (a.ratio.v + tau2).sqrt();
            mc.difference = effects::LogEffect::test(ys.len(), a.ratio.y, se, None)
                .map(|e| analyse::from_effect(&e, base_mean));
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
/// Holm adjusts at once. Returns the size of the family.
fn correct(cases: &mut [CaseComparison], opts: &CompareOptions) -> usize {
    let family: Vec<(usize, usize)> = cases
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| {
            c.metrics
                .iter()
                .enumerate()
                .filter(|(_, m)| judged(m) && m.difference.is_some())
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
        cases[ci].metrics[mi].p_adjusted = Some(p_adj);
    }
    family.len()
}

/// Whether a metric is judged: the analysis marks the shown-only ones (min/max, and times
/// measured under callgrind) `not judged` and leaves every other one without a verdict yet.
fn judged(m: &MetricComparison) -> bool {
    m.verdict != Verdict::NotJudged
}

/// The one place verdicts are decided: every judged metric from its difference and adjusted
/// p-value (see [`judge`]), once the intervals are widened and the p-values corrected.
fn decide(cases: &mut [CaseComparison], opts: &CompareOptions) {
    for m in cases.iter_mut().flat_map(|c| &mut c.metrics) {
        if judged(m) {
            m.verdict = judge(m.metric, m.difference.as_ref(), m.p_adjusted, opts);
        }
    }
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

/// The verdict for one judged metric given its difference and adjusted p-value: without a
/// difference (too few runs, or no estimate across invocations) there is no verdict.
fn judge(
    metric: Metric,
    d: Option<&Difference>,
    p_adj: Option<f64>,
    opts: &CompareOptions,
) -> Verdict {
    let Some(d) = d else {
        return Verdict::InsufficientData;
    };
    // Every tested metric is in the correction's family, so it has an adjusted p-value.
    let p_adj = p_adj.unwrap_or(f64::NAN);
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

    fn metric(
        metric: Metric,
        verdict: Verdict,
        change: Option<f64>,
        p_adj: Option<f64>,
    ) -> MetricComparison {
        let difference = change.map(|pct| Difference {
            mean_diff: pct,
            pct_change: Some(pct),
            t: 0.0,
            df: None,
            p_value: p_adj.unwrap_or(1.0),
            mean_diff_ci95: [pct - 1.0, pct + 1.0],
            pct_change_ci95: Some([pct - 1.0, pct + 1.0]),
        });
        MetricComparison {
            metric,
            field: metric.field(),
            baseline_values: Vec::new(),
            new_values: Vec::new(),
            baseline: None,
            new: None,
            analysis: None,
            difference,
            p_adjusted: p_adj,
            verdict,
        }
    }

    #[test]
    fn decide_judges_every_judged_metric_and_leaves_the_shown_ones() {
        let pending = Verdict::InsufficientData;
        let mut cases = vec![CaseComparison {
            label: "GET".into(),
            params: Vec::new(),
            baseline_runs: 3,
            new_runs: 3,
            metrics: vec![
                metric(Metric::MaxLatency, Verdict::NotJudged, Some(50.0), None),
                metric(Metric::Rps, pending, None, None),
                metric(Metric::Rps, pending, Some(5.0), Some(0.001)),
                metric(Metric::Rps, pending, Some(5.0), Some(0.2)),
                metric(Metric::AvgLatency, pending, Some(5.0), Some(0.001)),
                metric(Metric::AvgLatency, pending, Some(1.5), Some(0.001)),
            ],
            functions: Vec::new(),
            server: Vec::new(),
        }];
        decide(
            &mut cases,
            &CompareOptions {
                threshold_pct: 2.0,
                ..CompareOptions::default()
            },
        );
        let verdicts: Vec<Verdict> = cases[0].metrics.iter().map(|m| m.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::NotJudged,
                Verdict::InsufficientData,
                Verdict::Improvement,
                Verdict::NoSignificantChange,
                Verdict::Regression,
                Verdict::NoSignificantChange,
            ]
        );
    }

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
