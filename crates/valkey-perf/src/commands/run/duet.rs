//! One round of a duet case: both targets' servers up at once, each target's load against its
//! own servers, started behind one gate and stopped together
//! ([`Engine::measure_duet`](crate::engine::Engine::measure_duet)), through the stages of
//! [`super::lifecycle`] (prepare, window, record) as a solo run goes through them.
//!
//! Pinning is crossed: one CPU set holds the first target's server and the second's client,
//! the other set the second's server and the first's client; the sets swap every round, so
//! neither target keeps the better CPUs and `compare`'s pairing cancels what is left.

use super::lifecycle::{
    DEATH_VISIBLE_WITHIN, Liveness, RunClock, RunContext, RunFailure, death_of, run_deadline,
    run_err, run_warnings, server_facts, start_deployment, with_server_state,
};
use super::logging::Progress;
use super::once::instrument_spec;
use super::plan::Target;
use super::record::{build_record, record_window};
use super::{Stop, Tally, describe, take_outcome};
use crate::engine::RunRequest;
use crate::model::{Case, ReadFromReplicas, Record};
use crate::server::Deployment;
use crate::server::instruments::Instruments;
use anyhow::Result;

/// One round of a duet case: both targets at once ([`run_duet`]), a record each, or
/// the round's failure counted for both. `Some` when the runs must stop.
pub(super) fn round(
    ctx: &RunContext,
    progress: &Progress,
    tally: &mut Tally,
    ci: usize,
    run_index: u32,
) -> Result<Option<Stop>> {
    let plan = ctx.plan;
    let what = format!(
        "case {}/{} {} duet {} + {}: {}",
        ci + 1,
        plan.cases.len(),
        super::run_of(plan, run_index),
        plan.targets[0].label,
        plan.targets[1].label,
        plan.cases[ci].label()
    );
    tracing::info!("{what}");
    progress.set_message(what.clone());
    let outcomes: [Result<Vec<Record>, RunFailure>; 2] =
        match run_duet(ctx, &plan.cases[ci], run_index) {
            Ok([a, b]) => [Ok(vec![a]), Ok(vec![b])],
            Err(RunFailure::Run(e)) => {
                let again = anyhow::anyhow!("{e:#}");
                [Err(RunFailure::Run(e)), Err(RunFailure::Run(again))]
            }
            Err(RunFailure::Start(e)) => return Ok(Some(Stop::ServerStart(e))),
            Err(RunFailure::Interrupted) => return Ok(Some(Stop::Interrupted)),
        };
    for (ti, outcome) in outcomes.into_iter().enumerate() {
        let what = describe(plan, ci, run_index, ti);
        if let Some(stop) = take_outcome(&plan.cases[ci], ti, outcome, &what, tally)? {
            return Ok(Some(stop));
        }
    }
    progress.inc_by(2);
    Ok(None)
}

/// The two targets' cases of round `run_index`: the case's two CPU sets (set by the plan)
/// crossed, and swapped in odd rounds.
pub(super) fn crossed(case: &Case, run_index: u32) -> [Case; 2] {
    let x = case.topology.server_cpus.clone();
    let y = case.client_cpus.clone();
    let (first_server, second_server) = if run_index % 2 == 0 { (x, y) } else { (y, x) };
    let pinned = |server: &Option<_>, client: &Option<_>| {
        let mut c = case.clone();
        c.topology.server_cpus = server.clone();
        c.client_cpus = client.clone();
        c
    };
    [
        pinned(&first_server, &second_server),
        pinned(&second_server, &first_server),
    ]
}

/// One duet round of `case` on the plan's two targets: a record per target (in the plan's
/// order), or why the round failed (the same failure for both: half a duet is not a
/// measurement).
pub(super) fn run_duet(
    ctx: &RunContext,
    case: &Case,
    run_index: u32,
) -> Result<[Record; 2], RunFailure> {
    // Who goes first (started, seeded, first load stream) alternates with the pinning, so
    // neither an order effect nor a CPU set stays with one target.
    let order = if run_index % 2 == 0 { [0, 1] } else { [1, 0] };
    let targets = order.map(|i| &ctx.plan.targets[i]);
    let cases = {
        let [first, second] = crossed(case, run_index);
        if order[0] == 0 {
            [first, second]
        } else {
            [second, first]
        }
    };
    let mut clock = RunClock::start(ctx.plan);
    let first = start_deployment(ctx, targets[0], &cases[0], None)?;
    let second = start_deployment(ctx, targets[1], &cases[1], None)?;
    let mut deployments = [first, second];
    clock.restart();
    let mut warnings = [
        run_warnings(ctx, &cases[0], &deployments[0]),
        run_warnings(ctx, &cases[1], &deployments[1]),
    ];
    let mut facts = Vec::with_capacity(2);
    for i in 0..2 {
        deployments[i]
            .apply_config_set(&cases[i].topology.config_set)
            .map_err(run_err)?;
        facts.push(server_facts(&deployments[i], &cases[i], &mut warnings[i])?);
    }
    let window = Window {
        targets,
        cases: &cases,
        run_index,
        run_end: clock.end(),
    };
    let (result, reports, death) = measure(ctx, &mut deployments, window)?;
    let death = match death {
        None if result.is_err() => deployments
            .iter_mut()
            .find_map(|d| death_of(d, DEATH_VISIBLE_WITHIN)),
        death => death,
    };
    if let Some(reason) = death {
        return Err(RunFailure::Run(anyhow::anyhow!(
            "a server of the duet died during the run: {reason}"
        )));
    }
    let measurements = result.map_err(|e| {
        let e = with_server_state(&deployments[0], e);
        run_err(with_server_state(&deployments[1], e))
    })?;
    let mut records = Vec::with_capacity(2);
    for (i, ((mut measurement, report), mut w)) in measurements
        .into_iter()
        .zip(reports)
        .zip(warnings)
        .enumerate()
    {
        record_window(report, &cases[i], &mut measurement.parts, &mut w).map_err(run_err)?;
        deployments[i].check_alive().map_err(run_err)?;
        facts[i].cpus = deployments[i].cpu_affinity().unwrap_or_default();
        records.push(build_record(
            ctx,
            targets[i],
            &cases[i],
            run_index,
            measurement,
            w,
            &facts[i],
        ));
    }
    for d in &mut deployments {
        d.stop();
    }
    let [a, b]: [Record; 2] = records.try_into().expect("two records");
    // By the plan's target order again.
    Ok(if order[0] == 0 { [a, b] } else { [b, a] })
}

/// What the duet's window needs besides the deployments.
struct Window<'a> {
    targets: [&'a Target; 2],
    cases: &'a [Case; 2],
    run_index: u32,
    run_end: Option<std::time::Instant>,
}

/// What the window gave: the engine's result, each target's instruments' report, and why a
/// server died during the load, if one did.
type Measured = (
    anyhow::Result<[crate::engine::Measurement; 2]>,
    [crate::server::instruments::InstrumentReport; 2],
    Option<String>,
);

/// The window stage for two deployments: as [`super::lifecycle::measure_window`] does for
/// one, with one liveness check over both as the engine's abort.
fn measure(
    ctx: &RunContext,
    deployments: &mut [Deployment; 2],
    window: Window<'_>,
) -> Result<Measured, RunFailure> {
    let loads = [deployments[0].address(), deployments[1].address()];
    let mut controls = [
        deployments[0].control().map_err(run_err)?,
        deployments[1].control().map_err(run_err)?,
    ];
    let waiter = |i: usize| {
        (window.cases[i].read_from_replicas != ReadFromReplicas::No)
            .then(|| deployments[i].replication_waiter())
            .transpose()
            .map_err(run_err)
    };
    let replicas = [waiter(0)?, waiter(1)?];
    let instruments = |i: usize| {
        Instruments::new(
            instrument_spec(
                window.targets[i],
                &window.cases[i],
                window.run_index,
                None,
                None,
            ),
            deployments[i].pids(),
            || deployments[i].probe(),
        )
    };
    let mut instruments = [instruments(0), instruments(1)];
    let [da, db] = deployments;
    let (mut la, mut lb) = (Liveness::new(da), Liveness::new(db));
    let deadline = run_deadline(ctx.plan, &window.cases[0]);
    let [ca, cb] = &mut controls;
    let [ia, ib] = &mut instruments;
    let result = ctx.plan.engine.measure_duet(
        [
            RunRequest {
                case: &window.cases[0],
                load: &loads[0],
                control: ca,
                deadline,
                run_end: window.run_end,
                histogram_dir: &window.targets[0].dir.join("histograms"),
                run_index: window.run_index,
                instruments: ia,
                replicas: replicas[0].as_ref(),
            },
            RunRequest {
                case: &window.cases[1],
                load: &loads[1],
                control: cb,
                deadline,
                run_end: window.run_end,
                histogram_dir: &window.targets[1].dir.join("histograms"),
                run_index: window.run_index,
                instruments: ib,
                replicas: replicas[1].as_ref(),
            },
        ],
        &mut || la.poll() || lb.poll(),
    );
    let [ia, ib] = instruments;
    let death = la.death().or(lb.death());
    Ok((result, [ia.report(), ib.report()], death))
}
