//! The inference stages between the analysis and the correction: the variances of each
//! metric's cases moderated together ([`super::moderate`]), each case tested (a t test within
//! one invocation, the model of [`super::across`] between two), and the overall line of each
//! metric. Decides no verdict and corrects nothing: every test leaves with its raw p-value.

use super::across::{self, CaseInput};
use super::analyse::Pending;
use super::effects::{Analysis, LogEffect};
use super::model::*;
use super::moderate;

/// Which error-rate family a test belongs to (docs/design.md §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// The primary metric of every case (rps, or what the mode measures) and its overall line.
    Primary,
    /// Every other judged metric and its overall line.
    Secondary,
}

/// One judged metric of one case after its test.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tested {
    pub at: Pending,
    pub effect: Option<LogEffect>,
    pub family: Family,
    /// The test's weight in its family's correction, and its adjusted p-value.
    pub weight: f64,
    pub p_adj: Option<f64>,
    /// Smallest change (log scale) found with 80 % power at the family's threshold.
    pub mde_log: Option<f64>,
}

/// The overall line of one metric before the correction.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub metric: Metric,
    pub cases: usize,
    pub effect: Option<LogEffect>,
    /// The line is the common shift between two invocations, judged against this drift.
    pub drift: Option<DriftPrior>,
    pub note: Option<String>,
    pub family: Family,
    pub weight: f64,
    pub p_adj: Option<f64>,
}

/// The variance of each case's estimate for its own test, moderated
/// ([`moderate::moderate_each`], never below `floor` times the case's own), with the rounding
/// floor.
fn moderated_inputs(group: &[&Pending], floor: f64) -> Vec<CaseInput> {
    let s: Vec<f64> = group.iter().map(|p| p.est.s_sq).collect();
    let d: Vec<f64> = group.iter().map(|p| p.est.df).collect();
    group
        .iter()
        .zip(moderate::moderate_each(&s, &d, floor))
        .map(|(p, m)| CaseInput {
            y: p.est.y,
            v: (p.est.c * m.s_sq).max(p.est.floor_sq),
            df: m.df,
        })
        .collect()
}

/// Each case's own variance, with the rounding floor, for the overall line: the mean of many
/// cases needs no borrowing (their own variances sum to its variance on many degrees of
/// freedom), and moderated variances that share one prior are not the independent pieces
/// Satterthwaite's degrees of freedom count.
fn own_inputs(group: &[&Pending]) -> Vec<CaseInput> {
    group
        .iter()
        .map(|p| CaseInput {
            y: p.est.y,
            v: (p.est.c * p.est.s_sq).max(p.est.floor_sq),
            df: p.est.df,
        })
        .collect()
}

/// The primary metric of each case: its first judged metric (rps, or instructions per
/// request in instructions mode, overhead per key in memory mode, average latency with
/// `--metrics latency`).
pub(super) fn primary_metrics(cases: &[CaseComparison]) -> Vec<Option<Metric>> {
    cases
        .iter()
        .map(|c| {
            c.metrics
                .iter()
                .find(|m| m.verdict != Verdict::NotJudged)
                .map(|m| m.metric)
        })
        .collect()
}

/// Tests every pending estimate and builds the overall line of every judged metric.
pub(super) fn infer(
    pending: &[Pending],
    primary: &[Option<Metric>],
    metrics: &[Metric],
    opts: &CompareOptions,
) -> (Vec<Tested>, Vec<Line>) {
    let drift = opts.drift.clone().unwrap_or(DriftPrior {
        sd_log: across::DEFAULT_DRIFT_SD,
        pairs: 0,
    });
    let mut tested = Vec::new();
    let mut lines = Vec::new();
    for (slot, &metric) in metrics.iter().enumerate().filter(|(_, m)| m.judged()) {
        let family = if primary.contains(&Some(metric)) {
            Family::Primary
        } else {
            Family::Secondary
        };
        let of = |a: Analysis| -> Vec<&Pending> {
            pending
                .iter()
                .filter(|p| p.slot == slot && p.est.analysis == a)
                .collect()
        };
        let mut within: Vec<CaseInput> = Vec::new();
        for analysis in [Analysis::Paired, Analysis::Unpaired] {
            let group = of(analysis);
            let inputs = moderated_inputs(&group, opts.own_variance_floor);
            for (p, c) in group.iter().zip(&inputs) {
                let effect = LogEffect::test(1, c.y, c.v.sqrt(), c.df);
                tested.push(tested_of(p, effect, primary));
            }
            within.extend(own_inputs(&group));
        }
        let group = of(Analysis::BetweenInvocations);
        let inputs = moderated_inputs(&group, opts.own_variance_floor);
        let fit = across::fit(&inputs, drift.sd_log);
        for (p, effect) in group.iter().zip(fit.cases) {
            tested.push(tested_of(p, effect, primary));
        }
        let line = |cases, effect, drift, note: Option<&str>| Line {
            metric,
            cases,
            effect,
            drift,
            note: note.map(str::to_string),
            family,
            weight: 1.0,
            p_adj: None,
        };
        lines.push(if !within.is_empty() {
            let note = (!inputs.is_empty())
                .then_some("cases compared across invocations are left out of this line");
            line(within.len(), pooled(&within), None, note)
        } else if !inputs.is_empty() {
            line(inputs.len(), fit.common, Some(drift.clone()), None)
        } else {
            line(0, None, None, Some("no case has enough runs on both sides"))
        });
    }
    (tested, lines)
}

fn tested_of(p: &Pending, effect: Option<LogEffect>, primary: &[Option<Metric>]) -> Tested {
    Tested {
        at: *p,
        effect,
        family: if primary[p.case] == Some(p.metric) {
            Family::Primary
        } else {
            Family::Secondary
        },
        weight: 1.0,
        p_adj: None,
        mde_log: None,
    }
}

/// The overall line of cases of one invocation: the unweighted mean of their log ratios (the
/// geometric mean of the ratios, as it claims), with the standard error of
/// [`across::mean_se_sq`].
fn pooled(cases: &[CaseInput]) -> Option<LogEffect> {
    let (se_sq, df) = across::mean_se_sq(cases)?;
    let y = cases.iter().map(|c| c.y).sum::<f64>() / cases.len() as f64;
    LogEffect::test(cases.len(), y, se_sq.sqrt(), df.min(1e6))
}
