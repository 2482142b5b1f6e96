//! The stages every run goes through, for built-in cases ([`super::once`]), memory mode and
//! scenarios ([`super::scenario`]) alike: **prepare** (a fresh server or the running one
//! flushed, the config set, what the record states about the servers), **window** (the
//! engine seeds, waits for replicas, and measures inside the [`Instruments`]' window while a
//! [`Liveness`] check watches the servers), then **record** ([`super::record`]).
//!
//! Owns why a run fails ([`RunFailure`]) and what a run shares with the others of its
//! invocation ([`RunContext`]); the stages' order around one case is the callers'.

use super::plan::{Plan, ServerSource, Target};
use super::record::ServerFacts;
use crate::engine::{Engine, RunRequest};
use crate::model::{BenchmarkMode, Case, Warning, WarningKind};
use crate::process::interrupted;
use crate::server::deadline::{RunEnd, is_unresponsive};
use crate::server::instruments::{InstrumentReport, InstrumentSpec, Instruments};
use crate::server::tls::ServerTls;
use crate::server::{Deployment, StartOptions};
use anyhow::Context;
use std::time::{Duration, Instant};

/// Deadline for one measured load run.
pub(super) fn run_deadline(plan: &Plan, case: &Case) -> Duration {
    // A capacity ladder is several windows, each with its warm-up.
    let windows = case.capacity.as_ref().map_or(1, |c| c.max_steps());
    plan.deadline.unwrap_or_else(|| {
        Duration::from_secs(
            60 + windows
                * (case.warmup_secs
                    + match case.mode {
                        BenchmarkMode::Duration(s) => s,
                        BenchmarkMode::Requests(n) => n / 2000,
                    }
                    + 5),
        )
    })
}

/// The clock of one run under `--run-timeout`: the run's end, which seeding, the load and
/// every control connection ([`RunEnd`]) honour. It starts with the run (a running server's
/// flush included) and starts again once servers valkey-perf started are up, whose start has
/// deadlines of its own. Without `--run-timeout` there is no end, only the load's deadline.
pub(super) struct RunClock {
    timeout: Option<Duration>,
    end: Option<Instant>,
    /// Caps control I/O at `end` while the run lasts.
    cap: RunEnd,
}

impl RunClock {
    pub fn start(plan: &Plan) -> RunClock {
        let end = plan.deadline.map(|d| Instant::now() + d);
        RunClock {
            timeout: plan.deadline,
            end,
            cap: RunEnd::until(end),
        }
    }

    /// Starts the clock again: the servers valkey-perf started are up.
    pub fn restart(&mut self) {
        self.end = self.timeout.map(|d| Instant::now() + d);
        self.cap.reset(self.end);
    }

    pub fn end(&self) -> Option<Instant> {
        self.end
    }
}

/// A failed run's error, with what the servers say about it: a live server that does not
/// answer PING within a second is named unresponsive (busy or stopped), not dead.
pub(super) fn with_server_state(deployment: &Deployment, e: anyhow::Error) -> anyhow::Error {
    if interrupted() || is_unresponsive(&e) {
        return e;
    }
    match deployment.responsive(Duration::from_secs(1)) {
        Err(u) if is_unresponsive(&u) => anyhow::anyhow!("{e:#}; {}", u.root_cause()),
        _ => e,
    }
}

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
    /// What every case's key seed per round derives from (`--seed`, else the invocation id).
    pub seed_base: u64,
}

/// Maps an error of a started run: Ctrl-C, or a failed run.
pub(super) fn run_err(e: anyhow::Error) -> RunFailure {
    if interrupted() {
        RunFailure::Interrupted
    } else {
        RunFailure::Run(e)
    }
}

/// How long a failed engine run waits for a server's death to become visible. A killed
/// server's sockets close before its exit status can be collected, so the engine often fails
/// ("Server closed the connection") a moment before the server is seen dead.
pub(super) const DEATH_VISIBLE_WITHIN: Duration = Duration::from_secs(1);

/// Why a server of `deployment` died (with its log's tail), if one dies within `within`.
pub(super) fn death_of(deployment: &mut Deployment, within: Duration) -> Option<String> {
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

/// The servers' liveness during the load: [`Liveness::poll`] is the engine's abort check.
pub(super) struct Liveness<'a> {
    deployment: &'a mut Deployment,
    last_check: Instant,
    dead: Option<String>,
}

impl<'a> Liveness<'a> {
    /// How often the servers are checked at most.
    const EVERY: Duration = Duration::from_millis(200);

    pub fn new(deployment: &'a mut Deployment) -> Liveness<'a> {
        Liveness {
            deployment,
            last_check: Instant::now(),
            dead: None,
        }
    }

    /// True once a server has died: the load stops.
    pub fn poll(&mut self) -> bool {
        if self.last_check.elapsed() < Self::EVERY {
            return false;
        }
        self.last_check = Instant::now();
        if let Err(e) = self.deployment.check_alive() {
            self.dead = Some(format!("{e:#}"));
            return true;
        }
        false
    }

    /// Why a server died during the load, if one did.
    pub fn death(self) -> Option<String> {
        self.dead
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
                // The round's key seed: both targets of a round draw one hash seed.
                urandom_seed: callgrind_dir.as_ref().and(case.seed),
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

/// The last step of preparing: what the record states about the servers (their affinity is
/// read after the run), with a warning when a running server's io-threads are not the case's.
pub(super) fn server_facts(
    deployment: &Deployment,
    case: &Case,
    warnings: &mut Vec<Warning>,
) -> Result<ServerFacts, RunFailure> {
    let version = deployment.server_version().map_err(run_err)?;
    let (io_threads, io_warning) = recorded_io_threads(deployment, case);
    warnings.extend(io_warning);
    Ok(ServerFacts {
        version,
        io_threads,
        restarted: deployment.started_here(),
        cpus: String::new(),
    })
}

/// The io-threads the record states: the case's for servers valkey-perf started; for a
/// running server, what it reports (`CONFIG GET io-threads`), with a warning when that is not
/// what the config says, so records never claim a setting that was not measured.
fn recorded_io_threads(deployment: &Deployment, case: &Case) -> (u64, Option<Warning>) {
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

/// What the window stage needs besides the deployment.
pub(super) struct WindowPlan<'a> {
    pub case: &'a Case,
    pub target: &'a Target,
    pub run_index: u32,
    pub deadline: Duration,
    /// The run's end when `--run-timeout` bounds it (see [`RunClock`]).
    pub run_end: Option<Instant>,
    /// Reads go to replicas: after seeding, wait until they have the data.
    pub wait_for_replicas: bool,
    pub instruments: InstrumentSpec,
}

/// What the window stage gives back.
pub(super) struct Measured<T> {
    /// The engine's result.
    pub result: anyhow::Result<T>,
    /// What the instruments saw around the window.
    pub report: InstrumentReport,
    /// Why a server died during the load, as the liveness check saw it.
    pub death: Option<String>,
}

/// The window stage: connects to the servers, opens the instruments, and has the engine seed
/// and measure (`measure` is [`Engine::measure`] or [`Engine::measure_scenario`]) while the
/// liveness check watches the servers.
pub(super) fn measure_window<T>(
    ctx: &RunContext,
    deployment: &mut Deployment,
    window: WindowPlan<'_>,
    measure: fn(&Engine, RunRequest<'_>, &mut dyn FnMut() -> bool) -> anyhow::Result<T>,
) -> Result<Measured<T>, RunFailure> {
    let load = deployment.address();
    let mut control = deployment.control().map_err(run_err)?;
    let replicas = window
        .wait_for_replicas
        .then(|| deployment.replication_waiter())
        .transpose()
        .map_err(run_err)?;
    // Connections of their own, opened before the window: reading them never fails the run.
    let mut instruments =
        Instruments::new(window.instruments, deployment.pids(), || deployment.probe());
    let mut liveness = Liveness::new(deployment);
    let result = measure(
        &ctx.plan.engine,
        RunRequest {
            case: window.case,
            load: &load,
            control: &mut control,
            deadline: window.deadline,
            run_end: window.run_end,
            histogram_dir: &window.target.dir.join("histograms"),
            run_index: window.run_index,
            instruments: &mut instruments,
            replicas: replicas.as_ref(),
        },
        &mut || liveness.poll(),
    );
    Ok(Measured {
        result,
        report: instruments.report(),
        death: liveness.death(),
    })
}
