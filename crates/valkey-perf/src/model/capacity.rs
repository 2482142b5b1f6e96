//! Capacity mode (`benchmark_mode: "capacity"`): what a case asks for (a ladder of fixed
//! open-loop rates and a latency SLO), what one ladder records (its steps and the summary), and
//! the rules that turn steps into a summary: the highest rate that met the SLO, the knee, and
//! why the ladder ended. Pure data and arithmetic; the engine runs the steps.

use serde::{Deserialize, Serialize};

/// A latency percentile an SLO may bound (`slo` keys: `p50_ms`, `p99_ms`, `p999_ms`,
/// `max_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloPercentile {
    P50,
    P99,
    P999,
    Max,
}

impl SloPercentile {
    pub const ALL: [SloPercentile; 4] = [
        SloPercentile::P50,
        SloPercentile::P99,
        SloPercentile::P999,
        SloPercentile::Max,
    ];

    /// The `slo` key that bounds it.
    pub fn key(self) -> &'static str {
        match self {
            SloPercentile::P50 => "p50_ms",
            SloPercentile::P99 => "p99_ms",
            SloPercentile::P999 => "p999_ms",
            SloPercentile::Max => "max_ms",
        }
    }

    /// The `slo` key's percentile, if it is one.
    pub fn from_key(key: &str) -> Option<SloPercentile> {
        SloPercentile::ALL.into_iter().find(|p| p.key() == key)
    }

    /// The step's latency at this percentile, in milliseconds.
    pub fn of(self, step: &CapacityStep) -> f64 {
        match self {
            SloPercentile::P50 => step.p50_latency_ms,
            SloPercentile::P99 => step.p99_latency_ms,
            SloPercentile::P999 => step.p999_latency_ms,
            SloPercentile::Max => step.max_latency_ms,
        }
    }
}

/// One bound of the SLO: the latency at `percentile` at most `ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SloBound {
    pub percentile: SloPercentile,
    pub ms: f64,
}

/// What a capacity case asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacitySpec {
    /// The rates to step through (requests per second, increasing); empty: automatic (the
    /// closed-loop maximum first, then shares of it).
    pub rates: Vec<f64>,
    /// Every bound must hold for a step to meet the SLO.
    pub slo: Vec<SloBound>,
}

impl CapacitySpec {
    /// The most steps a ladder of this spec can take: the closed-loop step, and a second try
    /// of every step [`climb_ladder`] runs (each may fail once by chance).
    pub fn max_steps(&self) -> u64 {
        if self.rates.is_empty() {
            (1 + 2 * (AUTO_SHARES.len() + EXTEND_STEPS + REFINE_STEPS)) as u64
        } else {
            2 * self.rates.len() as u64
        }
    }

    /// The bounds the step broke, as `p99 1.52 ms > 1 ms`.
    pub fn breaches(&self, step: &CapacityStep) -> Vec<String> {
        self.slo
            .iter()
            .filter(|b| b.percentile.of(step) > b.ms)
            .map(|b| {
                format!(
                    "{} {} ms > {} ms",
                    b.percentile.key().trim_end_matches("_ms"),
                    b.percentile.of(step),
                    b.ms
                )
            })
            .collect()
    }

    /// `{"p99_ms": 1.0}` as the config wrote it.
    pub fn slo_text(&self) -> String {
        self.slo
            .iter()
            .map(|b| {
                format!(
                    "{} ≤ {} ms",
                    b.percentile.key().trim_end_matches("_ms"),
                    b.ms
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// The rate was reached and every SLO bound held.
    Met,
    /// The rate was reached, an SLO bound was broken.
    SloBreached,
    /// The server did not keep up: the rate was not reached while the client had CPU to spare.
    RateNotReached,
    /// The client could not generate the rate (a worker thread busy or starved of CPU): says
    /// nothing about the server.
    ClientBound,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Met => "met",
            StepOutcome::SloBreached => "slo_breached",
            StepOutcome::RateNotReached => "rate_not_reached",
            StepOutcome::ClientBound => "client_bound",
        }
    }
}

/// One step of a ladder: a fixed open-loop rate, latencies counted from each request's
/// intended send time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityStep {
    /// The rate asked for; `None` for the closed-loop step that finds the maximum.
    pub target_rps: Option<f64>,
    pub achieved_rps: f64,
    pub p50_latency_ms: f64,
    pub p99_latency_ms: f64,
    pub p999_latency_ms: f64,
    pub max_latency_ms: f64,
    /// Server CPU time per command processed in the step (µs), when it was read.
    pub server_cpu_us_per_request: Option<f64>,
    pub client_bound: bool,
    /// Requests answered in the step.
    pub requests: u64,
    /// Requests scheduled in the step that the client never sent, and failed requests.
    pub unsent: u64,
    pub errors: u64,
    /// `None` for the closed-loop step.
    pub outcome: Option<StepOutcome>,
    /// The SLO bounds the step broke.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaches: Vec<String>,
}

/// Why a ladder ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LadderEnd {
    SloBreached,
    RateNotReached,
    /// The client could not generate the next rate: the maximum is a lower bound.
    ClientBound,
    /// Every rate met the SLO (an explicit list, or an automatic ladder to its last extension):
    /// the maximum is a lower bound.
    RatesExhausted,
}

impl LadderEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            LadderEnd::SloBreached => "slo_breached",
            LadderEnd::RateNotReached => "rate_not_reached",
            LadderEnd::ClientBound => "client_bound",
            LadderEnd::RatesExhausted => "rates_exhausted",
        }
    }

    /// How a ladder ended, from the outcome of the step that ended it (`None`: every rate met
    /// the SLO).
    pub fn of(failure: Option<StepOutcome>) -> LadderEnd {
        match failure {
            None => LadderEnd::RatesExhausted,
            Some(StepOutcome::ClientBound) => LadderEnd::ClientBound,
            Some(StepOutcome::RateNotReached) => LadderEnd::RateNotReached,
            Some(_) => LadderEnd::SloBreached,
        }
    }

    /// Whether the maximum is only a lower bound of the server's.
    pub fn lower_bound(self) -> bool {
        matches!(self, LadderEnd::ClientBound | LadderEnd::RatesExhausted)
    }
}

/// What one ladder adds to its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityFigures {
    /// The highest asked rate that was reached and met the SLO (`null`: not even the first).
    pub capacity_max_rps: Option<f64>,
    /// The last rate before the p99 rose above [`KNEE_FACTOR`] times the first step's (`null`
    /// with fewer than two steps that reached their rate).
    pub capacity_knee_rps: Option<f64>,
    /// The closed-loop maximum measured first (automatic ladders).
    pub capacity_closed_loop_rps: Option<f64>,
    pub capacity_end: LadderEnd,
    /// The SLO, as `p99 ≤ 1 ms`.
    pub capacity_slo: String,
    pub capacity_steps: Vec<CapacityStep>,
}

/// A step's p99 above this many times the first open-loop step's marks the knee.
pub const KNEE_FACTOR: f64 = 2.0;

/// Tolerance below the asked rate within which a step counts as reached. A run's last
/// replies land after its window, so a held rate reads a little low.
pub const RATE_TOLERANCE: f64 = 0.05;

/// Share of a step's scheduled requests that may go unsent (scheduled right at the window's
/// end) before the rate counts as not reached.
pub const UNSENT_TOLERANCE: f64 = 0.001;

/// How a step ended, from its numbers and the SLO.
pub fn judge_step(spec: &CapacitySpec, step: &CapacityStep) -> (StepOutcome, Vec<String>) {
    let target = step.target_rps.unwrap_or(0.0);
    let scheduled = (step.requests + step.unsent).max(1) as f64;
    let reached = step.unsent as f64 <= UNSENT_TOLERANCE * scheduled
        && step.achieved_rps >= (1.0 - RATE_TOLERANCE) * target;
    let breaches = spec.breaches(step);
    let outcome = match (reached, step.client_bound, breaches.is_empty()) {
        (false, true, _) => StepOutcome::ClientBound,
        (false, false, _) => StepOutcome::RateNotReached,
        (true, _, false) => StepOutcome::SloBreached,
        (true, _, true) => StepOutcome::Met,
    };
    (outcome, breaches)
}

/// The open-loop steps in rate order, a repeated step by its last try (the one that decided).
pub fn last_tries(steps: &[CapacityStep]) -> Vec<&CapacityStep> {
    let mut sorted: Vec<&CapacityStep> = steps.iter().filter(|s| s.target_rps.is_some()).collect();
    // Stable: the tries of one rate stay in the order they ran.
    sorted.sort_by(|a, b| a.target_rps.partial_cmp(&b.target_rps).unwrap());
    let mut by_rate: Vec<&CapacityStep> = Vec::with_capacity(sorted.len());
    for s in sorted {
        match by_rate.last_mut() {
            Some(last) if last.target_rps == s.target_rps => *last = s,
            _ => by_rate.push(s),
        }
    }
    by_rate
}

/// The summary of a ladder's steps (the closed-loop step, if any, first).
pub fn summarize(spec: &CapacitySpec, steps: Vec<CapacityStep>, end: LadderEnd) -> CapacityFigures {
    let open: Vec<&CapacityStep> = steps.iter().filter(|s| s.target_rps.is_some()).collect();
    let max = open
        .iter()
        .filter(|s| s.outcome == Some(StepOutcome::Met))
        .filter_map(|s| s.target_rps)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    // Steps in rate order: the automatic ladder refines below a failed rate after it.
    let by_rate = last_tries(&steps);
    let reached: Vec<&&CapacityStep> = by_rate
        .iter()
        .filter(|s| matches!(s.outcome, Some(StepOutcome::Met | StepOutcome::SloBreached)))
        .collect();
    // A knee needs a step to compare with the first.
    let knee = reached
        .first()
        .filter(|_| reached.len() >= 2)
        .and_then(|base| {
            let limit = KNEE_FACTOR * base.p99_latency_ms.max(0.001);
            reached
                .iter()
                .take_while(|s| s.p99_latency_ms <= limit)
                .last()
                .and_then(|s| s.target_rps)
        });
    CapacityFigures {
        capacity_max_rps: max,
        capacity_knee_rps: knee,
        capacity_closed_loop_rps: steps
            .iter()
            .find(|s| s.target_rps.is_none())
            .map(|s| s.achieved_rps),
        capacity_end: end,
        capacity_slo: spec.slo_text(),
        capacity_steps: steps,
    }
}

/// The automatic ladder's coarse shares of the closed-loop maximum.
pub const AUTO_SHARES: [f64; 8] = [0.2, 0.4, 0.6, 0.75, 0.85, 0.95, 1.05, 1.2];

/// Refinement steps between the last rate that met the SLO and the first that did not.
pub const REFINE_STEPS: usize = 2;

/// An automatic ladder whose every share met the SLO climbs on by this factor a step ...
pub const EXTEND_FACTOR: f64 = 1.15;

/// ... at most this many times (to 2.1 times the closed-loop maximum).
pub const EXTEND_STEPS: usize = 4;

/// The ladder's course: runs `rates` in order through `step` (one try at one rate) until one
/// fails; an automatic ladder whose every share met the SLO climbs on by [`EXTEND_FACTOR`]
/// up to [`EXTEND_STEPS`] times (the closed-loop step read low), then refines
/// [`REFINE_STEPS`] times between the last rate met and the failed one. Below a client-bound
/// rate refining finds the client's limit, which the end still reports as a lower bound.
///
/// A step that fails is tried once more and the second try decides, so one late reply or one
/// busy moment of the machine does not end a ladder. Returns the rate and outcome that ended
/// the climb (`None`: every rate met).
pub fn climb_ladder<E>(
    rates: &[f64],
    automatic: bool,
    step: &mut dyn FnMut(f64) -> Result<StepOutcome, E>,
) -> Result<Option<(f64, StepOutcome)>, E> {
    let mut confirmed = |rate: f64| -> Result<StepOutcome, E> {
        match step(rate)? {
            StepOutcome::Met => Ok(StepOutcome::Met),
            _ => step(rate),
        }
    };
    let extensions = if automatic { EXTEND_STEPS } else { 0 };
    let (mut last_met, mut failed) = (None, None);
    let mut next = rates.first().copied();
    let mut i = 0;
    while let Some(rate) = next {
        let outcome = confirmed(rate)?;
        if outcome != StepOutcome::Met {
            failed = Some((rate, outcome));
            break;
        }
        last_met = Some(rate);
        i += 1;
        next = rates
            .get(i)
            .copied()
            .or_else(|| (i < rates.len() + extensions).then(|| (rate * EXTEND_FACTOR).round()));
    }
    if let (true, Some(mut lo), Some((mut hi, _))) = (automatic, last_met, failed) {
        for _ in 0..REFINE_STEPS {
            let mid = ((lo + hi) / 2.0).round();
            if mid <= lo || mid >= hi {
                break;
            }
            if confirmed(mid)? == StepOutcome::Met {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(target: f64, achieved: f64, p99: f64) -> CapacityStep {
        CapacityStep {
            target_rps: Some(target),
            achieved_rps: achieved,
            p50_latency_ms: p99 / 2.0,
            p99_latency_ms: p99,
            p999_latency_ms: p99 * 1.5,
            max_latency_ms: p99 * 3.0,
            server_cpu_us_per_request: None,
            client_bound: false,
            requests: 10_000,
            unsent: 0,
            errors: 0,
            outcome: None,
            breaches: vec![],
        }
    }

    fn spec() -> CapacitySpec {
        CapacitySpec {
            rates: vec![],
            slo: vec![SloBound {
                percentile: SloPercentile::P99,
                ms: 1.0,
            }],
        }
    }

    #[test]
    fn a_step_is_judged_by_rate_then_client_then_slo() {
        let s = spec();
        assert_eq!(
            judge_step(&s, &step(1000.0, 990.0, 0.5)).0,
            StepOutcome::Met
        );
        let (o, why) = judge_step(&s, &step(1000.0, 990.0, 1.5));
        assert_eq!(o, StepOutcome::SloBreached);
        assert_eq!(why, vec!["p99 1.5 ms > 1 ms".to_string()]);
        assert_eq!(
            judge_step(&s, &step(1000.0, 900.0, 0.5)).0,
            StepOutcome::RateNotReached
        );
        let mut busy = step(1000.0, 900.0, 0.5);
        busy.client_bound = true;
        assert_eq!(judge_step(&s, &busy).0, StepOutcome::ClientBound);
        // A client-bound step that reached its rate is judged on the SLO like any other.
        let mut busy_ok = step(1000.0, 1000.0, 0.5);
        busy_ok.client_bound = true;
        assert_eq!(judge_step(&s, &busy_ok).0, StepOutcome::Met);
        let mut lost = step(1000.0, 1000.0, 0.5);
        lost.unsent = 30;
        assert_eq!(judge_step(&s, &lost).0, StepOutcome::RateNotReached);
    }

    #[test]
    fn the_summary_takes_the_highest_met_rate_and_the_knee_in_rate_order() {
        let s = spec();
        let mut steps: Vec<CapacityStep> = [
            step(100.0, 100.0, 0.2),
            step(200.0, 200.0, 0.3),
            step(400.0, 400.0, 1.4),
            step(300.0, 300.0, 0.5),
        ]
        .into_iter()
        .map(|mut st| {
            st.outcome = Some(judge_step(&s, &st).0);
            st
        })
        .collect();
        let mut closed = step(0.0, 450.0, 3.0);
        closed.target_rps = None;
        steps.insert(0, closed);
        let f = summarize(&s, steps, LadderEnd::SloBreached);
        assert_eq!(f.capacity_max_rps, Some(300.0));
        // p99 0.2 at the base: the knee is the last step at most 0.4 ms.
        assert_eq!(f.capacity_knee_rps, Some(200.0));
        assert_eq!(f.capacity_closed_loop_rps, Some(450.0));
        assert_eq!(f.capacity_slo, "p99 ≤ 1 ms");
    }

    #[test]
    fn a_ladder_that_never_met_the_slo_has_no_maximum() {
        let s = spec();
        let mut st = step(100.0, 100.0, 5.0);
        st.outcome = Some(judge_step(&s, &st).0);
        let f = summarize(&s, vec![st], LadderEnd::SloBreached);
        assert_eq!(f.capacity_max_rps, None);
        assert_eq!(f.capacity_knee_rps, None, "one step has no knee");
        assert!(LadderEnd::ClientBound.lower_bound() && !LadderEnd::SloBreached.lower_bound());
    }

    /// Runs [`climb_ladder`] against a server that meets every rate up to `cap`, except the
    /// tries listed in `flukes` (by try number, from 0), which fail with `outcome`. Returns
    /// the rates tried, in order, and the end.
    fn climb_with(
        rates: &[f64],
        automatic: bool,
        cap: f64,
        flukes: &[usize],
        outcome: StepOutcome,
    ) -> (Vec<f64>, Option<(f64, StepOutcome)>) {
        let mut tried = Vec::new();
        let end = climb_ladder::<()>(rates, automatic, &mut |rate| {
            let fluke = flukes.contains(&tried.len());
            tried.push(rate);
            Ok(if rate <= cap && !fluke {
                StepOutcome::Met
            } else {
                outcome
            })
        })
        .unwrap();
        (tried, end)
    }

    fn shares(max: f64) -> Vec<f64> {
        AUTO_SHARES.iter().map(|s| (s * max).round()).collect()
    }

    #[test]
    fn a_failed_step_is_tried_once_more_and_the_second_try_decides() {
        // The third step fails once by chance: tried again, it meets, and the climb goes on.
        let (tried, end) = climb_with(&shares(1000.0), true, 900.0, &[2], StepOutcome::SloBreached);
        assert_eq!(&tried[..5], &[200.0, 400.0, 600.0, 600.0, 750.0]);
        // 950 fails twice, then the gap 850..950 is halved twice.
        assert_eq!(&tried[5..], &[850.0, 950.0, 950.0, 900.0, 925.0, 925.0]);
        assert_eq!(end, Some((950.0, StepOutcome::SloBreached)));
        // An explicit ladder confirms its failure too, and does not refine or extend.
        let (tried, end) = climb_with(
            &[100.0, 200.0, 300.0],
            false,
            150.0,
            &[],
            StepOutcome::RateNotReached,
        );
        assert_eq!(tried, vec![100.0, 200.0, 200.0]);
        assert_eq!(end, Some((200.0, StepOutcome::RateNotReached)));
    }

    #[test]
    fn an_automatic_ladder_that_meets_every_share_climbs_on() {
        // The closed-loop step read 1000 for a server that holds 1500.
        let (tried, end) = climb_with(&shares(1000.0), true, 1500.0, &[], StepOutcome::SloBreached);
        assert_eq!(
            &tried[8..],
            &[1380.0, 1587.0, 1587.0, 1484.0, 1536.0, 1536.0]
        );
        assert_eq!(end, Some((1587.0, StepOutcome::SloBreached)));
        // Past its extensions it ends as exhausted, the maximum a lower bound.
        let (tried, end) = climb_with(
            &shares(1000.0),
            true,
            f64::INFINITY,
            &[],
            StepOutcome::SloBreached,
        );
        assert_eq!(tried.len(), AUTO_SHARES.len() + EXTEND_STEPS);
        assert_eq!(*tried.last().unwrap(), 2099.0);
        assert_eq!(end, None);
        assert_eq!(LadderEnd::of(end.map(|e| e.1)), LadderEnd::RatesExhausted);
        // An explicit ladder never goes past its own rates.
        let (tried, end) = climb_with(
            &[100.0, 200.0],
            false,
            f64::INFINITY,
            &[],
            StepOutcome::SloBreached,
        );
        assert_eq!((tried, end), (vec![100.0, 200.0], None));
    }

    #[test]
    fn below_a_client_bound_rate_the_climb_refines_the_clients_limit() {
        let (tried, end) = climb_with(&shares(1000.0), true, 900.0, &[], StepOutcome::ClientBound);
        assert_eq!(&tried[5..], &[950.0, 950.0, 900.0, 925.0, 925.0]);
        assert_eq!(LadderEnd::of(end.map(|e| e.1)), LadderEnd::ClientBound);
    }

    #[test]
    fn no_climb_runs_more_steps_than_the_run_deadline_allows_for() {
        // Every step fails on its first try: the most tries any ladder takes.
        for cap in [0.0, 500.0, 1000.0, 1300.0, 1900.0, f64::INFINITY] {
            let every: Vec<usize> = (0..100).step_by(2).collect();
            let (tried, _) =
                climb_with(&shares(1000.0), true, cap, &every, StepOutcome::SloBreached);
            let (unlucky, _) =
                climb_with(&shares(1000.0), true, cap, &[], StepOutcome::SloBreached);
            let auto = CapacitySpec {
                rates: vec![],
                ..spec()
            };
            let most = auto.max_steps() as usize - 1;
            assert!(
                tried.len() <= most && unlucky.len() <= most,
                "cap {cap}: {tried:?}"
            );
        }
        let explicit = CapacitySpec {
            rates: vec![1.0, 2.0, 3.0],
            ..spec()
        };
        let every: Vec<usize> = (0..100).step_by(2).collect();
        let (tried, _) = climb_with(
            &explicit.rates,
            false,
            9.0,
            &every,
            StepOutcome::SloBreached,
        );
        assert_eq!(tried.len() as u64, explicit.max_steps());
    }

    #[test]
    fn a_repeated_step_counts_by_its_second_try() {
        let s = spec();
        let judged = |mut st: CapacityStep| {
            st.outcome = Some(judge_step(&s, &st).0);
            st
        };
        let steps = vec![
            judged(step(100.0, 100.0, 0.2)),
            judged(step(200.0, 200.0, 1.4)),
            judged(step(200.0, 200.0, 0.3)),
            judged(step(300.0, 300.0, 0.35)),
            judged(step(400.0, 400.0, 1.5)),
            judged(step(400.0, 400.0, 1.6)),
        ];
        let f = summarize(&s, steps, LadderEnd::SloBreached);
        assert_eq!(f.capacity_max_rps, Some(300.0));
        // The first try at 200 (p99 1.4 ms) would have put the knee at 100.
        assert_eq!(f.capacity_knee_rps, Some(300.0));
        assert_eq!(f.capacity_steps.len(), 6, "both tries are kept");
    }
}
