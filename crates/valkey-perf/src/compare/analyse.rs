//! The analysis stage of a comparison: for every case, where its runs come from ([`Origin`]),
//! and for every metric its values on both sides and, where it is judged and has enough runs,
//! its log-ratio [`Estimate`] for the later stages (moderation, the across-invocation model,
//! the correction). Decides no verdict: a judged metric leaves here as `insufficient data`
//! until `verdict::decide` judges it.

use super::effects::{self, Analysis, Estimate};
use super::group::{self, Group, Grouping};
use super::model::*;
use super::stats::{self, Summary};
use super::view::RecordView;
use std::collections::HashMap;

/// A judged metric of a case with an estimate: the case (in `cases`), the metric's index in
/// the case's metrics, its place `slot` among the compared metrics, and the estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Pending {
    pub case: usize,
    pub index: usize,
    pub slot: usize,
    pub metric: Metric,
    pub est: Estimate,
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
    /// Every judged metric of a case on both sides that has an estimate.
    pub pending: Vec<Pending>,
}

/// Analyses every case of `grouping`: each metric in `metrics`, with at least `min_runs` runs
/// a side to be estimated. `varying` names the parameters that label a case.
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
        let mut estimates = Vec::new();
        for (slot, &metric) in metrics.iter().enumerate() {
            let Some(m) = analyse_metric(&runs, metric, min_runs) else {
                continue;
            };
            out.few_runs |= m.few_runs;
            if let Some(est) = m.estimate {
                estimates.push((mcs.len(), slot, metric, est));
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
            capacity: ladders(baseline, &g.baseline, true)
                .chain(ladders(new, &g.new, false))
                .collect(),
        };
        match (g.baseline.is_empty(), g.new.is_empty()) {
            (false, false) => {
                let at = out.cases.len();
                out.pending
                    .extend(
                        estimates
                            .into_iter()
                            .map(|(index, slot, metric, est)| Pending {
                                case: at,
                                index,
                                slot,
                                metric,
                                est,
                            }),
                    );
                out.cases.push(case);
            }
            // A ratio needs runs on both sides: a one-sided case has none.
            (false, true) => out.only_in_baseline.push(case),
            _ => out.only_in_new.push(case),
        }
    }
    out
}

/// The capacity ladders of one side's runs of a case.
fn ladders<'a>(
    records: &'a [RecordView],
    indexes: &'a [usize],
    baseline: bool,
) -> impl Iterator<Item = super::capacity::Ladder> + 'a {
    indexes.iter().filter_map(move |&i| {
        let r = &records[i];
        Some(super::capacity::Ladder {
            baseline,
            run_index: r.run_index,
            figures: r.capacity.clone()?,
        })
    })
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
    /// Pairs runs by (invocation, round) through a hash map, so a case of n rounds costs
    /// O(n), not O(n²).
    fn of(baseline: &[RecordView], bi: &[usize], new: &[RecordView], ni: &[usize]) -> Origin {
        let key = |r: &RecordView| Some((r.invocation_id.clone()?, r.run_index?));
        let mut by_round: HashMap<(String, u64), usize> = HashMap::with_capacity(ni.len());
        for &n in ni {
            if let Some(k) = key(&new[n]) {
                by_round.entry(k).or_insert(n);
            }
        }
        let pairs: Vec<(usize, usize)> = bi
            .iter()
            .filter_map(|&b| Some((b, *by_round.get(&key(&baseline[b])?)?)))
            .collect();
        if pairs.len() >= 2 {
            return Origin::Paired(pairs);
        }
        let ids =
            |recs: &[RecordView], idx: &[usize]| -> Option<std::collections::BTreeSet<String>> {
                idx.iter().map(|&i| recs[i].invocation_id.clone()).collect()
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
    /// Capacity mode: `rps` is the highest rate that met the SLO, the only figure judged;
    /// the latencies are those of that step, near the SLO by construction.
    capacity: bool,
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
            capacity: records()
                .any(|r| r.benchmark_mode == Some(crate::model::RecordMode::Capacity)),
        }
    }

    /// A timing metric of a case timed against a server under callgrind: shown only.
    fn shown_only(&self, metric: Metric) -> bool {
        (self.timing_meaningless && metric.is_timing()) || (self.capacity && metric != Metric::Rps)
    }
}

/// One metric of one case after the analysis.
struct AnalysedMetric {
    comparison: MetricComparison,
    estimate: Option<Estimate>,
    /// Estimated on only 2 runs of a side.
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
    let judged = metric.judged() && !runs.shown_only(metric);
    let estimate = (enough && judged)
        .then(|| estimate(runs, metric, &bv, &nv))
        .flatten();
    let analysis = enough.then(|| runs.origin.analysis());
    // The verdict of a judged metric is decided after the correction.
    let verdict = if judged {
        Verdict::InsufficientData
    } else {
        Verdict::NotJudged
    };
    Some(AnalysedMetric {
        few_runs: enough && (bv.len() < 3 || nv.len() < 3),
        estimate,
        comparison: MetricComparison {
            metric,
            field: metric.field(),
            baseline: Summary::of(&bv),
            new: Summary::of(&nv),
            baseline_values: bv,
            new_values: nv,
            analysis,
            difference: None,
            p_adjusted: None,
            mde_pct: None,
            verdict,
        },
    })
}

impl Origin {
    fn analysis(&self) -> Analysis {
        match self {
            Origin::Paired(_) => Analysis::Paired,
            Origin::OneInvocation => Analysis::Unpaired,
            Origin::Across => Analysis::BetweenInvocations,
        }
    }
}

/// The estimate that fits where the case's runs come from, given enough runs on both sides.
fn estimate(runs: &CaseRuns, metric: Metric, bv: &[f64], nv: &[f64]) -> Option<Estimate> {
    let (mb, mn) = (stats::mean(bv)?, stats::mean(nv)?);
    let floor = effects::rounding_floor_sq(effects::resolution(bv, nv), mb, mn);
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
            effects::paired(&pv, floor)
        }
        origin => effects::unpaired(origin.analysis(), bv, nv, floor),
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
    fn runs_of_one_invocation_are_paired_and_one_sided_cases_set_apart() {
        let baseline = records(&[
            ("GET", Some("i"), 0, 100.0),
            ("GET", Some("i"), 1, 102.0),
            ("GET", Some("i"), 2, 101.0),
            ("SET", Some("i"), 0, 50.0),
        ]);
        let new = records(&[
            ("GET", Some("i"), 0, 110.0),
            ("GET", Some("i"), 2, 112.0),
            ("GET", Some("i"), 1, 111.0),
        ]);
        let grouping = group::group(&baseline, &new);
        let a = analyse(&baseline, &new, &grouping, &[], &[Metric::Rps], 2);
        assert_eq!((a.cases.len(), a.only_in_baseline.len()), (1, 1));
        let rps = &a.cases[0].metrics[0];
        assert_eq!(rps.analysis, Some(Analysis::Paired));
        assert_eq!(
            rps.verdict,
            Verdict::InsufficientData,
            "no verdict before `decide`"
        );
        let est = a.pending[0].est;
        // Rounds are matched by their index, whatever the order of the records.
        let want =
            ((110.0f64 / 100.0).ln() + (111.0f64 / 102.0).ln() + (112.0f64 / 101.0).ln()) / 3.0;
        assert!((est.y - want).abs() < 1e-12 && est.df == 2.0, "{est:?}");
        assert!(!a.few_runs);
    }

    #[test]
    fn runs_of_different_invocations_are_estimated_unpaired() {
        let baseline = records(&[("GET", Some("a"), 0, 100.0), ("GET", Some("a"), 1, 101.0)]);
        let new = records(&[("GET", None, 0, 110.0), ("GET", None, 1, 111.0)]);
        let grouping = group::group(&baseline, &new);
        let a = analyse(&baseline, &new, &grouping, &[], &[Metric::Rps], 2);
        let rps = &a.cases[0].metrics[0];
        assert_eq!(rps.analysis, Some(Analysis::BetweenInvocations));
        assert_eq!(a.pending[0].est.analysis, Analysis::BetweenInvocations);
        assert!(rps.difference.is_none() && a.few_runs);
        assert_eq!((a.pending[0].case, a.pending[0].index), (0, 0));
    }
}
