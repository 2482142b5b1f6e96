//! The checks and filters the flags and the config apply to the cases before anything
//! starts: `--groups` / `--scenarios`, memory mode, instructions mode, the sampler,
//! profiling and duets. Each is a usage error naming the flag or key and the way out, except missing
//! profiling tools, which only warn.

use super::{ServerSource, Target};
use crate::commands::run::args::{EngineChoice, RunArgs};
use crate::config::MachineFacts;
use crate::engine::Engine;
use crate::exit::usage;
use crate::model::Case;
use crate::model::case::CpuSet;
use anyhow::Result;

/// Instructions mode (`--instructions`, or `benchmark_mode: "instructions"` in the config):
/// checked before anything starts. valgrind must be installed, the servers must be started
/// here, and the cases must count a fixed number of requests without warm-up.
pub(super) fn check_instructions_mode(args: &RunArgs, cases: &mut [Case]) -> Result<()> {
    if args.cases.instructions {
        for case in cases.iter_mut() {
            case.topology.callgrind = true;
        }
    }
    let Some(first) = cases.iter().find(|c| c.topology.callgrind) else {
        return Ok(());
    };
    if let Some(s) = cases.iter().find_map(|c| c.scenario()) {
        return Err(usage(format!(
            "instructions mode is not available for scenarios yet (scenario `{}`); drop --instructions, or measure built-in `commands`",
            s.name()
        )));
    }
    if args.client_only() {
        return Err(usage(
            "instructions mode runs the servers under callgrind, so valkey-perf must start them; drop --use-running-server / --mode client",
        ));
    }
    if args.engine.engine == Some(EngineChoice::ValkeyBenchmark)
        || args.engine.valkey_benchmark_path.is_some()
    {
        return Err(usage(
            "instructions mode counts requests with the native engine; drop --engine valkey-benchmark / --valkey-benchmark-path",
        ));
    }
    if let Some(bad) = cases
        .iter()
        .filter(|c| c.topology.callgrind)
        .find(|c| c.warmup_secs > 0 || matches!(c.mode, crate::model::BenchmarkMode::Duration(_)))
    {
        return Err(usage(format!(
            "config[{}] ({}): instructions mode counts a fixed number of requests without warm-up; use `requests` and `warmup` 0",
            bad.config_index,
            bad.label()
        )));
    }
    crate::server::callgrind::check_installed().map_err(|e| usage(format!("{e:#}")))?;
    if let Err(why) = crate::server::callgrind::fixed_entropy() {
        tracing::warn!(
            "instructions mode: the servers cannot be given a fixed hash seed here ({why}); each draws its own, so the count per request varies by about 0.3 % from run to run (run as root to fix it)"
        );
    }
    tracing::info!(
        "instructions mode: servers run under callgrind (about 50 times slower), e.g. {}",
        first.label()
    );
    Ok(())
}

/// Capacity mode (`--capacity`, or `benchmark_mode: "capacity"` in the config): checked
/// before anything starts. The ladder's steps are fixed-rate runs of the native engine, each
/// `duration` seconds; `--capacity` gives every built-in case the automatic ladder under the
/// default SLO (p99 ≤ 1 ms).
pub(super) fn check_capacity_mode(args: &RunArgs, cases: &mut [Case]) -> Result<()> {
    use crate::model::capacity::{CapacitySpec, SloBound, SloPercentile};
    if args.cases.capacity {
        if args.cases.instructions {
            return Err(usage(
                "--capacity times fixed rates and --instructions counts instructions under callgrind; run them separately",
            ));
        }
        for case in cases
            .iter_mut()
            .filter(|c| !c.memory && c.scenario().is_none() && c.capacity.is_none())
        {
            case.capacity = Some(CapacitySpec {
                rates: Vec::new(),
                slo: vec![SloBound {
                    percentile: SloPercentile::P99,
                    ms: 1.0,
                }],
            });
        }
    }
    let Some(first) = cases.iter().find(|c| c.capacity.is_some()) else {
        return Ok(());
    };
    if args.engine.engine == Some(EngineChoice::ValkeyBenchmark)
        || args.engine.valkey_benchmark_path.is_some()
    {
        return Err(usage(
            "capacity mode runs fixed open-loop rates with the native engine; drop --engine valkey-benchmark / --valkey-benchmark-path",
        ));
    }
    let capacity = || cases.iter().filter(|c| c.capacity.is_some());
    if let Some(bad) =
        capacity().find(|c| matches!(c.mode, crate::model::BenchmarkMode::Requests(_)))
    {
        return Err(usage(format!(
            "config[{}] ({}): each capacity step runs for `duration` seconds; use `duration` (e.g. 5) instead of `requests`",
            bad.config_index,
            bad.label()
        )));
    }
    if let Some(bad) = capacity().find(|c| c.topology.callgrind) {
        return Err(usage(format!(
            "config[{}] ({}): capacity mode times fixed rates, which callgrind would slow about 50 times; run instructions mode separately",
            bad.config_index,
            bad.label()
        )));
    }
    if let Some(bad) = capacity().find(|c| c.profiling.is_some()) {
        return Err(usage(format!(
            "config[{}] ({}): a profiled run measures one closed-loop window; profile in a config object without capacity mode",
            bad.config_index,
            bad.label()
        )));
    }
    tracing::info!(
        "capacity mode: a ladder of fixed rates per case under {}, e.g. {}",
        first
            .capacity
            .as_ref()
            .map(|c| c.slo_text())
            .unwrap_or_default(),
        first.label()
    );
    Ok(())
}

/// `--groups` / `--scenarios`: keeps the scenario cases they name (basic-shape cases stay). A
/// name that matches no scenario is an error listing the ones there are.
pub(super) fn filter_scenarios(args: &RunArgs, cases: &mut Vec<Case>) -> Result<()> {
    let groups: Vec<&str> = args
        .cases
        .groups
        .iter()
        .map(|g| g.trim())
        .filter(|g| !g.is_empty())
        .collect();
    let ids: Vec<&str> = args
        .cases
        .scenarios
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if groups.is_empty() && ids.is_empty() {
        return Ok(());
    }
    let scenarios: Vec<&crate::model::Scenario> =
        cases.iter().filter_map(|c| c.scenario()).collect();
    if scenarios.is_empty() {
        return Err(usage(format!(
            "--groups / --scenarios pick scenarios, but `{}` has no `test_groups`; drop them",
            args.cases.config.display()
        )));
    }
    let mut known_groups: Vec<String> = scenarios.iter().map(|s| s.group.to_string()).collect();
    known_groups.dedup();
    let mut known_ids: Vec<String> = scenarios.iter().map(|s| s.id.clone()).collect();
    known_ids.sort();
    known_ids.dedup();
    for g in &groups {
        if !known_groups.iter().any(|k| k == g) {
            return Err(usage(format!(
                "--groups: no group `{g}` in `{}`; its groups are {}",
                args.cases.config.display(),
                known_groups.join(", ")
            )));
        }
    }
    for id in &ids {
        if !scenarios.iter().any(|s| s.id == *id || s.name() == *id) {
            return Err(usage(format!(
                "--scenarios: no scenario `{id}` in `{}`; its scenarios are {}",
                args.cases.config.display(),
                known_ids.join(", ")
            )));
        }
    }
    cases.retain(|c| match c.scenario() {
        None => true,
        Some(s) => {
            (groups.is_empty() || groups.contains(&s.group.to_string().as_str()))
                && (ids.is_empty() || ids.iter().any(|id| s.id == *id || s.name() == *id))
        }
    });
    if cases.is_empty() {
        return Err(usage(
            "--groups and --scenarios together match no scenario; check that the scenarios belong to those groups",
        ));
    }
    Ok(())
}

/// Memory mode (`benchmark_mode: "memory"`): checked before anything starts. It needs a
/// fresh server started here (a running one holds other data and allocations), and does not
/// mix with instructions mode.
pub(super) fn check_memory_mode(args: &RunArgs, cases: &[Case]) -> Result<()> {
    let Some(first) = cases.iter().find(|c| c.memory) else {
        return Ok(());
    };
    if args.client_only() {
        return Err(usage(format!(
            "config[{}]: memory mode measures a fresh server, so valkey-perf must start it; drop --use-running-server / --mode client",
            first.config_index
        )));
    }
    if args.cases.instructions {
        return Err(usage(format!(
            "config[{}]: memory mode times nothing, so --instructions has nothing to count there; run the two modes separately",
            first.config_index
        )));
    }
    Ok(())
}

/// `--sample` turns the 1 Hz sampler on for every timed built-in case; it never runs with
/// instructions mode, whose window would count the sampler's commands.
pub(super) fn check_sampling(args: &RunArgs, cases: &mut [Case]) -> Result<()> {
    if args.cases.sample {
        for case in cases
            .iter_mut()
            .filter(|c| !c.memory && c.scenario().is_none())
        {
            case.sampling = true;
        }
    }
    if let Some(c) = cases.iter().find(|c| c.sampling && c.topology.callgrind) {
        return Err(usage(format!(
            "config[{}] ({}): the sampler's INFO commands would count in instructions mode's window; drop --sample / `per_second_sampling` or instructions mode",
            c.config_index,
            c.label()
        )));
    }
    Ok(())
}

/// `profiling_sets`: `perf` must be installed and allowed to attach, and the servers must be
/// started here. Otherwise a warning says why and the benchmark goes on without flamegraphs.
pub(super) fn check_profiling(args: &RunArgs, cases: &mut [Case]) {
    if !cases.iter().any(|c| c.profiling.is_some()) {
        return;
    }
    let why = if args.client_only() {
        Some("profiling attaches `perf` to the server processes valkey-perf starts, and this run drives a running server".to_string())
    } else {
        crate::server::perf::check_available()
            .err()
            .map(|e| format!("{e:#}"))
    };
    if let Some(why) = why {
        tracing::warn!("no flamegraphs: {why}; the benchmark goes on without them");
        for c in cases.iter_mut() {
            c.profiling = None;
        }
    }
}

/// `--duet` / `duet: true`: every such case must be able to run its two targets at once, and
/// gets the two CPU sets it crosses (`server_cpu_range` and `client_cpu_range`, or the first
/// two CPUs online). Refused with the reason, before anything starts: other than two targets
/// whose servers valkey-perf starts, the valkey-benchmark engine (one process per target, no
/// common start), memory and instructions modes (nothing a neighbour could disturb),
/// scenarios, `requests` (the loads would not stop together), CPU ranges that overlap or are
/// given alone.
pub(super) fn check_duet(
    args: &RunArgs,
    cases: &mut [Case],
    targets: &[Target],
    engine: &Engine,
    facts: &MachineFacts,
) -> Result<()> {
    if args.cases.duet {
        if args.cases.instructions {
            return Err(usage(
                "--duet times two targets at once, --instructions counts instructions, which a neighbour does not disturb; drop one of them",
            ));
        }
        for case in cases.iter_mut() {
            case.duet = true;
        }
    }
    let Some(first) = cases.iter().find(|c| c.duet) else {
        return Ok(());
    };
    let from = if args.cases.duet {
        "--duet".to_string()
    } else {
        format!("config[{}] `duet: true`", first.config_index)
    };
    let whole_run = if targets.len() != 2 {
        Some(format!(
            "{from} runs two targets at once, and this run has {}; give a baseline and one target (e.g. --baseline-server-bin A --server-bin B)",
            targets.len()
        ))
    } else if targets
        .iter()
        .any(|t| matches!(t.server, ServerSource::Running(_)))
    {
        Some(format!(
            "{from} starts both targets' servers and pins them crossed; a running server cannot be pinned or started with the other; drop --use-running-server / --mode client"
        ))
    } else if let Engine::External(b) = engine {
        Some(format!(
            "{from} needs the native engine, which runs both loads behind one start gate and stops them together; `{}` runs one process per target; use --engine native",
            b.path.display()
        ))
    } else {
        None
    };
    if let Some(why) = whole_run {
        if args.cases.duet {
            return Err(usage(why));
        }
        // A config's `duet: true` says how to compare two targets; a run that is not such a
        // comparison (one target, a running server, valkey-benchmark) runs its cases solo.
        tracing::info!("running solo: {why}");
        for case in cases.iter_mut() {
            case.duet = false;
        }
        return Ok(());
    }
    for case in cases.iter_mut().filter(|c| c.duet) {
        let why = if case.memory {
            Some("memory mode times no load")
        } else if case.topology.callgrind {
            Some("instructions mode counts instructions, which a neighbour does not disturb")
        } else if case.capacity.is_some() {
            Some(
                "a capacity ladder judges each target's own latency, which the other target's load would distort",
            )
        } else if case.scenario().is_some() {
            Some("scenarios are not available in duet runs yet")
        } else if matches!(case.mode, crate::model::BenchmarkMode::Requests(_)) {
            Some(
                "with `requests` the faster target finishes first and the other runs on alone; give `duration`",
            )
        } else {
            None
        };
        if let Some(why) = why {
            return Err(usage(format!(
                "config[{}] ({}): cannot run as a duet: {why}",
                case.config_index,
                case.label()
            )));
        }
        let (x, y) = duet_cpus(case, facts).map_err(|why| {
            usage(format!(
                "config[{}] ({}): cannot run as a duet: {why}",
                case.config_index,
                case.label()
            ))
        })?;
        case.topology.server_cpus = Some(x);
        case.client_cpus = Some(y);
    }
    Ok(())
}

/// The two CPU sets a duet crosses: the case's server and client ranges, or the first two
/// CPUs online.
fn duet_cpus(case: &Case, facts: &MachineFacts) -> std::result::Result<(CpuSet, CpuSet), String> {
    match (&case.topology.server_cpus, &case.client_cpus) {
        (Some(s), Some(c)) => {
            if s.cpus.intersection(&c.cpus).next().is_some() {
                return Err(format!(
                    "`server_cpu_range` `{}` and `client_cpu_range` `{}` overlap; a duet gives each of the two sets one target's server and the other's client, so they must be disjoint",
                    s.spec, c.spec
                ));
            }
            Ok((s.clone(), c.clone()))
        }
        (None, None) => {
            let online: Vec<usize> = facts
                .online_cpus
                .as_ref()
                .map(|o| o.cpus.iter().copied().collect())
                .unwrap_or_else(|| (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect());
            let [a, b, ..] = online[..] else {
                return Err(format!(
                    "it needs two CPUs (one per target's server, shared with the other's client), and this machine has {}",
                    online.len()
                ));
            };
            let one = |c: usize| CpuSet::parse(&c.to_string()).expect("a CPU id parses");
            Ok((one(a), one(b)))
        }
        _ => Err(
            "give both `server_cpu_range` and `client_cpu_range` (the two sets the targets cross over) or neither (the first two CPUs)"
                .to_string(),
        ),
    }
}
