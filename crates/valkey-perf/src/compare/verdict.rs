//! The comparison engine as a pipeline of named stages (docs/design.md §7): select the
//! records (`select`), group and analyse every case (`analyse`), moderate and test
//! (`infer`, with the across-invocation model of `across`), correct within each family
//! (`correct`), then decide every verdict in one place ([`decide`]) and assemble the
//! [`Comparison`]. Pure computation on records already read; [`compare_files`] is the one
//! entry point that reads files.

use super::across;
use super::analyse::{self, Analysed};
use super::correct;
use super::effects::LogEffect;
use super::group::{self, RecordMap};
use super::infer::{self, Line, Tested};
use super::model::*;
use super::select;
use super::stats::Difference;
use super::view::RecordView;
use crate::model::{Warning, WarningKind};
use std::path::Path;

/// Compares two `metrics.json` files. The records read are moved, never copied, into the
/// comparison.
pub fn compare_files(
    baseline: &Path,
    new: &Path,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    let views = |rs: Vec<RecordMap>| rs.into_iter().map(RecordView::from_map).collect();
    let b = views(group::load_records(baseline)?);
    let n = views(group::load_records(new)?);
    compare_owned(
        b,
        n,
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
    compare_owned(view(baseline), view(new), baseline_source, new_source, opts)
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
    compare_owned(
        baseline.to_vec(),
        new.to_vec(),
        baseline_source,
        new_source,
        opts,
    )
}

/// The pipeline (see the module docs).
fn compare_owned(
    baseline: Vec<RecordView>,
    new: Vec<RecordView>,
    baseline_source: &str,
    new_source: &str,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    let mut warnings = Vec::new();
    let (baseline, new) = &select::select(
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
        pending,
    } = analyse::analyse(
        baseline,
        new,
        &grouping,
        &varying,
        &metrics,
        opts.min_runs.max(2),
    );
    let primary = infer::primary_metrics(&cases);
    let (mut tested, mut lines) = infer::infer(&pending, &primary, &metrics, opts);
    let family = correct::correct(&mut tested, &mut lines, opts);
    decide(&mut cases, &tested, opts);
    let overall: Vec<Overall> = lines.iter().map(|l| overall_of(l, opts)).collect();
    let common_shift = common_shift_of(&lines, &overall, &primary);
    warnings.extend(across_warning(&tested, opts));
    // Instructions mode: for a case whose instructions per request changed, which functions
    // the change is in.
    attach_functions(&mut cases, &grouping, baseline, new);
    let changes = changes_of(&cases);
    let both_sides = !(baseline.is_empty() || new.is_empty());
    closing_warnings(&mut warnings, &cases, few_runs, both_sides);
    warnings.extend(super::coupling::coupling_warning(
        &cases, &grouping, baseline, new,
    ));
    // What the runs themselves reported (`warnings` in their records), each once.
    for w in run_warnings(baseline).into_iter().chain(run_warnings(new)) {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    Ok(Comparison {
        overall,
        common_shift,
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

/// The warning for cases compared across invocations that got no case verdict: with fewer
/// than three such cases, a case cannot be told from the others.
fn across_warning(tested: &[Tested], opts: &CompareOptions) -> Option<Warning> {
    let across: Vec<&Tested> = tested
        .iter()
        .filter(|t| t.at.est.analysis == super::effects::Analysis::BetweenInvocations)
        .collect();
    let untested = across.iter().any(|t| t.effect.is_none());
    (untested && !across.is_empty()).then(|| {
        Warning::new(
            WarningKind::Input,
            format!(
                "the two sides come from different invocations (or from files that do not say), and fewer than {} cases are compared: a case cannot be told from the others, so only the common shift is judged (against the machine's drift) at the {} % threshold",
                across::MIN_CASES,
                opts.threshold_pct
            ),
        )
        .with_hint("run both targets in one `valkey-perf run` invocation, which interleaves them and pairs their runs")
    })
}

/// A log-scale effect as the [`Difference`] reports show: percent change and interval from
/// the log ratio, the mean difference relative to the baseline mean.
fn difference_of(e: &LogEffect, base_mean: f64) -> Difference {
    let pct = e.pct_change();
    let [lo, hi] = e.pct_ci95();
    Difference {
        mean_diff: base_mean.abs() * pct / 100.0,
        pct_change: Some(pct),
        t: e.log_ratio / e.se,
        df: Some(e.df),
        p_value: e.p_value,
        mean_diff_ci95: [base_mean.abs() * lo / 100.0, base_mean.abs() * hi / 100.0],
        pct_change_ci95: Some([lo, hi]),
    }
}

/// The verdict of a judged test: without an estimate there is none; otherwise significant
/// when its adjusted p-value is below α and the change is at least the noise threshold, in
/// the metric's direction.
pub(super) fn judge(
    metric: Metric,
    e: Option<&LogEffect>,
    p_adj: Option<f64>,
    opts: &CompareOptions,
) -> Verdict {
    let (Some(e), Some(p_adj)) = (e, p_adj) else {
        return Verdict::InsufficientData;
    };
    if p_adj.is_nan() || p_adj >= opts.alpha || e.pct_change().abs() < opts.threshold_for(metric) {
        Verdict::NoSignificantChange
    } else if (e.log_ratio > 0.0) == metric.higher_is_better() {
        Verdict::Improvement
    } else {
        Verdict::Regression
    }
}

/// The one place case verdicts are decided, after the correction: every tested metric gets
/// its difference, adjusted p-value, minimum detectable effect and verdict.
fn decide(cases: &mut [CaseComparison], tested: &[Tested], opts: &CompareOptions) {
    for t in tested {
        let mc = &mut cases[t.at.case].metrics[t.at.index];
        let base_mean = mc.baseline.as_ref().map_or(0.0, |s| s.mean);
        mc.difference = t.effect.as_ref().map(|e| difference_of(e, base_mean));
        mc.p_adjusted = t.p_adj;
        mc.mde_pct = t.mde_log.map(|m| (m.exp() - 1.0) * 100.0);
        mc.verdict = judge(t.at.metric, t.effect.as_ref(), t.p_adj, opts);
    }
}

/// An overall line as the reports show it, judged by [`judge`].
pub(super) fn overall_of(l: &Line, opts: &CompareOptions) -> Overall {
    Overall {
        metric: l.metric,
        cases: l.cases,
        pct_change: l.effect.as_ref().map(LogEffect::pct_change),
        pct_change_ci95: l.effect.as_ref().map(LogEffect::pct_ci95),
        p_value: l.effect.as_ref().map(|e| e.p_value),
        p_adjusted: l.p_adj,
        verdict: judge(l.metric, l.effect.as_ref(), l.p_adj, opts),
        note: match (&l.drift, &l.note) {
            (Some(_), _) => Some(
                "the common shift between two invocations, judged against the machine's drift"
                    .to_string(),
            ),
            (None, note) => note.clone(),
        },
    }
}

/// The common shift of the primary metric, when its line is one.
fn common_shift_of(
    lines: &[Line],
    overall: &[Overall],
    primary: &[Option<Metric>],
) -> Option<CommonShift> {
    let (l, o) = lines
        .iter()
        .zip(overall)
        .find(|(l, _)| l.drift.is_some() && primary.contains(&Some(l.metric)))?;
    let e = l.effect.as_ref()?;
    let drift = l.drift.as_ref()?;
    Some(CommonShift {
        metric: l.metric,
        cases: l.cases,
        pct_change: e.pct_change(),
        pct_change_ci95: e.pct_ci95(),
        p_value: e.p_value,
        p_adjusted: l.p_adj,
        verdict: o.verdict,
        drift_sd_pct: drift.sd_log * 100.0,
        drift_source: if drift.pairs > 0 {
            DriftSource::History
        } else {
            DriftSource::Default
        },
        drift_pairs: drift.pairs,
    })
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
            if let Some([b, n]) = grouping.sides_of(&case.params, baseline, new) {
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
            // Instructions mode: rps under callgrind is not what is judged.
            let counted = c
                .metrics
                .iter()
                .any(|m| m.metric == Metric::InstructionsPerRequest);
            !counted
                && c.metrics.iter().any(|m| {
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
