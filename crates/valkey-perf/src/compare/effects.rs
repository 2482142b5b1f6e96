//! Relative effects between two targets as log ratios (new / baseline), and the three ways
//! `compare` judges them, chosen per case by where the runs come from:
//!
//! - **paired**: both targets ran in one `valkey-perf run` invocation, interleaved in rounds
//!   (A B, then B A, ...). Each round gives one log ratio; the t-interval of their mean cancels
//!   drift between rounds, since both targets of a round saw the same machine.
//! - **Welch**: runs of one invocation that cannot be paired round by round: Welch's test on
//!   the runs ([`super::stats::difference`]).
//! - **between invocations**: the two sides come from different invocations (or from upstream
//!   files, which say nothing about it). Machine drift between invocations is then part of the
//!   difference, so each case's interval is widened by a between-invocation variance component
//!   estimated from how all cases' log ratios scatter beyond their own sampling error (a
//!   random-effects model, made robust so that a few real changes do not inflate it).
//!
//! Pure math on plain numbers. Every formula names its source.

use super::stats::{CONFIDENCE, t_critical, t_two_sided_p};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

/// Which analysis a verdict used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Analysis {
    /// Per-round log ratios of one interleaved invocation.
    Paired,
    /// Welch's test on the runs of one invocation.
    Welch,
    /// Different invocations: intervals widened by the between-invocation variance.
    BetweenInvocations,
}

impl Analysis {
    pub fn label(self) -> &'static str {
        match self {
            Analysis::Paired => "paired",
            Analysis::Welch => "Welch",
            Analysis::BetweenInvocations => "between invocations",
        }
    }
}

/// Fewest cases from which the between-invocation variance is estimated; with fewer, no
/// verdict is given for cases compared across invocations.
pub const MIN_CASES_FOR_BETWEEN: usize = 5;

/// A relative effect on the log scale: the estimate of ln(new / baseline), its standard
/// error, and the test of "no change".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEffect {
    /// Pairs (paired) or cases (pooled) it rests on.
    pub k: usize,
    /// Estimated ln(new / baseline).
    pub log_ratio: f64,
    pub se: f64,
    /// Degrees of freedom of the t reference; `None` for the normal reference.
    pub df: Option<f64>,
    pub p_value: f64,
    /// 95 % interval of `log_ratio`.
    pub log_ci95: [f64; 2],
}

impl LogEffect {
    /// The percent change exp(ŷ) − 1, in percent.
    pub fn pct_change(&self) -> f64 {
        (self.log_ratio.exp() - 1.0) * 100.0
    }

    /// The 95 % interval of the percent change (the log interval, transformed).
    pub fn pct_ci95(&self) -> [f64; 2] {
        let [lo, hi] = self.log_ci95;
        [(lo.exp() - 1.0) * 100.0, (hi.exp() - 1.0) * 100.0]
    }

    /// A test of ŷ against 0 with standard error `se`: Student-t with `df` degrees of
    /// freedom, or the normal reference with `df = None`.
    pub fn test(k: usize, log_ratio: f64, se: f64, df: Option<f64>) -> Option<LogEffect> {
        if !(log_ratio.is_finite() && se.is_finite() && se > 0.0) {
            return None;
        }
        let z = log_ratio / se;
        let (p_value, crit) = match df {
            Some(df) => (t_two_sided_p(z, df)?, t_critical(CONFIDENCE, df)?),
            None => {
                let n = Normal::standard();
                (
                    (2.0 * n.cdf(-z.abs())).min(1.0),
                    n.inverse_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0),
                )
            }
        };
        Some(LogEffect {
            k,
            log_ratio,
            se,
            df,
            p_value,
            log_ci95: [log_ratio - crit * se, log_ratio + crit * se],
        })
    }
}

/// The resolution of values that lie on a grid (upstream latencies in 8 µs steps, rps =
/// requests / whole milliseconds, 3-decimal rounding): the smallest positive gap between
/// distinct values of both samples, or, when every value is the same, the last decimal place
/// they are written with.
pub fn resolution(a: &[f64], b: &[f64]) -> f64 {
    let mut all: Vec<f64> = a
        .iter()
        .chain(b)
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    let gap = all
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0.0)
        .fold(f64::INFINITY, f64::min);
    if gap.is_finite() {
        gap
    } else {
        all.first().map_or(0.0, |&v| last_decimal(v))
    }
}

/// 10^−d for the fewest decimals d (up to 9) that write `v` exactly (to 1e−9 relative).
fn last_decimal(v: f64) -> f64 {
    for d in 0..=9 {
        let scale = 10f64.powi(d);
        let scaled = v * scale;
        if (scaled - scaled.round()).abs() <= 1e-9 * scaled.abs().max(1.0) {
            return 1.0 / scale;
        }
    }
    1e-9
}

/// The smallest standard deviation a sample of grid values is credited with: half the
/// resolution. Each value is the true one rounded to the grid, off by up to half a step, so a
/// sample whose spread is below the grid tells nothing finer than that (without the floor, two
/// constant samples one step apart give p = 0).
pub fn sd_floor(resolution: f64) -> f64 {
    resolution / 2.0
}

/// Sample variance (n − 1) of `v`, raised to `floor_sd²`; `None` for fewer than 2 values.
fn floored_variance(v: &[f64], floor_sd: f64) -> Option<f64> {
    let var = super::stats::sample_variance(v)?;
    Some(var.max(floor_sd * floor_sd))
}

/// Paired analysis: one log ratio dᵣ = ln(newᵣ / baselineᵣ) per round, and the Student-t
/// interval of their mean, d̄ ± t_{0.975, k−1}·s_d/√k (the paired t-test, Student 1908, on log
/// ratios so that the effect is relative and symmetric: Kalibera & Jones, "Rigorous
/// Benchmarking in Reasonable Time", ISMM 2013, §5). `floor_sd` is the per-value rounding
/// floor relative to each side's mean (see [`sd_floor`]); the log ratio of two values each off
/// by up to that share has a floor of √2 times it. `None` for fewer than 2 pairs or values
/// that are not positive.
pub fn paired(pairs: &[(f64, f64)], floor_rel_sd: f64) -> Option<LogEffect> {
    if pairs.len() < 2 || pairs.iter().any(|&(b, n)| !(b > 0.0 && n > 0.0)) {
        return None;
    }
    let d: Vec<f64> = pairs.iter().map(|&(b, n)| (n / b).ln()).collect();
    let k = d.len();
    let mean = d.iter().sum::<f64>() / k as f64;
    let var = floored_variance(&d, std::f64::consts::SQRT_2 * floor_rel_sd)?;
    LogEffect::test(k, mean, (var / k as f64).sqrt(), Some(k as f64 - 1.0))
}

/// A case's log ratio of means y = ln(x̄_new / x̄_base) and its sampling variance by the delta
/// method, Var(ln x̄) ≈ s²/(n·x̄²) (e.g. Casella & Berger, "Statistical Inference", 2nd ed.,
/// §5.5.4), summed over the two independent sides, with each side's s floored at `floor_sd`.
/// `None` for fewer than 2 values on a side or means that are not positive.
pub fn log_ratio_of_means(baseline: &[f64], new: &[f64], floor_sd: f64) -> Option<(f64, f64)> {
    let (mb, mn) = (super::stats::mean(baseline)?, super::stats::mean(new)?);
    if !(mb > 0.0 && mn > 0.0) {
        return None;
    }
    let vb = floored_variance(baseline, floor_sd)? / (baseline.len() as f64 * mb * mb);
    let vn = floored_variance(new, floor_sd)? / (new.len() as f64 * mn * mn);
    Some(((mn / mb).ln(), vb + vn))
}

/// The between-invocation variance τ² of cases' log ratios when the two sides come from
/// different invocations: under "no real change", yᵢ ~ N(0, vᵢ + τ²), where vᵢ is the case's
/// own sampling variance and τ² what the machine's drift between the invocations adds. A
/// robust scale of the yᵢ around zero, 1.4826·median|yᵢ| (the normal-consistent median absolute
/// deviation, Rousseeuw & Croux, JASA 88, 1993), estimates √(v + τ²) while fewer than half of
/// the cases really changed, so τ² = max(0, (1.4826·median|yᵢ|)² − median vᵢ). Measured around
/// zero, not around the cases' center, on purpose: a shift of every case between two
/// invocations is what drift looks like, so it is counted as noise, not as a change. `None`
/// with fewer than [`MIN_CASES_FOR_BETWEEN`] cases.
pub fn between_invocation_variance(ys: &[f64], vs: &[f64]) -> Option<f64> {
    if ys.len() < MIN_CASES_FOR_BETWEEN || ys.len() != vs.len() {
        return None;
    }
    let med = |mut x: Vec<f64>| {
        x.sort_by(f64::total_cmp);
        let m = x.len() / 2;
        if x.len() % 2 == 0 {
            (x[m - 1] + x[m]) / 2.0
        } else {
            x[m]
        }
    };
    let scale = 1.4826 * med(ys.iter().map(|y| y.abs()).collect());
    Some((scale * scale - med(vs.to_vec())).max(0.0))
}

/// The random-effects pooled mean of cases' log ratios. τ² by DerSimonian & Laird
/// ("Meta-analysis in clinical trials", Controlled Clinical Trials 7, 1986): with wᵢ = 1/vᵢ,
/// Q = Σwᵢ(yᵢ − ȳ_w)², τ² = max(0, (Q − (k − 1)) / (Σwᵢ − Σwᵢ²/Σwᵢ)); then μ̂ = Σwᵢ*yᵢ / Σwᵢ*
/// with wᵢ* = 1/(vᵢ + τ²). Its standard error and reference distribution follow Hartung &
/// Knapp (Statistics in Medicine 20, 2001) and Sidik & Jonkman (2002), in the modified form
/// that is never narrower than DerSimonian–Laird's (Röver, Knapp & Friede, BMC Medical
/// Research Methodology 15, 2015): SE² = max(1, q) / Σwᵢ* with
/// q = Σwᵢ*(yᵢ − μ̂)² / (k − 1), against Student-t with k − 1 degrees of freedom. The
/// observed scatter of the cases thereby also covers sampling variances estimated from a few
/// runs each, which the plain normal reference would take as exact. `None` for fewer than 2
/// cases or a variance that is not positive.
pub fn pooled(ys: &[f64], vs: &[f64]) -> Option<LogEffect> {
    let k = ys.len();
    if k < 2 || k != vs.len() || vs.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return None;
    }
    let w: Vec<f64> = vs.iter().map(|v| 1.0 / v).collect();
    let sw: f64 = w.iter().sum();
    let ybar = w.iter().zip(ys).map(|(w, y)| w * y).sum::<f64>() / sw;
    let q_dl: f64 = w.iter().zip(ys).map(|(w, y)| w * (y - ybar).powi(2)).sum();
    let sw2: f64 = w.iter().map(|w| w * w).sum();
    let tau2 = ((q_dl - (k as f64 - 1.0)) / (sw - sw2 / sw)).max(0.0);
    let ws: Vec<f64> = vs.iter().map(|v| 1.0 / (v + tau2)).collect();
    let sws: f64 = ws.iter().sum();
    let mu = ws.iter().zip(ys).map(|(w, y)| w * y).sum::<f64>() / sws;
    let q = ws
        .iter()
        .zip(ys)
        .map(|(w, y)| w * (y - mu).powi(2))
        .sum::<f64>()
        / (k as f64 - 1.0);
    LogEffect::test(k, mu, (q.max(1.0) / sws).sqrt(), Some(k as f64 - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_is_the_grid_step_or_the_last_decimal() {
        assert!((resolution(&[0.127, 0.127], &[0.135, 0.135]) - 0.008).abs() < 1e-12);
        assert!((resolution(&[0.127; 3], &[0.127; 3]) - 0.001).abs() < 1e-12);
        assert_eq!(resolution(&[400_000.0; 2], &[400_000.0]), 1.0);
    }

    #[test]
    fn paired_cancels_a_drift_that_hits_both_targets() {
        // The machine slows by 20 % over the rounds; the new target is 5 % slower in each.
        let pairs: Vec<(f64, f64)> = (0..5)
            .map(|r| {
                let machine = 1.0 - 0.05 * r as f64;
                (
                    100_000.0 * machine,
                    95_000.0 * machine * (1.0 + 0.001 * r as f64),
                )
            })
            .collect();
        let e = paired(&pairs, 0.0).unwrap();
        assert!((e.pct_change() + 4.8).abs() < 0.3, "{e:?}");
        assert!(e.p_value < 1e-4, "{e:?}");
        assert!(paired(&pairs[..1], 0.0).is_none());
    }

    #[test]
    fn constant_pairs_one_step_apart_are_not_significant() {
        let e = paired(&[(0.127, 0.135); 3], sd_floor(0.008) / 0.131).unwrap();
        assert!(e.p_value > 0.05, "{e:?}");
    }

    #[test]
    fn between_invocation_variance_ignores_a_few_real_changes() {
        let ys = [0.02, -0.03, 0.01, -0.02, 0.03, -0.5];
        let vs = [0.0001; 6];
        let tau2 = between_invocation_variance(&ys, &vs).unwrap();
        // Scale from the five drifting cases (about 0.025), not from the −40 % one.
        assert!(tau2.sqrt() < 0.05, "{tau2}");
        assert!(between_invocation_variance(&ys[..4], &vs[..4]).is_none());
    }

    #[test]
    fn pooled_finds_a_small_change_everywhere() {
        // 200 cases, each 3 % slower with 5 % run-to-run noise over 10 runs a side: the
        // sampling variance of a case's log ratio is 2·0.05²/10.
        let ys: Vec<f64> = (0..200)
            .map(|i| (0.97f64).ln() + 0.01 * ((i % 7) as f64 - 3.0) / 3.0)
            .collect();
        let vs = vec![2.0 * 0.05 * 0.05 / 10.0; 200];
        let e = pooled(&ys, &vs).unwrap();
        assert!((e.pct_change() + 3.0).abs() < 0.5, "{e:?}");
        assert!(e.log_ratio / e.se < -15.0, "{e:?}");
    }
}
