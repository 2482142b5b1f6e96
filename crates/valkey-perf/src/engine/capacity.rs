//! Capacity mode: one ladder of fixed open-loop rates on one deployment, after the seeding
//! [`super::Engine::measure`] did. Each step is a native-engine run at one rate (latency from
//! each request's intended send time) with its own warm-up, judged against the SLO
//! ([`judge_step`]); the ladder stops at the first step that breaks it or does not reach its
//! rate. An automatic ladder first measures the closed-loop maximum, steps through
//! [`AUTO_SHARES`] of it and then refines between the last rate that met the SLO and the first
//! that did not. The servers' CPU per request is read around every step.
//!
//! The measurement returned describes the ladder: its metrics are those of the highest step
//! that met the SLO, `rps` that step's rate, and the steps and summary go into the record's
//! capacity part.

use super::{Measurement, native};
use crate::model::capacity::{
    AUTO_SHARES, CapacityFigures, CapacitySpec, CapacityStep, LadderEnd, StepOutcome, climb_ladder,
    judge_step, summarize,
};
use crate::model::{Case, Warning, WarningKind};
use crate::server::instruments::Instruments;
use crate::server::usage::window_usage;
use anyhow::{Context, Result};
use loadgen::Address;
use std::path::Path;
use std::time::{Duration, Instant};

/// What one ladder needs.
pub struct Ladder<'a> {
    pub case: &'a Case,
    pub spec: &'a CapacitySpec,
    pub load: &'a Address,
    /// Longest one step may take.
    pub step_deadline: Duration,
    pub run_end: Option<Instant>,
    pub histogram_dir: &'a Path,
    /// File name stem of the steps' histogram files.
    pub stem: String,
}

/// Runs the ladder inside the instruments' window (opened before the first step, closed
/// after the last, also when a step failed).
pub fn measure(
    ladder: &Ladder<'_>,
    instruments: &mut Instruments,
    abort: &mut dyn FnMut() -> bool,
) -> Result<Measurement> {
    instruments.start()?;
    let result = steps(ladder, instruments, abort);
    let closed = instruments.end();
    let measured = result?;
    closed?;
    Ok(measured)
}

/// One measured step and the engine's measurement of it.
struct Stepped {
    step: CapacityStep,
    measurement: Measurement,
}

/// The steps run so far and what each needs.
struct Climb<'l, 'a> {
    ladder: &'l Ladder<'a>,
    instruments: &'l mut Instruments,
    abort: &'l mut dyn FnMut() -> bool,
    done: Vec<Stepped>,
}

impl Climb<'_, '_> {
    /// Runs one step at `rate` (`None`: closed loop), logs it and keeps it.
    fn run(&mut self, rate: Option<f64>) -> Result<StepOutcome> {
        let tries = self
            .done
            .iter()
            .filter(|s| s.step.target_rps == rate)
            .count();
        if let (Some(r), true) = (rate, tries > 0) {
            tracing::info!("capacity step {r:.0} rps: running it once more before the ladder ends");
        }
        let s = step(
            self.ladder,
            rate,
            self.instruments,
            self.abort,
            step_name(rate, tries),
        )?;
        tracing::info!(
            "capacity step {}: {:.0} rps achieved{}, p50 {} ms, p99 {} ms{}",
            rate.map_or_else(|| "closed loop".to_string(), |r| format!("{r:.0} rps")),
            s.step.achieved_rps,
            if s.step.client_bound {
                " (client-bound)"
            } else {
                ""
            },
            s.step.p50_latency_ms,
            s.step.p99_latency_ms,
            s.step
                .outcome
                .map_or(String::new(), |o| format!(": {}", o.as_str()))
        );
        let outcome = s.step.outcome.unwrap_or(StepOutcome::Met);
        self.done.push(s);
        Ok(outcome)
    }
}

fn steps(
    ladder: &Ladder<'_>,
    instruments: &mut Instruments,
    abort: &mut dyn FnMut() -> bool,
) -> Result<Measurement> {
    let spec = ladder.spec;
    let mut climb = Climb {
        ladder,
        instruments,
        abort,
        done: Vec::new(),
    };
    let automatic = spec.rates.is_empty();
    let rates: Vec<f64> = if automatic {
        climb.run(None)?;
        let max = climb.done[0].step.achieved_rps;
        anyhow::ensure!(
            max > 0.0,
            "the closed-loop step completed no request, so there is no maximum to step from"
        );
        AUTO_SHARES.iter().map(|s| (s * max).round()).collect()
    } else {
        spec.rates.clone()
    };
    let failed = climb_ladder(&rates, automatic, &mut |rate| climb.run(Some(rate)))?;
    Ok(assemble(
        spec,
        climb.done,
        LadderEnd::of(failed.map(|f| f.1)),
        failed.map(|f| f.0),
    ))
}

/// Histogram files are named by rate, and a repeated step by its try.
fn step_name(rate: Option<f64>, earlier_tries: usize) -> String {
    let name = rate.map_or_else(|| "closed".to_string(), |r| format!("{r:.0}rps"));
    match earlier_tries {
        0 => name,
        n => format!("{name}-try{}", n + 1),
    }
}

/// One step: the servers' usage read around it, the run, its judgement.
fn step(
    ladder: &Ladder<'_>,
    rate: Option<f64>,
    instruments: &mut Instruments,
    abort: &mut dyn FnMut() -> bool,
    name: String,
) -> Result<Stepped> {
    let deadline = match ladder.run_end {
        Some(end) => {
            let left = end.saturating_duration_since(Instant::now());
            anyhow::ensure!(
                !left.is_zero(),
                "the run did not finish within --run-timeout"
            );
            ladder.step_deadline.min(left)
        }
        None => ladder.step_deadline,
    };
    let file = ladder
        .histogram_dir
        .join(format!("{}-{name}.json", ladder.stem));
    let before = instruments.sample_usage();
    let (report, measurement) =
        native::capacity_step(ladder.case, ladder.load, rate, deadline, &file, abort)
            .with_context(|| match rate {
                Some(r) => format!("the capacity step at {r:.0} rps"),
                None => "the closed-loop capacity step".to_string(),
            })?;
    let after = instruments.sample_usage();
    let command = ladder.case.builtin().map_or("", |c| c.command_name());
    let cpu = match (before, after) {
        (Some(Ok(a)), Some(Ok(b))) => window_usage(&a, &b, command)
            .ok()
            .and_then(|u| u.server_cpu_us_per_request),
        _ => None,
    };
    let l = &report.latency;
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    let mut step = CapacityStep {
        target_rps: rate,
        achieved_rps: (report.rps * 100.0).round() / 100.0,
        p50_latency_ms: r3(l.p50_ms),
        p99_latency_ms: r3(l.p99_ms),
        p999_latency_ms: r3(l.p999_ms),
        max_latency_ms: r3(l.max_ms),
        server_cpu_us_per_request: cpu,
        client_bound: report.client_bound,
        requests: report.requests,
        unsent: report.unsent,
        errors: report.errors,
        outcome: None,
        breaches: Vec::new(),
    };
    if rate.is_some() {
        let (outcome, breaches) = judge_step(ladder.spec, &step);
        step.outcome = Some(outcome);
        step.breaches = breaches;
    }
    Ok(Stepped { step, measurement })
}

/// The ladder's measurement: the highest step that met the SLO (else the first open-loop
/// step) gives the metrics, `rps` is its asked rate, and the steps and summary are the
/// record's capacity part.
fn assemble(
    spec: &CapacitySpec,
    done: Vec<Stepped>,
    end: LadderEnd,
    failed_rate: Option<f64>,
) -> Measurement {
    let figures: CapacityFigures =
        summarize(spec, done.iter().map(|s| s.step.clone()).collect(), end);
    let best = done
        .iter()
        .filter(|s| s.step.outcome == Some(StepOutcome::Met))
        .max_by(|a, b| a.step.target_rps.partial_cmp(&b.step.target_rps).unwrap())
        .or_else(|| done.iter().find(|s| s.step.target_rps.is_some()))
        .or(done.first());
    let mut measurement = best.map(|s| s.measurement.clone()).unwrap_or_default();
    measurement.metrics.rps = figures.capacity_max_rps.unwrap_or(0.0);
    // The warnings of every step, each once (a client-bound closed-loop step is expected).
    let mut warnings: Vec<Warning> = Vec::new();
    for s in done.iter().filter(|s| s.step.target_rps.is_some()) {
        for w in &s.measurement.warnings {
            if w.kind != WarningKind::Load && !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    let max_text = figures
        .capacity_max_rps
        .map_or("no rate".to_string(), |m| format!("{m:.0} rps"));
    match (end, failed_rate) {
        (LadderEnd::ClientBound, Some(rate)) => warnings.push(
            Warning::new(
                WarningKind::ClientBound,
                format!(
                    "the client could not generate {rate:.0} rps; the capacity maximum ({max_text}) is the client's limit, not the server's"
                ),
            )
            .with_hint("add `benchmark-threads` or give the client CPUs of its own with `client_cpu_range`"),
        ),
        (LadderEnd::RatesExhausted, _) => warnings.push(
            Warning::new(
                WarningKind::Load,
                format!(
                    "every rate of the ladder met the SLO, so the capacity maximum ({max_text}) is a lower bound"
                ),
            )
            .with_hint(if spec.rates.is_empty() {
                "the automatic ladder stops at about twice the closed-loop maximum; give `capacity_rates` that go higher"
            } else {
                "add higher `capacity_rates`, or leave them out for an automatic ladder"
            }),
        ),
        _ => {}
    }
    if figures.capacity_max_rps.is_none() {
        warnings.push(
            Warning::new(
                WarningKind::Load,
                format!("no step met the SLO ({})", spec.slo_text()),
            )
            .with_hint("start the ladder lower (`capacity_rates`) or loosen `slo`"),
        );
    }
    measurement.warnings = warnings;
    measurement.parts.capacity = Some(figures);
    measurement
}
