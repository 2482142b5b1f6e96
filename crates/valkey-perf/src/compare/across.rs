//! The across-invocation model: between two invocations, case i's log ratio is
//!
//!   yᵢ = δ + uᵢ + eᵢ,  δ the common shift, uᵢ ~ N(0, τ²) the case's own deviation,
//!   eᵢ ~ N(0, vᵢ) its sampling error (vᵢ moderated, see `super::moderate`).
//!
//! A machine drifts between invocations, so δ cannot be told from drift: it is judged only
//! against what is known of that drift (`CompareOptions::drift`, else [`DEFAULT_DRIFT_SD`]).
//! A case is judged against the common shift the other cases and the drift show together,
//! beyond the case-to-case spread and its own sampling error (see `case_test`). So a case that
//! departs from the others is a verdict from [`MIN_CASES`] cases up, a shift of every case is
//! none unless it is far beyond the drift, and when half the cases slowed it is those cases,
//! not the unchanged half, that are convicted. Pure math on plain numbers.

use super::effects::LogEffect;
use statrs::distribution::{ContinuousCDF, FisherSnedecor};

/// The drift assumed between two invocations when the machine's history does not say: a
/// standard deviation of 5 % of the common log shift.
pub const DEFAULT_DRIFT_SD: f64 = 0.05;

/// Fewest cases for case verdicts between invocations: the spread of the others needs two.
pub const MIN_CASES: usize = 3;

/// One case's input: log ratio, sampling variance and its degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaseInput {
    pub y: f64,
    pub v: f64,
    pub df: f64,
}

/// What the model says: the common shift judged against drift, and per case the test of its
/// departure (`None` for fewer than [`MIN_CASES`] cases).
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub common: Option<LogEffect>,
    pub cases: Vec<Option<LogEffect>>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Satterthwaite's degrees of freedom of a sum of variance pieces (value, df) (Satterthwaite,
/// "An approximate distribution of estimates of variance components", Biometrics Bulletin 2,
/// 1946); a piece with infinite df (a known variance) adds nothing to the denominator.
fn satterthwaite(pieces: &[(f64, f64)]) -> f64 {
    let total: f64 = pieces.iter().map(|p| p.0).sum();
    let denom: f64 = pieces
        .iter()
        .filter(|p| p.1.is_finite() && p.0 > 0.0)
        .map(|p| p.0 * p.0 / p.1)
        .sum();
    if denom > 0.0 {
        total * total / denom
    } else {
        f64::INFINITY
    }
}

/// The common shift: ȳ, the geometric mean of the cases' ratios, with the standard error of
/// [`mean_se_sq`], judged against N(0, drift² + se²).
pub fn common_shift(cases: &[CaseInput], drift_sd: f64) -> Option<LogEffect> {
    let (se_sq, df) = mean_se_sq(cases)?;
    let var = drift_sd * drift_sd + se_sq;
    let df = satterthwaite(&[(drift_sd * drift_sd, f64::INFINITY), (se_sq, df)]);
    let ys: Vec<f64> = cases.iter().map(|c| c.y).collect();
    LogEffect::test(cases.len(), mean(&ys), var.sqrt(), df.min(1e6))
}

/// The variance of the unweighted mean of the cases' log ratios and its degrees of freedom:
/// the sampling model's Σvᵢ/k² (Satterthwaite's df), unless the cases scatter more than it
/// allows: when s_y²/k exceeds it beyond the 95th percentile of F(k − 1, df), the t interval
/// over cases (s_y²/k on k − 1 df), so that an unmodelled correlation or heterogeneity
/// between cases cannot make the line surer than the cases themselves.
pub fn mean_se_sq(cases: &[CaseInput]) -> Option<(f64, f64)> {
    let k = cases.len() as f64;
    if cases.is_empty() {
        return None;
    }
    let model = cases.iter().map(|c| c.v).sum::<f64>() / (k * k);
    let model_df = satterthwaite(
        &cases
            .iter()
            .map(|c| (c.v / (k * k), c.df))
            .collect::<Vec<_>>(),
    );
    let ys: Vec<f64> = cases.iter().map(|c| c.y).collect();
    let scatter = (cases.len() >= 2).then(|| {
        let m = mean(&ys);
        ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / (k - 1.0) / k
    });
    let f_crit = |d1: f64, d2: f64| {
        FisherSnedecor::new(d1, d2.min(1e6))
            .map(|f| f.inverse_cdf(0.95))
            .unwrap_or(1.0)
    };
    match scatter {
        Some(s) if model <= 0.0 || s > model * f_crit(k - 1.0, model_df) => Some((s, k - 1.0)),
        _ if model > 0.0 => Some((model, model_df)),
        _ => None,
    }
}

/// Center and spread of the other cases: their mean, the sample variance of one case about it
/// (n − 1 df) and the variance of the mean. Returns (center, variance, df, variance of center).
fn others(ys: &[f64]) -> (f64, f64, f64, f64) {
    let n = ys.len() as f64;
    let center = mean(ys);
    let var = ys.iter().map(|y| (y - center).powi(2)).sum::<f64>() / (n - 1.0);
    (center, var, n - 1.0, var / n)
}

/// How far from no change the others' center may sit, in standard deviations of drift and
/// its own uncertainty, before it is no longer taken for the common shift.
const CONFLICT_SD: f64 = 3.0;

/// The test of case `i`, from two tests of which either alone would do when the other cases
/// did not change, so the smaller p-value counts twice (Bonferroni):
///
/// - *against no change*: N(0, drift² + min(τ̂², drift²) + vᵢ), with τ̂² the others' spread
///   beyond their sampling error, counted up to drift² at most: a wider spread comes from
///   other cases that changed, not from this one;
/// - *against the others*: their mean combined with the drift prior N(0, drift²) (the normal
///   posterior, Gelman et al., "Bayesian Data Analysis", §2.5) is the common shift, and the
///   case departs from it beyond τ̂² and its own sampling error. Only while the others sit
///   where drift can put them ([`CONFLICT_SD`]); farther out (a large drift, or many of them
///   changed) their mean says nothing about this case.
///
/// The effect shown is yᵢ with the interval of the first test.
fn case_test(cases: &[CaseInput], i: usize, drift_sd: f64) -> Option<LogEffect> {
    let me = cases[i];
    let rest: Vec<CaseInput> = cases
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(_, c)| *c)
        .collect();
    let ys: Vec<f64> = rest.iter().map(|c| c.y).collect();
    let (center, s_sq, s_df, center_var) = others(&ys);
    let v_bar = mean(&rest.iter().map(|c| c.v).collect::<Vec<_>>());
    let tau_sq = (s_sq - v_bar).max(0.0);
    let drift_sq = drift_sd * drift_sd;
    // Against no change.
    let capped = tau_sq.min(drift_sq);
    let var_b = drift_sq + capped + me.v;
    let df_b = satterthwaite(&[(me.v, me.df), (capped, s_df), (drift_sq, f64::INFINITY)]);
    let mut effect = LogEffect::test(cases.len(), me.y, var_b.sqrt(), df_b.min(1e6))?;
    // Against the others.
    let conflict = center.abs() > CONFLICT_SD * (drift_sq + center_var).sqrt();
    if !conflict && drift_sq + center_var > 0.0 {
        let w = drift_sq / (drift_sq + center_var);
        let (shift, shift_var) = (center * w, center_var * w);
        let var_a = me.v + tau_sq + shift_var;
        let df_a = satterthwaite(&[(me.v, me.df), (tau_sq + shift_var, s_df)]);
        let p_a = LogEffect::test(cases.len(), me.y - shift, var_a.sqrt(), df_a.min(1e6))
            .map_or(1.0, |e| e.p_value);
        effect.p_value = (2.0 * effect.p_value.min(p_a)).min(1.0);
    }
    Some(effect)
}

/// Fits the model to the cases of one metric compared across invocations.
pub fn fit(cases: &[CaseInput], drift_sd: f64) -> Fit {
    let per_case = if cases.len() >= MIN_CASES {
        (0..cases.len())
            .map(|i| case_test(cases, i, drift_sd))
            .collect()
    } else {
        vec![None; cases.len()]
    };
    Fit {
        common: common_shift(cases, drift_sd),
        cases: per_case,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(ys: &[f64]) -> Vec<CaseInput> {
        ys.iter()
            .map(|&y| CaseInput {
                y,
                v: 0.0004,
                df: 40.0,
            })
            .collect()
    }

    #[test]
    fn a_shift_of_every_case_is_the_common_shift_not_a_case_verdict() {
        let ys: Vec<f64> = (0..10)
            .map(|i| -0.105 + 0.01 * ((i % 3) as f64 - 1.0))
            .collect();
        let f = fit(&cases(&ys), 0.05);
        let common = f.common.clone().unwrap();
        assert!((common.pct_change() + 10.0).abs() < 0.5, "{common:?}");
        // −10 % against a 5 % drift: two standard deviations, not beyond doubt.
        assert!(common.p_value > 0.03, "{common:?}");
        assert!(f.cases.iter().flatten().all(|e| e.p_value > 0.01), "{f:?}");
        let far = fit(&cases(&[-0.51; 10]), 0.05);
        assert!(far.common.unwrap().p_value < 1e-4);
    }

    #[test]
    fn a_case_that_departs_is_found_from_three_cases_up() {
        let f = fit(&cases(&[0.02, 0.0, -0.02, -0.45]), 0.05);
        let p: Vec<f64> = f
            .cases
            .iter()
            .map(|e| e.as_ref().unwrap().p_value)
            .collect();
        assert!(p[3] < 0.01, "{p:?}");
        assert!(p[..3].iter().all(|&p| p > 0.2), "{p:?}");
        assert!(
            fit(&cases(&[0.0, -0.4]), 0.05)
                .cases
                .iter()
                .all(Option::is_none)
        );
    }

    #[test]
    fn when_half_the_cases_slowed_only_they_are_found() {
        let ys: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { -0.22 } else { 0.0 } + 0.005 * ((i % 3) as f64 - 1.0))
            .collect();
        // Judged against a drift the history knows to be small.
        let f = fit(&cases(&ys), 0.02);
        for (i, e) in f.cases.iter().enumerate() {
            let p = e.as_ref().unwrap().p_value;
            assert_eq!(p < 0.01, i % 2 == 0, "case {i}: p = {p}");
        }
    }
}
