//! `valkey-perf run`: targets × config → results (SPEC §5).
//!
//! Lowering first: flags and the config file become a validated [`Plan`] (targets resolved,
//! engine probed, every case checked against it) before any server starts. Then the plan runs:
//! case by case, run by run, target by target (A B A B ...), a fresh server per run, records
//! written after every run.

use super::logging::{self, Progress};
use crate::config::{self, MachineFacts};
use crate::engine::seed::{self, SeedPlan};
use crate::engine::valkey_benchmark::ValkeyBenchmark;
use crate::engine::{Engine, LoadTarget, Measurement, native};
use crate::exit::{Code, usage};
use crate::model::{BenchmarkMode, Case, Record};
use crate::results::{MetricsFile, env};
use crate::server::process::{interrupted, run_bounded};
use crate::server::standalone::probe_tls;
use crate::server::tls::{ClientTls, ServerTls, TlsMaterial};
use crate::server::{Deployment, ExternalTarget, StartOptions};
use crate::target::{self, RepoSource, SourceOptions};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Start servers and drive load from this machine.
    Both,
    /// Start the servers of the config and keep them up until Ctrl-C.
    Server,
    /// Drive load against a server at --target-ip that this machine did not start.
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// valkey-perf's own load generator (the default unless --valkey-benchmark-path is given).
    Native,
    /// An external valkey-benchmark (or redis-benchmark) binary.
    ValkeyBenchmark,
}

/// Flags of `valkey-perf run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Where servers run: `both` (start and drive here), `server` (start and wait), `client`
    /// (drive --target-ip).
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    pub mode: Mode,
    /// Address of the server in --mode client and with --use-running-server; in --mode server,
    /// the address clients on other machines use to reach this one (advertised by cluster
    /// nodes, named in the TLS certificate).
    #[arg(long, default_value = "127.0.0.1")]
    pub target_ip: String,
    /// Port of the server in --mode client and with --use-running-server; in --mode server,
    /// the port of the (first) standalone server.
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// --mode client / --use-running-server: the server at --target-ip is a cluster (a seed
    /// node of it).
    #[arg(long)]
    pub cluster: bool,
    /// --mode client / --use-running-server: the server speaks TLS; trust this CA certificate
    /// (the path `--mode server` prints).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate to present to a TLS server (with --tls-key and --tls-ca).
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// --mode server: start the servers of these cases (numbered from 1 as `--dry-run` lists
    /// them; repeatable). Default: the first case.
    #[arg(long = "case", value_name = "N")]
    pub cases: Vec<usize>,
    /// Config file: a JSON array of config objects.
    #[arg(long, default_value = "configs/benchmark-configs.json")]
    pub config: PathBuf,
    /// Git refs to build and benchmark (HEAD, branch, tag, short or full SHA).
    #[arg(long, num_args = 1..)]
    pub commits: Vec<String>,
    /// Git ref of the baseline the other targets are compared against.
    #[arg(long)]
    pub baseline: Option<String>,
    /// Prebuilt valkey-server binary to benchmark as is (repeatable).
    #[arg(long = "server-bin", value_name = "FILE")]
    pub server_bins: Vec<PathBuf>,
    /// Prebuilt valkey-server binary used as the baseline.
    #[arg(long, value_name = "FILE")]
    pub baseline_server_bin: Option<PathBuf>,
    /// Runs per case (each with a fresh server).
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Existing Valkey checkout to build in (instead of a cached mirror of --valkey-repo).
    #[arg(long, value_name = "DIR")]
    pub valkey_path: Option<PathBuf>,
    /// Valkey repository URL or path to mirror and build from.
    #[arg(long, value_name = "URL|PATH", default_value = target::DEFAULT_REPO_URL)]
    pub valkey_repo: String,
    /// Cache directory for mirrors and builds (default: $XDG_CACHE_HOME/valkey-perf).
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
    /// Build even when a cached build of the commit exists.
    #[arg(long)]
    pub no_build_cache: bool,
    /// valkey-benchmark (or redis-benchmark) binary for the valkey-benchmark engine.
    #[arg(long, value_name = "FILE")]
    pub valkey_benchmark_path: Option<PathBuf>,
    /// Benchmark the server already listening at --target-ip/--port; never start or stop one.
    #[arg(long)]
    pub use_running_server: bool,
    /// Directory results go into (one subdirectory per target).
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Load generator.
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Print the plan (targets and cases) and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Repository `owner/name` stored in records (default: derived from a GitHub --valkey-repo).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repository: Option<String>,
    /// With a baseline, also draw graphs next to report.md.
    #[arg(long)]
    pub graphs: bool,
    /// Longest one load-generator run may take before it is stopped and counted as failed
    /// (default: 60 s plus the configured duration, or 60 s plus 1 s per 2000 requests).
    #[arg(long, value_name = "SECONDS")]
    pub run_timeout: Option<u64>,
}

/// Where a target's server comes from.
#[derive(Debug, Clone)]
enum ServerSource {
    Binary(PathBuf),
    Running(ExternalTarget),
}

/// One thing being benchmarked, fully resolved.
#[derive(Debug, Clone)]
struct Target {
    /// As the user typed it (ref, binary path).
    label: String,
    commit: String,
    timestamp: String,
    repository: Option<String>,
    server: ServerSource,
    server_version: String,
    /// A benchmark binary that came with this target (a source build).
    benchmark: Option<PathBuf>,
    dir: PathBuf,
    is_baseline: bool,
}

/// A validated plan: nothing has started yet.
struct Plan {
    targets: Vec<Target>,
    cases: Vec<Case>,
    runs: u32,
    engine: Engine,
    bind: String,
    deadline: Option<Duration>,
    graphs: bool,
    results_dir: PathBuf,
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

fn lower(args: &RunArgs) -> Result<Plan> {
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
        ..MachineFacts::here()
    };
    let config = config::load(&args.config, &facts)?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }

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
            timestamp: iso_utc(std::time::SystemTime::now()),
            repository: args.repository.clone(),
            server: ServerSource::Running(external_target(args)?),
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
    let refusals: Vec<String> = config
        .cases
        .iter()
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
    })
}

/// The running server `--mode client` / `--use-running-server` drives.
fn external_target(args: &RunArgs) -> Result<ExternalTarget> {
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
        None => target::default_cache_dir()?,
    };
    let repo = RepoSource::parse(&args.valkey_repo)?;
    let mut opts = SourceOptions::new(repo, cache_dir);
    opts.valkey_path = args.valkey_path.clone();
    opts.no_build_cache = args.no_build_cache;
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, opts.cancel.clone())
            .context("installing the Ctrl-C handler for builds")?;
    }
    let names: Vec<String> = refs.iter().map(|(r, _)| r.clone()).collect();
    let progress = |line: &str| tracing::info!("{line}");
    let resolved = target::resolve(&opts, &names, &progress)?;
    if args.dry_run {
        return Ok(resolved
            .iter()
            .zip(refs)
            .map(|(c, (_, base))| Target {
                label: c.git_ref.clone(),
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
        let built = target::build(&opts, commit, need_tls, &dir.join("build.log"), &progress)?;
        let mut cmd = std::process::Command::new(&built.server);
        cmd.arg("--version");
        let version = run_bounded(cmd, Duration::from_secs(10), None, &mut || false)
            .ok()
            .and_then(|d| parse_server_version(&d.stdout))
            .unwrap_or_else(|| "unknown".into());
        out.push(Target {
            label: commit.git_ref.clone(),
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

fn print_plan(plan: &Plan) {
    println!("targets ({}):", plan.targets.len());
    for t in &plan.targets {
        let server = match &t.server {
            ServerSource::Binary(p) => format!("{} {}", p.display(), t.server_version),
            ServerSource::Running(t) => format!(
                "running {}{} at {}:{}",
                if t.cluster { "cluster" } else { "server" },
                if t.tls.is_some() { " over TLS" } else { "" },
                t.host,
                t.port
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
    }
}

/// Deadline for one measured load run.
fn run_deadline(plan: &Plan, case: &Case) -> Duration {
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

/// Why one run did not produce a record.
enum RunFailure {
    /// The server could not start: the whole invocation stops (exit 4).
    Start(anyhow::Error),
    /// Ctrl-C.
    Interrupted,
    /// This run failed; the others go on (exit 5).
    Run(anyhow::Error),
}

fn now_utc_ms() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

struct RunContext<'a> {
    plan: &'a Plan,
    /// Certificates for TLS cases on servers valkey-perf starts.
    tls: Option<ServerTls>,
    env: crate::model::EnvInfo,
    architecture: String,
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
fn run_once(
    ctx: &RunContext,
    target: &Target,
    case: &Case,
    run_index: u32,
) -> Result<Record, RunFailure> {
    let plan = ctx.plan;
    let mut deployment = match &target.server {
        ServerSource::Binary(bin) => Deployment::start(
            &case.topology,
            &StartOptions {
                binary: bin.clone(),
                bind: plan.bind.clone(),
                host: "127.0.0.1".into(),
                port: None,
                log_dir: target.dir.join("servers"),
                tls: ctx.tls.clone(),
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
    };
    for w in deployment.warnings() {
        tracing::warn!("{w}");
    }
    let run_err = |e: anyhow::Error| {
        if interrupted() {
            RunFailure::Interrupted
        } else {
            RunFailure::Run(e)
        }
    };
    deployment
        .apply_config_set(&case.topology.config_set)
        .map_err(run_err)?;
    let server_version = deployment.server_version().map_err(run_err)?;
    let io_threads = recorded_io_threads(&deployment, case);
    let endpoint = deployment.endpoint();
    let load = LoadTarget {
        host: endpoint.host.clone(),
        port: endpoint.port,
        cluster: endpoint.cluster,
        tls: endpoint.tls.as_ref().map(|t| crate::engine::ClientTls {
            ca: t.ca.clone(),
            cert: t.cert.clone(),
            key: t.key.clone(),
            sni: None,
        }),
    };
    // Standalone: seeding writes through one control connection with the workloads' key
    // names (both engines use valkey-benchmark's). Cluster: the native engine seeds through
    // its own slot routing; valkey-benchmark picks a random hash tag per request, so its
    // reads cannot be seeded exactly.
    let seed_plan = SeedPlan::for_case(case);
    let mut control = deployment.control().map_err(run_err)?;
    let engine = &plan.engine;
    let deadline = run_deadline(plan, case);
    match (&seed_plan, endpoint.cluster, engine) {
        (None, _, _) => {}
        (Some(sp), false, _) => {
            let started = Instant::now();
            let n = seed::seed(&mut control, sp, case.data_size).map_err(run_err)?;
            tracing::debug!("seeded {n} × {} in {:.2?}", sp.write, started.elapsed());
        }
        (Some(sp), true, Engine::Native) if native::can_seed_cluster(case.command) => {
            native::seed_cluster(case, &load, sp.count, deadline).map_err(run_err)?;
        }
        (Some(_), true, Engine::Native) => tracing::warn!(
            "{}: not seeded: in cluster mode each request picks a random hash tag for its collection key, so pops may find empty keys",
            case.label()
        ),
        (Some(_), true, Engine::External(_)) => tracing::warn!(
            "{}: not seeded: valkey-benchmark picks a random hash tag per request in cluster mode, so reads may miss and pops may find empty keys; use --engine native",
            case.label()
        ),
    }
    let run_started_at = now_utc_ms();
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
    let measured = match engine {
        Engine::External(bench) => {
            let warm = if bench.needs_separate_warmup(case) {
                bench.warmup(case, &load, &mut abort)
            } else {
                Ok(())
            };
            warm.and_then(|()| bench.measure(case, &load, deadline, &mut abort))
        }
        Engine::Native => {
            let file = target.dir.join("histograms").join(format!(
                "{}-{}-run{run_index}.json",
                run_started_at.replace([':', '.'], ""),
                case.command
            ));
            native::measure(case, &load, deadline, &file, &mut abort)
        }
    };
    if dead.is_none() && measured.is_err() {
        dead = death_of(&mut deployment, DEATH_VISIBLE_WITHIN);
    }
    if let Some(reason) = dead.take() {
        return Err(RunFailure::Run(anyhow::anyhow!(
            "the server died during the run: {reason}"
        )));
    }
    let measurement: Measurement = measured.map_err(run_err)?;
    deployment.check_alive().map_err(run_err)?;
    let mut extra = measurement.extra;
    // The native engine draws a seed when the config gives none; the record keeps it.
    let recorded_seed = extra.remove("key_seed").and_then(|v| v.as_u64());
    // Pop workloads in a cluster spread over per-slot keys; the check applies to standalone.
    let len_check = seed_plan.as_ref().filter(|_| !endpoint.cluster);
    if let Some(len_cmd) = len_check.and_then(|s| s.length_command()) {
        let key = seed_plan.as_ref().map(|s| s.key).unwrap_or_default();
        if let Ok(resp::Frame::Integer(left)) = control.call_raw(&[len_cmd, key]) {
            extra.insert("seeded_items_left".into(), left.into());
            if left == 0 {
                let hint = if matches!(case.mode, BenchmarkMode::Duration(_)) {
                    "; with `duration`, pops can outrun the seeding: use `requests` for pop commands"
                } else {
                    ""
                };
                tracing::warn!(
                    "{}: `{key}` ran empty during the run, so some pops hit an empty key{hint}",
                    case.label()
                );
            }
        }
    }
    let server_cpus = deployment.cpu_affinity().unwrap_or_default();
    deployment.stop();

    let m = measurement.metrics;
    let (requests, duration) = match case.mode {
        BenchmarkMode::Requests(n) => (Some(n), None),
        BenchmarkMode::Duration(s) => (None, Some(s)),
    };
    let mut env = ctx.env.clone();
    env.env_server_cpu_range = if server_cpus.is_empty() {
        case.topology
            .server_cpus
            .as_ref()
            .map(|c| c.canonical())
            .unwrap_or_default()
    } else {
        server_cpus
    };
    env.env_client_cpu_range = measurement.client_cpus.unwrap_or_default();
    env.env_benchmark_tool_version = engine.version();
    Ok(Record {
        timestamp: target.timestamp.clone(),
        commit: target.commit.clone(),
        git_ref: target.label.clone(),
        repository: target.repository.clone(),
        command: case.command.name().to_string(),
        data_size: case.data_size,
        pipeline: case.pipeline,
        clients: case.clients,
        requests,
        duration,
        benchmark_mode: case.mode.label().to_string(),
        keyspacelen: case.keyspacelen,
        metrics: m,
        cluster_mode: case.topology.cluster,
        tls: case.topology.tls,
        io_threads,
        valkey_benchmark_threads: case.client_threads,
        warmup: case.warmup_secs,
        architecture: ctx.architecture.clone(),
        run_started_at,
        run_index: u64::from(run_index),
        engine: engine.name().into(),
        engine_version: engine.version(),
        seed: case.seed.or(recorded_seed),
        server_version,
        server_restarted: deployment.started_here(),
        config_set: case.topology.config_set.clone(),
        env,
        extra,
    })
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

/// `--mode server`: starts the servers of the chosen cases (the first case by default), prints
/// their addresses, the matching `--mode client` flags and the TLS CA path, and keeps them up
/// until Ctrl-C; then stops every one.
fn serve(args: &RunArgs) -> Result<Code> {
    if args.use_running_server || args.cluster || args.tls_ca.is_some() {
        return Err(usage(
            "--mode server starts its own servers; drop --use-running-server, --cluster and --tls-ca (they describe a server valkey-perf did not start)",
        ));
    }
    let config = config::load(&args.config, &MachineFacts::here())?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
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
    if args.dry_run {
        println!("would start `{}` for:", binary.display());
        for (n, c) in picks.iter().zip(&cases) {
            println!("  case {n}: {}", c.label());
        }
        return Ok(Code::Success);
    }
    let material = if cases.iter().any(|c| c.topology.tls) {
        let m = TlsMaterial::generate(std::slice::from_ref(&args.target_ip))
            .context("generating TLS certificates")?;
        probe_tls(binary, &m, &target.dir.join("servers"))?;
        Some(m)
    } else {
        None
    };
    let mut deployments = Vec::new();
    for (i, (n, case)) in picks.iter().zip(&cases).enumerate() {
        let d = Deployment::start(
            &case.topology,
            &StartOptions {
                binary: binary.clone(),
                bind: "0.0.0.0".into(),
                host: args.target_ip.clone(),
                port: (i == 0).then_some(args.port),
                log_dir: target.dir.join("servers"),
                tls: material.as_ref().map(TlsMaterial::server),
            },
        )?;
        d.apply_config_set(&case.topology.config_set)?;
        for w in d.warnings() {
            tracing::warn!("{w}");
        }
        let ep = d.endpoint();
        println!("case {n} ({}): {}", case.label(), d.describe());
        println!(
            "  drive it with: valkey-perf run --mode client --target-ip {} --port {}{}{}",
            ep.host,
            ep.port,
            if ep.cluster { " --cluster" } else { "" },
            if ep.tls.is_some() {
                " --tls-ca <copy of the CA below>"
            } else {
                ""
            }
        );
        deployments.push(d);
    }
    if let Some(m) = &material {
        println!("TLS CA certificate: {}", m.ca.display());
    }
    tracing::info!("servers are up; Ctrl-C stops them");
    crate::server::hold_until_interrupted(&mut deployments)?;
    tracing::info!("every server was stopped");
    Ok(Code::Success)
}

/// The io-threads the record states: the case's for servers valkey-perf started; for a
/// running server, what it reports (`CONFIG GET io-threads`), with a warning when that is not
/// what the config says, so records never claim a setting that was not measured.
fn recorded_io_threads(deployment: &Deployment, case: &Case) -> u64 {
    let configured = u64::from(case.topology.io_threads);
    if deployment.started_here() {
        return configured;
    }
    match deployment
        .config_get("io-threads")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(actual) if actual != configured => {
            tracing::warn!(
                "the running server at `{}` has io-threads {actual}, config[{}] says {configured}; recording {actual} (restart the server with --io-threads {configured} to measure that)",
                deployment.endpoint(),
                case.config_index
            );
            actual
        }
        Some(actual) => actual,
        None => configured,
    }
}

/// Runs `valkey-perf run`.
pub fn run(args: RunArgs) -> Result<Code> {
    logging::init(&args.log_level);
    crate::server::process::install_signal_handlers()?;
    if args.mode == Mode::Server {
        return serve(&args);
    }
    let plan = lower(&args)?;
    if args.dry_run {
        print_plan(&plan);
        return Ok(Code::Success);
    }
    let outcome = execute(&plan);
    logging::close_log_files();
    outcome
}

fn execute(plan: &Plan) -> Result<Code> {
    let mut files = Vec::new();
    for t in &plan.targets {
        let file = MetricsFile::open(&t.dir)?;
        logging::add_log_file(&t.dir.join("logs.txt"))?;
        files.push(file);
    }
    let material = prepare_tls(plan)?;
    let ctx = RunContext {
        plan,
        tls: material.as_ref().map(TlsMaterial::server),
        env: env::collect(),
        architecture: env::architecture(),
    };
    tracing::info!(
        "{} cases × {} runs × {} targets; {}",
        plan.cases.len(),
        plan.runs,
        plan.targets.len(),
        plan.engine.describe()
    );
    let total = plan.cases.len() as u64 * u64::from(plan.runs) * plan.targets.len() as u64;
    let progress = Progress::new(total);
    let mut records: Vec<Vec<Record>> = vec![Vec::new(); plan.targets.len()];
    let mut failed = 0usize;
    let mut stop: Option<Code> = None;
    let mut start_error = None;
    'cases: for (ci, case) in plan.cases.iter().enumerate() {
        for run_index in 0..plan.runs {
            for (ti, target) in plan.targets.iter().enumerate() {
                if interrupted() {
                    stop = Some(Code::Interrupted);
                    break 'cases;
                }
                let what = format!(
                    "case {}/{} run {}/{} target {}: {}",
                    ci + 1,
                    plan.cases.len(),
                    run_index + 1,
                    plan.runs,
                    target.label,
                    case.label()
                );
                progress.set_message(what.clone());
                tracing::info!("{what}");
                match run_once(&ctx, target, case, run_index) {
                    Ok(record) => {
                        tracing::info!(
                            "  rps={:.0} avg={:.3}ms p50={:.3}ms p99={:.3}ms",
                            record.metrics.rps,
                            record.metrics.avg_latency_ms,
                            record.metrics.p50_latency_ms,
                            record.metrics.p99_latency_ms
                        );
                        files[ti].append(&record)?;
                        records[ti].push(record);
                    }
                    Err(RunFailure::Interrupted) => {
                        stop = Some(Code::Interrupted);
                        break 'cases;
                    }
                    Err(RunFailure::Start(e)) => {
                        start_error = Some(e);
                        stop = Some(Code::ServerStart);
                        break 'cases;
                    }
                    Err(RunFailure::Run(e)) => {
                        failed += 1;
                        tracing::error!("run failed: {what}: {e:#}");
                    }
                }
                progress.inc();
            }
        }
    }
    progress.finish();
    for (t, f) in plan.targets.iter().zip(&files) {
        tracing::info!(
            "{} records for {} in `{}`",
            f.len(),
            t.label,
            f.path().display()
        );
        println!("{}", f.path().display());
    }
    if stop != Some(Code::Interrupted) {
        write_reports(plan, &records)?;
    }
    if let Some(e) = start_error {
        return Err(e);
    }
    match stop {
        Some(Code::Interrupted) => {
            tracing::warn!(
                "interrupted: finished runs are kept in metrics.json, every server was stopped"
            );
            Ok(Code::Interrupted)
        }
        _ if failed > 0 => {
            tracing::error!("{failed} run(s) failed; the other runs were measured and written");
            Ok(Code::RunsFailed)
        }
        _ => Ok(Code::Success),
    }
}

/// With a baseline, compares every other target against it and writes
/// `results/<baseline>_vs_<target>/report.md`.
fn write_reports(plan: &Plan, records: &[Vec<Record>]) -> Result<()> {
    let Some(bi) = plan.targets.iter().position(|t| t.is_baseline) else {
        return Ok(());
    };
    let to_maps = |rs: &[Record]| -> Result<Vec<crate::compare::RecordMap>> {
        rs.iter()
            .map(|r| match serde_json::to_value(r)? {
                serde_json::Value::Object(m) => Ok(m),
                _ => bail!("a record did not serialize to an object"),
            })
            .collect()
    };
    let base = &plan.targets[bi];
    let base_records = to_maps(&records[bi])?;
    for (ti, t) in plan.targets.iter().enumerate() {
        if ti == bi {
            continue;
        }
        let cmp = crate::compare::compare_records(
            &base_records,
            &to_maps(&records[ti])?,
            &base.label,
            &t.label,
            &crate::compare::CompareOptions::default(),
        )?;
        let dir = plan
            .results_dir
            .join(format!("{}_vs_{}", base.commit, t.commit));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
        crate::compare::write_report(&cmp, &dir, plan.graphs)?;
        tracing::info!(
            "comparison written to `{}`",
            dir.join("report.md").display()
        );
        println!("{}", dir.join("report.md").display());
    }
    Ok(())
}
