//! One run of a built-in case (memory mode included) on one target, through the shared
//! stages of [`super::lifecycle`]: prepare (a fresh server or FLUSHALL on a running one, the
//! config set), window ([`Engine::measure`](crate::engine::Engine::measure) inside the
//! instruments, the liveness check), record. The profiled run of a case is the same run with
//! `perf` among the instruments.

use super::lifecycle::{
    DEATH_VISIBLE_WITHIN, RunClock, RunContext, RunFailure, WindowPlan, death_of, measure_window,
    run_deadline, run_err, run_warnings, server_facts, start_deployment, with_server_state,
};
use super::plan::Target;
use super::record::{build_record, record_window};
use crate::engine::Engine;
use crate::model::case::Profiling;
use crate::model::{Case, ReadFromReplicas, Record};
use crate::server::instruments::{InstrumentSpec, PerfRequest, UsageWatch};
use crate::server::perf;
use anyhow::Context;
use std::path::PathBuf;

/// One run of one case on one target: fresh server (or FLUSHALL), config set, seeding,
/// warm-up, measurement, liveness check, record.
pub(super) fn run_once(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    run_index: u32,
) -> Result<Record, RunFailure> {
    run_with_perf(ctx, target, case, run_index, None).map(|(record, _)| record)
}

/// [`run_once`], with `perf` among the instruments when it is given; also returns what the
/// recording gave (its data file, or why there is none; `None` when no window was seen).
fn run_with_perf(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    run_index: u32,
    perf: Option<PerfRequest>,
) -> Result<(Record, Option<anyhow::Result<PathBuf>>), RunFailure> {
    let callgrind_dir = callgrind_dir(target, case, run_index)?;
    let mut clock = RunClock::start(ctx.plan);
    let mut deployment = start_deployment(ctx, target, case, callgrind_dir.clone())?;
    if deployment.started_here() {
        clock.restart();
    }
    let mut warnings = run_warnings(ctx, case, &deployment);
    deployment
        .apply_config_set(&case.topology.config_set)
        .map_err(run_err)?;
    let mut server = server_facts(&deployment, case, &mut warnings)?;
    let window = WindowPlan {
        case,
        target,
        run_index,
        deadline: run_deadline(ctx.plan, case),
        run_end: clock.end(),
        wait_for_replicas: case.read_from_replicas != ReadFromReplicas::No,
        instruments: instrument_spec(target, case, run_index, callgrind_dir, perf),
    };
    let measured = measure_window(ctx, &mut deployment, window, Engine::measure)?;
    let mut report = measured.report;
    let death = match measured.death {
        None if measured.result.is_err() => death_of(&mut deployment, DEATH_VISIBLE_WITHIN),
        death => death,
    };
    if let Some(reason) = death {
        return Err(RunFailure::Run(anyhow::anyhow!(
            "the server died during the run: {reason}"
        )));
    }
    let mut measurement = measured
        .result
        .map_err(|e| run_err(with_server_state(&deployment, e)))?;
    let recorded = report.perf.take();
    record_window(report, case, &mut measurement.parts, &mut warnings).map_err(run_err)?;
    deployment.check_alive().map_err(run_err)?;
    server.cpus = deployment.cpu_affinity().unwrap_or_default();
    deployment.stop();
    let record = build_record(ctx, target, case, run_index, measurement, warnings, &server);
    Ok((record, recorded))
}

/// Instructions mode: the servers run under callgrind and dump into a directory per run,
/// made here before they start.
fn callgrind_dir(
    target: &Target,
    case: &Case,
    run_index: u32,
) -> Result<Option<PathBuf>, RunFailure> {
    let Some(dir) = case.topology.callgrind.then(|| {
        target.dir.join("callgrind").join(format!(
            "{}-{}-run{run_index}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
            case.command
        ))
    }) else {
        return Ok(None);
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating `{}`", dir.display()))
        .map_err(RunFailure::Start)?;
    Ok(Some(dir))
}

/// What watches a built-in case's window: the servers' usage (memory mode times no load, so
/// its probe records none), the 1 Hz sampler into a file per run, callgrind, perf.
pub(super) fn instrument_spec(
    target: &Target,
    case: &Case,
    run_index: u32,
    callgrind_dir: Option<PathBuf>,
    perf: Option<PerfRequest>,
) -> InstrumentSpec {
    InstrumentSpec {
        command: case.builtin().map_or("", |c| c.command_name()).to_string(),
        usage: if case.memory {
            UsageWatch::ProbeOnly
        } else {
            UsageWatch::Window
        },
        timeseries: case.sampling.then(|| {
            target.dir.join("timeseries").join(format!(
                "{}-{}-run{run_index}.jsonl",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
                case.command
            ))
        }),
        callgrind_dir,
        perf,
    }
}

/// The file name of a case's flamegraphs (`case03-GET_d64_P16_c50_t3s_r1000`), the same for
/// every target, so a baseline's and a candidate's can be paired.
pub(super) fn flamegraph_name(ci: usize, case: &Case) -> String {
    let label: String = case
        .label()
        .chars()
        .filter(|c| *c != '=')
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("case{:02}-{label}", ci + 1)
}

/// The extra, unmeasured run of a profiled case on one target: the servers under `perf record`
/// for the window, the samples folded (`flamegraphs/<name>.folded`, kept for differential
/// graphs) and drawn (`flamegraphs/<name>.svg`). Its record is not written. Anything that
/// goes wrong is a warning: the benchmark goes on.
pub(super) fn profile(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    ci: usize,
    profiling: Profiling,
) {
    let name = flamegraph_name(ci, case);
    let dir = target.dir.join("flamegraphs");
    let outcome = (|| -> anyhow::Result<std::path::PathBuf> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
        let data = dir.join(format!("{name}.perf.data"));
        let log = dir.join(format!("{name}.perf.log"));
        let request = PerfRequest {
            profiling,
            data: data.clone(),
            log: log.clone(),
        };
        let recorded = match run_with_perf(ctx, target, case, ctx.plan.runs, Some(request)) {
            Ok((_, recorded)) => recorded,
            Err(RunFailure::Interrupted) => anyhow::bail!("interrupted"),
            Err(RunFailure::Start(e) | RunFailure::Run(e)) => {
                return Err(e.context("the profiled run failed"));
            }
        };
        let data =
            recorded.unwrap_or_else(|| Err(anyhow::anyhow!("the measured window was not seen")))?;
        let folded = crate::results::flamegraph::fold(&perf::script(&data)?)?;
        if folded.trim().is_empty() {
            anyhow::bail!(
                "`perf` recorded no samples of the servers (see `{}`)",
                log.display()
            );
        }
        let folded_path = dir.join(format!("{name}.folded"));
        crate::util::write_atomic(&folded_path, folded.as_bytes())
            .with_context(|| format!("writing `{}`", folded_path.display()))?;
        let svg = dir.join(format!("{name}.svg"));
        crate::results::flamegraph::draw(
            &folded,
            &format!(
                "{} — {} ({} samples/s)",
                target.label,
                case.label(),
                profiling.sampling_freq
            ),
            &svg,
        )?;
        // The folded stacks keep everything the graphs need; the raw recording is large.
        let _ = std::fs::remove_file(&data);
        Ok(svg)
    })();
    match outcome {
        Ok(svg) => tracing::info!("flamegraph of {}: `{}`", case.label(), svg.display()),
        Err(e) => tracing::warn!(
            "no flamegraph of {} on {}: {e:#}; the benchmark goes on without it",
            case.label(),
            target.label
        ),
    }
}
