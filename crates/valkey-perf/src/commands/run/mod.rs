//! `valkey-perf run`: targets × config → results (docs/design.md §5).
//!
//! [`args`] holds the flags; [`plan`] lowers them and the config file into a validated plan
//! before any server starts; this module runs the plan case by case, run by run, target by
//! target (A B A B ...), each run by [`once`] (a duet case's two targets at once, by
//! [`duet`]), records written after every run, and a report against the baseline at the end; [`serve`] is `--mode server`; [`driven`] runs rounds on
//! demand for another command (`bisect`).

mod args;
mod capacity;
mod driven;
mod duet;
mod lifecycle;
mod once;
mod plan;
mod precise;
mod record;
mod scenario;
mod seeds;
mod serve;
mod summary;

pub use args::{
    BuildArgs, CaseArgs, EngineArgs, EngineChoice, Mode, OutputArgs, RunArgs, RunningArgs,
    TargetArgs,
};
pub use driven::{Session, SessionTarget};

use super::logging::{self, Progress};
use crate::exit::{Code, Failure};
use crate::model::{Case, Record, RunStatus, Warning};
use crate::process::interrupted;
use crate::results::{MetricsFile, env};
use crate::server::standalone::probe_tls;
use crate::server::tls::TlsMaterial;
use anyhow::{Context, Result};
use lifecycle::{RunContext, RunFailure};
use once::run_once;
use plan::{Plan, ServerSource};
use std::collections::HashSet;
use std::path::Path;
use summary::{print_summary, write_reports};

/// Runs `valkey-perf run`.
pub fn run(args: RunArgs) -> Result<Code> {
    logging::init(args.output.log_level);
    crate::process::install_signal_handlers()?;
    if args.mode == Mode::Server {
        if args.cases.precision.is_some() {
            return Err(crate::exit::usage(
                "--precision adds measured rounds, which --mode server never runs; drop one of them",
            ));
        }
        let plan = plan::lower_serve(&args)?;
        if args.output.dry_run {
            serve::print_serve_plan(&plan);
            return Ok(Code::Success);
        }
        sweep_left_behind();
        return serve::serve(&plan);
    }
    let plan = plan::lower(&args)?;
    if args.output.dry_run {
        plan::print_plan(&plan);
        return Ok(Code::Success);
    }
    sweep_left_behind();
    let outcome = execute(&plan);
    logging::close_log_files();
    outcome
}

/// Removes the server data dirs and TLS material that earlier invocations killed by SIGKILL
/// or an abort left in the temp folder (their owner process is gone); a live run's stay.
fn sweep_left_behind() {
    for dir in crate::process::sweep_dead_owners(&std::env::temp_dir()) {
        tracing::info!(
            "removed `{}`, left behind by a valkey-perf that is gone",
            dir.display()
        );
    }
}

/// Opens every target's `metrics.json` and log file (and links a git ref's directory).
fn open_results(plan: &Plan) -> Result<Vec<MetricsFile>> {
    let mut files = Vec::new();
    for t in &plan.targets {
        let file = MetricsFile::open(&t.dir)?;
        logging::add_log_file(&t.dir.join("logs.txt"))?;
        files.push(file);
        if t.is_git_ref && t.dir == plan.results_dir.join(&t.commit) {
            crate::results::link_ref_dir(&plan.results_dir, &t.label, &t.commit);
        }
    }
    Ok(files)
}

fn execute(plan: &Plan) -> Result<Code> {
    let files = open_results(plan)?;
    let material = prepare_tls(plan)?;
    let invocation_id = invocation_id();
    let ctx = RunContext {
        plan,
        tls: material.as_ref().map(TlsMaterial::server),
        env: env::collect(),
        architecture: env::architecture(),
        seed_base: seed_base(plan, &invocation_id),
        invocation_id,
    };
    let runs = match plan.precision {
        Some(p) => format!(
            "{}+ rounds (until ±{} % or {:.0} s)",
            plan.runs.max(precise::MIN_ROUNDS),
            p.pct,
            p.max_time.as_secs_f64()
        ),
        None => format!("{} runs", plan.runs),
    };
    tracing::info!(
        "{} cases × {runs} × {} targets; {}",
        plan.cases.len(),
        plan.targets.len(),
        plan.engine.describe()
    );
    let mut tally = Tally::new(plan, files);
    if let Some(precision) = plan.precision {
        let outcome = precise::run_precise(&ctx, &mut tally, precision)?;
        let reached = outcome.stop.is_some() || precise::report(&outcome, precision);
        let mut stop = outcome.stop;
        if stop.is_none() {
            let progress = Progress::new(0);
            stop = units(&plan.cases)
                .into_iter()
                .find_map(|unit| profile_unit(&ctx, &progress, unit));
            progress.finish();
        }
        let code = finish(plan, tally, stop)?;
        // Unfinished cases make an otherwise clean run inconclusive.
        return Ok(if code == Code::Success && !reached {
            Code::Inconclusive
        } else {
            code
        });
    }
    let total = plan.cases.len() as u64 * u64::from(plan.runs) * plan.targets.len() as u64;
    let progress = Progress::new(total);
    let stop = run_units(&ctx, &progress, &mut tally, 0..plan.runs, true)?;
    progress.finish();
    finish(plan, tally, stop)
}

/// What the runs so far produced.
struct Tally {
    /// Every target's `metrics.json`.
    files: Vec<MetricsFile>,
    /// Every target's records, for the report against the baseline.
    records: Vec<Vec<Record>>,
    /// Runs that failed.
    failed: usize,
    /// (case label, target, metrics) of every measured run, for the summary table; a
    /// scenario's streams are labelled by their test_id.
    measured: Vec<(String, usize, crate::model::Metrics)>,
    /// Each distinct warning is printed once.
    printed: HashSet<Warning>,
}

impl Tally {
    fn new(plan: &Plan, files: Vec<MetricsFile>) -> Tally {
        Tally {
            files,
            records: vec![Vec::new(); plan.targets.len()],
            failed: 0,
            measured: Vec::new(),
            // The config's warnings were printed when it was read.
            printed: plan
                .config_warnings
                .iter()
                .map(|w| w.warning.clone())
                .collect(),
        }
    }
}

/// Why the runs stopped before the end of the plan.
enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// A server did not start.
    ServerStart(anyhow::Error),
    /// A record could not be written (full disk, permissions): later ones could not be either.
    Write(anyhow::Error),
}

/// Runs every unit of cases: each of `rounds`, every target (in [`round_order`]), then (with
/// `profile`) the unit's profiling run. `Some` when the runs stopped early.
fn run_units(
    ctx: &RunContext,
    progress: &Progress,
    tally: &mut Tally,
    rounds: std::ops::Range<u32>,
    profile: bool,
) -> Result<Option<Stop>> {
    let plan = ctx.plan;
    for unit in units(&plan.cases) {
        for run_index in rounds.clone() {
            if plan.cases[unit.start].duet {
                if interrupted() {
                    return Ok(Some(Stop::Interrupted));
                }
                if let Some(stop) = duet::round(ctx, progress, tally, unit.start, run_index)? {
                    return Ok(Some(stop));
                }
                continue;
            }
            for ti in round_order(plan.targets.len(), run_index) {
                if interrupted() {
                    return Ok(Some(Stop::Interrupted));
                }
                for (ci, outcome) in run_unit(ctx, progress, unit.clone(), run_index, ti) {
                    let what = describe(plan, ci, run_index, ti);
                    if let Some(stop) = take_outcome(&plan.cases[ci], ti, outcome, &what, tally)? {
                        return Ok(Some(stop));
                    }
                }
                progress.inc_by(unit.len() as u64);
            }
        }
        if let Some(stop) = profile.then(|| profile_unit(ctx, progress, unit)).flatten() {
            return Ok(Some(stop));
        }
    }
    Ok(None)
}

/// `case 2/5 run 1/3 target unstable: GET ...`: one run, in logs and progress.
fn describe(plan: &Plan, ci: usize, run_index: u32, ti: usize) -> String {
    format!(
        "case {}/{} {} target {}: {}",
        ci + 1,
        plan.cases.len(),
        run_of(plan, run_index),
        plan.targets[ti].label,
        plan.cases[ci].label()
    )
}

/// `run 2/3`; `round 2` under `--precision`, where the number of rounds is not known ahead.
fn run_of(plan: &Plan, run_index: u32) -> String {
    if plan.precision.is_some() {
        format!("round {}", run_index + 1)
    } else {
        format!("run {}/{}", run_index + 1, plan.runs)
    }
}

/// What every key seed of this invocation derives from: `--seed`, else the invocation id;
/// logged so that the same keys can be asked for again.
fn seed_base(plan: &Plan, invocation_id: &str) -> u64 {
    let base = plan.seed.unwrap_or_else(|| seeds::base_of(invocation_id));
    if plan.engine.takes_seed() {
        tracing::info!(
            "key seeds derive from {base}: every target of a round gets the same keys (`--seed {base}` repeats them)"
        );
    }
    base
}

/// One round of a unit on one target: a built-in case alone; a group's scenarios on one
/// server, each case with the round's key seed ([`seeds`]). The outcomes by case index.
fn run_unit(
    ctx: &RunContext,
    progress: &Progress,
    unit: std::ops::Range<usize>,
    run_index: u32,
    ti: usize,
) -> Vec<(usize, Result<Vec<Record>, RunFailure>)> {
    let plan = ctx.plan;
    let target = &plan.targets[ti];
    let what = describe(plan, unit.start, run_index, ti);
    let case = |ci: usize| {
        seeds::case_for_round(&plan.cases[ci], &plan.engine, ctx.seed_base, ci, run_index)
    };
    if plan.cases[unit.start].scenario().is_some() {
        tracing::info!("{what}");
        progress.set_message(what);
        let cases: Vec<Case> = unit.clone().map(|ci| case(ci).into_owned()).collect();
        scenario::run_group(ctx, target, &cases, run_index)
            .into_iter()
            .enumerate()
            .map(|(i, o)| (unit.start + i, o))
            .collect()
    } else {
        let ci = unit.start;
        progress.set_message(what.clone());
        tracing::info!("{what}");
        vec![(
            ci,
            run_once(ctx, target, &case(ci), run_index).map(|r| vec![r]),
        )]
    }
}

/// Takes one run's outcome on target `ti`: its records written and tallied, a failure counted
/// and logged. `Some` when the runs must stop.
fn take_outcome(
    case: &Case,
    ti: usize,
    outcome: Result<Vec<Record>, RunFailure>,
    what: &str,
    tally: &mut Tally,
) -> Result<Option<Stop>> {
    match outcome {
        Ok(recs) => {
            let mut recs = recs.into_iter();
            while let Some(record) = recs.next() {
                let taken =
                    match take_record(case, &record, &mut tally.printed, &mut tally.files[ti]) {
                        Ok(taken) => taken,
                        Err(e) => {
                            let unwritten = std::iter::once(&record).chain(recs.as_slice());
                            keep_unwritten(unwritten, tally.files[ti].path());
                            return Ok(Some(Stop::Write(e)));
                        }
                    };
                match taken {
                    Taken::Failed => {
                        tally.failed += 1;
                        continue;
                    }
                    Taken::Untimed => {}
                    Taken::Timed(label) => tally.measured.push((label, ti, record.metrics.clone())),
                }
                tally.records[ti].push(record);
            }
        }
        Err(RunFailure::Interrupted) => return Ok(Some(Stop::Interrupted)),
        Err(RunFailure::Start(e)) => return Ok(Some(Stop::ServerStart(e))),
        // A full or read-only disk fails every later run the same way (their histograms).
        Err(RunFailure::Run(e)) if crate::util::is_unwritable(&e) => {
            return Ok(Some(Stop::Write(
                e.context(format!("{what}: its results could not be saved")),
            )));
        }
        Err(RunFailure::Run(e)) => {
            tally.failed += 1;
            tracing::error!("run failed: {what}: {e:#}");
        }
    }
    Ok(None)
}

/// Profiling: one extra, unmeasured run per target with `perf` on the servers, for a unit of
/// one built-in case with profiling on. `Some` when interrupted.
fn profile_unit(
    ctx: &RunContext,
    progress: &Progress,
    unit: std::ops::Range<usize>,
) -> Option<Stop> {
    let first = &ctx.plan.cases[unit.start];
    let profiling = first.profiling.filter(|_| first.scenario().is_none())?;
    for target in &ctx.plan.targets {
        if interrupted() {
            return Some(Stop::Interrupted);
        }
        progress.set_message(format!("profiling {} on {}", first.label(), target.label));
        once::profile(ctx, target, first, unit.start, profiling);
    }
    None
}

/// The end of the runs: the summary table, where the records are, the reports against the
/// baseline (unless interrupted), and the exit code.
fn finish(plan: &Plan, tally: Tally, stop: Option<Stop>) -> Result<Code> {
    print_summary(plan, &tally.measured);
    for (t, f) in plan.targets.iter().zip(&tally.files) {
        // stdout names only files this invocation wrote into.
        if f.written() == 0 {
            tracing::info!(
                "no record for {} was written; `{}` is unchanged",
                t.label,
                f.path().display()
            );
            continue;
        }
        tracing::info!(
            "{} records for {} in `{}` ({} from this invocation)",
            f.len(),
            t.label,
            f.path().display(),
            f.written()
        );
        crate::util::outln(format_args!("{}", f.path().display()));
    }
    match stop {
        Some(Stop::Write(e)) => {
            write_reports(plan, &tally.records)?;
            Err(Failure::new(
                Code::RunsFailed,
                format!("{e:#}; the runs stopped there, the records written before are kept"),
            ))
        }
        Some(Stop::Interrupted) => {
            tracing::warn!(
                "interrupted: finished runs are kept in metrics.json, every server was stopped"
            );
            Ok(Code::Interrupted)
        }
        Some(Stop::ServerStart(e)) => {
            write_reports(plan, &tally.records)?;
            Err(e)
        }
        None => {
            write_reports(plan, &tally.records)?;
            if tally.failed > 0 {
                tracing::error!(
                    "{} run(s) failed; the other runs were measured and written",
                    tally.failed
                );
                Ok(Code::RunsFailed)
            } else {
                Ok(Code::Success)
            }
        }
    }
}

/// What a finished run's record measured.
enum Taken {
    /// A scenario stream that failed: written, not compared.
    Failed,
    /// Memory mode: no load was timed.
    Untimed,
    /// Timed load, with the label of the run in the summary table.
    Timed(String),
}

/// Records measured but not written (the disk filled up, or became read-only): printed on
/// stderr as the JSON objects `metrics.json` holds, so that nothing measured is lost.
fn keep_unwritten<'r>(records: impl IntoIterator<Item = &'r Record>, file: &Path) {
    for record in records {
        match crate::results::record_json(record) {
            Ok(json) => tracing::error!(
                "a record measured but not written into `{}` (add it to the file's array by hand): {json}",
                file.display()
            ),
            Err(e) => tracing::error!(
                "a record measured but not written could not be printed either: {e:#}"
            ),
        }
    }
}

/// Takes one finished record: prints its warnings (each once) and its figures, and appends it
/// to its target's `metrics.json`.
fn take_record(
    case: &Case,
    record: &Record,
    printed: &mut HashSet<Warning>,
    file: &mut MetricsFile,
) -> Result<Taken> {
    for w in &record.warnings {
        if printed.insert(w.clone()) {
            tracing::warn!("{}: {w}", case.label());
        }
    }
    file.append(record)?;
    if record_failed(record) {
        return Ok(Taken::Failed);
    }
    // Memory mode times nothing: its figure is the overhead per key.
    if case.memory {
        tracing::info!(
            "  overhead={} bytes per key",
            // As JSON writes the number (`52.0`, not `52`).
            record.parts.memory.as_ref().map_or_else(
                || "?".into(),
                |m| serde_json::Value::from(m.overhead_bytes_per_item).to_string()
            )
        );
        return Ok(Taken::Untimed);
    }
    if let Some(c) = record.parts.capacity.as_ref() {
        tracing::info!(
            "  capacity under {}: {} rps{} (knee {} rps, {} steps, ended: {})",
            c.capacity_slo,
            c.capacity_max_rps
                .map_or("none".into(), |m| format!("{m:.0}")),
            if c.capacity_end.lower_bound() && c.capacity_max_rps.is_some() {
                " or more"
            } else {
                ""
            },
            c.capacity_knee_rps
                .map_or("?".into(), |k| format!("{k:.0}")),
            c.capacity_steps.len(),
            c.capacity_end.as_str()
        );
    }
    tracing::info!(
        "  {}rps={:.0} avg={:.3}ms p50={:.3}ms p99={:.3}ms",
        test_id(record)
            .map(|t| format!("{t}: "))
            .unwrap_or_default(),
        record.metrics.rps,
        record.metrics.avg_latency_ms,
        record.metrics.p50_latency_ms,
        record.metrics.p99_latency_ms
    );
    Ok(Taken::Timed(match test_id(record) {
        Some(id) => format!("{} {id}", case.label()),
        None => case.label(),
    }))
}

/// Whether a record says its run failed (a scenario with `status: failed`).
fn record_failed(record: &Record) -> bool {
    record
        .parts
        .scenario
        .as_ref()
        .is_some_and(|s| s.status == RunStatus::Failed)
}

/// A scenario stream's `test_id`.
fn test_id(record: &Record) -> Option<&str> {
    Some(record.parts.scenario.as_ref()?.test_id.as_str())
}

/// The cases that run together on one server, as index ranges: a built-in case alone; the
/// scenarios of one group (same config object, topology and key space) together, in order.
fn units(cases: &[crate::model::Case]) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let joins = match (out.last(), case.scenario()) {
            (Some(last), Some(s)) => {
                let prev = &cases[last.start];
                prev.scenario().is_some_and(|p| p.group == s.group)
                    && prev.config_index == case.config_index
                    && prev.topology == case.topology
                    && prev.keyspacelen == case.keyspacelen
            }
            _ => false,
        };
        match out.last_mut() {
            Some(last) if joins => last.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

/// With TLS cases on servers valkey-perf starts: generates the throwaway certificates and
/// checks, before any case runs, that every server binary was built with TLS.
fn prepare_tls(plan: &Plan) -> Result<Option<TlsMaterial>> {
    if !plan.cases.iter().any(|c| c.topology.tls) {
        return Ok(None);
    }
    let binaries: Vec<(&Path, &Path)> = plan
        .targets
        .iter()
        .filter_map(|t| match &t.server {
            ServerSource::Binary(b) => Some((b.as_path(), t.dir.as_path())),
            ServerSource::Running(_) => None,
        })
        .collect();
    if binaries.is_empty() {
        return Ok(None);
    }
    let material = TlsMaterial::generate(&[]).context("generating TLS certificates")?;
    for (bin, dir) in binaries {
        probe_tls(bin, &material, &dir.join("servers"))?;
    }
    tracing::info!(
        "TLS certificates (removed at exit) in `{}`",
        material.dir().display()
    );
    Ok(Some(material))
}

/// The order of the targets in round `run_index`: A B in even rounds, B A in odd ones (A B B A
/// A B ...), so that a drift that grows steadily over the invocation does not favour the
/// target that always runs first; `compare` pairs each round's runs.
fn round_order(targets: usize, run_index: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..targets).collect();
    if run_index % 2 == 1 {
        order.reverse();
    }
    order
}

/// An id for this invocation: UTC start time and process id (`20261129T234501Z-4242`).
fn invocation_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::round_order;

    #[test]
    fn rounds_alternate_a_b_and_b_a() {
        let order: Vec<Vec<usize>> = (0..4).map(|r| round_order(2, r)).collect();
        assert_eq!(order, vec![vec![0, 1], vec![1, 0], vec![0, 1], vec![1, 0]]);
        assert_eq!(round_order(1, 1), vec![0]);
    }
}
