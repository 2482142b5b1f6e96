//! The overall line of each metric: the cases of one invocation pooled into one change (the
//! geometric mean of their ratios, random effects), Holm-corrected among the overall lines.

use super::effects;
use super::model::*;
use super::stats;

/// The overall line of one metric: the random-effects pooled (geometric-mean) change over the
/// cases of one invocation, judged like a case (interval excludes 0, p < α, at least the noise
/// threshold). Cases compared across invocations are not pooled: a change in every case is
/// what drift between invocations looks like.
pub(super) fn overall_of(
    metric: Metric,
    ys: &[f64],
    vs: &[f64],
    any_across: bool,
    opts: &CompareOptions,
) -> Overall {
    let none = |note: &str| Overall {
        metric,
        cases: ys.len(),
        pct_change: None,
        pct_change_ci95: None,
        p_value: None,
        p_adjusted: None,
        verdict: Verdict::InsufficientData,
        note: Some(note.to_string()),
    };
    let Some(e) = effects::pooled(ys, vs) else {
        return none(if any_across {
            "the sides come from different invocations: a change in every case cannot be told from drift between them"
        } else {
            "fewer than two cases have enough runs on both sides"
        });
    };
    let [lo, hi] = e.pct_ci95();
    let pct = e.pct_change();
    let significant = (lo > 0.0 || hi < 0.0) && e.p_value < opts.alpha;
    let verdict = if !significant || pct.abs() < opts.threshold_for(metric) {
        Verdict::NoSignificantChange
    } else if (pct > 0.0) == metric.higher_is_better() {
        Verdict::Improvement
    } else {
        Verdict::Regression
    };
    Overall {
        metric,
        cases: e.k,
        pct_change: Some(pct),
        pct_change_ci95: Some([lo, hi]),
        p_value: Some(e.p_value),
        p_adjusted: None,
        verdict,
        note: any_across
            .then(|| "cases compared across invocations are left out of this line".to_string()),
    }
}

/// The overall lines are a family of their own (one per metric): with the correction on, their
/// p-values are Holm-adjusted among themselves, so that the chance of any false overall alarm
/// stays below α, and a line is significant only when its adjusted p-value is.
pub(super) fn correct_overall(mut lines: Vec<Overall>, opts: &CompareOptions) -> Vec<Overall> {
    if opts.correction == Correction::None {
        return lines;
    }
    let judged: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].p_value.is_some())
        .collect();
    let raw: Vec<f64> = judged
        .iter()
        .map(|&i| lines[i].p_value.unwrap_or(1.0))
        .collect();
    for (&i, p_adj) in judged.iter().zip(stats::holm_adjust(&raw)) {
        let o = &mut lines[i];
        o.p_adjusted = Some(p_adj);
        if p_adj >= opts.alpha && matches!(o.verdict, Verdict::Regression | Verdict::Improvement) {
            o.verdict = Verdict::NoSignificantChange;
        }
    }
    lines
}
