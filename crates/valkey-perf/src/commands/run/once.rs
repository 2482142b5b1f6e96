//! One run of one case on one target: a fresh server (or FLUSHALL on a running one), the
//! config set, [`Engine::measure`](crate::engine::Engine::measure), the liveness check, and
//! the record.

use super::plan::{Plan, ServerSource, Target};
use crate::engine::{Measurement, RunRequest, Window};
use crate::model::case::Profiling;
use crate::model::{
    BenchmarkMode, Case, EngineKind, Instructions, ReadFromReplicas, Record, RecordMode,
    RecordParts, TimeseriesRef, Warning, WarningKind,
};
use crate::process::interrupted;
use crate::server::callgrind;
use crate::server::perf;
use crate::server::sampler::Sampler;
use crate::server::tls::ServerTls;
use crate::server::usage::{Sample, window_usage};
use crate::server::{Deployment, StartOptions};
use anyhow::Context;
use std::path::Path;
use std::time::{Duration, Instant};

/// Deadline for one measured load run.
pub(super) fn run_deadline(plan: &Plan, case: &Case) -> Duration {
    plan.deadline.unwrap_or_else(|| {
        Duration::from_secs(
            60 + case.warmup_secs
                + match case.mode {
                    BenchmarkMode::Duration(s) => s,
                    BenchmarkMode::Requests(n) => n / 2000,
                },
        )
    })
}

/// Longest the replicas may take to catch up with the seeded data.
const REPLICATION_DEADLINE: Duration = Duration::from_secs(60);

/// Shortest measured window that is not warned about, in seconds.
const MIN_RUN_SECS: f64 = 1.0;

/// Why one run did not produce a record.
pub(super) enum RunFailure {
    /// The server could not start: the whole invocation stops (exit 4).
    Start(anyhow::Error),
    /// Ctrl-C.
    Interrupted,
    /// This run failed; the others go on (exit 5).
    Run(anyhow::Error),
}

pub(super) struct RunContext<'a> {
    pub plan: &'a Plan,
    /// Certificates for TLS cases on servers valkey-perf starts.
    pub tls: Option<ServerTls>,
    pub env: crate::model::EnvInfo,
    pub architecture: String,
    /// `invocation_id` of every record of this invocation.
    pub invocation_id: String,
}

/// How long a failed engine run waits for a server's death to become visible. A killed
/// server's sockets close before its exit status can be collected, so the engine often fails
/// ("Server closed the connection") a moment before the server is seen dead.
const DEATH_VISIBLE_WITHIN: Duration = Duration::from_secs(1);

/// Why a server of `deployment` died (with its log's tail), if one dies within `within`.
fn death_of(deployment: &mut Deployment, within: Duration) -> Option<String> {
    let until = Instant::now() + within;
    loop {
        if let Err(e) = deployment.check_alive() {
            return Some(format!("{e:#}"));
        }
        if !deployment.started_here() || Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One run of one case on one target: fresh server (or FLUSHALL), config set, seeding,
/// warm-up, measurement, liveness check, record.
pub(super) fn run_once(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    run_index: u32,
) -> Result<Record, RunFailure> {
    run_once_with(ctx, target, case, run_index, None, &mut None)
}

/// A profiled run: `perf record` into `data` (its messages into `log`) for the window.
struct PerfRequest<'a> {
    profiling: Profiling,
    data: &'a Path,
    log: &'a Path,
}

/// [`run_once`], with `perf` attached to the servers for the window when `perf` is given; what
/// the recording gave (its data file, or why there is none) goes into `recorded`.
fn run_once_with(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    run_index: u32,
    perf: Option<PerfRequest<'_>>,
    recorded: &mut Option<anyhow::Result<std::path::PathBuf>>,
) -> Result<Record, RunFailure> {
    let plan = ctx.plan;
    // Instructions mode: the servers run under callgrind and dump into a directory per run.
    let callgrind_dir = case.topology.callgrind.then(|| {
        target.dir.join("callgrind").join(format!(
            "{}-{}-run{run_index}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
            case.command
        ))
    });
    if let Some(dir) = &callgrind_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating `{}`", dir.display()))
            .map_err(RunFailure::Start)?;
    }
    let mut deployment = start_deployment(ctx, target, case, callgrind_dir.clone())?;
    let mut warnings = run_warnings(ctx, case, &deployment);
    deployment
        .apply_config_set(&case.topology.config_set)
        .map_err(run_err)?;
    let server_version = deployment.server_version().map_err(run_err)?;
    let (io_threads, io_warning) = recorded_io_threads(&deployment, case);
    warnings.extend(io_warning);
    let load = deployment.address();
    let mut control = deployment.control().map_err(run_err)?;
    // Reads from replicas: the seeding wrote to the primaries; wait for the replicas.
    let replication = (case.read_from_replicas != ReadFromReplicas::No)
        .then(|| deployment.replication_waiter())
        .transpose()
        .map_err(run_err)?;
    let mut on_seeded = || -> anyhow::Result<()> {
        if let Some(w) = &replication {
            let n = w.wait(REPLICATION_DEADLINE)?;
            tracing::debug!("{n} replicas caught up with their primaries");
        }
        Ok(())
    };
    let pids = deployment.pids();
    // What the servers used in the window, read on connections opened before it. Reading it
    // never fails the run: a warning says what is missing.
    let mut probe = deployment.probe();
    // The 1 Hz sampler, on connections of its own, into a file per run.
    let mut sampler_parts = case.sampling.then(|| deployment.probe());
    let timeseries = target.dir.join("timeseries").join(format!(
        "{}-{}-run{run_index}.jsonl",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
        case.command
    ));
    let mut sampler: Option<Sampler> = None;
    let mut sampled: Option<anyhow::Result<u64>> = None;
    let mut dead: Option<String> = None;
    let mut last_check = Instant::now();
    let mut abort = || {
        if last_check.elapsed() < Duration::from_millis(200) {
            return false;
        }
        last_check = Instant::now();
        if let Err(e) = deployment.check_alive() {
            dead = Some(format!("{e:#}"));
            return true;
        }
        false
    };
    let mut dumps: Vec<std::path::PathBuf> = Vec::new();
    let mut edges: (
        Option<anyhow::Result<Sample>>,
        Option<anyhow::Result<Sample>>,
    ) = (None, None);
    let mut recording: Option<perf::Recording> = None;
    // The window's edges, in this order so that no tool counts another's work: the servers'
    // usage is read outside the callgrind and perf windows (its INFO would count as executed
    // instructions), and the sampler runs inside the usage window only.
    let mut on_window = |edge: Window| -> anyhow::Result<()> {
        match edge {
            Window::Start => {
                if let Ok(p) = probe.as_mut() {
                    edges.0 = Some(p.sample());
                }
                if let Some(parts) = sampler_parts.take() {
                    let command = case.builtin().map_or("", |c| c.command_name());
                    match parts.and_then(|p| {
                        let (nodes, pids) = p.into_parts();
                        Sampler::start(nodes, pids, command, &timeseries)
                    }) {
                        Ok(s) => sampler = Some(s),
                        Err(e) => sampled = Some(Err(e)),
                    }
                }
                if callgrind_dir.is_some() {
                    callgrind::start_window(&pids)?;
                }
                if let Some(req) = &perf {
                    match perf::Recording::start(
                        &pids,
                        req.profiling.sampling_freq,
                        Duration::from_secs(req.profiling.delay_secs),
                        req.data,
                        req.log,
                    ) {
                        Ok(r) => recording = Some(r),
                        Err(e) => *recorded = Some(Err(e)),
                    }
                }
            }
            Window::End => {
                if let Some(req) = &perf {
                    if let Some(r) = recording.take() {
                        *recorded = Some(r.finish());
                    } else if recorded.is_none() {
                        *recorded = Some(Err(anyhow::anyhow!(
                            "`perf record` did not start for `{}`",
                            req.data.display()
                        )));
                    }
                }
                if let Some(dir) = &callgrind_dir {
                    dumps = callgrind::end_window(&pids, dir)?;
                }
                if let Some(s) = sampler.take() {
                    sampled = Some(s.finish());
                }
                if let Ok(p) = probe.as_mut() {
                    edges.1 = Some(p.sample());
                }
            }
        }
        Ok(())
    };
    let measured = if case.memory {
        crate::engine::memory::measure(case, &mut control)
    } else {
        plan.engine.measure(
            RunRequest {
                case,
                load: &load,
                control: &mut control,
                deadline: run_deadline(plan, case),
                histogram_dir: &target.dir.join("histograms"),
                run_index,
                on_window: &mut on_window,
                on_seeded: &mut on_seeded,
            },
            &mut abort,
        )
    };
    if dead.is_none() && measured.is_err() {
        dead = death_of(&mut deployment, DEATH_VISIBLE_WITHIN);
    }
    if let Some(reason) = dead.take() {
        return Err(RunFailure::Run(anyhow::anyhow!(
            "the server died during the run: {reason}"
        )));
    }
    let mut measurement: Measurement = measured.map_err(run_err)?;
    match sampled {
        Some(Ok(lines)) => {
            measurement.parts.timeseries = Some(TimeseriesRef {
                timeseries_file: timeseries.display().to_string(),
                timeseries_lines: lines,
            });
        }
        Some(Err(e)) => warnings.push(Warning::new(
            WarningKind::ServerUsage,
            format!("the per-second sampler stopped: {e:#}"),
        )),
        None => {}
    }
    let usage = probe.and_then(|_| match edges {
        // Memory mode times no load: its record has its own memory figures.
        _ if case.memory => Ok(None),
        (Some(start), Some(end)) => window_usage(
            &start?,
            &end?,
            case.builtin().map_or("", |c| c.command_name()),
        )
        .map(Some),
        _ => anyhow::bail!("the measured window was not seen"),
    });
    match usage {
        Ok(usage) => measurement.parts.server_usage = usage,
        Err(e) => warnings.push(
            Warning::new(
                WarningKind::ServerUsage,
                format!("server CPU time and memory were not recorded: {e:#}"),
            )
            .with_hint("check that the server answers `INFO` and that `/proc` is readable"),
        ),
    }
    if callgrind_dir.is_some() {
        record_instructions(case, &dumps, &mut measurement.parts).map_err(run_err)?;
    }
    deployment.check_alive().map_err(run_err)?;
    let server_cpus = deployment.cpu_affinity().unwrap_or_default();
    deployment.stop();
    let server = ServerFacts {
        version: server_version,
        io_threads,
        restarted: deployment.started_here(),
        cpus: server_cpus,
    };
    Ok(build_record(
        ctx,
        target,
        case,
        run_index,
        measurement,
        warnings,
        &server,
    ))
}

/// Maps an error of a started run: Ctrl-C, or a failed run.
pub(super) fn run_err(e: anyhow::Error) -> RunFailure {
    if interrupted() {
        RunFailure::Interrupted
    } else {
        RunFailure::Run(e)
    }
}

/// A fresh deployment of the case's topology, or the running server (flushed).
pub(super) fn start_deployment(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    callgrind_dir: Option<std::path::PathBuf>,
) -> Result<Deployment, RunFailure> {
    Ok(match &target.server {
        ServerSource::Binary(bin) => Deployment::start(
            &case.topology,
            &StartOptions {
                binary: bin.clone(),
                bind: ctx.plan.bind.clone(),
                host: "127.0.0.1".into(),
                port: None,
                log_dir: target.dir.join("servers"),
                tls: ctx.tls.clone(),
                callgrind_dir,
            },
        )
        .map_err(|e| {
            if interrupted() {
                RunFailure::Interrupted
            } else {
                RunFailure::Start(e)
            }
        })?,
        ServerSource::Running(external) => {
            let d = Deployment::connect(external).map_err(RunFailure::Run)?;
            d.flushall()
                .with_context(|| {
                    format!(
                        "flushing the running server at `{}:{}` before the run",
                        external.host, external.port
                    )
                })
                .map_err(RunFailure::Run)?;
            d
        }
    })
}

/// Warnings of a run, in the order they arise: the config's, the servers' (then the
/// engine's, added by the caller).
pub(super) fn run_warnings(ctx: &RunContext, case: &Case, deployment: &Deployment) -> Vec<Warning> {
    let mut warnings: Vec<Warning> = ctx
        .plan
        .config_warnings
        .iter()
        .filter(|w| w.config_index == case.config_index)
        .map(|w| w.warning.clone())
        .collect();
    // The servers' only warning is CPUs shared between cluster nodes.
    warnings.extend(
        deployment
            .warnings()
            .iter()
            .map(|w| Warning::new(WarningKind::SharedCpu, w.clone())),
    );
    warnings
}

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

/// Instructions mode: the window's instructions summed over every server process, per
/// request completed in it, and the dumps they came from. Latencies under callgrind are those
/// of a server slowed many times over, so the record says they are not meaningful.
fn record_instructions(
    case: &Case,
    dumps: &[std::path::PathBuf],
    parts: &mut RecordParts,
) -> anyhow::Result<()> {
    let mut total = 0u64;
    for d in dumps {
        total += callgrind::total_instructions(d)?;
    }
    let requests = parts
        .requests_completed()
        .or(match case.mode {
            BenchmarkMode::Requests(n) => Some(n),
            BenchmarkMode::Duration(_) => None,
        })
        .filter(|n| *n > 0)
        .context("instructions mode needs the number of requests completed in the window")?;
    parts.instructions = Some(Instructions {
        instructions: total,
        instructions_per_request: (total as f64 / requests as f64 * 100.0).round() / 100.0,
        callgrind_files: dumps.iter().map(|d| d.display().to_string()).collect(),
        latency_meaningful: false,
    });
    Ok(())
}

/// The io-threads the record states: the case's for servers valkey-perf started; for a
/// running server, what it reports (`CONFIG GET io-threads`), with a warning when that is not
/// what the config says, so records never claim a setting that was not measured.
pub(super) fn recorded_io_threads(deployment: &Deployment, case: &Case) -> (u64, Option<Warning>) {
    let configured = u64::from(case.topology.io_threads);
    if deployment.started_here() {
        return (configured, None);
    }
    match deployment
        .config_get("io-threads")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(actual) if actual != configured => (
            actual,
            Some(
                Warning::new(
                    WarningKind::ServerSetting,
                    format!(
                        "the running server at `{}` has io-threads {actual}, config[{}] says {configured}; recording {actual}",
                        deployment.address(),
                        case.config_index
                    ),
                )
                .with_hint(format!(
                    "restart the server with --io-threads {configured} to measure that"
                )),
            ),
        ),
        Some(actual) => (actual, None),
        None => (configured, None),
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
        let mut recorded = None;
        let request = PerfRequest {
            profiling,
            data: &data,
            log: &log,
        };
        match run_once_with(
            ctx,
            target,
            case,
            ctx.plan.runs,
            Some(request),
            &mut recorded,
        ) {
            Ok(_) => {}
            Err(RunFailure::Interrupted) => anyhow::bail!("interrupted"),
            Err(RunFailure::Start(e) | RunFailure::Run(e)) => {
                return Err(e.context("the profiled run failed"));
            }
        }
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
