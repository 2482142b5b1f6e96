//! Engines generate load against a deployment and report one run's metrics: the external
//! `valkey-benchmark` (or `redis-benchmark`) binary, or valkey-perf's native generator.
//!
//! [`Engine::measure`] owns everything between "the server is up" and "the numbers are in" for
//! both engines: seeding (docs/design.md §5.3), warm-up, the measured run, the histogram file and the
//! check that pops never ran dry; a memory case ([`memory`]) goes through it too, with no load
//! and no window. The engines open and close the caller's
//! [`Instruments`](crate::server::instruments::Instruments) at the measured window's edges.
//! Engines know cases, endpoints and a control connection; they do not start servers, build
//! records or write `metrics.json`. May import `model`, `server` (for the control connection,
//! the replicas wait and the instruments) and `process`.

pub mod capacity;
pub mod duet;
pub mod memory;
pub mod native;
pub mod seed;
pub mod valkey_benchmark;

use crate::model::{BenchmarkMode, Case, EngineKind, Metrics, RecordParts, Warning, WarningKind};
use crate::server::ReplicationWaiter;
use crate::server::control::{Control, Frame};
use crate::server::instruments::Instruments;
use anyhow::{Context, Result};
use loadgen::Address;
use seed::SeedPlan;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One measured run as an engine reports it.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    pub metrics: Metrics,
    /// What the engine adds to the record (extra percentiles, errors, histogram path ...).
    pub parts: RecordParts,
    /// The CPUs the client process actually ran on (read back from /proc), if pinned.
    pub client_cpus: Option<String>,
    /// When the warm-up (or the measured window, without warm-up) started: UTC, milliseconds.
    pub started_at: String,
    /// The key seed the run used (drawn by the native engine when the config gives none).
    pub seed: Option<u64>,
    /// What the numbers of this run should be read with.
    pub warnings: Vec<Warning>,
}

/// One measured run, as [`Engine::measure`] needs it.
pub struct RunRequest<'a> {
    pub case: &'a Case,
    pub load: &'a Address,
    /// A control connection to the server (standalone seeding, the pop check).
    pub control: &'a mut Control,
    /// Longest the load may take before it is stopped and the run fails.
    pub deadline: Duration,
    /// When `--run-timeout` bounds the whole run: its end. Seeding stops there, and the load
    /// gets at most what is left.
    pub run_end: Option<Instant>,
    /// Where the native engine writes each run's histogram file.
    pub histogram_dir: &'a Path,
    pub run_index: u32,
    /// Opened right before the measured load starts (after seeding, and after a warm-up run
    /// of its own) and closed right after it ends, even when the load failed. A warm-up the
    /// engine runs inside the load (the native engine's, valkey-benchmark's `--warmup`) lies
    /// inside the window.
    pub instruments: &'a mut Instruments,
    /// Reads from replicas: after seeding, the run waits here until the replicas have the
    /// seeded data.
    pub replicas: Option<&'a ReplicationWaiter>,
}

/// Longest the replicas may take to catch up with the seeded data.
const REPLICATION_DEADLINE: Duration = Duration::from_secs(60);

/// The load generator a run uses.
#[derive(Debug, Clone)]
pub enum Engine {
    /// An external valkey-benchmark or redis-benchmark binary.
    External(valkey_benchmark::ValkeyBenchmark),
    /// valkey-perf's own load generator.
    Native,
}

impl Engine {
    /// `engine` in records.
    pub fn kind(&self) -> EngineKind {
        match self {
            Engine::External(_) => EngineKind::ValkeyBenchmark,
            Engine::Native => EngineKind::Native,
        }
    }

    /// The engine's name, as records spell it.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// `engine_version` in records.
    pub fn version(&self) -> String {
        match self {
            Engine::External(b) => b.version.clone(),
            Engine::Native => native::version(),
        }
    }

    /// For plans and logs: the name, and the binary for an external engine.
    pub fn describe(&self) -> String {
        match self {
            Engine::External(b) => format!(
                "valkey-benchmark engine: `{}` ({})",
                b.path.display(),
                b.version
            ),
            Engine::Native => format!("native engine ({})", native::version()),
        }
    }

    /// Whether the engine draws its keys from a seed it is given (the native engine;
    /// valkey-benchmark only with `--seed`), so that two targets can get the same keys.
    pub fn takes_seed(&self) -> bool {
        match self {
            Engine::External(b) => b.caps.seed,
            Engine::Native => true,
        }
    }

    /// Why this engine cannot run `case` exactly as configured.
    pub fn check(&self, case: &crate::model::Case) -> Result<(), String> {
        match self {
            Engine::External(b) => b.check(case),
            Engine::Native => Ok(()),
        }
    }

    /// Seeds the keyspace, warms up, measures one run and checks that pops never ran dry.
    /// `abort` is polled during the load (server liveness): returning true stops it. A memory
    /// case times no load: it is [`memory::measure`], with no window.
    pub fn measure(
        &self,
        run: RunRequest<'_>,
        abort: &mut dyn FnMut() -> bool,
    ) -> Result<Measurement> {
        let RunRequest {
            case,
            load,
            control,
            deadline,
            run_end,
            histogram_dir,
            run_index,
            instruments,
            replicas,
        } = run;
        if case.memory {
            return memory::measure(case, control);
        }
        let seed_plan = SeedPlan::for_case(case);
        let not_seeded = self.seed(
            case,
            load,
            control,
            seed_plan.as_ref(),
            left(deadline, run_end)?,
            run_end,
        )?;
        if let Some(waiter) = replicas {
            let n = waiter.wait(left(REPLICATION_DEADLINE, run_end)?)?;
            tracing::debug!("{n} replicas caught up with their primaries");
        }
        let deadline = left(deadline, run_end)?;
        let started_at = now_utc_ms();
        let mut measurement = match (self, case.capacity.as_ref()) {
            (Engine::Native, Some(spec)) => capacity::measure(
                &capacity::Ladder {
                    case,
                    spec,
                    load,
                    step_deadline: step_deadline(case),
                    run_end,
                    histogram_dir,
                    stem: format!(
                        "{}-{}-run{run_index}",
                        started_at.replace([':', '.'], ""),
                        case.command
                    ),
                },
                instruments,
                abort,
            )?,
            (Engine::External(_), Some(_)) => {
                anyhow::bail!("capacity mode runs fixed rates with the native engine only")
            }
            (Engine::External(bench), None) => {
                if bench.needs_separate_warmup(case) {
                    bench.warmup(case, load, abort)?;
                }
                in_window(instruments, || bench.measure(case, load, deadline, abort))?
            }
            (Engine::Native, None) => in_window(instruments, || {
                let file = histogram_dir.join(format!(
                    "{}-{}-run{run_index}.json",
                    started_at.replace([':', '.'], ""),
                    case.command
                ));
                native::measure(case, load, deadline, &file, abort)
            })?,
        };
        measurement.started_at = started_at;
        measurement.seed = case.seed.or(measurement.seed);
        measurement.warnings.extend(not_seeded);
        // Pop workloads in a cluster spread over per-slot keys; the check applies to standalone.
        if let Some(plan) = seed_plan.as_ref().filter(|_| !load.cluster) {
            measurement.warnings.extend(check_pops_left(
                case,
                plan,
                control,
                &mut measurement.parts,
            ));
        }
        Ok(measurement)
    }

    /// Standalone: seeding writes through the control connection with the workloads' key
    /// names (both engines use valkey-benchmark's). Cluster: the native engine seeds through
    /// its own slot routing; valkey-benchmark picks a random hash tag per request, so its
    /// reads cannot be seeded exactly. Returns the warning for a case that needed seeding and
    /// did not get it.
    fn seed(
        &self,
        case: &Case,
        load: &Address,
        control: &mut Control,
        plan: Option<&SeedPlan>,
        deadline: Duration,
        run_end: Option<Instant>,
    ) -> Result<Option<Warning>> {
        let not_seeded = |why: &str, hint: &str| {
            Some(Warning::new(WarningKind::NotSeeded, format!("not seeded: {why}")).with_hint(hint))
        };
        Ok(match (plan, load.cluster, self) {
            (None, _, _) => None,
            (Some(sp), false, _) => {
                let started = Instant::now();
                let n = seed::seed(control, sp, case.data_size, run_end)?;
                tracing::debug!("seeded {n} × {} in {:.2?}", sp.write, started.elapsed());
                None
            }
            (Some(sp), true, Engine::Native)
                if case.builtin().is_some_and(native::can_seed_cluster) =>
            {
                native::seed_cluster(case, load, sp.count, deadline)?;
                None
            }
            (Some(_), true, Engine::Native) => not_seeded(
                "in cluster mode each request picks a random hash tag for its collection key, so pops may find empty keys",
                "benchmark pops on a standalone server to measure them on full collections",
            ),
            (Some(_), true, Engine::External(_)) => not_seeded(
                "valkey-benchmark picks a random hash tag per request in cluster mode, so reads may miss and pops may find empty keys",
                "use --engine native",
            ),
        })
    }
}

/// One stream of a scenario, as [`Engine::measure_scenario`] reports it.
#[derive(Debug)]
pub struct StreamMeasurement {
    pub measurement: Measurement,
    /// Why the stream's run failed although it was measured (error replies, a timeout).
    pub failure: Option<String>,
}

impl Engine {
    /// A scenario after its setup: fills the keyspace with `populate_with` (always through
    /// the native load generator: it is preparation, not measurement), then measures its
    /// streams, one [`StreamMeasurement`] per stream in the scenario's order.
    pub fn measure_scenario(
        &self,
        run: RunRequest<'_>,
        abort: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<StreamMeasurement>> {
        let RunRequest {
            case,
            load,
            deadline,
            run_end,
            histogram_dir,
            run_index,
            instruments,
            ..
        } = run;
        let scenario = case
            .scenario()
            .context("measure_scenario needs a scenario case")?;
        if let Some(command) = &scenario.populate_with {
            let started = Instant::now();
            let n = native::populate(case, load, command, left(deadline, run_end)?)
                .with_context(|| format!("populating with `{}`", command.join(" ")))?;
            tracing::info!(
                "populated {n} keys with `{}` in {:.2?}",
                command.join(" "),
                started.elapsed()
            );
        }
        let started_at = now_utc_ms();
        let deadline = left(deadline, run_end)?;
        let outcomes = in_window(instruments, || match self {
            Engine::External(bench) => {
                if bench.needs_separate_warmup(case) {
                    bench.warmup(case, load, abort)?;
                }
                bench.measure(case, load, deadline, abort).map(|m| {
                    vec![native::StreamOutcome {
                        failure: m
                            .parts
                            .benchmark
                            .as_ref()
                            .and_then(|b| b.server_errors.as_ref())
                            .map(|t| format!("the server answered with errors: {t}")),
                        measurement: m,
                    }]
                })
            }
            Engine::Native => {
                let stamp = started_at.replace([':', '.'], "");
                let files: Vec<PathBuf> = scenario
                    .streams
                    .iter()
                    .map(|s| {
                        histogram_dir.join(format!(
                            "{stamp}-{}-{}-run{run_index}.json",
                            scenario.test_id(s),
                            s.phase.as_str()
                        ))
                    })
                    .collect();
                native::measure_scenario(case, load, deadline, &files, abort)
            }
        })?;
        Ok(outcomes
            .into_iter()
            .map(|o| {
                let mut measurement = o.measurement;
                measurement.started_at = started_at.clone();
                measurement.seed = case.seed.or(measurement.seed);
                StreamMeasurement {
                    measurement,
                    failure: o.failure,
                }
            })
            .collect())
    }
}

/// Longest one capacity step may take: its warm-up and window, and the drain after it.
fn step_deadline(case: &Case) -> Duration {
    Duration::from_secs(
        30 + case.warmup_secs
            + match case.mode {
                BenchmarkMode::Duration(s) => s,
                BenchmarkMode::Requests(n) => n / 2000,
            },
    )
}

/// What is left of `deadline` before the run's end (`--run-timeout`); an error once nothing
/// is.
fn left(deadline: Duration, run_end: Option<Instant>) -> Result<Duration> {
    let Some(end) = run_end else {
        return Ok(deadline);
    };
    let left = end.saturating_duration_since(Instant::now());
    if left.is_zero() {
        anyhow::bail!("the run did not finish within --run-timeout");
    }
    Ok(deadline.min(left))
}

/// Runs `load` inside the instruments' window. The window closes even after a failed load,
/// so the server is left as it was; an error of the load comes before one of the window.
fn in_window<T>(instruments: &mut Instruments, load: impl FnOnce() -> Result<T>) -> Result<T> {
    instruments.start()?;
    let measured = load();
    let closed = instruments.end();
    let measured = measured?;
    closed?;
    Ok(measured)
}

/// Records how many seeded items a pop workload left (`seeded_items_left`); a collection that
/// ran empty means some measured pops hit an empty key, which the returned warning says.
fn check_pops_left(
    case: &Case,
    plan: &SeedPlan,
    control: &mut Control,
    parts: &mut RecordParts,
) -> Option<Warning> {
    let len_cmd = plan.length_command()?;
    let key = plan.key;
    let Ok(Frame::Integer(left)) = control.call_raw(&[len_cmd, key]) else {
        return None;
    };
    parts.seeded_items_left = Some(left);
    (left == 0).then(|| {
        let w = Warning::new(
            WarningKind::RanEmpty,
            format!("`{key}` ran empty during the run, so some pops hit an empty key"),
        );
        if matches!(case.mode, BenchmarkMode::Duration(_)) {
            w.with_hint(
                "with `duration`, pops can outrun the seeding: use `requests` for pop commands",
            )
        } else {
            w
        }
    })
}

fn now_utc_ms() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
