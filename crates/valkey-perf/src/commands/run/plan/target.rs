//! The targets of a run: what is benchmarked, resolved before anything starts. A prebuilt
//! server binary (named by its version and a content hash), a git ref resolved and built from
//! source, or the running server of a client-only run; and the valkey-benchmark binary that
//! comes with them or is on PATH.

use super::running::external_target;
use crate::commands::run::args::RunArgs;
use crate::exit::usage;
use crate::model::Case;
use crate::process::run_bounded;
use crate::source::{self, RepoSource, SourceOptions};
use anyhow::{Context, Result};
use loadgen::{Address, Credentials};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a target's server comes from.
#[derive(Debug, Clone)]
pub(in crate::commands::run) enum ServerSource {
    Binary(PathBuf),
    Running(Address),
}

/// One thing being benchmarked, fully resolved.
#[derive(Debug, Clone)]
pub(in crate::commands::run) struct Target {
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
    /// `--reference`: the baseline measured beside the other targets, whose commits these are.
    pub reference_for: Option<String>,
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
pub(super) fn binary_target(path: &Path, results_dir: &Path, is_baseline: bool) -> Result<Target> {
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
        reference_for: None,
    })
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// The targets of a run, each with its own results directory: the running server of a
/// client-only run, else the server binaries and git refs given (baseline first; `HEAD`
/// when nothing is given), refs resolved and built.
pub(super) fn targets(
    args: &RunArgs,
    auth: &Option<Credentials>,
    cases: &[Case],
) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    if args.client_only() {
        let label = args
            .targets
            .commits
            .first()
            .cloned()
            .unwrap_or_else(|| "running-server".into());
        let dir_name = label.replace(['/', ' '], "_");
        targets.push(Target {
            dir: args.output.results_dir.join(&dir_name),
            commit: label.clone(),
            label,
            is_git_ref: false,
            timestamp: iso_utc(std::time::SystemTime::now()),
            repository: args.targets.repository.clone(),
            server: ServerSource::Running(external_target(args, auth.clone())?),
            server_version: String::new(),
            benchmark: None,
            is_baseline: false,
            reference_for: None,
        });
    } else {
        if let Some(bin) = &args.targets.baseline_server_bin {
            targets.push(binary_target(bin, &args.output.results_dir, true)?);
        }
        for bin in &args.targets.server_bins {
            targets.push(binary_target(bin, &args.output.results_dir, false)?);
        }
        let mut refs: Vec<(String, bool)> = Vec::new();
        if let Some(b) = &args.targets.baseline {
            refs.push((b.clone(), true));
        }
        refs.extend(args.targets.commits.iter().map(|c| (c.clone(), false)));
        if targets.is_empty() && refs.is_empty() {
            refs.push(("HEAD".into(), false));
        }
        if !refs.is_empty() {
            targets.extend(source_targets(args, &refs, cases)?);
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
    if args.targets.baseline_as_reference {
        let others: Vec<String> = targets
            .iter()
            .filter(|t| !t.is_baseline)
            .map(|t| t.commit.clone())
            .collect();
        for t in targets.iter_mut().filter(|t| t.is_baseline) {
            t.reference_for = Some(others.join(","));
        }
    }
    Ok(targets)
}

/// The benchmark binary: the flag, else one a source build produced, else `valkey-benchmark`
/// or `redis-benchmark` on PATH.
pub(super) fn benchmark_binary(args: &RunArgs, targets: &[Target]) -> Result<PathBuf> {
    if let Some(p) = &args.engine.valkey_benchmark_path {
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

/// Resolves refs (exit 2 on an unknown one) and builds them (exit 3 on a failed build).
pub(super) fn source_targets(
    args: &RunArgs,
    refs: &[(String, bool)],
    cases: &[Case],
) -> Result<Vec<Target>> {
    let cache_dir = match &args.build.build_dir {
        Some(d) => d.clone(),
        None => source::default_cache_dir()?,
    };
    let repo = RepoSource::parse(&args.build.valkey_repo)?;
    let mut opts = SourceOptions::new(repo, cache_dir);
    opts.valkey_path = args.build.valkey_path.clone();
    opts.no_build_cache = args.build.no_build_cache;
    let names: Vec<String> = refs.iter().map(|(r, _)| r.clone()).collect();
    let progress = |line: &str| tracing::info!("{line}");
    let resolved = source::resolve(&opts, &names, &progress)?;
    if args.output.dry_run {
        return Ok(resolved
            .iter()
            .zip(refs)
            .map(|(c, (_, base))| Target {
                label: c.git_ref.clone(),
                is_git_ref: true,
                commit: c.sha.clone(),
                timestamp: c.commit_time.clone(),
                repository: args.targets.repository.clone().or(c.repository.clone()),
                server: ServerSource::Binary(PathBuf::from("(not built in --dry-run)")),
                server_version: String::new(),
                benchmark: None,
                dir: args.output.results_dir.join(&c.sha),
                is_baseline: *base,
                reference_for: None,
            })
            .collect());
    }
    let need_tls = cases.iter().any(|c| c.topology.tls);
    let mut out = Vec::new();
    for (commit, (_, is_baseline)) in resolved.iter().zip(refs) {
        let dir = args.output.results_dir.join(&commit.sha);
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
            repository: args
                .targets
                .repository
                .clone()
                .or(commit.repository.clone()),
            server: ServerSource::Binary(built.server.clone()),
            server_version: version,
            benchmark: built.benchmark.clone(),
            dir,
            is_baseline: *is_baseline,
            reference_for: None,
        });
    }
    Ok(out)
}
