//! Pure statistics for `compare`: one sample's summary and the difference between two samples.
//!
//! No I/O and no knowledge of records: plain `f64` slices in, plain numbers out. Every formula
//! names its source. Degenerate inputs are handled on purpose and documented where they occur:
//! an empty sample has no summary; n = 1 has a mean but no spread, interval or test; zero
//! variance gives zero-width intervals; a zero mean gives no CV and no percent change.
//!
//! Checked against scipy in `tests/fixtures/stats/` (see `make_reference.py` there).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Two-sided confidence level used everywhere in `compare`.
pub const CONFIDENCE: f64 = 0.95;

/// Summary of one sample (the runs of one case on one side, for one metric).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation with Bessel's correction (n − 1); `None` when n = 1.
    pub sd: Option<f64>,
    /// Coefficient of variation σ/μ·100 (percent); `None` when n = 1 or the mean is 0.
    pub cv_pct: Option<f64>,
    /// Half-width of the 95 % Student-t confidence interval of the mean; `None` when n = 1.
    pub ci95_half_width: Option<f64>,
    /// 95 % prediction interval for one further run, `[low, high]`; `None` when n = 1.
    pub pi95: Option<[f64; 2]>,
}

/// Two-sided Student-t critical value t_{1−α/2, df} for the confidence level `level`.
///
/// `df` may be fractional (Welch–Satterthwaite). Returns `None` for `df` ≤ 0 or NaN.
pub fn t_critical(level: f64, df: f64) -> Option<f64> {
    if df.is_nan() || df <= 0.0 {
        return None;
    }
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(dist.inverse_cdf(1.0 - (1.0 - level) / 2.0))
}

/// Two-sided p-value of a t statistic with `df` degrees of freedom: 2·P(T_df > |t|).
///
/// Computed from the lower tail, `2·F(−|t|)`, which keeps precision for tiny p-values.
pub fn t_two_sided_p(t: f64, df: f64) -> Option<f64> {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return None;
    }
    if t.is_infinite() {
        return Some(0.0);
    }
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some((2.0 * dist.cdf(-t.abs())).min(1.0))
}

/// Arithmetic mean; `None` for an empty slice.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample variance s² = Σ(xᵢ − x̄)² / (n − 1) (Bessel's correction), by the two-pass algorithm
/// (Chan, Golub & LeVeque, "Algorithms for computing the sample variance", 1983), which avoids
/// the cancellation of the one-pass Σx² − n·x̄² form. `None` when n < 2.
pub fn sample_variance(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let ss: f64 = values.iter().map(|x| (x - m) * (x - m)).sum();
    Some(ss / (values.len() - 1) as f64)
}

/// Median: the middle value, or the mean of the two middle values for an even n.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

impl Summary {
    /// Summarizes a sample; `None` when it is empty. Non-finite values must be filtered out
    /// by the caller.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let n = values.len();
        let mean = mean(values)?;
        let median = median(values)?;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sd = sample_variance(values).map(f64::sqrt);
        // CV = σ/μ·100 (Everitt, "The Cambridge Dictionary of Statistics", coefficient of
        // variation). Undefined for μ = 0; |μ| keeps it positive for negative means.
        let cv_pct = sd.and_then(|s| (mean != 0.0).then(|| s / mean.abs() * 100.0));
        let t = t_critical(CONFIDENCE, n as f64 - 1.0);
        // Confidence interval of the mean: x̄ ± t_{0.975, n−1}·s/√n (Student 1908; NIST/SEMATECH
        // e-Handbook of Statistical Methods §7.2.2.1). Zero variance gives a zero width.
        let ci95_half_width = sd.zip(t).map(|(s, t)| t * s / (n as f64).sqrt());
        // Prediction interval for one new observation: x̄ ± t_{0.975, n−1}·s·√(1 + 1/n)
        // (Hahn & Meeker, "Statistical Intervals", 1991, §4.7; NIST e-Handbook §7.2.2.2 notes).
        let pi95 = sd.zip(t).map(|(s, t)| {
            let half = t * s * (1.0 + 1.0 / n as f64).sqrt();
            [mean - half, mean + half]
        });
        Some(Summary {
            n,
            mean,
            median,
            min,
            max,
            sd,
            cv_pct,
            ci95_half_width,
            pi95,
        })
    }

    /// The confidence half-width as a percentage of |mean|; `None` when undefined.
    pub fn ci95_half_width_pct(&self) -> Option<f64> {
        let half = self.ci95_half_width?;
        (self.mean != 0.0).then(|| half / self.mean.abs() * 100.0)
    }
}

/// The difference between a baseline sample and a new sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// new mean − baseline mean.
    pub mean_diff: f64,
    /// (new − baseline) / |baseline|·100; `None` when the baseline mean is 0.
    pub pct_change: Option<f64>,
    /// Welch's t statistic; ±∞ when both samples have zero variance and different means,
    /// 0 when both have zero variance and equal means.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom; `None` when both variances are zero.
    pub df: Option<f64>,
    /// Two-sided p-value of Welch's test (1 for identical constant samples, 0 for different
    /// constant samples).
    pub p_value: f64,
    /// 95 % Welch confidence interval of `mean_diff`.
    pub mean_diff_ci95: [f64; 2],
    /// 95 % confidence interval of the percent change, by Fieller's theorem; `None` when the
    /// baseline mean is 0 or not distinguishable from 0 (Fieller's interval is then unbounded).
    pub pct_change_ci95: Option<[f64; 2]>,
}

/// Welch's unequal-variance t-test and interval for `new − baseline`, and Fieller's interval
/// for the percent change. `None` when either side has fewer than 2 values.
pub fn difference(baseline: &[f64], new: &[f64]) -> Option<Difference> {
    difference_with_floor(baseline, new, 0.0)
}

/// [`difference`] with each side's standard deviation raised to at least `floor_sd` (the
/// rounding floor of grid values, see `effects::sd_floor`).
pub fn difference_with_floor(baseline: &[f64], new: &[f64], floor_sd: f64) -> Option<Difference> {
    let (n1, n2) = (baseline.len() as f64, new.len() as f64);
    let (m1, m2) = (mean(baseline)?, mean(new)?);
    let floor = floor_sd * floor_sd;
    let (v1, v2) = (
        sample_variance(baseline)?.max(floor),
        sample_variance(new)?.max(floor),
    );
    let mean_diff = m2 - m1;
    // Variances of the two means, s²/n.
    let (w1, w2) = (v1 / n1, v2 / n2);
    let se2 = w1 + w2;
    let pct_change = (m1 != 0.0).then(|| mean_diff / m1.abs() * 100.0);

    if se2 == 0.0 {
        // Both samples are constant: no sampling noise was observed, so the difference is
        // exactly what was measured. Equal constants: p = 1; different constants: p = 0 and a
        // zero-width interval. (scipy returns NaN here; we decide instead, on purpose.)
        let same = mean_diff == 0.0;
        return Some(Difference {
            mean_diff,
            pct_change,
            t: if same {
                0.0
            } else {
                f64::INFINITY.copysign(mean_diff)
            },
            df: None,
            p_value: if same { 1.0 } else { 0.0 },
            mean_diff_ci95: [mean_diff, mean_diff],
            pct_change_ci95: pct_change.map(|p| [p, p]),
        });
    }

    // Welch's t statistic t = (x̄₂ − x̄₁) / √(s₁²/n₁ + s₂²/n₂) (Welch 1947, "The generalization of
    // 'Student's' problem when several different population variances are involved").
    let se = se2.sqrt();
    let t = mean_diff / se;
    // Welch–Satterthwaite degrees of freedom (Satterthwaite 1946; Welch 1947):
    // ν = (s₁²/n₁ + s₂²/n₂)² / ((s₁²/n₁)²/(n₁−1) + (s₂²/n₂)²/(n₂−1)).
    // When one side has zero variance its term vanishes and ν = n − 1 of the other side.
    let df = se2 * se2 / (w1 * w1 / (n1 - 1.0) + w2 * w2 / (n2 - 1.0));
    let p_value = t_two_sided_p(t, df)?;
    let tc = t_critical(CONFIDENCE, df)?;
    // Welch interval of the difference of means: (x̄₂ − x̄₁) ± t_{0.975, ν}·se (Welch 1947).
    let mean_diff_ci95 = [mean_diff - tc * se, mean_diff + tc * se];
    let pct_change_ci95 = fieller_pct_ci(m1, w1, m2, w2, tc);
    Some(Difference {
        mean_diff,
        pct_change,
        t,
        df: Some(df),
        p_value,
        mean_diff_ci95,
        pct_change_ci95,
    })
}

/// Confidence interval of the percent change 100·(μ₂/μ₁ − 1) by Fieller's theorem for the
/// ratio of two independent means (Fieller 1954, "Some problems in interval estimation",
/// JRSS B 16; in the form of Franz 2007, "Ratios: a short guide to confidence limits and proper
/// use", arXiv:0710.2024, eq. 6 with zero covariance):
///
/// with R̂ = x̄₂/x̄₁, g = t²·v₁/x̄₁², the limits of R are
/// (R̂ ± (t/|x̄₁|)·√(v₂ + R̂²·v₁ − g·v₂)) / (1 − g), where vᵢ = sᵢ²/nᵢ.
///
/// `t` is the Welch critical value, so the interval excludes 0 % exactly when Welch's test
/// rejects at the same level: R = 1 lies in Fieller's set {R : (x̄₂ − R·x̄₁)² ≤ t²(v₂ + R²v₁)}
/// iff (x̄₂ − x̄₁)² ≤ t²(v₁ + v₂). When g ≥ 1 the baseline mean is not distinguishable from
/// zero and the set is unbounded: `None`.
fn fieller_pct_ci(m1: f64, v1: f64, m2: f64, v2: f64, t: f64) -> Option<[f64; 2]> {
    if m1 == 0.0 {
        return None;
    }
    let g = t * t * v1 / (m1 * m1);
    if g >= 1.0 {
        return None;
    }
    let r = m2 / m1;
    let root = (v2 + r * r * v1 - g * v2).max(0.0).sqrt();
    let half = t / m1.abs() * root;
    let (lo, hi) = ((r - half) / (1.0 - g), (r + half) / (1.0 - g));
    // A negative baseline mean flips the sign of the ratio; percent change is relative to |μ₁|.
    let sign = m1.signum();
    let (lo, hi) = if sign > 0.0 { (lo, hi) } else { (-hi, -lo) };
    let to_pct = |ratio: f64| (ratio - sign) * 100.0;
    Some([to_pct(lo), to_pct(hi)])
}

/// Holm's step-down adjustment of p-values (Holm 1979, "A simple sequentially rejective
/// multiple test procedure", Scand. J. Statist. 6): sort ascending, p̃₍ᵢ₎ = max_{j ≤ i}
/// min(1, (m − j + 1)·p₍ⱼ₎). Controls the family-wise error rate at α without assuming
/// independence. Returns adjusted values in the input order.
pub fn holm_adjust(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &idx) in order.iter().enumerate() {
        let scaled = ((m - rank) as f64 * p_values[idx]).min(1.0);
        running_max = running_max.max(scaled);
        adjusted[idx] = running_max;
    }
    adjusted
}

/// The weighted p-values qᵢ = pᵢ/wᵢ (infinite for a weight of 0) and their ascending order.
fn weighted_order(p_values: &[f64], weights: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let q: Vec<f64> = p_values
        .iter()
        .zip(weights)
        .map(|(p, w)| if *w > 0.0 { p / w } else { f64::INFINITY })
        .collect();
    let mut order: Vec<usize> = (0..q.len()).collect();
    order.sort_by(|&a, &b| q[a].total_cmp(&q[b]));
    (q, order)
}

/// Weighted Benjamini–Hochberg adjusted p-values (Benjamini & Hochberg, "Controlling the
/// false discovery rate", JRSS B 57, 1995; with weights averaging 1, Genovese, Roeder &
/// Wasserman, Biometrika 93, 2006): with qᵢ = pᵢ/wᵢ sorted ascending, q̃₍ᵢ₎ = min_{j ≥ i}
/// min(1, m·q₍ⱼ₎/j). A test is significant at FDR α when its adjusted value is below α.
/// Controls the false-discovery rate under independence and positive dependence (Benjamini
/// & Yekutieli, Annals of Statistics 29, 2001). Returns adjusted values in the input order.
pub fn bh_adjust_weighted(p_values: &[f64], weights: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let (q, order) = weighted_order(p_values, weights);
    let mut adjusted = vec![1.0; m];
    let mut running_min: f64 = 1.0;
    for (rank, &idx) in order.iter().enumerate().rev() {
        running_min = running_min.min(m as f64 * q[idx] / (rank + 1) as f64);
        adjusted[idx] = running_min.min(1.0);
    }
    adjusted
}

/// Weighted Holm adjusted p-values (Holm 1979, §4, weighted form): with qᵢ = pᵢ/wᵢ sorted
/// ascending, p̃₍ᵢ₎ = max_{j ≤ i} min(1, q₍ⱼ₎·Σ_{l ≥ j} w₍ₗ₎). Controls the family-wise error
/// rate without assuming independence.
pub fn holm_adjust_weighted(p_values: &[f64], weights: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let (q, order) = weighted_order(p_values, weights);
    let mut remaining: f64 = weights.iter().sum();
    let mut adjusted = vec![1.0; m];
    let mut running_max: f64 = 0.0;
    for &idx in &order {
        running_max = running_max.max((q[idx] * remaining).min(1.0));
        adjusted[idx] = running_max;
        remaining -= weights[idx];
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n1_has_mean_but_no_spread() {
        let s = Summary::of(&[5.0]).unwrap();
        assert_eq!(s.mean, 5.0);
        assert_eq!(s.median, 5.0);
        assert_eq!(s.sd, None);
        assert_eq!(s.ci95_half_width, None);
        assert_eq!(s.pi95, None);
        assert!(difference(&[5.0], &[1.0, 2.0]).is_none());
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn zero_variance_and_zero_mean() {
        let s = Summary::of(&[0.0, 0.0, 0.0]).unwrap();
        assert_eq!(s.sd, Some(0.0));
        assert_eq!(s.cv_pct, None);
        assert_eq!(s.ci95_half_width, Some(0.0));
        let same = difference(&[2.0, 2.0], &[2.0, 2.0, 2.0]).unwrap();
        assert_eq!(same.p_value, 1.0);
        assert_eq!(same.pct_change, Some(0.0));
        let moved = difference(&[2.0, 2.0], &[3.0, 3.0]).unwrap();
        assert_eq!(moved.p_value, 0.0);
        assert_eq!(moved.pct_change_ci95, Some([50.0, 50.0]));
        let from_zero = difference(&[0.0, 0.0], &[1.0, 2.0]).unwrap();
        assert_eq!(from_zero.pct_change, None);
        assert_eq!(from_zero.pct_change_ci95, None);
    }

    #[test]
    fn fieller_agrees_with_welch_about_zero() {
        // Both intervals exclude "no change" exactly when p < 0.05.
        let cases: [(&[f64], &[f64]); 3] = [
            (&[100.0, 102.0, 98.0], &[103.0, 105.0, 101.0]),
            (&[100.0, 101.0, 99.0, 100.5], &[110.0, 111.0, 109.0]),
            (&[100.0, 130.0], &[90.0, 140.0]),
        ];
        for (a, b) in cases {
            let d = difference(a, b).unwrap();
            let [lo, hi] = d.pct_change_ci95.unwrap();
            let excludes = lo > 0.0 || hi < 0.0;
            assert_eq!(excludes, d.p_value < 0.05, "{a:?} {b:?} {d:?}");
            let [dlo, dhi] = d.mean_diff_ci95;
            assert_eq!(excludes, dlo > 0.0 || dhi < 0.0);
        }
    }

    #[test]
    fn benjamini_hochberg_matches_r() {
        // p.adjust(c(0.01, 0.04, 0.03, 0.5), "BH") in R: 0.04 0.0533 0.0533 0.5.
        let adj = bh_adjust_weighted(&[0.01, 0.04, 0.03, 0.5], &[1.0; 4]);
        for (got, want) in adj.iter().zip([0.04, 0.16 / 3.0, 0.16 / 3.0, 0.5]) {
            assert!((got - want).abs() < 1e-12, "{adj:?}");
        }
        // Unit weights make weighted Holm plain Holm.
        assert_eq!(
            holm_adjust_weighted(&[0.01, 0.04, 0.03, 0.5], &[1.0; 4]),
            holm_adjust(&[0.01, 0.04, 0.03, 0.5])
        );
        // A heavier weight lowers a test's adjusted value.
        let w = bh_adjust_weighted(&[0.01, 0.2], &[1.5, 0.5]);
        assert!((w[0] - 0.01 * 2.0 / 1.5).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn holm_is_monotone_and_capped() {
        let adj = holm_adjust(&[0.01, 0.04, 0.03, 0.5]);
        for (got, want) in adj.iter().zip([0.04, 0.09, 0.09, 0.5]) {
            assert!((got - want).abs() < 1e-12, "{adj:?}");
        }
        assert!(holm_adjust(&[]).is_empty());
        assert_eq!(holm_adjust(&[0.9, 0.8]), vec![1.0, 1.0]);
    }
}
