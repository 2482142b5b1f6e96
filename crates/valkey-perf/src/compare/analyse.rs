//! The analysis stage of a comparison: for every case, where its runs come from ([`Origin`]),
//! and for every metric, its values on both sides, the test that fits the origin, and the log
//! ratio the later stages need (pooled into the overall line, or widened across invocations).
//! Decides no verdict: a judged metric leaves here as `insufficient data` until
//! `verdict::decide` judges it after the correction.

use super::effects::{self, Analysis};
use super::group::{self, Group, Grouping};
use super::model::*;
use super::stats::{self, Difference, Summary};
use super::view::RecordView;

/// A case's log ratio of one metric and its variance; `slot` is the metric's place in the
/// compared metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LogRatio {
    pub slot: usize,
    pub y: f64,
    pub v: f64,
}

/// A metric of a case compared across invocations, judged once the between-invocation
/// variance of all such cases is known: the case (in `cases`), the metric's index in the
/// case's metrics, and its log ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct AcrossRatio {
    pub case: usize,
    pub index: usize,
    pub ratio: LogRatio,
}

/// What the analysis of all cases gives the later stages.
#[derive(Debug, Default)]
pub(super) struct Analysed {
    /// Cases on both sides.
    pub cases: Vec<CaseComparison>,
    pub only_in_baseline: Vec<CaseComparison>,
    pub only_in_new: Vec<CaseComparison>,
    /// Some case was compared on only 2 runs of a side.
    pub few_runs: bool,
    /// The log ratios of cases of one invocation, for the overall line (across invocations a
    /// change everywhere looks like drift).
    pub pool: Vec<LogRatio>,
    /// The metrics of cases compared across invocations.
    pub across: Vec<AcrossRatio>,
}

/// Analyses every case of `grouping`: each metric in `metrics`, with at least `min_runs` runs
/// a side to be tested. `varying` names the parameters that label a case.
pub(super) fn analyse(
    baseline: &[RecordView],
    new: &[RecordView],
    grouping: &Grouping,
    varying: &[String],
    metrics: &[Metric],
    min_runs: usize,
) -> Analysed {
    let mut out = Analysed::default();
    for g in &grouping.groups {
        let runs = CaseRuns::of(baseline, new, g);
        let mut mcs = Vec::new();
        let mut across = Vec::new();
        for (slot, &metric) in metrics.iter().enumerate() {
            let Some(m) = analyse_metric(&runs, metric, min_runs) else {
                continue;
            };
            out.few_runs |= m.few_runs;
            match m.ratio {
                Ratio::Pooled(y, v) => out.pool.push(LogRatio { slot, y, v }),
                Ratio::Across(y, v) => across.push((mcs.len(), LogRatio { slot, y, v })),
                Ratio::None => {}
            }
            mcs.push(m.comparison);
        }
        let case = CaseComparison {
            label: group::label(&g.params, varying),
            params: g.params.clone(),
            baseline_runs: g.baseline.len(),
            new_runs: g.new.len(),
            metrics: mcs,
            functions: Vec::new(),
            server: shown_figures(baseline, &g.baseline, new, &g.new),
        };
        match (g.baseline.is_empty(), g.new.is_empty()) {
            (false, false) => {
                let at = out.cases.len();
                out.across
                    .extend(across.into_iter().map(|(index, ratio)| AcrossRatio {
                        case: at,
                        index,
                        ratio,
                    }));
                out.cases.push(case);
            }
            // A ratio needs runs on both sides: a one-sided case has none.
            (false, true) => out.only_in_baseline.push(case),
            _ => out.only_in_new.push(case),
        }
    }
    out
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

/// The runs of one case as the analysis of each of its metrics sees them.
struct CaseRuns<'a> {
    baseline: &'a [RecordView],
    bi: &'a [usize],
    new: &'a [RecordView],
    ni: &'a [usize],
    origin: Origin,
    /// Times measured against a server under callgrind (instructions mode) say nothing
    /// about the server: only its instruction counts are judged there.
    timing_meaningless: bool,
    /// Memory mode times nothing: its records have no rps or latencies to show.
    untimed: bool,
}

impl<'a> CaseRuns<'a> {
    fn of(baseline: &'a [RecordView], new: &'a [RecordView], g: &'a Group) -> CaseRuns<'a> {
        let records = || {
            g.baseline
                .iter()
                .map(|&i| &baseline[i])
                .chain(g.new.iter().map(|&i| &new[i]))
        };
        CaseRuns {
            baseline,
            bi: &g.baseline,
            new,
            ni: &g.new,
            origin: Origin::of(baseline, &g.baseline, new, &g.new),
            timing_meaningless: records().any(|r| !r.latency_meaningful),
            untimed: records().all(RecordView::untimed),
        }
    }

    /// A timing metric of a case timed against a server under callgrind: shown only.
    fn shown_only(&self, metric: Metric) -> bool {
        self.timing_meaningless && metric.is_timing()
    }
}

/// Where a metric's log ratio goes after the analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ratio {
    None,
    /// Into the overall line (cases of one invocation).
    Pooled(f64, f64),
    /// Widened by the between-invocation variance, then tested.
    Across(f64, f64),
}

/// One metric of one case after the analysis.
struct AnalysedMetric {
    comparison: MetricComparison,
    ratio: Ratio,
    /// Tested on only 2 runs of a side.
    few_runs: bool,
}

/// The analysis of one metric of a case, or `None` when no run has it and none is expected to.
fn analyse_metric(runs: &CaseRuns, metric: Metric, min_runs: usize) -> Option<AnalysedMetric> {
    let bv = values_of(runs.baseline, runs.bi, metric);
    let nv = values_of(runs.new, runs.ni, metric);
    if bv.is_empty() && nv.is_empty() && (metric.optional() || runs.untimed) {
        // Timing records have no instruction counts, older records no server CPU,
        // memory records no timing: nothing to show.
        return None;
    }
    let enough = bv.len() >= min_runs && nv.len() >= min_runs;
    let (analysis, difference, ratio) = if enough {
        test(runs, metric, &bv, &nv)
    } else {
        (None, None, Ratio::None)
    };
    // The verdict of a judged metric is decided after the correction.
    let verdict = if metric.judged() && !runs.shown_only(metric) {
        Verdict::InsufficientData
    } else {
        Verdict::NotJudged
    };
    Some(AnalysedMetric {
        few_runs: enough && (bv.len() < 3 || nv.len() < 3),
        comparison: MetricComparison {
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
        },
        ratio,
    })
}

/// The test that fits where the case's runs come from, given enough runs on both sides.
/// Across invocations the difference waits for the between-invocation variance.
fn test(
    runs: &CaseRuns,
    metric: Metric,
    bv: &[f64],
    nv: &[f64],
) -> (Option<Analysis>, Option<Difference>, Ratio) {
    let floor = effects::sd_floor(effects::resolution(bv, nv));
    let pooled = |(y, v)| {
        if runs.shown_only(metric) {
            Ratio::None
        } else {
            Ratio::Pooled(y, v)
        }
    };
    match &runs.origin {
        Origin::Paired(pairs) => {
            let pv: Vec<(f64, f64)> = pairs
                .iter()
                .filter_map(|&(bi, ni)| {
                    Some((
                        value(&runs.baseline[bi], metric)?,
                        value(&runs.new[ni], metric)?,
                    ))
                })
                .collect();
            let scale = stats::mean(bv).unwrap_or(1.0).abs().max(f64::MIN_POSITIVE);
            let effect = effects::paired(&pv, floor / scale);
            let ratio = effect
                .as_ref()
                .map_or(Ratio::None, |e| pooled((e.log_ratio, e.se * e.se)));
            let difference = effect.map(|e| from_effect(&e, stats::mean(bv).unwrap_or(0.0)));
            (Some(Analysis::Paired), difference, ratio)
        }
        Origin::OneInvocation => (
            Some(Analysis::Welch),
            stats::difference_with_floor(bv, nv, floor),
            effects::log_ratio_of_means(bv, nv, floor).map_or(Ratio::None, pooled),
        ),
        Origin::Across => (
            Some(Analysis::BetweenInvocations),
            None,
            effects::log_ratio_of_means(bv, nv, floor)
                .map_or(Ratio::None, |(y, v)| Ratio::Across(y, v)),
        ),
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

/// A log-scale effect as the [`Difference`] reports show: percent change and interval from
/// the log ratio, the mean difference relative to the baseline mean.
pub(super) fn from_effect(e: &effects::LogEffect, base_mean: f64) -> Difference {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn records(rows: &[(&str, Option<&str>, u64, f64)]) -> Vec<RecordView> {
        rows.iter()
            .map(|&(command, inv, round, rps)| {
                let mut v =
                    serde_json::json!({ "command": command, "run_index": round, "rps": rps });
                if let Some(inv) = inv {
                    v["invocation_id"] = inv.into();
                }
                let serde_json::Value::Object(map) = v else {
                    unreachable!()
                };
                RecordView::from_map(map)
            })
            .collect()
    }

    #[test]
    fn runs_of_one_invocation_are_paired_and_pooled_and_one_sided_cases_set_apart() {
        let baseline = records(&[
            ("GET", Some("i"), 0, 100.0),
            ("GET", Some("i"), 1, 102.0),
            ("GET", Some("i"), 2, 101.0),
            ("SET", Some("i"), 0, 50.0),
        ]);
        let new = records(&[
            ("GET", Some("i"), 0, 110.0),
            ("GET", Some("i"), 1, 111.0),
            ("GET", Some("i"), 2, 112.0),
        ]);
        let grouping = group::group(&baseline, &new);
        let a = analyse(&baseline, &new, &grouping, &[], &[Metric::Rps], 2);
        assert_eq!((a.cases.len(), a.only_in_baseline.len()), (1, 1));
        let rps = &a.cases[0].metrics[0];
        assert_eq!(rps.analysis, Some(Analysis::Paired));
        assert!(rps.difference.is_some() && rps.p_adjusted.is_none());
        assert_eq!(
            rps.verdict,
            Verdict::InsufficientData,
            "no verdict before `decide`"
        );
        assert_eq!(a.pool.len(), 1);
        assert!(a.across.is_empty() && !a.few_runs);
    }

    #[test]
    fn runs_of_different_invocations_wait_for_the_widening() {
        let baseline = records(&[("GET", Some("a"), 0, 100.0), ("GET", Some("a"), 1, 101.0)]);
        let new = records(&[("GET", None, 0, 110.0), ("GET", None, 1, 111.0)]);
        let grouping = group::group(&baseline, &new);
        let a = analyse(&baseline, &new, &grouping, &[], &[Metric::Rps], 2);
        let rps = &a.cases[0].metrics[0];
        assert_eq!(rps.analysis, Some(Analysis::BetweenInvocations));
        assert!(rps.difference.is_none() && a.pool.is_empty() && a.few_runs);
        assert_eq!(
            (a.across.len(), a.across[0].case, a.across[0].index),
            (1, 0, 0)
        );
    }
}
