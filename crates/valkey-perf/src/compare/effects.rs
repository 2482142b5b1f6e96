//! Relative effects between two targets as log ratios (new / baseline), estimated per case in
//! one of three ways chosen by where the runs come from:
//!
//! - **paired**: both targets ran in one `valkey-perf run` invocation, interleaved in rounds
//!   (A B, then B A, ...). Each round gives one log ratio; their mean cancels drift between
//!   rounds, since both targets of a round saw the same machine.
//! - **unpaired**: runs of one invocation that cannot be paired round by round: the difference
//!   of the sides' mean log values.
//! - **between invocations**: the sides come from different invocations (or files that do not
//!   say); estimated like unpaired, then judged by the model of `super::across`.
//!
//! Every estimate leaves here as a log ratio, a residual variance on its degrees of freedom,
//! and the factor that turns that variance into the estimate's: the form the variance
//! moderation of `super::moderate` needs. Pure math on plain numbers.

use super::stats::{CONFIDENCE, t_critical, t_two_sided_p};
use serde::Serialize;

/// Which analysis a verdict used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Analysis {
    /// Per-round log ratios of one interleaved invocation.
    Paired,
    /// Mean log values of the runs of one invocation.
    Unpaired,
    /// Different invocations: common shift, case deviation and sampling error.
    BetweenInvocations,
}

impl Analysis {
    pub fn label(self) -> &'static str {
        match self {
            Analysis::Paired => "paired",
            Analysis::Unpaired => "unpaired",
            Analysis::BetweenInvocations => "between invocations",
        }
    }
}

/// A case's log ratio before its variance is moderated: ŷ = estimated ln(new / baseline),
/// the residual variance `s_sq` of the log values on `df` degrees of freedom, and `c` with
/// Var(ŷ) = c·σ². `floor_sq` is the rounding floor of Var(ŷ) (see [`rounding_floor_sq`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub analysis: Analysis,
    pub y: f64,
    pub s_sq: f64,
    pub df: f64,
    pub c: f64,
    pub floor_sq: f64,
}

/// A relative effect on the log scale: the estimate of ln(new / baseline), its standard
/// error, and the test of "no change".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEffect {
    /// Pairs, runs or cases it rests on.
    pub k: usize,
    /// Estimated ln(new / baseline).
    pub log_ratio: f64,
    pub se: f64,
    /// Degrees of freedom of the t reference.
    pub df: f64,
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

    /// The t test of ŷ against 0 with standard error `se` on `df` degrees of freedom (Student
    /// 1908), and its 95 % interval. `None` for a standard error that is not positive.
    pub fn test(k: usize, log_ratio: f64, se: f64, df: f64) -> Option<LogEffect> {
        if !(log_ratio.is_finite() && se.is_finite() && se > 0.0) {
            return None;
        }
        let df = df.max(1.0);
        let crit = t_critical(CONFIDENCE, df)?;
        Some(LogEffect {
            k,
            log_ratio,
            se,
            df,
            p_value: t_two_sided_p(log_ratio / se, df)?,
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

/// The floor of Var(ŷ) that rounding to a grid of step `resolution` sets: each side's values
/// are the true ones rounded to the grid, and when the spread is below the grid every run of
/// a side is off by the same amount, up to half a step. That error is a bias every run
/// shares, so it does not shrink as 1/√n: each side's mean carries it whole, as a relative
/// standard deviation of half a step over the mean, and the log ratio the sum of both.
pub fn rounding_floor_sq(resolution: f64, mean_baseline: f64, mean_new: f64) -> f64 {
    let half = resolution / 2.0;
    (half / mean_baseline).powi(2) + (half / mean_new).powi(2)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sum_sq(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum()
}

/// Paired: one log ratio dᵣ = ln(newᵣ / baselineᵣ) per round; ŷ = d̄, s² their sample
/// variance on k − 1 degrees of freedom, Var(ŷ) = σ²/k (the paired t-test, Student 1908, on
/// log ratios so that the effect is relative and symmetric: Kalibera & Jones, "Rigorous
/// Benchmarking in Reasonable Time", ISMM 2013, §5). `None` for fewer than 2 pairs or values
/// that are not positive.
pub fn paired(pairs: &[(f64, f64)], floor_sq: f64) -> Option<Estimate> {
    if pairs.len() < 2 || pairs.iter().any(|&(b, n)| !(b > 0.0 && n > 0.0)) {
        return None;
    }
    let d: Vec<f64> = pairs.iter().map(|&(b, n)| (n / b).ln()).collect();
    let k = d.len() as f64;
    Some(Estimate {
        analysis: Analysis::Paired,
        y: mean(&d),
        s_sq: sum_sq(&d) / (k - 1.0),
        df: k - 1.0,
        c: 1.0 / k,
        floor_sq,
    })
}

/// Unpaired: ŷ = mean ln(new) − mean ln(baseline), the difference of the log geometric means;
/// s² the pooled variance of the log values on n₁ + n₂ − 2 degrees of freedom, Var(ŷ) =
/// σ²(1/n₁ + 1/n₂) (the two-sample t-test on logs: run-to-run noise is multiplicative, so on
/// the log scale the two sides share one variance). `None` for fewer than 2 values on a side
/// or values that are not positive.
pub fn unpaired(
    analysis: Analysis,
    baseline: &[f64],
    new: &[f64],
    floor_sq: f64,
) -> Option<Estimate> {
    if baseline.len() < 2
        || new.len() < 2
        || baseline
            .iter()
            .chain(new)
            .any(|v| v.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
    {
        return None;
    }
    let lb: Vec<f64> = baseline.iter().map(|v| v.ln()).collect();
    let ln: Vec<f64> = new.iter().map(|v| v.ln()).collect();
    let (n1, n2) = (lb.len() as f64, ln.len() as f64);
    Some(Estimate {
        analysis,
        y: mean(&ln) - mean(&lb),
        s_sq: (sum_sq(&lb) + sum_sq(&ln)) / (n1 + n2 - 2.0),
        df: n1 + n2 - 2.0,
        c: 1.0 / n1 + 1.0 / n2,
        floor_sq,
    })
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
        assert!((e.y - (0.95f64).ln()).abs() < 0.003, "{e:?}");
        assert!(e.s_sq < 1e-5 && e.df == 4.0 && e.c == 0.2, "{e:?}");
        assert!(paired(&pairs[..1], 0.0).is_none());
    }

    #[test]
    fn the_rounding_floor_does_not_shrink_with_more_runs() {
        // p50 0.127 against 0.135 ms, every run: one 8 µs grid step apart.
        let res = resolution(&[0.127; 5], &[0.135; 5]);
        let floor = rounding_floor_sq(res, 0.127, 0.135);
        let few = unpaired(Analysis::Unpaired, &[0.127; 5], &[0.135; 5], floor).unwrap();
        let many = unpaired(Analysis::Unpaired, &[0.127; 500], &[0.135; 500], floor).unwrap();
        assert_eq!(few.floor_sq, many.floor_sq);
        let e = LogEffect::test(5, few.y, few.floor_sq.sqrt(), few.df).unwrap();
        assert!(e.p_value > 0.05, "{e:?}");
    }

    #[test]
    fn unpaired_is_the_difference_of_log_means() {
        let e = unpaired(
            Analysis::Unpaired,
            &[100.0, 100.0],
            &[110.0, 110.0, 110.0],
            0.0,
        )
        .unwrap();
        assert!((e.y - 1.1f64.ln()).abs() < 1e-12 && e.s_sq == 0.0 && e.df == 3.0);
        assert!(unpaired(Analysis::Unpaired, &[100.0], &[1.0, 2.0], 0.0).is_none());
        assert!(unpaired(Analysis::Unpaired, &[0.0, 1.0], &[1.0, 2.0], 0.0).is_none());
    }
}
