//! Borrowing strength across cases: the run-to-run noise of one metric is much the same in
//! many cases, so each case's variance (estimated from a few runs) is shrunk toward a prior
//! fitted to all of them, as limma does for many genes with few replicates (Smyth, "Linear
//! models and empirical Bayes methods for assessing differential expression in microarray
//! experiments", Statistical Applications in Genetics and Molecular Biology 3(1), 2004). Pure
//! math on plain numbers.
//!
//! limma's promise holds on average over variances drawn from the prior; a report's promise
//! must hold for the cases it has, whose noise is fixed and differs (a command at 6 % beside
//! others at 3 %). Shrunk toward the quieter others, the noisiest case's interval is too narrow
//! and it alarms far beyond its share, and with a few runs a case no test tells apart from the
//! others. So a case's test borrows only what cannot make it surer than its own runs
//! ([`moderate_each`]): the prior comes from the *other* cases, and the moderated variance is
//! never below the case's own; the prior lifts a variance that came out small by chance and
//! lends its degrees of freedom (Phipson, Lee, Majewski, Alexander & Smyth, "Robust
//! hyperparameter estimation protects against hypervariable genes and improves power to detect
//! differential expression", Annals of Applied Statistics 10(2), 2016, for the same failure
//! with hypervariable genes). The Monte Carlo tests of `tests/integration/verdicts` measure
//! both the false alarms and the power this keeps, with equal and with unequal noise.

use statrs::function::gamma::digamma;

/// The scaled inverse-χ² prior of the variances: s₀² on d₀ degrees of freedom (d₀ infinite
/// when the variances scatter no more than sampling alone explains).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub s0_sq: f64,
    pub d0: f64,
}

/// A variance shrunk toward the prior, and the degrees of freedom of its t reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moderated {
    pub s_sq: f64,
    pub df: f64,
}

/// The share of its own sample variance below which a case's moderated variance is not taken
/// ([`moderate_each`]): all of it. Lower floors buy power when the noise is alike across cases
/// and break the false-alarm promise when it is not (docs/design.md §7.6, the frontier).
pub const OWN_VARIANCE_FLOOR: f64 = 1.0;

/// Fewest variances from which a prior is fitted; with fewer each case keeps its own.
pub const MIN_FOR_PRIOR: usize = 3;

/// Trigamma ψ′(x) for x > 0: the recurrence ψ′(x) = ψ′(x + 1) + 1/x² up to x ≥ 12, then the
/// asymptotic series 1/x + 1/(2x²) + Σ B₂ₖ/x^(2k+1) (Abramowitz & Stegun 6.4.12).
pub fn trigamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 12.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    acc + 1.0 / x
        + x2 / 2.0
        + (1.0 / 6.0 - x2 * (1.0 / 30.0 - x2 * (1.0 / 42.0 - x2 / 30.0))) / (x * x * x)
}

/// The x with ψ′(x) = y, for y > 0: ψ′ falls monotonically from ∞ to 0, so bisection on the
/// log scale finds it to machine precision.
fn trigamma_inverse(y: f64) -> f64 {
    let (mut lo, mut hi) = (1e-8f64.ln(), 1e8f64.ln());
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if trigamma(mid.exp()) > y {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ((lo + hi) / 2.0).exp()
}

/// Fits the prior to sample variances `s_sq[i]` on `df[i]` degrees of freedom by Smyth's
/// method of moments on log variances (2004, §6.2): with eᵢ = ln sᵢ² − ψ(dᵢ/2) + ln(dᵢ/2),
/// ψ′(d₀/2) = var(e) − mean ψ′(dᵢ/2) and s₀² = exp(ē + ψ(d₀/2) − ln(d₀/2)). Variances that are
/// zero (constant samples) or not finite carry no information on the log scale and are left
/// out. `None` with fewer than [`MIN_FOR_PRIOR`] usable variances.
pub fn fit_prior(s_sq: &[f64], df: &[f64]) -> Option<Prior> {
    let used: Vec<(f64, f64)> = s_sq
        .iter()
        .zip(df)
        .filter(|(s, d)| s.is_finite() && **s > 0.0 && d.is_finite() && **d > 0.0)
        .map(|(s, d)| (*s, *d))
        .collect();
    let g = used.len();
    if g < MIN_FOR_PRIOR {
        return None;
    }
    let e: Vec<f64> = used
        .iter()
        .map(|&(s, d)| s.ln() - digamma(d / 2.0) + (d / 2.0).ln())
        .collect();
    let mean = e.iter().sum::<f64>() / g as f64;
    let var = e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (g as f64 - 1.0);
    let excess = var - used.iter().map(|&(_, d)| trigamma(d / 2.0)).sum::<f64>() / g as f64;
    if excess <= 0.0 {
        return Some(Prior {
            s0_sq: mean.exp(),
            d0: f64::INFINITY,
        });
    }
    let d0 = 2.0 * trigamma_inverse(excess);
    Some(Prior {
        s0_sq: (mean + digamma(d0 / 2.0) - (d0 / 2.0).ln()).exp(),
        d0,
    })
}

/// The posterior variance s̃² = (d₀s₀² + d·s²)/(d₀ + d) on d₀ + d degrees of freedom (Smyth
/// 2004, §3), the degrees of freedom capped at `df_total`, all the residual degrees of
/// freedom of the cases the prior came from (limma's `df.total`): the prior cannot know more
/// than the runs behind it. Without a prior, the case's own variance on its own degrees of
/// freedom.
pub fn moderate(s_sq: f64, df: f64, prior: Option<Prior>, df_total: f64) -> Moderated {
    let Some(p) = prior else {
        return Moderated { s_sq, df };
    };
    let s = if p.d0.is_infinite() {
        p.s0_sq
    } else {
        (p.d0 * p.s0_sq + df * s_sq) / (p.d0 + df)
    };
    Moderated {
        s_sq: s,
        df: (p.d0 + df).min(df_total),
    }
}

/// Every case's variance for its own test: its variance moderated ([`moderate`]) toward the
/// prior fitted to the other cases' variances, never below `floor` times its own sample
/// variance ([`OWN_VARIANCE_FLOOR`] in reports), on the moderated degrees of freedom (see the
/// module docs). When the variances are alike, the floor only raises a variance above the
/// pooled one, which the pooled test's degrees of freedom cover; when one case is noisier than
/// the others, its own variance stands.
pub fn moderate_each(s_sq: &[f64], df: &[f64], floor: f64) -> Vec<Moderated> {
    let df_total: f64 = df.iter().sum();
    let others = |v: &[f64], i: usize| -> Vec<f64> {
        v.iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, x)| *x)
            .collect()
    };
    (0..s_sq.len())
        .map(|i| {
            let prior = fit_prior(&others(s_sq, i), &others(df, i));
            let m = moderate(s_sq[i], df[i], prior, df_total);
            Moderated {
                s_sq: m.s_sq.max(floor * s_sq[i]),
                df: m.df,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigamma_matches_known_values() {
        // ψ′(1) = π²/6, ψ′(1/2) = π²/2, ψ′(10) = 0.10516633568168575 (scipy.special.polygamma).
        let pi2 = std::f64::consts::PI.powi(2);
        assert!((trigamma(1.0) - pi2 / 6.0).abs() < 1e-12);
        assert!((trigamma(0.5) - pi2 / 2.0).abs() < 1e-12);
        assert!((trigamma(10.0) - 0.105_166_335_681_685_75).abs() < 1e-12);
        assert!((trigamma(trigamma_inverse(0.3)) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn homogeneous_variances_give_an_infinite_prior() {
        // Twenty cases of one noise level: their scatter is sampling alone.
        let s: Vec<f64> = (0..20)
            .map(|i| 0.0025 * (1.0 + 0.02 * (i % 3) as f64))
            .collect();
        let p = fit_prior(&s, &[4.0; 20]).unwrap();
        assert!(p.d0.is_infinite(), "{p:?}");
        // Nearly equal variances are an unlikely sample: ln s² on 4 df lies on average
        // ψ(2) − ln 2 below ln σ², so the prior sits that far above them.
        let lift = (-digamma(2.0) + 2f64.ln()).exp();
        assert!((p.s0_sq / (0.0025 * lift) - 1.0).abs() < 0.03, "{p:?}");
        let m = moderate(0.01, 4.0, Some(p), 80.0);
        assert!((m.s_sq - p.s0_sq).abs() < 1e-15 && m.df == 80.0);
    }

    #[test]
    fn scattered_variances_give_a_finite_prior_and_shrink_halfway() {
        let s = [
            0.0001, 0.0009, 0.0004, 0.0025, 0.0001, 0.0036, 0.0016, 0.0002,
        ];
        let p = fit_prior(&s, &[4.0; 8]).unwrap();
        assert!(p.d0.is_finite() && p.d0 > 0.0, "{p:?}");
        let m = moderate(0.0036, 4.0, Some(p), 32.0);
        assert!(
            m.s_sq < 0.0036 && m.s_sq > p.s0_sq.min(0.0036) - 1e-12,
            "{m:?}"
        );
        assert!(fit_prior(&s[..2], &[4.0; 2]).is_none());
        assert!(fit_prior(&[0.0, 0.0, 0.0, 0.001], &[4.0; 4]).is_none());
    }

    #[test]
    fn a_case_borrows_degrees_of_freedom_but_never_a_smaller_variance() {
        // Three cases at 3 % noise and one at 6 %, 5 degrees of freedom each.
        let s = [0.0009, 0.0010, 0.0008, 0.0036];
        let m = moderate_each(&s, &[5.0; 4], OWN_VARIANCE_FLOOR);
        // The noisy case keeps its own variance; pooled with the others it would halve.
        assert_eq!(m[3].s_sq, 0.0036, "{m:?}");
        assert!(m[3].df > 5.0 && m[3].df <= 20.0, "{m:?}");
        // A quiet case that came out small is lifted toward the others, never lowered.
        for (mi, si) in m.iter().zip(&s) {
            assert!(mi.s_sq >= *si, "{m:?}");
        }
        let lucky = moderate_each(&[0.0009, 0.0010, 0.0008, 0.0002], &[5.0; 4], 1.0);
        assert!(lucky[3].s_sq > 0.0002 && lucky[3].df > 5.0, "{lucky:?}");
        // Fewer than three other cases: no prior, each keeps its own.
        let three = moderate_each(&s[..3], &[5.0; 3], 1.0);
        assert!(
            three
                .iter()
                .zip(&s)
                .all(|(m, s)| m.s_sq == *s && m.df == 5.0)
        );
    }
}
