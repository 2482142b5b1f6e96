//! Lowering: the flags and the config file become a validated [`Plan`] (targets resolved and
//! built, engine probed, every case checked against it) before any server starts; `--mode
//! server` becomes a [`ServePlan`] through the same config and target code. After lowering
//! nothing sees [`RunArgs`].
//!
//! This module orders the lowering and prints the plan (`--dry-run`); [`target`] resolves
//! the targets, [`cases`] checks the cases against the flags, [`running`] handles the
//! running server of a client-only run, [`serve`] lowers `--mode server`.

mod cases;
mod running;
mod serve;
mod target;

use super::args::{EngineChoice, RunArgs};
use crate::config::{self, MachineFacts};
use crate::engine::Engine;
use crate::engine::valkey_benchmark::ValkeyBenchmark;
use crate::exit::usage;
use crate::model::Case;
use anyhow::Result;
use loadgen::Credentials;
use std::path::PathBuf;
use std::time::Duration;

pub(super) use serve::{ServePlan, lower_serve};
pub(super) use target::{ServerSource, Target};

/// A validated plan: nothing has started yet.
pub(super) struct Plan {
    pub targets: Vec<Target>,
    pub cases: Vec<Case>,
    pub runs: u32,
    /// `--seed`: the base of every key seed.
    pub seed: Option<u64>,
    /// `--precision`: rounds until every case is that precise.
    pub precision: Option<super::precise::Precision>,
    pub engine: Engine,
    pub bind: String,
    pub deadline: Option<Duration>,
    pub graphs: bool,
    pub results_dir: PathBuf,
    /// The config's non-fatal findings (already printed), for the records of their cases.
    pub config_warnings: Vec<config::ConfigWarning>,
}

/// The config file, validated against this machine; its warnings are logged.
fn load_config(args: &RunArgs, facts: &MachineFacts) -> Result<config::ConfigFile> {
    let config = config::load(&args.cases.config, facts)?;
    for w in &config.warnings {
        tracing::warn!("{}", w.warning);
    }
    Ok(config)
}

/// Lowers the flags and the config file into a [`Plan`]: targets resolved (and built),
/// engine probed, every case checked against both. Nothing is started.
pub(super) fn lower(args: &RunArgs) -> Result<Plan> {
    if args.cases.runs == 0 {
        return Err(usage(
            "--runs 0 measures nothing; use --runs 1 or more (3+ for statistics)",
        ));
    }
    let precision = precision(args)?;
    let client_only = args.client_only();
    if !client_only && (args.running.cluster || args.running.tls_ca.is_some()) {
        return Err(usage(
            "--cluster and --tls-ca describe a server valkey-perf did not start; use them with --mode client or --use-running-server (for servers it starts, set `cluster_mode` / `tls_mode` in the config)",
        ));
    }
    if client_only
        && (!args.targets.server_bins.is_empty() || args.targets.baseline_server_bin.is_some())
    {
        return Err(usage(
            "--server-bin / --baseline-server-bin start servers, which --use-running-server and --mode client never do; drop one of them",
        ));
    }
    if args.targets.baseline_as_reference
        && args.targets.baseline.is_none()
        && args.targets.baseline_server_bin.is_none()
    {
        return Err(usage(
            "--baseline-as-reference marks the baseline's records; give the reference with --baseline REF (or --baseline-server-bin)",
        ));
    }
    if args.targets.baseline.is_some() && args.targets.baseline_server_bin.is_some() {
        return Err(usage(
            "give either --baseline or --baseline-server-bin, not both",
        ));
    }
    let facts = MachineFacts {
        cpus_may_be_remote: client_only,
        host_facts_are_warnings: false,
        ..MachineFacts::here()
    };
    let mut config = load_config(args, &facts)?;
    cases::filter_scenarios(args, &mut config.cases)?;
    cases::check_memory_mode(args, &config.cases)?;
    cases::check_instructions_mode(args, &mut config.cases)?;
    cases::check_capacity_mode(args, &mut config.cases)?;
    cases::check_sampling(args, &mut config.cases)?;
    cases::check_profiling(args, &mut config.cases);
    let auth = running::credentials(args)?;
    let targets = target::targets(args, &auth, &config.cases)?;
    let engine = engine(args, &targets, &auth)?;
    cases::check_duet(args, &mut config.cases, &targets, &engine, &facts)?;
    let refusals: Vec<String> = config
        .cases
        .iter()
        .filter(|c| !c.memory)
        .filter_map(|c| engine.check(c).err())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !refusals.is_empty() {
        return Err(usage(format!(
            "the benchmark binary cannot run this config exactly as written:\n  - {}",
            refusals.join("\n  - ")
        )));
    }
    if !args.output.dry_run {
        crate::util::ensure_open_files(open_files_needed(&config.cases)).map_err(usage)?;
    }
    if client_only {
        running::check_running_server_cases(args, &config.cases)?;
        if !args.output.dry_run {
            for t in &targets {
                if let ServerSource::Running(external) = &t.server {
                    running::check_answers(external)?;
                }
            }
        }
    }
    if precision.is_some() && (targets.len() != 2 || !targets.iter().any(|t| t.is_baseline)) {
        return Err(usage(format!(
            "--precision narrows the interval of new / baseline, so it needs a baseline and one other target ({} given); add --baseline REF or --baseline-server-bin FILE beside one --commits / --server-bin",
            targets.len()
        )));
    }
    if targets.len() > 1 && args.cases.runs < 3 && precision.is_none() {
        tracing::warn!(
            "--runs {} gives no confidence intervals; use --runs 3 or more to compare targets",
            args.cases.runs
        );
    }
    Ok(Plan {
        targets,
        cases: config.cases,
        runs: args.cases.runs,
        seed: args.cases.seed,
        precision,
        engine,
        bind: "127.0.0.1".into(),
        deadline: args.engine.run_timeout.map(Duration::from_secs),
        graphs: args.output.graphs,
        results_dir: args.output.results_dir.clone(),
        config_warnings: config.warnings,
    })
}

/// `--precision PCT [--max-time DUR]`, checked: PCT a percentage the paired interval can
/// reach, DUR a positive time. The targets are checked once they are known.
fn precision(args: &RunArgs) -> Result<Option<super::precise::Precision>> {
    let c = &args.cases;
    let Some(pct) = c.precision else {
        if let Some(t) = &c.max_time {
            return Err(usage(format!(
                "--max-time {t} bounds the rounds --precision adds; give --precision PCT too, or drop --max-time"
            )));
        }
        return Ok(None);
    };
    if !(0.01..=50.0).contains(&pct) {
        return Err(usage(format!(
            "--precision {pct} is not a goal valkey-perf can aim for; give a half-width in percent between 0.01 and 50 (e.g. --precision 3 for ±3 %)"
        )));
    }
    if args.mode == super::args::Mode::Server {
        return Err(usage(
            "--precision adds measured rounds, which --mode server never runs; drop one of them",
        ));
    }
    let max_time = match &c.max_time {
        None => Duration::from_secs(3600),
        Some(t) => super::precise::parse_duration(t).ok_or_else(|| {
            usage(format!(
                "--max-time `{t}` is not a duration; use seconds (`90`, `90s`), minutes (`20m`) or hours (`1.5h`)"
            ))
        })?,
    };
    Ok(Some(super::precise::Precision { pct, max_time }))
}

/// File descriptors the busiest case needs: a connection per client (per node in a
/// cluster, where each client reaches every node), plus valkey-perf's own files, control
/// connections and instruments.
fn open_files_needed(cases: &[crate::model::Case]) -> u64 {
    const OWN: u64 = 256;
    let per_case = |c: &crate::model::Case| {
        let clients = match c.scenario() {
            Some(s) => s.streams.iter().map(|st| st.clients).sum(),
            None => c.clients,
        };
        let nodes = if c.topology.cluster {
            u64::from(c.topology.cluster_nodes) * (1 + u64::from(c.topology.cluster_replicas))
        } else {
            1
        };
        clients.saturating_mul(nodes)
    };
    cases
        .iter()
        .map(per_case)
        .max()
        .unwrap_or(0)
        .saturating_add(OWN)
}

/// The engine: `--engine`, else valkey-benchmark when its path is given, else the native one.
/// valkey-benchmark is probed here, and refused for a server that needs a password.
fn engine(args: &RunArgs, targets: &[Target], auth: &Option<Credentials>) -> Result<Engine> {
    let choice = args
        .engine
        .engine
        .unwrap_or(if args.engine.valkey_benchmark_path.is_some() {
            EngineChoice::ValkeyBenchmark
        } else {
            EngineChoice::Native
        });
    let engine = match choice {
        EngineChoice::Native => {
            if let Some(p) = &args.engine.valkey_benchmark_path {
                return Err(usage(format!(
                    "--valkey-benchmark-path `{}` is for the valkey-benchmark engine, but --engine native was chosen; drop one of them",
                    p.display()
                )));
            }
            Engine::Native
        }
        EngineChoice::ValkeyBenchmark => Engine::External(
            ValkeyBenchmark::probe(&target::benchmark_binary(args, targets)?)
                .map_err(|e| usage(format!("{e:#}")))?,
        ),
    };
    if let (Engine::External(bench), Some(_)) = (&engine, auth) {
        return Err(usage(format!(
            "the valkey-benchmark engine (`{}`) takes a password only on its command line (`-a`), where every user of this machine can read it in the process list, and reads none from its environment; use --engine native for a server that requires authentication",
            bench.path.display()
        )));
    }
    Ok(engine)
}

pub(super) fn print_plan(plan: &Plan) {
    crate::util::outln(format_args!("targets ({}):", plan.targets.len()));
    for t in &plan.targets {
        let server = match &t.server {
            ServerSource::Binary(p) => format!("{} {}", p.display(), t.server_version),
            ServerSource::Running(t) => format!(
                "running {}{} at {}:{}{}",
                if t.cluster { "cluster" } else { "server" },
                if t.tls.is_some() { " over TLS" } else { "" },
                t.host,
                t.port,
                match &t.auth {
                    None => String::new(),
                    Some(c) => format!(
                        ", authenticated as {}",
                        c.user
                            .as_deref()
                            .map_or("the default user".to_string(), |u| format!("`{u}`"))
                    ),
                }
            ),
        };
        crate::util::outln(format_args!(
            "  {}{} → {} ({server}) results in `{}`",
            if t.is_baseline { "[baseline] " } else { "" },
            t.label,
            t.commit,
            t.dir.display()
        ));
    }
    crate::util::outln(format_args!("{}", plan.engine.describe()));
    if let Some(p) = &plan.precision {
        crate::util::outln(format_args!(
            "rounds until every case's paired interval is narrower than ±{} % (at least {} rounds, no round after {} s)",
            p.pct,
            plan.runs.max(super::precise::MIN_ROUNDS),
            p.max_time.as_secs()
        ));
    }
    crate::util::outln(format_args!(
        "cases: {}, runs per case: {}, total runs: {}",
        plan.cases.len(),
        plan.runs,
        plan.cases.len() as u64 * plan.runs as u64 * plan.targets.len() as u64
    ));
    for (i, c) in plan.cases.iter().enumerate() {
        crate::util::outln(format_args!(
            "  {:>3}  config[{}]  {}",
            i + 1,
            c.config_index,
            c.label()
        ));
        if let Some(s) = c.scenario() {
            for line in crate::commands::config::scenario_lines(s) {
                crate::util::outln(format_args!("         {line}"));
            }
        }
    }
}
