//! One run of one group's scenarios on one target (upstream's `test_groups`): the scenarios of
//! a group share a server, started fresh for the group, in file order, so a scenario can read
//! what an earlier one wrote. Per scenario: `restart_before` (a fresh server), `flush_before`
//! (FLUSHALL on every primary), `setup_commands`, then [`Engine::measure_scenario`]
//! (populate, warm-up, streams) and one record per stream. A scenario that fails (a setup
//! command's error reply, error replies to its command) gets records with `status: failed`
//! and the error; the next scenarios still run.
//!
//! [`Engine::measure_scenario`]: crate::engine::Engine::measure_scenario

use super::once::{
    RunContext, RunFailure, ServerFacts, build_record, recorded_io_threads, run_deadline, run_err,
    run_warnings, start_deployment,
};
use super::plan::Target;
use crate::engine::{Measurement, RunRequest, Window};
use crate::model::{
    Case, Record, RunStatus, Scenario, ScenarioFields, Stream, Warning, WarningKind,
};
use crate::process::interrupted;
use crate::server::Deployment;
use crate::server::usage::{Sample, window_usage};
use std::time::Duration;

/// How long one setup command may take when the config gives no `socket_timeout`.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The outcome of one scenario: its records (some may say `status: failed`), or why the
/// whole group stopped.
pub(super) type ScenarioOutcome = Result<Vec<Record>, RunFailure>;

/// Runs the scenarios `cases` (one group, one topology) once on `target`. Returns one outcome
/// per case, in order; after an outcome that stops the group (the server failed to start or
/// died, Ctrl-C) the remaining cases are not run and have no outcome.
pub(super) fn run_group(
    ctx: &RunContext,
    target: &Target,
    cases: &[Case],
    run_index: u32,
) -> Vec<ScenarioOutcome> {
    let mut outcomes = Vec::with_capacity(cases.len());
    let Some(first) = cases.first() else {
        return outcomes;
    };
    let mut deployment = match start_deployment(ctx, target, first, None) {
        Ok(d) => d,
        Err(e) => {
            outcomes.push(Err(e));
            return outcomes;
        }
    };
    if let Err(e) = deployment.apply_config_set(&first.topology.config_set) {
        outcomes.push(Err(run_err(e)));
        deployment.stop();
        return outcomes;
    }
    for (i, case) in cases.iter().enumerate() {
        if interrupted() {
            outcomes.push(Err(RunFailure::Interrupted));
            break;
        }
        let outcome = run_scenario(ctx, target, case, run_index, &mut deployment, i == 0);
        let stop = matches!(outcome, Err(RunFailure::Start(_) | RunFailure::Interrupted))
            || deployment.check_alive().is_err();
        outcomes.push(outcome);
        if stop {
            break;
        }
    }
    deployment.stop();
    outcomes
}

/// One scenario on the group's deployment.
fn run_scenario(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    run_index: u32,
    deployment: &mut Deployment,
    first: bool,
) -> ScenarioOutcome {
    let Some(scenario) = case.scenario() else {
        return Err(RunFailure::Run(anyhow::anyhow!(
            "internal: a built-in case reached the scenario runner"
        )));
    };
    let mut warnings = run_warnings(ctx, case, deployment);
    if scenario.restart_before && !first {
        if deployment.started_here() {
            deployment.stop();
            *deployment = start_deployment(ctx, target, case, None)?;
            deployment
                .apply_config_set(&case.topology.config_set)
                .map_err(run_err)?;
        } else {
            deployment.flushall().map_err(run_err)?;
            warnings.push(
                Warning::new(
                    WarningKind::Config,
                    format!(
                        "scenario `{}` has `restart_before`, but valkey-perf does not restart a server it did not start; it was flushed instead",
                        scenario.name()
                    ),
                )
                .with_hint("restart the server yourself between scenarios to measure a fresh one"),
            );
        }
    } else if scenario.flush_before && !first {
        deployment.flushall().map_err(run_err)?;
    }
    let server_version = deployment.server_version().map_err(run_err)?;
    let (io_threads, io_warning) = recorded_io_threads(deployment, case);
    warnings.extend(io_warning);
    let mut server = ServerFacts {
        version: server_version,
        io_threads,
        restarted: deployment.started_here(),
        cpus: String::new(),
    };
    let failed_records = |why: String, server: &ServerFacts, warnings: &[Warning]| {
        tracing::error!("scenario `{}` failed: {why}", scenario.name());
        scenario
            .streams
            .iter()
            .map(|stream| {
                let mut m = Measurement {
                    started_at: chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    seed: case.seed,
                    ..Measurement::default()
                };
                m.parts.native_mut().errors = Some(0);
                stream_record(
                    ctx,
                    target,
                    case,
                    run_index,
                    scenario,
                    stream,
                    m,
                    warnings.to_vec(),
                    server,
                    Some(&why),
                )
            })
            .collect::<Vec<_>>()
    };
    let timeout = scenario
        .setup_timeout_secs
        .map_or(SETUP_TIMEOUT, Duration::from_secs);
    for args in &scenario.setup_commands {
        if let Err(e) = deployment.run_command(args, timeout) {
            if interrupted() {
                return Err(RunFailure::Interrupted);
            }
            let why = format!("setup command failed: {e:#}");
            return Ok(failed_records(why, &server, &warnings));
        }
    }
    let load = deployment.address();
    let mut control = deployment.control().map_err(run_err)?;
    // What the servers used in the window (one-stream scenarios: a mixed scenario's streams
    // share the servers, so the window's CPU is no one stream's). Never fails the run.
    let mut probe = (scenario.streams.len() == 1).then(|| deployment.probe());
    let mut edges: (
        Option<anyhow::Result<Sample>>,
        Option<anyhow::Result<Sample>>,
    ) = (None, None);
    let mut dead: Option<String> = None;
    let mut last_check = std::time::Instant::now();
    let mut abort = || {
        if last_check.elapsed() < Duration::from_millis(200) {
            return false;
        }
        last_check = std::time::Instant::now();
        if let Err(e) = deployment.check_alive() {
            dead = Some(format!("{e:#}"));
            return true;
        }
        false
    };
    let mut on_window = |edge: Window| -> anyhow::Result<()> {
        if let Some(Ok(p)) = probe.as_mut() {
            match edge {
                Window::Start => edges.0 = Some(p.sample()),
                Window::End => edges.1 = Some(p.sample()),
            }
        }
        Ok(())
    };
    let deadline = run_deadline(ctx.plan, case) + Duration::from_secs(case.keyspacelen / 20_000);
    let measured = ctx.plan.engine.measure_scenario(
        RunRequest {
            case,
            load: &load,
            control: &mut control,
            deadline,
            histogram_dir: &target.dir.join("histograms"),
            run_index,
            on_window: &mut on_window,
            // Scenarios read from the primaries; nothing to wait for.
            on_seeded: &mut || Ok(()),
        },
        &mut abort,
    );
    if let Some(reason) = dead.take() {
        return Err(RunFailure::Run(anyhow::anyhow!(
            "the server died during scenario `{}`: {reason}",
            scenario.name()
        )));
    }
    let streams = match measured {
        Ok(s) => s,
        Err(e) if interrupted() => {
            drop(e);
            return Err(RunFailure::Interrupted);
        }
        Err(e) => return Ok(failed_records(format!("{e:#}"), &server, &warnings)),
    };
    server.cpus = deployment.cpu_affinity().unwrap_or_default();
    let mut streams = streams;
    if let (Some(probe), Some(first)) = (probe, streams.first_mut()) {
        let command = scenario.streams[0]
            .args
            .first()
            .map(|c| c.to_ascii_lowercase())
            .unwrap_or_default();
        let usage = probe.and_then(|_| match edges {
            (Some(start), Some(end)) => window_usage(&start?, &end?, &command),
            _ => anyhow::bail!("the measured window was not seen"),
        });
        match usage {
            Ok(usage) => first.measurement.parts.server_usage = Some(usage),
            Err(e) => warnings.push(
                Warning::new(
                    WarningKind::ServerUsage,
                    format!("server CPU time and memory were not recorded: {e:#}"),
                )
                .with_hint("check that the server answers `INFO` and that `/proc` is readable"),
            ),
        }
    }
    Ok(scenario
        .streams
        .iter()
        .zip(streams)
        .map(|(stream, m)| {
            if let Some(why) = &m.failure {
                tracing::error!(
                    "scenario `{}` ({}) failed: {why}",
                    scenario.name(),
                    stream.phase.as_str()
                );
            }
            stream_record(
                ctx,
                target,
                case,
                run_index,
                scenario,
                stream,
                m.measurement,
                warnings.clone(),
                &server,
                m.failure.as_deref(),
            )
        })
        .collect())
}

/// The record of one stream: the case's record with the stream's command, clients and
/// pipeline, and the scenario's fields (`test_id`, `test_phase`, `group`, `scenario`,
/// descriptions, `status`, `error`).
#[expect(
    clippy::too_many_arguments,
    reason = "the parts of a record, each from a different layer"
)]
fn stream_record(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    run_index: u32,
    scenario: &Scenario,
    stream: &Stream,
    measurement: Measurement,
    warnings: Vec<Warning>,
    server: &ServerFacts,
    failure: Option<&str>,
) -> Record {
    let mut record = build_record(ctx, target, case, run_index, measurement, warnings, server);
    record.command = stream.command_line();
    record.clients = stream.clients;
    record.pipeline = stream.pipeline;
    // A short window is normal for a failed scenario; the warning would only add noise.
    if failure.is_some() {
        record.warnings.retain(|w| w.kind != WarningKind::Noisy);
    }
    record.parts.scenario = Some(ScenarioFields {
        test_id: scenario.test_id(stream),
        test_phase: stream.phase.as_str().to_string(),
        group: scenario.group.clone(),
        scenario: scenario.id.clone(),
        cluster_execution: case.topology.cluster.then(|| {
            if scenario.parallel {
                "parallel"
            } else {
                "single"
            }
            .to_string()
        }),
        group_description: scenario.group_description.clone(),
        scenario_description: scenario.description.clone(),
        test_name: scenario.test_name.clone(),
        status: if failure.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Success
        },
        error: failure.map(str::to_string),
    });
    record
}
