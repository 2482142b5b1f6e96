//! The invocation drift of a machine, from its history: between two consecutive commits most
//! code changes nothing, so the shift every case shares between them (the median over cases of
//! the log ratio of the primary metric) is mostly the machine drifting between invocations.
//! Its robust spread, 1.4826·MAD of those shifts (the normal-consistent median absolute
//! deviation, Rousseeuw & Croux 1993), is what a common shift between two invocations is
//! judged against. A few commits that did change something barely move a median.

use super::CaseSeries;
use serde::Serialize;

/// Fewest consecutive commit pairs the estimate needs; with fewer, the documented default
/// (`None` in `CompareOptions::drift`) is used.
pub const MIN_PAIRS: usize = 5;

/// A robust z beyond this marks a common shift as far outside the machine's drift
/// (Iglewicz & Hoaglin's outlier rule for modified z-scores).
pub const FAR_Z: f64 = 3.5;

/// The smallest spread an estimate may have: shifts below 0.1 % are below what the records'
/// rounding can tell.
const MIN_SD_LOG: f64 = 0.001;

/// The drift estimated from history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftEstimate {
    /// 1.4826·MAD of the common log shifts.
    pub sd_log: f64,
    /// Consecutive commit pairs used.
    pub pairs: usize,
    /// Commits those pairs span.
    pub commits: usize,
}

/// The shift of one commit against the one before it that every case shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommonShift {
    /// Median over cases of the log ratio (new over old) of the primary metric.
    pub log_shift: f64,
    /// Cases both commits have.
    pub cases: usize,
}

/// Median of `v` (sorted copy); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// The common shift from commit position `from` to `to` of `series` (positions in the commit
/// order they share), over the cases that have both.
pub fn common_shift(series: &[CaseSeries], from: usize, to: usize) -> Option<CommonShift> {
    let ratios: Vec<f64> = series
        .iter()
        .filter_map(|s| Some(s.values.get(to).copied()?? - s.values.get(from).copied()??))
        .collect();
    Some(CommonShift {
        log_shift: median(&ratios)?,
        cases: ratios.len(),
    })
}

/// The drift of the machine from the consecutive pairs among the first `upto` commits of the
/// series (the commit being judged and those after it are left out, so a regression does not
/// widen the yardstick it is measured with). `None` with fewer than [`MIN_PAIRS`] pairs.
pub fn estimate(series: &[CaseSeries], upto: usize) -> Option<DriftEstimate> {
    let shifts: Vec<f64> = (1..upto)
        .filter_map(|i| common_shift(series, i - 1, i))
        .map(|s| s.log_shift)
        .collect();
    if shifts.len() < MIN_PAIRS {
        return None;
    }
    let center = median(&shifts)?;
    let deviations: Vec<f64> = shifts.iter().map(|s| (s - center).abs()).collect();
    Some(DriftEstimate {
        sd_log: (1.4826 * median(&deviations)?).max(MIN_SD_LOG),
        pairs: shifts.len(),
        commits: upto,
    })
}

/// The robust z of a common log shift against the machine's drift.
pub fn robust_z(shift: &CommonShift, drift: &DriftEstimate) -> f64 {
    shift.log_shift / drift.sd_log
}

#[cfg(test)]
mod tests {
    use super::super::changepoint::SplitMix;
    use super::*;
    use crate::compare::Metric;

    fn case(name: &str, values: Vec<Option<f64>>) -> CaseSeries {
        CaseSeries {
            case: name.into(),
            metric: Metric::Rps,
            values,
        }
    }

    #[test]
    fn the_common_shift_is_the_median_over_shared_cases() {
        let s = [
            case("a", vec![Some(0.0), Some(0.10)]),
            case("b", vec![Some(0.0), Some(0.02)]),
            case("c", vec![Some(0.0), Some(0.03)]),
            case("d", vec![None, Some(5.0)]),
        ];
        let shift = common_shift(&s, 0, 1).unwrap();
        assert_eq!(shift.cases, 3);
        assert!((shift.log_shift - 0.03).abs() < 1e-12);
    }

    #[test]
    fn too_little_history_gives_no_estimate() {
        let s = [case("a", vec![Some(0.0); MIN_PAIRS])];
        assert_eq!(estimate(&s, MIN_PAIRS), None, "{} pairs", MIN_PAIRS - 1);
        assert!(estimate(&s, MIN_PAIRS + 1).is_none(), "short series");
    }

    /// 60 commits of 8 cases whose invocations drift with sd 2 %, two of the pairs carrying a
    /// real 10 % change: the estimate is within 25 % of the truth (the changes do not inflate
    /// it), and a 15 % common shift is far outside it.
    #[test]
    fn the_estimate_recovers_the_drift_despite_real_changes() {
        let mut rng = SplitMix::new(11);
        let drift: Vec<f64> = (0..60)
            .map(|i| 0.02 * rng.normal() + if i >= 30 { -0.1 } else { 0.0 })
            .collect();
        let series: Vec<CaseSeries> = (0..8)
            .map(|c| {
                let values = drift
                    .iter()
                    .map(|d| Some(d + 0.005 * rng.normal()))
                    .collect();
                case(&format!("c{c}"), values)
            })
            .collect();
        let est = estimate(&series, 60).unwrap();
        assert_eq!(est.pairs, 59);
        // Consecutive differences of drift with sd 2 % have sd 2·√2 %.
        let truth = 0.02 * 2f64.sqrt();
        assert!(
            (est.sd_log / truth - 1.0).abs() < 0.25,
            "estimated {} for {truth}",
            est.sd_log
        );
        let z = robust_z(
            &CommonShift {
                log_shift: (0.85f64).ln(),
                cases: 8,
            },
            &est,
        );
        assert!(z < -FAR_Z, "z = {z}");
    }
}
