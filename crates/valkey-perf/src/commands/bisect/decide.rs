//! The decisions of a bisection, on effects already measured: does the difference between
//! the ends reproduce, and is a midpoint like the good end, like the bad end, clearly between
//! them, or not yet decided. Pure; the rounds that feed it are [`super::measure`]'s.
//!
//! Effects are natural-log ratios with a 95 % interval. A timed metric's interval is the
//! paired one `compare` gives; an exact metric (instructions per request) has a point
//! estimate, whose interval is the point itself.

use serde::{Deserialize, Serialize};

/// ln(new / base) of the judged metric, with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    pub log_ratio: f64,
    pub log_ci95: [f64; 2],
}

impl Effect {
    /// An exact figure: the interval is the point.
    pub fn exact(log_ratio: f64) -> Effect {
        Effect {
            log_ratio,
            log_ci95: [log_ratio, log_ratio],
        }
    }

    /// From a percent change and its interval, as `compare` reports them.
    pub fn from_pct(pct: f64, ci: [f64; 2]) -> Option<Effect> {
        let ln = |p: f64| (p > -100.0).then(|| (1.0 + p / 100.0).ln());
        let effect = Effect {
            log_ratio: ln(pct)?,
            log_ci95: [ln(ci[0])?, ln(ci[1])?],
        };
        effect.is_finite().then_some(effect)
    }

    fn is_finite(&self) -> bool {
        self.log_ratio.is_finite() && self.log_ci95.iter().all(|v| v.is_finite())
    }

    /// ln(base / new): the same effect seen from the other side.
    pub fn inverse(self) -> Effect {
        Effect {
            log_ratio: -self.log_ratio,
            log_ci95: [-self.log_ci95[1], -self.log_ci95[0]],
        }
    }

    /// The effect with its sign flipped when `toward_bad` is negative, so that positive points
    /// from the good end toward the bad end.
    fn oriented(self, toward_bad: f64) -> Effect {
        if toward_bad < 0.0 {
            self.inverse()
        } else {
            self
        }
    }

    /// The percent change (new / base − 1) · 100.
    pub fn pct(&self) -> f64 {
        (self.log_ratio.exp() - 1.0) * 100.0
    }

    /// The interval of [`Effect::pct`].
    pub fn pct_ci95(&self) -> [f64; 2] {
        self.log_ci95.map(|v| (v.exp() - 1.0) * 100.0)
    }
}

/// Whether the difference between the ends is real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ends {
    Reproduces,
    DoesNotReproduce,
    /// Not clear yet: more rounds.
    Undecided,
}

/// The ends' verdict from ln(bad / good) after `rounds` rounds. `threshold` is the noise
/// threshold as a log ratio (a smaller difference is no difference).
///
/// Timed: reproduces when the interval excludes 0 and the estimate is at least the threshold;
/// does not when the whole interval lies within ± the threshold. Exact: a count is read with
/// a small jitter (an occasional run counts up to 1 % more), so one round decides only when
/// the difference is at least twice the threshold or under half of it; from the third round
/// on (the per-side medians then ignore one odd run) the threshold itself decides.
pub fn ends(d: &Effect, threshold: f64, exact: bool, rounds: u32) -> Ends {
    let size = d.log_ratio.abs();
    if exact {
        return if size >= 2.0 * threshold || (rounds >= 3 && size >= threshold) {
            Ends::Reproduces
        } else if size < threshold / 2.0 || rounds >= 3 {
            Ends::DoesNotReproduce
        } else {
            Ends::Undecided
        };
    }
    let [lo, hi] = d.log_ci95;
    if (lo > 0.0 || hi < 0.0) && size >= threshold {
        Ends::Reproduces
    } else if lo > -threshold && hi < threshold {
        Ends::DoesNotReproduce
    } else {
        Ends::Undecided
    }
}

/// Where a midpoint lies between the ends of its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    LikeGood,
    LikeBad,
    /// Clearly different from both ends: the change is split over several commits.
    Between,
    /// Not clear yet: more rounds.
    Undecided,
}

impl Position {
    pub fn label(self) -> &'static str {
        match self {
            Position::LikeGood => "like good",
            Position::LikeBad => "like bad",
            Position::Between => "between",
            Position::Undecided => "undecidable",
        }
    }
}

/// Rounds before a midpoint may be called "between": with fewer, a timed interval is too
/// wide to mean anything and an exact count may be one odd run.
pub const MIN_ROUNDS_FOR_BETWEEN: u32 = 3;

/// Where the midpoint lies, from `vs_good` = ln(mid / good end) and `vs_bad` = ln(mid / bad
/// end), given the interval's step `d` = ln(bad end / good end) measured before.
///
/// With g the midpoint's distance from the good end toward the bad one and b its distance
/// from the bad end (both oriented by the sign of `d`, so that g + b ≈ |d|):
/// - **between** (from the third round): both parts are at least a quarter of the step and
///   both intervals lie above an eighth of it (not merely above 0: rounds are added and the
///   intervals looked at again and again, and a 95 % interval that barely excludes 0 at one
///   of many looks is no evidence of a split);
/// - **like good**: b's interval excludes 0 and g's upper bound is under half the step for a
///   timed metric (the interval carries the uncertainty: the midpoint is confidently nearer
///   the good end), under a third for an exact one (a point has no interval, so the margin
///   leaves room for "between": a midpoint halfway never passes as one end);
/// - **like bad**: the mirror image;
/// - otherwise undecided: more rounds, never a guess.
pub fn position(vs_good: &Effect, vs_bad: &Effect, d: f64, rounds: u32, exact: bool) -> Position {
    let step = d.abs();
    let near = if exact { step / 3.0 } else { step / 2.0 };
    let g = vs_good.oriented(d);
    // ln(bad / mid), oriented: positive when the midpoint lies toward the good end.
    let b = vs_bad.inverse().oriented(d);
    if rounds >= MIN_ROUNDS_FOR_BETWEEN
        && g.log_ci95[0] > step / 8.0
        && b.log_ci95[0] > step / 8.0
        && g.log_ratio >= step / 4.0
        && b.log_ratio >= step / 4.0
    {
        Position::Between
    } else if b.log_ci95[0] > 0.0 && g.log_ci95[1] < near {
        Position::LikeGood
    } else if g.log_ci95[0] > 0.0 && b.log_ci95[1] < near {
        Position::LikeBad
    } else {
        Position::Undecided
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(log_ratio: f64, half: f64) -> Effect {
        Effect {
            log_ratio,
            log_ci95: [log_ratio - half, log_ratio + half],
        }
    }

    #[test]
    fn percent_changes_round_trip_through_log_ratios() {
        let e = Effect::from_pct(-20.0, [-25.0, -15.0]).unwrap();
        assert!((e.pct() + 20.0).abs() < 1e-9);
        let [lo, hi] = e.pct_ci95();
        assert!((lo + 25.0).abs() < 1e-9 && (hi + 15.0).abs() < 1e-9);
        assert_eq!(Effect::from_pct(-100.0, [-100.0, 0.0]), None);
        assert_eq!(e.inverse().inverse(), e);
    }

    #[test]
    fn the_ends_reproduce_only_beyond_noise_and_threshold() {
        let thr = 0.01;
        assert_eq!(ends(&timed(-0.2, 0.05), thr, false, 3), Ends::Reproduces);
        assert_eq!(ends(&timed(-0.2, 0.3), thr, false, 3), Ends::Undecided);
        assert_eq!(
            ends(&timed(0.001, 0.005), thr, false, 3),
            Ends::DoesNotReproduce
        );
        // Significant but within the threshold: no difference worth a bisection.
        assert_eq!(
            ends(&timed(0.005, 0.004), thr, false, 3),
            Ends::DoesNotReproduce
        );
        assert_eq!(ends(&timed(0.005, 0.008), thr, false, 3), Ends::Undecided);
        let thr = 0.005;
        assert_eq!(ends(&Effect::exact(0.012), thr, true, 1), Ends::Reproduces);
        assert_eq!(
            ends(&Effect::exact(0.001), thr, true, 1),
            Ends::DoesNotReproduce
        );
        assert_eq!(ends(&Effect::exact(0.007), thr, true, 1), Ends::Undecided);
        assert_eq!(ends(&Effect::exact(0.007), thr, true, 3), Ends::Reproduces);
        assert_eq!(
            ends(&Effect::exact(0.004), thr, true, 3),
            Ends::DoesNotReproduce
        );
    }

    #[test]
    fn an_exact_midpoint_is_placed_in_one_round_unless_it_lies_between() {
        // rps falls by 30 % from good to bad: d < 0.
        let d = (0.7f64).ln();
        let like_good = position(&Effect::exact(0.002), &Effect::exact(-d), d, 1, true);
        assert_eq!(like_good, Position::LikeGood);
        let like_bad = position(&Effect::exact(d), &Effect::exact(0.001), d, 1, true);
        assert_eq!(like_bad, Position::LikeBad);
        let half = position(
            &Effect::exact(d / 2.0),
            &Effect::exact(-d / 2.0),
            d,
            1,
            true,
        );
        assert_eq!(half, Position::Undecided);
        let half = position(
            &Effect::exact(d / 2.0),
            &Effect::exact(-d / 2.0),
            d,
            3,
            true,
        );
        assert_eq!(half, Position::Between);
        // Instructions rise from good to bad: d > 0.
        let d = 0.01;
        assert_eq!(
            position(&Effect::exact(0.0005), &Effect::exact(-0.0095), d, 1, true),
            Position::LikeGood
        );
        assert_eq!(
            position(&Effect::exact(0.0098), &Effect::exact(-0.0002), d, 1, true),
            Position::LikeBad
        );
    }

    #[test]
    fn a_timed_midpoint_waits_for_its_interval() {
        let d = -0.3;
        // Centred on the good end, but the interval still reaches past half the step.
        let wide = position(&timed(0.0, 0.16), &timed(0.3, 0.16), d, 3, false);
        assert_eq!(wide, Position::Undecided);
        let narrow = position(&timed(0.0, 0.05), &timed(0.3, 0.05), d, 4, false);
        assert_eq!(narrow, Position::LikeGood);
        let bad = position(&timed(-0.31, 0.06), &timed(-0.01, 0.06), d, 4, false);
        assert_eq!(bad, Position::LikeBad);
        // Halfway, clearly away from both ends.
        let split = position(&timed(-0.15, 0.05), &timed(0.15, 0.05), d, 3, false);
        assert_eq!(split, Position::Between);
        // An interval that only just excludes 0 is no split: the midpoint goes to its nearer
        // end.
        let barely = position(&timed(-0.24, 0.06), &timed(0.07, 0.065), d, 8, false);
        assert_eq!(barely, Position::LikeBad);
        // The same before the third round is not yet a split.
        let early = position(&timed(-0.15, 0.05), &timed(0.15, 0.05), d, 2, false);
        assert_eq!(early, Position::Undecided);
    }
}
