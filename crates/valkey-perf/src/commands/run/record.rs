//! The record stage: what one run's record says, from the case, the engine's measurement,
//! what the instruments saw around the window ([`record_window`]) and the servers' facts.
//! A scenario's streams get one record each ([`stream_record`]).

use super::lifecycle::RunContext;
use super::plan::Target;
use crate::engine::Measurement;
use crate::model::{
    BenchmarkMode, Case, EngineKind, Instructions, Record, RecordMode, RecordParts, RunStatus,
    Scenario, ScenarioFields, Stream, TimeseriesRef, Warning, WarningKind,
};
use crate::server::callgrind;
use crate::server::instruments::InstrumentReport;
use anyhow::Context;

/// Shortest measured window that is not warned about, in seconds.
const MIN_RUN_SECS: f64 = 1.0;

/// What a record says about the servers of its run.
pub(super) struct ServerFacts {
    pub version: String,
    pub io_threads: u64,
    pub restarted: bool,
    /// The affinity read back from the server processes (empty when unknown).
    pub cpus: String,
}

/// The record of one measured run (for a scenario stream, the caller adds its fields).
pub(super) fn build_record(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    run_index: u32,
    measurement: Measurement,
    mut warnings: Vec<Warning>,
    server: &ServerFacts,
) -> Record {
    let plan = ctx.plan;
    let mut measurement = measurement;
    warnings.append(&mut measurement.warnings);
    let server_cpus = &server.cpus;
    let m = measurement.metrics;
    let (requests, duration) = match case.mode {
        _ if case.memory => (None, None),
        BenchmarkMode::Requests(n) => (Some(n), None),
        BenchmarkMode::Duration(s) => (None, Some(s)),
    };
    // A window this short measures start-up and scheduling noise as much as the server.
    let window_secs = match case.mode {
        BenchmarkMode::Duration(s) => s as f64,
        BenchmarkMode::Requests(n) if m.rps > 0.0 => n as f64 / m.rps,
        BenchmarkMode::Requests(_) => 0.0,
    };
    // Under callgrind the window is long in time and short in requests on purpose.
    if window_secs < MIN_RUN_SECS && !case.topology.callgrind && !case.memory {
        warnings.push(
            Warning::new(
                WarningKind::Noisy,
                format!("the measured run lasted less than {MIN_RUN_SECS} s, which is noisy"),
            )
            .with_hint("raise `requests` or give `duration` so that each run lasts a few seconds"),
        );
    }
    // A case parameter (records of different distributions are different cases).
    measurement.parts.key_distribution = Some(case.key_distribution.to_string());
    measurement.parts.read_from_replicas = Some(case.read_from_replicas.to_string());
    let mut env = ctx.env.clone();
    // Only when pinning is configured, as upstream writes them; then the affinity read back.
    env.env_server_cpu_range = case.topology.server_cpus.as_ref().map(|c| {
        if server_cpus.is_empty() {
            c.canonical()
        } else {
            server_cpus.clone()
        }
    });
    env.env_client_cpu_range = case.client_cpus.as_ref().map(|c| {
        measurement
            .client_cpus
            .clone()
            .unwrap_or_else(|| c.canonical())
    });
    env.env_benchmark_tool_version = plan.engine.version();
    Record {
        timestamp: target.timestamp.clone(),
        commit: target.commit.clone(),
        git_ref: target.label.clone(),
        repository: target.repository.clone(),
        command: case.command.to_string(),
        data_size: case.data_size,
        pipeline: case.pipeline,
        clients: case.clients,
        requests,
        duration,
        benchmark_mode: match case.mode {
            _ if case.memory => RecordMode::Memory,
            _ if case.capacity.is_some() => RecordMode::Capacity,
            BenchmarkMode::Requests(_) => RecordMode::Requests,
            BenchmarkMode::Duration(_) => RecordMode::Duration,
        },
        keyspacelen: case.keyspacelen,
        metrics: m,
        cluster_mode: case.topology.cluster,
        tls: case.topology.tls,
        io_threads: server.io_threads,
        valkey_benchmark_threads: case.client_threads,
        warmup: case.warmup_secs,
        architecture: ctx.architecture.clone(),
        run_started_at: measurement.started_at,
        run_index: u64::from(run_index),
        invocation_id: ctx.invocation_id.clone(),
        reference_for: target.reference_for.clone(),
        duet: case.duet,
        // Memory mode writes through valkey-perf's control connection, no load generator.
        engine: if case.memory {
            EngineKind::None
        } else {
            plan.engine.kind()
        },
        engine_version: if case.memory {
            String::new()
        } else {
            plan.engine.version()
        },
        seed: measurement.seed,
        server_version: server.version.clone(),
        server_restarted: server.restarted,
        config_set: case.topology.config_set.clone(),
        warnings,
        env,
        parts: measurement.parts,
    }
}

/// What the instruments saw, as record fields of the measurement and warnings of the run:
/// the per-second samples' file, the servers' usage, and in instructions mode the
/// instructions counted in the window.
pub(super) fn record_window(
    report: InstrumentReport,
    case: &Case,
    parts: &mut RecordParts,
    warnings: &mut Vec<Warning>,
) -> anyhow::Result<()> {
    warnings.extend(report.warnings);
    if let Some(t) = report.timeseries {
        parts.timeseries = Some(TimeseriesRef {
            timeseries_file: t.file.display().to_string(),
            timeseries_lines: t.lines,
        });
    }
    if let Some(usage) = report.usage {
        parts.server_usage = Some(usage);
    }
    if let Some(dumps) = report.callgrind_dumps {
        record_instructions(case, &dumps, parts)?;
    }
    Ok(())
}

/// Instructions mode: the window's instructions summed over every server process, less the
/// background (timers), per request completed in it, and the dumps they came from. Latencies
/// under callgrind are those of a server slowed many times over, so the record says they are
/// not meaningful.
fn record_instructions(
    case: &Case,
    dumps: &[std::path::PathBuf],
    parts: &mut RecordParts,
) -> anyhow::Result<()> {
    let mut count = callgrind::WindowCount::default();
    for d in dumps {
        let c = callgrind::window_count(d)?;
        count.total += c.total;
        count.background += c.background;
    }
    let requests = parts
        .requests_completed()
        .or(match case.mode {
            BenchmarkMode::Requests(n) => Some(n),
            BenchmarkMode::Duration(_) => None,
        })
        .filter(|n| *n > 0)
        .context("instructions mode needs the number of requests completed in the window")?;
    let instructions = count.requests();
    parts.instructions = Some(Instructions {
        instructions,
        instructions_per_request: (instructions as f64 / requests as f64 * 100.0).round() / 100.0,
        background_instructions: Some(count.background),
        urandom_seed: case.seed.filter(|_| callgrind::fixed_entropy().is_ok()),
        callgrind_files: dumps.iter().map(|d| d.display().to_string()).collect(),
        latency_meaningful: false,
    });
    Ok(())
}

/// The record of one stream: the case's record with the stream's command, clients and
/// pipeline, and the scenario's fields (`test_id`, `test_phase`, `group`, `scenario`,
/// descriptions, `status`, `error`).
#[expect(
    clippy::too_many_arguments,
    reason = "the parts of a record, each from a different layer"
)]
pub(super) fn stream_record(
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
    // A mixed scenario's stream may run for its own bound.
    match stream.mode {
        Some(BenchmarkMode::Requests(n)) => (record.requests, record.duration) = (Some(n), None),
        Some(BenchmarkMode::Duration(s)) => (record.requests, record.duration) = (None, Some(s)),
        None => {}
    }
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
