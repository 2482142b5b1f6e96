//! Building a resolved commit: in a clean worktree of the mirror (then cached), or in place in a
//! `--valkey-path` checkout (then snapshotted). Owns the build cache's layout, its keys, and the
//! per-key lock that makes concurrent invocations build a key once.

use super::git::{self, git, run_git};
use super::lock;
use super::{BuiltBinaries, ResolvedCommit, SourceOptions};
use crate::exit::{Code, Failure};
use crate::process::{self, Cancel, Sink};
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

/// The three programs a Valkey build produces, under their cached names.
const SERVER: &str = "valkey-server";
const CLI: &str = "valkey-cli";
const BENCHMARK: &str = "valkey-benchmark";

/// Lines of the build log shown in a build failure.
const LOG_TAIL_LINES: usize = 30;

/// The build flags that change the binaries, as a cache-key component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildFlavour {
    /// `make` with default flags.
    Plain,
    /// `make BUILD_TLS=yes`.
    Tls,
}

impl BuildFlavour {
    pub fn name(self) -> &'static str {
        match self {
            BuildFlavour::Plain => "plain",
            BuildFlavour::Tls => "tls",
        }
    }

    fn make_args(self) -> &'static [&'static str] {
        match self {
            BuildFlavour::Plain => &[],
            BuildFlavour::Tls => &["BUILD_TLS=yes"],
        }
    }

    /// The flavours whose builds can serve a case, best first: a TLS build serves non-TLS
    /// cases too, a plain build never serves TLS.
    fn serving(need_tls: bool) -> &'static [BuildFlavour] {
        if need_tls {
            &[BuildFlavour::Tls]
        } else {
            &[BuildFlavour::Plain, BuildFlavour::Tls]
        }
    }
}

/// The cache key of a build: `<sha>-<flavour>-<arch>-<first 8 hex of sha256(compiler version)>`.
/// Readable where it matters (SHA, flags, architecture); the compiler only as a hash.
pub fn cache_key(sha: &str, flavour: BuildFlavour, arch: &str, compiler_version: &str) -> String {
    let digest = Sha256::digest(compiler_version.as_bytes());
    let cc: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{sha}-{}-{arch}-{cc}", flavour.name())
}

/// First line of `$CC --version` (Valkey's Makefile honours `CC`), else of `cc --version`;
/// "unknown" when neither runs, so a missing compiler surfaces as make's own error.
fn compiler_version(cancel: &Cancel) -> String {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let mut cmd = Command::new(&cc);
    cmd.arg("--version");
    match process::run_until_done(&mut cmd, Sink::Capture, cancel) {
        Ok(done) if done.status.success() => done
            .stdout
            .lines()
            .next()
            .unwrap_or("unknown")
            .trim()
            .to_string(),
        _ => "unknown".to_string(),
    }
}

fn make_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn make_command(dir: &Path, flavour: BuildFlavour) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg(format!("-j{}", make_jobs()))
        .args(flavour.make_args())
        .current_dir(dir);
    // A jobserver inherited from an outer make would not be reachable from this one.
    for var in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL"] {
        cmd.env_remove(var);
    }
    cmd
}

pub(super) fn build(
    opts: &SourceOptions,
    commit: &ResolvedCommit,
    need_tls: bool,
    log_path: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<BuiltBinaries> {
    if let Some(dir) = &opts.valkey_path {
        return build_in_checkout(opts, dir, commit, need_tls, log_path, progress);
    }
    let compiler = compiler_version(&opts.cancel);
    let arch = std::env::consts::ARCH;
    let builds = opts.cache_dir.join("builds");
    let key_of = |flavour| cache_key(&commit.sha, flavour, arch, &compiler);

    // Entries appear by rename, complete, so looking without the lock is safe.
    let lookup = || {
        BuildFlavour::serving(need_tls)
            .iter()
            .find_map(|&f| cached(&builds, &key_of(f), f))
    };
    let use_cached = |hit: BuiltBinaries| {
        progress(&format!(
            "using cached build {} for {}",
            hit.cache_key, commit.sha
        ));
        hit
    };
    if !opts.no_build_cache
        && let Some(hit) = lookup()
    {
        return Ok(use_cached(hit));
    }

    let flavour = if need_tls {
        BuildFlavour::Tls
    } else {
        BuildFlavour::Plain
    };
    let key = key_of(flavour);
    let waited = std::cell::Cell::new(false);
    let _lock = lock::exclusive(&builds.join(format!("{key}.lock")), &opts.cancel, || {
        waited.set(true);
        progress(&format!(
            "waiting for another valkey-perf building {key} for {}",
            commit.sha
        ));
    })?;
    // Whoever held the lock has just built it; even with --no-build-cache, that build is fresh.
    if (!opts.no_build_cache || waited.get())
        && let Some(hit) = lookup()
    {
        return Ok(use_cached(hit));
    }

    let started = Instant::now();
    let built = build_in_worktree(opts, commit, flavour, &key, &compiler, log_path, progress)?;
    progress(&format!(
        "built {} in {:.1}s; cached as {key}",
        commit.short_sha(),
        started.elapsed().as_secs_f64()
    ));
    Ok(built)
}

/// The cached entry `key`, when it holds at least a server.
fn cached(builds: &Path, key: &str, flavour: BuildFlavour) -> Option<BuiltBinaries> {
    let dir = builds.join(key);
    let server = dir.join(SERVER);
    server.is_file().then(|| BuiltBinaries {
        server,
        cli: Some(dir.join(CLI)).filter(|p| p.is_file()),
        benchmark: Some(dir.join(BENCHMARK)).filter(|p| p.is_file()),
        from_cache: true,
        cache_key: key.to_string(),
        tls: flavour == BuildFlavour::Tls,
    })
}

/// A worktree of the mirror, removed (directory and git's record of it) when dropped.
struct Worktree {
    mirror: PathBuf,
    path: PathBuf,
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
        // Not cancellable on purpose: cleanup must finish even after Ctrl-C.
        let _ = git(&self.mirror)
            .args(["worktree", "prune"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Opens (truncating) the build log, creating its directory.
fn open_log(log_path: &Path) -> anyhow::Result<File> {
    if let Some(dir) = log_path.parent() {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory `{}`", dir.display()))?;
    }
    File::create(log_path)
        .with_context(|| format!("cannot create the build log `{}`", log_path.display()))
}

fn build_failure(commit: &ResolvedCommit, message: String) -> anyhow::Error {
    Failure::new(
        Code::Build,
        format!(
            "cannot build commit `{}` (ref `{}`): {message}",
            commit.sha, commit.git_ref
        ),
    )
}

/// Runs make in `dir`, output to `log`; a failure is exit 3 with the log's tail.
fn run_make(
    dir: &Path,
    flavour: BuildFlavour,
    commit: &ResolvedCommit,
    log: &mut File,
    log_path: &Path,
    cancel: &Cancel,
    progress: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let mut cmd = make_command(dir, flavour);
    let line = process::command_line(&cmd);
    writeln!(
        log,
        "# valkey-perf: building {} (ref {}) in {}\n# {line}",
        commit.sha,
        commit.git_ref,
        dir.display()
    )
    .with_context(|| format!("cannot write the build log `{}`", log_path.display()))?;
    progress(&format!(
        "building {} (`{}`) with `{line}`; log: `{}`",
        commit.short_sha(),
        commit.git_ref,
        log_path.display()
    ));
    let done = process::run_until_done(&mut cmd, Sink::Log(log), cancel)?;
    if !done.status.success() {
        return Err(build_failure(
            commit,
            process::failure_message(
                "",
                &line,
                done.status,
                &crate::util::tail_of_file(log_path, LOG_TAIL_LINES),
                Some(log_path),
            ),
        ));
    }
    Ok(())
}

/// The programs a build left in `src/`: Valkey's names, or the `redis-*` names of the oldest
/// commits in Valkey's history. The server is required.
fn built_programs(
    src: &Path,
    commit: &ResolvedCommit,
    log_path: &Path,
) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    let mut found = Vec::new();
    for (name, legacy) in [
        (SERVER, "redis-server"),
        (CLI, "redis-cli"),
        (BENCHMARK, "redis-benchmark"),
    ] {
        if let Some(path) = [src.join(name), src.join(legacy)]
            .into_iter()
            .find(|p| p.is_file())
        {
            found.push((name, path));
        } else if name == SERVER {
            return Err(build_failure(
                commit,
                format!(
                    "make succeeded but produced no `src/{SERVER}` in `{}`; see the build log `{}`",
                    src.parent().unwrap_or(src).display(),
                    log_path.display()
                ),
            ));
        }
    }
    Ok(found)
}

fn build_in_worktree(
    opts: &SourceOptions,
    commit: &ResolvedCommit,
    flavour: BuildFlavour,
    key: &str,
    compiler: &str,
    log_path: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<BuiltBinaries> {
    let mirror = git::existing_mirror(opts)?;
    let mut log = open_log(log_path)?;
    let work = opts.cache_dir.join("work");
    fs::create_dir_all(&work)
        .with_context(|| format!("cannot create the directory `{}`", work.display()))?;
    remove_orphan_worktrees(&work);
    let path = work.join(format!("{key}-{}", std::process::id()));
    // A leftover of a killed invocation that had the same pid.
    let _ = fs::remove_dir_all(&path);
    let worktree = Worktree {
        mirror: mirror.clone(),
        path: path.clone(),
    };
    {
        let _mirror_lock = lock::exclusive(&git::mirror_lock(&mirror), &opts.cancel, || {})?;
        let mut cmd = git(&mirror);
        cmd.args(["worktree", "add", "--detach", "--quiet"])
            .arg(&path)
            .arg(&commit.sha);
        run_git(cmd, &opts.cancel, "git worktree add failed")
            .map_err(|e| build_failure(commit, format!("cannot check it out: {e:#}")))?;
    }
    run_make(
        &path,
        flavour,
        commit,
        &mut log,
        log_path,
        &opts.cancel,
        progress,
    )?;
    let programs = built_programs(&path.join("src"), commit, log_path)?;

    // Fill a temp dir next to the entry, then rename it into place: readers never see a
    // partial entry, and a failed build leaves none.
    let builds = opts.cache_dir.join("builds");
    let staging = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&builds)
        .with_context(|| format!("cannot create a temp dir in `{}`", builds.display()))?;
    for (name, from) in &programs {
        let to = staging.path().join(name);
        // The worktree is about to be deleted, so moving is enough.
        if fs::rename(from, &to).is_err() {
            fs::copy(from, &to).with_context(|| {
                format!("cannot copy `{}` to `{}`", from.display(), to.display())
            })?;
        }
    }
    let meta = serde_json::json!({
        "sha": commit.sha,
        "ref": commit.git_ref,
        "commit_time": commit.commit_time,
        "flavour": flavour.name(),
        "make": process::command_line(&make_command(&path, flavour)),
        "arch": std::env::consts::ARCH,
        "compiler": compiler,
        "built_at": chrono::Utc::now().to_rfc3339(),
    });
    let meta_path = staging.path().join("build.json");
    fs::write(&meta_path, format!("{meta:#}\n"))
        .with_context(|| format!("cannot write `{}`", meta_path.display()))?;
    let entry = builds.join(key);
    install_dir(staging, &entry)?;
    drop(worktree);

    Ok(BuiltBinaries {
        from_cache: false,
        ..cached(&builds, key, flavour).with_context(|| {
            format!(
                "the cache entry `{}` vanished right after it was written",
                entry.display()
            )
        })?
    })
}

/// Removes worktrees left in `work` by invocations that were killed before cleaning up: their
/// names end in `-<pid>` and that process no longer exists. (Git's own record of them goes with
/// the next `git worktree prune`.)
fn remove_orphan_worktrees(work: &Path) {
    let Ok(entries) = fs::read_dir(work) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.rsplit_once('-'))
            .and_then(|(_, pid)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if gone {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Renames the filled `staging` dir to `entry`, replacing an older entry (`--no-build-cache`).
fn install_dir(staging: tempfile::TempDir, entry: &Path) -> anyhow::Result<()> {
    let parent = entry.parent().expect("cache entries have a parent");
    let old = if entry.exists() {
        let old = tempfile::Builder::new()
            .prefix(".old-")
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a temp dir in `{}`", parent.display()))?;
        let aside = old.path().join("entry");
        fs::rename(entry, &aside)
            .with_context(|| format!("cannot move the old `{}` aside", entry.display()))?;
        Some(old)
    } else {
        None
    };
    let staging = staging.keep();
    fs::rename(&staging, entry).with_context(|| {
        format!(
            "cannot move `{}` into place as `{}`",
            staging.display(),
            entry.display()
        )
    })?;
    drop(old);
    Ok(())
}

/// `--valkey-path`: check the ref out (unless `HEAD`) and build in place, then copy the
/// binaries into a per-SHA snapshot so that building the next ref in the same checkout does not
/// overwrite what this one benchmarks. The user's directory is never deleted or cleaned.
fn build_in_checkout(
    opts: &SourceOptions,
    dir: &Path,
    commit: &ResolvedCommit,
    need_tls: bool,
    log_path: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<BuiltBinaries> {
    let cancel = &opts.cancel;
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("cannot read the checkout `{}`", dir.display()))?;
    let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
    let dir_hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let snapshots = opts.cache_dir.join("checkouts").join(&dir_hash);
    let _lock = lock::exclusive(
        &opts
            .cache_dir
            .join("checkouts")
            .join(format!("{dir_hash}.lock")),
        cancel,
        || {
            progress(&format!(
                "waiting for another valkey-perf building in `{}`",
                dir.display()
            ))
        },
    )?;

    let head = || -> anyhow::Result<String> {
        let mut cmd = git(dir);
        cmd.args(["rev-parse", "HEAD"]);
        run_git(cmd, cancel, "cannot read the checkout's HEAD")
    };
    let is_head = commit.git_ref == "HEAD";
    if is_head {
        let now = head()?;
        if now != commit.sha {
            return Err(build_failure(
                commit,
                format!(
                    "the checkout `{}` moved to `{now}` since `HEAD` was resolved; run again",
                    dir.display()
                ),
            ));
        }
    } else {
        checkout(dir, commit, cancel)?;
        let now = head()?;
        if now != commit.sha {
            return Err(build_failure(
                commit,
                format!(
                    "after checking it out, `{}` is at `{now}`, not at the requested commit",
                    dir.display()
                ),
            ));
        }
    }

    let src = dir.join("src");
    let flavour = if need_tls {
        BuildFlavour::Tls
    } else {
        BuildFlavour::Plain
    };
    // HEAD: build only when the binaries are missing or older than the commit. A TLS need
    // always runs make: it is a no-op when the tree was already built with BUILD_TLS=yes
    // (Valkey's Makefile rebuilds when its settings change), and plain binaries cannot serve.
    let must_make = !is_head || need_tls || binaries_stale(&src, &commit.commit_time);
    if must_make {
        let mut log = open_log(log_path)?;
        let started = Instant::now();
        run_make(dir, flavour, commit, &mut log, log_path, cancel, progress)?;
        progress(&format!(
            "built {} in `{}` in {:.1}s",
            commit.short_sha(),
            dir.display(),
            started.elapsed().as_secs_f64()
        ));
    } else {
        progress(&format!(
            "binaries in `{}` are newer than commit {}; not building",
            src.display(),
            commit.short_sha()
        ));
    }
    let programs = built_programs(&src, commit, log_path)?;

    let name = format!("{}-{}", commit.sha, flavour.name());
    fs::create_dir_all(&snapshots)
        .with_context(|| format!("cannot create the directory `{}`", snapshots.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&snapshots)
        .with_context(|| format!("cannot create a temp dir in `{}`", snapshots.display()))?;
    for (name, from) in &programs {
        let to = staging.path().join(name);
        fs::copy(from, &to)
            .with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))?;
    }
    let entry = snapshots.join(&name);
    install_dir(staging, &entry)?;
    let snapshot = cached(&snapshots, &name, flavour).with_context(|| {
        format!(
            "the snapshot `{}` vanished right after it was written",
            entry.display()
        )
    })?;
    Ok(BuiltBinaries {
        from_cache: !must_make,
        cache_key: format!("checkouts/{dir_hash}/{name}"),
        ..snapshot
    })
}

/// `git checkout` of the commit in a user's checkout: a local branch by name (so the user stays
/// on it), anything else detached at the SHA. Refuses to carry uncommitted changes along, which
/// would benchmark code other than the commit asked for.
fn checkout(dir: &Path, commit: &ResolvedCommit, cancel: &Cancel) -> anyhow::Result<()> {
    let mut cmd = git(dir);
    cmd.args(["status", "--porcelain", "--untracked-files=no"]);
    let dirty = run_git(cmd, cancel, "cannot read the checkout's status")?;
    if !dirty.is_empty() {
        return Err(build_failure(
            commit,
            format!(
                "the checkout `{}` has uncommitted changes, which checking out `{}` would carry \
                 along; commit or stash them first\n{dirty}",
                dir.display(),
                commit.git_ref
            ),
        ));
    }
    let mut cmd = git(dir);
    cmd.args(["show-ref", "--verify", "--quiet"])
        .arg(format!("refs/heads/{}", commit.git_ref));
    let is_branch = process::run_until_done(&mut cmd, Sink::Capture, cancel)?
        .status
        .success();
    let mut cmd = git(dir);
    cmd.args(["checkout", "--quiet"]);
    if is_branch {
        cmd.arg(&commit.git_ref);
    } else {
        cmd.args(["--detach", &commit.sha]);
    }
    run_git(cmd, cancel, "git checkout failed")
        .map_err(|e| build_failure(commit, format!("cannot check it out: {e:#}")))?;
    Ok(())
}

/// True when `src/valkey-server` (or its legacy name) is missing or older than the commit.
fn binaries_stale(src: &Path, commit_time: &str) -> bool {
    let Some(server) = [src.join(SERVER), src.join("redis-server")]
        .into_iter()
        .find(|p| p.is_file())
    else {
        return true;
    };
    let Ok(commit) = chrono::DateTime::parse_from_rfc3339(commit_time) else {
        return true;
    };
    let built = fs::metadata(&server).and_then(|m| m.modified());
    match built {
        Ok(built) => built < SystemTime::from(commit),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_separate_flags_arch_and_compiler() {
        let sha = "55bbbe09a3b37a98c907dbfbc225768ff253e84f";
        let a = cache_key(
            sha,
            BuildFlavour::Plain,
            "x86_64",
            "cc (Debian 12.2.0-14) 12.2.0",
        );
        assert!(a.starts_with(&format!("{sha}-plain-x86_64-")), "{a}");
        assert_eq!(a.len(), sha.len() + "-plain-x86_64-".len() + 8);
        let others = [
            cache_key(
                sha,
                BuildFlavour::Tls,
                "x86_64",
                "cc (Debian 12.2.0-14) 12.2.0",
            ),
            cache_key(
                sha,
                BuildFlavour::Plain,
                "aarch64",
                "cc (Debian 12.2.0-14) 12.2.0",
            ),
            cache_key(sha, BuildFlavour::Plain, "x86_64", "clang version 16.0.6"),
        ];
        for other in &others {
            assert_ne!(&a, other);
        }
    }

    #[test]
    fn tls_builds_serve_plain_cases_but_not_the_reverse() {
        assert_eq!(
            BuildFlavour::serving(true),
            &[BuildFlavour::Tls],
            "a plain build must never serve TLS"
        );
        assert!(BuildFlavour::serving(false).contains(&BuildFlavour::Tls));
    }
}
