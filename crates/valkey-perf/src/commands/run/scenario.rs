//! One run of one group's scenarios on one target (upstream's `test_groups`): the scenarios of
//! a group share a server, started fresh for the group, in file order, so a scenario can read
//! what an earlier one wrote. Per scenario: `restart_before` (a fresh server), `flush_before`
//! (FLUSHALL on every primary), `setup_commands`, then [`Engine::measure_scenario`]
//! (populate, warm-up, streams) and one record per stream. A scenario that fails (a setup
//! command's error reply, error replies to its command) gets records with `status: failed`
//! and the error; the next scenarios still run.
//!
//! [`Engine::measure_scenario`]: crate::engine::Engine::measure_scenario

use super::lifecycle::{
    RunClock, RunContext, RunFailure, WindowPlan, measure_window, run_deadline, run_err,
    run_warnings, server_facts, start_deployment, with_server_state,
};
use super::plan::Target;
use super::record::{ServerFacts, record_window, stream_record};
use crate::engine::{Engine, Measurement, StreamMeasurement};
use crate::model::{Case, Record, Scenario, Stream, Warning, WarningKind};
use crate::process::interrupted;
use crate::server::Deployment;
use crate::server::instruments::{InstrumentSpec, UsageWatch};
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

/// One scenario of a group on one target: what its records are made of.
struct ScenarioRun<'a> {
    ctx: &'a RunContext<'a>,
    target: &'a Target,
    case: &'a Case,
    run_index: u32,
    scenario: &'a Scenario,
}

/// One scenario on the group's deployment: prepare (restart or flush, setup commands), the
/// window ([`Engine::measure_scenario`]), one record per stream.
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
    let run = ScenarioRun {
        ctx,
        target,
        case,
        run_index,
        scenario,
    };
    let mut clock = RunClock::start(ctx.plan);
    let mut warnings = run_warnings(ctx, case, deployment);
    prepare_scenario(
        ctx,
        target,
        case,
        scenario,
        deployment,
        first,
        &mut warnings,
    )?;
    if scenario.restart_before && deployment.started_here() {
        clock.restart();
    }
    let mut server = server_facts(deployment, case, &mut warnings)?;
    if let Err(why) = run_setup(scenario, deployment)? {
        return Ok(run.failed_records(why, &server, &warnings));
    }
    let window = WindowPlan {
        case,
        target,
        run_index,
        deadline: run_deadline(ctx.plan, case) + Duration::from_secs(case.keyspacelen / 20_000),
        run_end: clock.end(),
        // Scenarios read from the primaries; nothing to wait for.
        wait_for_replicas: false,
        instruments: instrument_spec(scenario),
    };
    let measured = measure_window(ctx, deployment, window, Engine::measure_scenario)?;
    if let Some(reason) = measured.death {
        return Err(RunFailure::Run(anyhow::anyhow!(
            "the server died during scenario `{}`: {reason}",
            scenario.name()
        )));
    }
    let mut streams = match measured.result {
        Ok(s) => s,
        Err(e) if interrupted() => {
            drop(e);
            return Err(RunFailure::Interrupted);
        }
        Err(e) => {
            let e = with_server_state(deployment, e);
            return Ok(run.failed_records(format!("{e:#}"), &server, &warnings));
        }
    };
    server.cpus = deployment.cpu_affinity().unwrap_or_default();
    if let Some(first) = streams.first_mut() {
        record_window(
            measured.report,
            case,
            &mut first.measurement.parts,
            &mut warnings,
        )
        .map_err(run_err)?;
    }
    Ok(run.stream_records(streams, &server, &warnings))
}

/// Before a scenario other than its group's first: `restart_before` (a fresh server, or a
/// flush with a warning on a server valkey-perf did not start), or `flush_before`.
fn prepare_scenario(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    scenario: &Scenario,
    deployment: &mut Deployment,
    first: bool,
    warnings: &mut Vec<Warning>,
) -> Result<(), RunFailure> {
    if first {
        return Ok(());
    }
    if scenario.restart_before {
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
    } else if scenario.flush_before {
        deployment.flushall().map_err(run_err)?;
    }
    Ok(())
}

/// The scenario's setup commands, in order: `Ok(Err(why))` when one failed (the scenario
/// fails, the group goes on).
fn run_setup(
    scenario: &Scenario,
    deployment: &Deployment,
) -> Result<Result<(), String>, RunFailure> {
    let timeout = scenario
        .setup_timeout_secs
        .map_or(SETUP_TIMEOUT, Duration::from_secs);
    for args in &scenario.setup_commands {
        if let Err(e) = deployment.run_command(args, timeout) {
            if interrupted() {
                return Err(RunFailure::Interrupted);
            }
            return Ok(Err(format!("setup command failed: {e:#}")));
        }
    }
    Ok(Ok(()))
}

/// What watches a scenario's window: the servers' usage, for one-stream scenarios only (a
/// mixed scenario's streams share the servers, so the window's CPU is no one stream's).
fn instrument_spec(scenario: &Scenario) -> InstrumentSpec {
    InstrumentSpec {
        command: scenario.streams[0]
            .args
            .first()
            .map(|c| c.to_ascii_lowercase())
            .unwrap_or_default(),
        usage: if scenario.streams.len() == 1 {
            UsageWatch::Window
        } else {
            UsageWatch::Off
        },
        timeseries: None,
        callgrind_dir: None,
        perf: None,
    }
}

impl ScenarioRun<'_> {
    /// One record per measured stream (a stream's own failure gives `status: failed`).
    fn stream_records(
        &self,
        streams: Vec<StreamMeasurement>,
        server: &ServerFacts,
        warnings: &[Warning],
    ) -> Vec<Record> {
        let scenario = self.scenario;
        scenario
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
                self.record(
                    stream,
                    m.measurement,
                    server,
                    warnings,
                    m.failure.as_deref(),
                )
            })
            .collect()
    }

    /// The records of a scenario that failed before it was measured: one per stream, with
    /// `status: failed` and `why`.
    fn failed_records(
        &self,
        why: String,
        server: &ServerFacts,
        warnings: &[Warning],
    ) -> Vec<Record> {
        tracing::error!("scenario `{}` failed: {why}", self.scenario.name());
        self.scenario
            .streams
            .iter()
            .map(|stream| {
                let mut m = Measurement {
                    started_at: chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    seed: self.case.seed,
                    ..Measurement::default()
                };
                m.parts.native_mut().errors = Some(0);
                self.record(stream, m, server, warnings, Some(&why))
            })
            .collect()
    }

    fn record(
        &self,
        stream: &Stream,
        measurement: Measurement,
        server: &ServerFacts,
        warnings: &[Warning],
        failure: Option<&str>,
    ) -> Record {
        stream_record(
            self.ctx,
            self.target,
            self.case,
            self.run_index,
            self.scenario,
            stream,
            measurement,
            warnings.to_vec(),
            server,
            failure,
        )
    }
}
