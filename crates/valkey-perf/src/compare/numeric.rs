//! The engine's stages on plain numbers, without records: one metric (rps) of many cases
//! through estimate → moderate and test → correct → judge, exactly as [`super::compare_records`]
//! runs them. What the calibration's simulation feeds thousands of synthetic reports through
//! (docs/design.md §7.6); the records' reading, grouping and report assembly are left out.

use super::analyse::Pending;
use super::correct;
use super::effects::{self, Analysis};
use super::infer;
use super::model::*;
use super::stats;
use super::verdict;

/// One case's rps: the runs of each side, round by round for [`Analysis::Paired`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub baseline: Vec<f64>,
    pub new: Vec<f64>,
}

/// What a report of these cases says about rps.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// Per case: the verdict and the 95 % interval of the change in percent.
    pub cases: Vec<(Verdict, Option<[f64; 2]>)>,
    /// The overall line (between invocations, the common shift).
    pub overall: Overall,
}

impl Judged {
    /// Whether `--fail-on-regression pct` fails on this report.
    pub fn gate(&self, pct: f64) -> bool {
        let case = self
            .cases
            .iter()
            .any(|(v, ci)| *v == Verdict::Regression && beyond(None, *ci, pct));
        let line = self.overall.verdict == Verdict::Regression
            && beyond(self.overall.pct_change, self.overall.pct_change_ci95, pct);
        case || line
    }
}

/// Judges the rps of `samples`, all measured by `analysis`, as a report would.
pub fn judge_rps(samples: &[Sample], analysis: Analysis, opts: &CompareOptions) -> Judged {
    let pending: Vec<Pending> = samples
        .iter()
        .enumerate()
        .filter_map(|(case, s)| {
            let (mb, mn) = (stats::mean(&s.baseline)?, stats::mean(&s.new)?);
            let floor =
                effects::rounding_floor_sq(effects::resolution(&s.baseline, &s.new), mb, mn);
            let est = match analysis {
                Analysis::Paired => {
                    let pairs: Vec<(f64, f64)> = s
                        .baseline
                        .iter()
                        .copied()
                        .zip(s.new.iter().copied())
                        .collect();
                    effects::paired(&pairs, floor)
                }
                a => effects::unpaired(a, &s.baseline, &s.new, floor),
            }?;
            Some(Pending {
                case,
                index: 0,
                slot: 0,
                metric: Metric::Rps,
                est,
            })
        })
        .collect();
    let primary = vec![Some(Metric::Rps); samples.len()];
    let (mut tested, mut lines) = infer::infer(&pending, &primary, &[Metric::Rps], opts);
    correct::correct(&mut tested, &mut lines, opts);
    let mut cases = vec![(Verdict::InsufficientData, None); samples.len()];
    for t in &tested {
        cases[t.at.case] = (
            verdict::judge(Metric::Rps, t.effect.as_ref(), t.p_adj, opts),
            t.effect.as_ref().map(effects::LogEffect::pct_ci95),
        );
    }
    Judged {
        cases,
        overall: verdict::overall_of(&lines[0], opts),
    }
}
