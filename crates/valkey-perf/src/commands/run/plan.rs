//! Lowering: the flags and the config file become a validated [`Plan`] (targets resolved and
//! built, engine probed, every case checked against it) before any server starts; `--mode
//! server` becomes a [`ServePlan`] through the same config and target code. After lowering
//! nothing sees [`RunArgs`].

use super::args::{EngineChoice, Mode, RunArgs};
use crate::config::{self, MachineFacts};
use crate::engine::Engine;
use crate::engine::valkey_benchmark::ValkeyBenchmark;
use crate::exit::usage;
use crate::model::Case;
use crate::process::run_bounded;
use crate::server::control::{AuthError, Credentials};
use crate::server::tls::ClientTls;
use crate::server::{Deployment, ExternalTarget};
use crate::source::{self, RepoSource, SourceOptions};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a target's server comes from.
#[derive(Debug, Clone)]
pub(super) enum ServerSource {
    Binary(PathBuf),
    Running(ExternalTarget),
}

/// One thing being benchmarked, fully resolved.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// As the user typed it (ref, binary path).
    pub label: String,
    /// `label` is a git ref (`--commits`, `--baseline`): its results get a `results/<ref>`
    /// link, as upstream's workflows expect.
    pub is_git_ref: bool,
    pub commit: String,
    pub timestamp: String,
    pub repository: Option<String>,
    pub server: ServerSource,
    pub server_version: String,
    /// A benchmark binary that came with this target (a source build).
    pub benchmark: Option<PathBuf>,
    pub dir: PathBuf,
    pub is_baseline: bool,
}

/// A validated plan: nothing has started yet.
pub(super) struct Plan {
    pub targets: Vec<Target>,
    pub cases: Vec<Case>,
    pub runs: u32,
    pub engine: Engine,
    pub bind: String,
    pub deadline: Option<Duration>,
    pub graphs: bool,
    pub results_dir: PathBuf,
    /// The config's non-fatal findings (already printed), for the records of their cases.
    pub config_warnings: Vec<config::ConfigWarning>,
}

/// Parses `Valkey server v=9.1.2 sha=...` into `9.1.2`.
pub fn parse_server_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .map(str::to_string)
}

fn short_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().take(6).map(|b| format!("{b:02x}")).collect())
}

fn iso_utc(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A prebuilt server binary as a target: its `--version` and a content hash name it.
fn binary_target(path: &Path, results_dir: &Path, is_baseline: bool) -> Result<Target> {
    let meta = std::fs::metadata(path).map_err(|e| {
        usage(format!(
            "server binary `{}` cannot be used: {e}; pass the path of a valkey-server executable",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(usage(format!(
            "server binary `{}` is not a file; pass the path of a valkey-server executable",
            path.display()
        )));
    }
    let mut cmd = std::process::Command::new(path);
    cmd.arg("--version");
    let done = run_bounded(cmd, Duration::from_secs(10), None, &mut || false).map_err(|e| {
        usage(format!(
            "server binary `{}` does not run: {e}; pass a valkey-server built for this machine",
            path.display()
        ))
    })?;
    let version = parse_server_version(&done.stdout).ok_or_else(|| {
        usage(format!(
            "`{} --version` printed {:?}, not a valkey-server version; pass a valkey-server binary",
            path.display(),
            done.stdout.trim()
        ))
    })?;
    let hash = short_hash(path)?;
    let commit = format!("{version}-{hash}");
    Ok(Target {
        label: path.display().to_string(),
        is_git_ref: false,
        dir: results_dir.join(&commit),
        commit,
        timestamp: meta
            .modified()
            .map(iso_utc)
            .unwrap_or_else(|_| "unknown".into()),
        repository: None,
        server: ServerSource::Binary(path.to_path_buf()),
        server_version: version,
        benchmark: None,
        is_baseline,
    })
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// The benchmark binary: the flag, else one a source build produced, else `valkey-benchmark`
/// or `redis-benchmark` on PATH.
fn benchmark_binary(args: &RunArgs, targets: &[Target]) -> Result<PathBuf> {
    if let Some(p) = &args.valkey_benchmark_path {
        if !p.is_file() {
            return Err(usage(format!(
                "--valkey-benchmark-path `{}` is not a file; pass the path of a valkey-benchmark binary",
                p.display()
            )));
        }
        return Ok(p.clone());
    }
    if let Some(p) = targets.iter().find_map(|t| t.benchmark.clone()) {
        return Ok(p);
    }
    find_in_path("valkey-benchmark")
        .or_else(|| find_in_path("redis-benchmark"))
        .ok_or_else(|| {
            usage(
                "no valkey-benchmark found: pass --valkey-benchmark-path, benchmark a --commits build, or install one (Debian: apt-get install redis-tools)",
            )
        })
}

/// The config file, validated against this machine; its warnings are logged.
fn load_config(args: &RunArgs, facts: &MachineFacts) -> Result<config::ConfigFile> {
    let config = config::load(&args.config, facts)?;
    for w in &config.warnings {
        tracing::warn!("{}", w.warning);
    }
    Ok(config)
}

/// Instructions mode (`--instructions`, or `benchmark_mode: "instructions"` in the config):
/// checked before anything starts. valgrind must be installed, the servers must be started
/// here, and the cases must count a fixed number of requests without warm-up.
fn check_instructions_mode(args: &RunArgs, cases: &mut [Case], client_only: bool) -> Result<()> {
    if args.instructions {
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
    if client_only {
        return Err(usage(
            "instructions mode runs the servers under callgrind, so valkey-perf must start them; drop --use-running-server / --mode client",
        ));
    }
    if args.engine == Some(EngineChoice::ValkeyBenchmark) || args.valkey_benchmark_path.is_some() {
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
    tracing::info!(
        "instructions mode: servers run under callgrind (about 50 times slower), e.g. {}",
        first.label()
    );
    Ok(())
}

/// `--groups` / `--scenarios`: keeps the scenario cases they name (basic-shape cases stay). A
/// name that matches no scenario is an error listing the ones there are.
fn filter_scenarios(args: &RunArgs, cases: &mut Vec<Case>) -> Result<()> {
    let groups: Vec<&str> = args
        .groups
        .iter()
        .map(|g| g.trim())
        .filter(|g| !g.is_empty())
        .collect();
    let ids: Vec<&str> = args
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
            args.config.display()
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
                args.config.display(),
                known_groups.join(", ")
            )));
        }
    }
    for id in &ids {
        if !scenarios.iter().any(|s| s.id == *id || s.name() == *id) {
            return Err(usage(format!(
                "--scenarios: no scenario `{id}` in `{}`; its scenarios are {}",
                args.config.display(),
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
fn check_memory_mode(args: &RunArgs, cases: &[Case], client_only: bool) -> Result<()> {
    let Some(first) = cases.iter().find(|c| c.memory) else {
        return Ok(());
    };
    if client_only {
        return Err(usage(format!(
            "config[{}]: memory mode measures a fresh server, so valkey-perf must start it; drop --use-running-server / --mode client",
            first.config_index
        )));
    }
    if args.instructions {
        return Err(usage(format!(
            "config[{}]: memory mode times nothing, so --instructions has nothing to count there; run the two modes separately",
            first.config_index
        )));
    }
    Ok(())
}

/// `--sample` turns the 1 Hz sampler on for every timed built-in case; it never runs with
/// instructions mode, whose window would count the sampler's commands.
fn check_sampling(args: &RunArgs, cases: &mut [Case]) -> Result<()> {
    if args.sample {
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
fn check_profiling(cases: &mut [Case], client_only: bool) {
    if !cases.iter().any(|c| c.profiling.is_some()) {
        return;
    }
    let why = if client_only {
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

/// Lowers the flags and the config file into a [`Plan`]: targets resolved (and built),
/// engine probed, every case checked against both. Nothing is started.
pub(super) fn lower(args: &RunArgs) -> Result<Plan> {
    if args.runs == 0 {
        return Err(usage(
            "--runs 0 measures nothing; use --runs 1 or more (3+ for statistics)",
        ));
    }
    let client_only = args.use_running_server || args.mode == Mode::Client;
    if !client_only && (args.cluster || args.tls_ca.is_some()) {
        return Err(usage(
            "--cluster and --tls-ca describe a server valkey-perf did not start; use them with --mode client or --use-running-server (for servers it starts, set `cluster_mode` / `tls_mode` in the config)",
        ));
    }
    if client_only && (!args.server_bins.is_empty() || args.baseline_server_bin.is_some()) {
        return Err(usage(
            "--server-bin / --baseline-server-bin start servers, which --use-running-server and --mode client never do; drop one of them",
        ));
    }
    if args.baseline.is_some() && args.baseline_server_bin.is_some() {
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
    filter_scenarios(args, &mut config.cases)?;
    check_memory_mode(args, &config.cases, client_only)?;
    check_instructions_mode(args, &mut config.cases, client_only)?;
    check_sampling(args, &mut config.cases)?;
    check_profiling(&mut config.cases, client_only);
    let auth = credentials(args, client_only)?;

    let mut targets = Vec::new();
    if client_only {
        let label = args
            .commits
            .first()
            .cloned()
            .unwrap_or_else(|| "running-server".into());
        let dir_name = label.replace(['/', ' '], "_");
        targets.push(Target {
            dir: args.results_dir.join(&dir_name),
            commit: label.clone(),
            label,
            is_git_ref: false,
            timestamp: iso_utc(std::time::SystemTime::now()),
            repository: args.repository.clone(),
            server: ServerSource::Running(external_target(args, auth.clone())?),
            server_version: String::new(),
            benchmark: None,
            is_baseline: false,
        });
    } else {
        if let Some(bin) = &args.baseline_server_bin {
            targets.push(binary_target(bin, &args.results_dir, true)?);
        }
        for bin in &args.server_bins {
            targets.push(binary_target(bin, &args.results_dir, false)?);
        }
        let mut refs: Vec<(String, bool)> = Vec::new();
        if let Some(b) = &args.baseline {
            refs.push((b.clone(), true));
        }
        refs.extend(args.commits.iter().map(|c| (c.clone(), false)));
        if targets.is_empty() && refs.is_empty() {
            refs.push(("HEAD".into(), false));
        }
        if !refs.is_empty() {
            targets.extend(source_targets(args, &refs, &config.cases)?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for t in &targets {
        if !seen.insert(t.dir.clone()) {
            return Err(usage(format!(
                "two targets would share `{}` (the same binary or commit given twice); give each target once",
                t.dir.display()
            )));
        }
    }

    let choice = args
        .engine
        .unwrap_or(if args.valkey_benchmark_path.is_some() {
            EngineChoice::ValkeyBenchmark
        } else {
            EngineChoice::Native
        });
    let engine = match choice {
        EngineChoice::Native => {
            if let Some(p) = &args.valkey_benchmark_path {
                return Err(usage(format!(
                    "--valkey-benchmark-path `{}` is for the valkey-benchmark engine, but --engine native was chosen; drop one of them",
                    p.display()
                )));
            }
            Engine::Native
        }
        EngineChoice::ValkeyBenchmark => Engine::External(
            ValkeyBenchmark::probe(&benchmark_binary(args, &targets)?)
                .map_err(|e| usage(format!("{e:#}")))?,
        ),
    };
    if let (Engine::External(bench), Some(_)) = (&engine, &auth) {
        return Err(usage(format!(
            "the valkey-benchmark engine (`{}`) takes a password only on its command line (`-a`), where every user of this machine can read it in the process list, and reads none from its environment; use --engine native for a server that requires authentication",
            bench.path.display()
        )));
    }
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
    if client_only {
        check_running_server_cases(args, &config.cases)?;
        if !args.dry_run {
            for t in &targets {
                if let ServerSource::Running(external) = &t.server {
                    check_credentials(external)?;
                }
            }
        }
    }
    if targets.len() > 1 && args.runs < 3 {
        tracing::warn!(
            "--runs {} gives no confidence intervals; use --runs 3 or more to compare targets",
            args.runs
        );
    }
    Ok(Plan {
        targets,
        cases: config.cases,
        runs: args.runs,
        engine,
        bind: "127.0.0.1".into(),
        deadline: args.run_timeout.map(Duration::from_secs),
        graphs: args.graphs,
        results_dir: args.results_dir.clone(),
        config_warnings: config.warnings,
    })
}

/// The environment variable `run` (and `loadgen`) read the password from.
pub const PASSWORD_ENV: &str = "VALKEY_PERF_PASSWORD";

/// The credentials for a running server: `--password`, else `VALKEY_PERF_PASSWORD`, with
/// `--user`. Servers valkey-perf starts need none: the flags are refused there, the variable
/// is ignored (it may be set for other commands).
fn credentials(args: &RunArgs, client_only: bool) -> Result<Option<Credentials>> {
    let from_env = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    if !client_only {
        if args.user.is_some() || args.password.is_some() {
            return Err(usage(
                "--user and --password authenticate to a server valkey-perf did not start; use them with --use-running-server or --mode client (servers valkey-perf starts need no password)",
            ));
        }
        if from_env.is_some() {
            tracing::debug!("{PASSWORD_ENV} is set but ignored: valkey-perf starts the servers");
        }
        return Ok(None);
    }
    let password = match (&args.password, from_env) {
        (Some(p), _) => {
            tracing::warn!(
                "--password is visible to every user of this machine in the process list; set {PASSWORD_ENV} instead"
            );
            Some(p.clone())
        }
        (None, env) => env,
    };
    match (password, &args.user) {
        (None, Some(user)) => Err(usage(format!(
            "--user `{user}` needs a password: set {PASSWORD_ENV} (or pass --password)"
        ))),
        (None, None) => Ok(None),
        (Some(password), user) => Ok(Some(Credentials {
            user: user.clone(),
            password,
        })),
    }
}

/// Checks the credentials against the running server before anything starts: wrong or
/// missing ones are a usage error (exit 2). A server that does not answer is left to the
/// runs, which report it per run as before.
fn check_credentials(external: &ExternalTarget) -> Result<()> {
    match Deployment::connect(external) {
        Ok(_) => Ok(()),
        Err(e) => match e.chain().find_map(|c| c.downcast_ref::<AuthError>()) {
            Some(auth) => Err(usage(auth.message.clone())),
            None => {
                tracing::debug!("the running server did not answer before the run: {e:#}");
                Ok(())
            }
        },
    }
}

/// The running server `--mode client` / `--use-running-server` drives.
fn external_target(args: &RunArgs, auth: Option<Credentials>) -> Result<ExternalTarget> {
    for (flag, file) in [
        ("--tls-ca", &args.tls_ca),
        ("--tls-cert", &args.tls_cert),
        ("--tls-key", &args.tls_key),
    ] {
        if let Some(f) = file {
            if !f.is_file() {
                return Err(usage(format!(
                    "{flag} `{}` is not a file; pass the file `--mode server` printed (copy it from the server machine)",
                    f.display()
                )));
            }
        }
    }
    Ok(ExternalTarget {
        host: args.target_ip.clone(),
        port: args.port,
        cluster: args.cluster,
        tls: args.tls_ca.as_ref().map(|ca| ClientTls {
            ca: ca.clone(),
            cert: args.tls_cert.clone(),
            key: args.tls_key.clone(),
        }),
        auth,
    })
}

/// A running server has one topology; every case must describe it, so records never claim a
/// topology that was not measured.
fn check_running_server_cases(args: &RunArgs, cases: &[Case]) -> Result<()> {
    for case in cases {
        let t = &case.topology;
        if t.cluster != args.cluster {
            return Err(usage(format!(
                "config[{}] has `cluster_mode: {}` but the running server at `{}:{}` is driven {} --cluster; {}",
                case.config_index,
                t.cluster,
                args.target_ip,
                args.port,
                if args.cluster { "with" } else { "without" },
                if t.cluster {
                    "add --cluster (the server must be a cluster)"
                } else {
                    "drop --cluster or set `cluster_mode` in the config"
                }
            )));
        }
        if t.tls != args.tls_ca.is_some() {
            return Err(usage(format!(
                "config[{}] has `tls_mode: {}` but {}; {}",
                case.config_index,
                t.tls,
                if t.tls {
                    "no --tls-ca was given"
                } else {
                    "--tls-ca was given"
                },
                if t.tls {
                    "pass --tls-ca with the CA certificate `--mode server` printed"
                } else {
                    "drop --tls-ca or set `tls_mode` in the config"
                }
            )));
        }
    }
    Ok(())
}

/// Resolves refs (exit 2 on an unknown one) and builds them (exit 3 on a failed build).
fn source_targets(args: &RunArgs, refs: &[(String, bool)], cases: &[Case]) -> Result<Vec<Target>> {
    let cache_dir = match &args.build_dir {
        Some(d) => d.clone(),
        None => source::default_cache_dir()?,
    };
    let repo = RepoSource::parse(&args.valkey_repo)?;
    let mut opts = SourceOptions::new(repo, cache_dir);
    opts.valkey_path = args.valkey_path.clone();
    opts.no_build_cache = args.no_build_cache;
    let names: Vec<String> = refs.iter().map(|(r, _)| r.clone()).collect();
    let progress = |line: &str| tracing::info!("{line}");
    let resolved = source::resolve(&opts, &names, &progress)?;
    if args.dry_run {
        return Ok(resolved
            .iter()
            .zip(refs)
            .map(|(c, (_, base))| Target {
                label: c.git_ref.clone(),
                is_git_ref: true,
                commit: c.sha.clone(),
                timestamp: c.commit_time.clone(),
                repository: args.repository.clone().or(c.repository.clone()),
                server: ServerSource::Binary(PathBuf::from("(not built in --dry-run)")),
                server_version: String::new(),
                benchmark: None,
                dir: args.results_dir.join(&c.sha),
                is_baseline: *base,
            })
            .collect());
    }
    let need_tls = cases.iter().any(|c| c.topology.tls);
    let mut out = Vec::new();
    for (commit, (_, is_baseline)) in resolved.iter().zip(refs) {
        let dir = args.results_dir.join(&commit.sha);
        let built = source::build(&opts, commit, need_tls, &dir.join("build.log"), &progress)?;
        let mut cmd = std::process::Command::new(&built.server);
        cmd.arg("--version");
        let version = run_bounded(cmd, Duration::from_secs(10), None, &mut || false)
            .ok()
            .and_then(|d| parse_server_version(&d.stdout))
            .unwrap_or_else(|| "unknown".into());
        out.push(Target {
            label: commit.git_ref.clone(),
            is_git_ref: true,
            commit: commit.sha.clone(),
            timestamp: commit.commit_time.clone(),
            repository: args.repository.clone().or(commit.repository.clone()),
            server: ServerSource::Binary(built.server.clone()),
            server_version: version,
            benchmark: built.benchmark.clone(),
            dir,
            is_baseline: *is_baseline,
        });
    }
    Ok(out)
}

pub(super) fn print_plan(plan: &Plan) {
    println!("targets ({}):", plan.targets.len());
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
        println!(
            "  {}{} → {} ({server}) results in `{}`",
            if t.is_baseline { "[baseline] " } else { "" },
            t.label,
            t.commit,
            t.dir.display()
        );
    }
    println!("{}", plan.engine.describe());
    println!(
        "cases: {}, runs per case: {}, total runs: {}",
        plan.cases.len(),
        plan.runs,
        plan.cases.len() as u64 * plan.runs as u64 * plan.targets.len() as u64
    );
    for (i, c) in plan.cases.iter().enumerate() {
        println!("  {:>3}  config[{}]  {}", i + 1, c.config_index, c.label());
        if let Some(s) = c.scenario() {
            for line in crate::commands::config::scenario_lines(s) {
                println!("         {line}");
            }
        }
    }
}

/// `--mode server`, lowered: one server binary and the cases whose servers it starts.
pub(super) struct ServePlan {
    pub target: Target,
    pub binary: PathBuf,
    /// Case numbers as `--dry-run` lists them (from 1), with their cases.
    pub cases: Vec<(usize, Case)>,
    /// The address clients on other machines use (advertised, named in the certificate).
    pub host: String,
    /// The port of the first standalone server.
    pub port: u16,
}

/// Lowers `--mode server`: the chosen cases (the first by default) and the one target.
pub(super) fn lower_serve(args: &RunArgs) -> Result<ServePlan> {
    if args.use_running_server
        || args.cluster
        || args.tls_ca.is_some()
        || args.user.is_some()
        || args.password.is_some()
    {
        return Err(usage(
            "--mode server starts its own servers; drop --use-running-server, --cluster, --tls-ca, --user and --password (they describe a server valkey-perf did not start)",
        ));
    }
    let config = load_config(args, &MachineFacts::here())?;
    let picks: Vec<usize> = if args.cases.is_empty() {
        vec![1]
    } else {
        args.cases.clone()
    };
    for &n in &picks {
        if n == 0 || n > config.cases.len() {
            return Err(usage(format!(
                "--case {n} is not a case of `{}`, which has {} (numbered from 1; list them with --dry-run)",
                args.config.display(),
                config.cases.len()
            )));
        }
    }
    let cases: Vec<Case> = picks.iter().map(|&n| config.cases[n - 1].clone()).collect();
    let target = match (
        args.server_bins.as_slice(),
        &args.baseline_server_bin,
        &args.baseline,
        args.commits.as_slice(),
    ) {
        ([bin], None, None, []) => binary_target(bin, &args.results_dir, false)?,
        ([], None, None, refs) if refs.len() <= 1 => {
            let r = refs.first().cloned().unwrap_or_else(|| "HEAD".into());
            source_targets(args, &[(r, false)], &cases)?.remove(0)
        }
        _ => {
            return Err(usage(
                "--mode server starts one target; give one --server-bin or one --commits ref (no baseline)",
            ));
        }
    };
    let ServerSource::Binary(binary) = &target.server else {
        bail!("--mode server needs a server binary");
    };
    Ok(ServePlan {
        binary: binary.clone(),
        target,
        cases: picks.into_iter().zip(cases).collect(),
        host: args.target_ip.clone(),
        port: args.port,
    })
}
