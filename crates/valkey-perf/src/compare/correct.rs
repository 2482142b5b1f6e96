//! The correction stage: every test of a report belongs to one of two families (docs/design.md
//! §7.4), and each family's p-values are adjusted together so that the report keeps its
//! promise: a false-discovery rate of α in the primary family (the primary metric of every
//! case and its overall line), and separately in the secondary family (every other judged
//! metric). Also the smallest change each case could have shown, at the threshold the
//! correction sets.

use super::infer::{Family, Line, Tested};
use super::model::*;
use super::stats::{self, t_critical};

/// The share of the primary family's α the overall line carries: a change in every case is
/// the common kind (allocator, event loop, networking), and with equal weights the line of a
/// report of 20 cases would be judged at α/21.
pub const OVERALL_SHARE: f64 = 0.2;

/// The standard normal quantile at 80 %: the power the minimum detectable effect is for.
const Z_POWER_80: f64 = 0.841_621_233_572_914_3;

/// Adjusts each family and sets the weights and minimum detectable effects. Returns the
/// number of tests in the primary family.
pub(super) fn correct(tested: &mut [Tested], lines: &mut [Line], opts: &CompareOptions) -> usize {
    let mut primary = 0;
    for family in [Family::Primary, Family::Secondary] {
        let cases: Vec<usize> = (0..tested.len())
            .filter(|&i| tested[i].family == family && tested[i].effect.is_some())
            .collect();
        let with_line: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].family == family && lines[i].effect.is_some())
            .collect();
        let m = (cases.len() + with_line.len()) as f64;
        if family == Family::Primary {
            primary = cases.len() + with_line.len();
        }
        let (w_case, w_line) = weights(cases.len(), with_line.len(), family);
        let mut p = Vec::new();
        let mut w = Vec::new();
        for &i in &cases {
            tested[i].weight = w_case;
            p.push(tested[i].effect.as_ref().map_or(1.0, |e| e.p_value));
            w.push(w_case);
        }
        for &i in &with_line {
            lines[i].weight = w_line;
            p.push(lines[i].effect.as_ref().map_or(1.0, |e| e.p_value));
            w.push(w_line);
        }
        let adjusted = match opts.correction {
            Correction::Fdr => stats::bh_adjust_weighted(&p, &w),
            Correction::Holm => stats::holm_adjust_weighted(&p, &w),
            Correction::None => p.clone(),
        };
        for (k, &i) in cases.iter().enumerate() {
            tested[i].p_adj = Some(adjusted[k]);
            tested[i].mde_log = tested[i]
                .effect
                .as_ref()
                .and_then(|e| mde_log(e, lone_alpha(opts, w_case, m)));
        }
        for (k, &i) in with_line.iter().enumerate() {
            lines[i].p_adj = Some(adjusted[cases.len() + k]);
        }
    }
    primary
}

/// The weights of a case and of an overall line in a family: they average 1 (as weighted
/// Benjamini–Hochberg requires: Genovese, Roeder & Wasserman, Biometrika 93, 2006); in the
/// primary family the lines share [`OVERALL_SHARE`] of the total, when there are cases too.
fn weights(cases: usize, lines: usize, family: Family) -> (f64, f64) {
    let m = (cases + lines) as f64;
    if family == Family::Secondary || cases == 0 || lines == 0 {
        return (1.0, 1.0);
    }
    // Never less than an equal share.
    let line_share = (OVERALL_SHARE * m).max(lines as f64);
    let w_line = line_share / lines as f64;
    ((m - line_share) / cases as f64, w_line)
}

/// The level a test of weight `w` in a family of `m` must reach alone: α·w/m (the first step
/// of Benjamini–Hochberg and of Holm), or α without a correction.
fn lone_alpha(opts: &CompareOptions, w: f64, m: f64) -> f64 {
    match opts.correction {
        Correction::None => opts.alpha,
        _ => (opts.alpha * w / m.max(1.0)).min(opts.alpha),
    }
}

/// The minimum detectable effect at 80 % power on the log scale: (t_{1−a/2, df} + z_{0.8})·se
/// (the usual power approximation for a t test, e.g. Cohen, "Statistical Power Analysis for
/// the Behavioral Sciences", 1988, §2.3).
fn mde_log(e: &super::effects::LogEffect, level: f64) -> Option<f64> {
    Some((t_critical(1.0 - level, e.df)? + Z_POWER_80) * e.se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_line_carries_a_fifth_of_the_primary_family() {
        let (c, l) = weights(20, 1, Family::Primary);
        assert!(
            (l - 4.2).abs() < 1e-12 && (c - 16.8 / 20.0).abs() < 1e-12,
            "{c} {l}"
        );
        assert!(((20.0 * c + l) / 21.0 - 1.0).abs() < 1e-12);
        // With 4 cases a fifth is one test's share: equal weights.
        let (c, l) = weights(4, 1, Family::Primary);
        assert!(
            (c - 1.0).abs() < 1e-12 && (l - 1.0).abs() < 1e-12,
            "{c} {l}"
        );
        assert_eq!(weights(20, 1, Family::Secondary), (1.0, 1.0));
        assert_eq!(weights(0, 1, Family::Primary), (1.0, 1.0));
    }

    #[test]
    fn the_lone_threshold_follows_the_correction() {
        let opts = CompareOptions::default();
        assert!((lone_alpha(&opts, 0.84, 21.0) - 0.002).abs() < 1e-12);
        let none = CompareOptions {
            correction: Correction::None,
            ..CompareOptions::default()
        };
        assert_eq!(lone_alpha(&none, 0.84, 21.0), 0.05);
    }
}
