//! The git side: one bare mirror per repository under the cache directory (cloned with
//! `git clone --mirror` once, then `git fetch`ed), and ref resolution in that mirror or in a
//! `--valkey-path` checkout. Everything goes through the `git` program.

use super::lock;
use super::{HistoryCommit, RepoSource, ResolvedCommit, SourceOptions, github_repository};
use crate::exit::{Code, Failure, usage};
use crate::process::{self, Cancel, Sink};
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A `git` command with settings that keep it non-interactive and independent of the caller's
/// working directory.
pub(super) fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    // Never wait for a password prompt; fail instead.
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// Runs a git command, returning its trimmed stdout; a failure carries the command line, the
/// exit status and the tail of stderr.
pub(super) fn run_git(mut cmd: Command, cancel: &Cancel, what: &str) -> anyhow::Result<String> {
    let line = process::command_line(&cmd);
    let done = process::run_until_done(&mut cmd, Sink::Capture, cancel)?;
    if !done.status.success() {
        anyhow::bail!(process::failure_message(
            what,
            &line,
            done.status,
            &crate::util::tail_of_text(&done.stderr, 20),
            None,
        ));
    }
    Ok(done.stdout.trim_end().to_string())
}

/// Where the mirror of `source` lives: `repos/<last path component>-<hash of URL or path>.git`.
pub(super) fn mirror_dir(cache_dir: &Path, source: &RepoSource) -> PathBuf {
    let location = source.location();
    let digest = Sha256::digest(location.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let base = location
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .trim_end_matches(".git");
    let base: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(40)
        .collect();
    let base = if base.is_empty() {
        "repo".to_string()
    } else {
        base
    };
    cache_dir.join("repos").join(format!("{base}-{hash}.git"))
}

/// The lock file serializing changes to a mirror (clone, fetch, worktree add/prune).
pub(super) fn mirror_lock(mirror: &Path) -> PathBuf {
    mirror.with_extension("lock")
}

/// Clones the mirror on first use, else fetches into it. Holds the mirror's lock throughout.
fn sync_mirror(opts: &SourceOptions, progress: &dyn Fn(&str)) -> anyhow::Result<PathBuf> {
    let mirror = mirror_dir(&opts.cache_dir, &opts.repo);
    let location = opts.repo.location();
    let _lock = lock::exclusive(&mirror_lock(&mirror), &opts.cancel, || {
        progress(&format!(
            "waiting for another valkey-perf using the mirror `{}`",
            mirror.display()
        ))
    })?;
    if mirror.join("HEAD").is_file() {
        progress(&format!("fetching `{location}`"));
        let mut cmd = git(&mirror);
        cmd.args(["fetch", "--quiet", "--prune", "origin"]);
        run_git(
            cmd,
            &opts.cancel,
            &format!(
                "cannot fetch `{location}` into `{}`; check the network and the URL, \
                 or delete that directory to clone afresh",
                mirror.display()
            ),
        )?;
        follow_remote_head(&mirror, &opts.cancel);
    } else {
        progress(&format!(
            "cloning `{location}` into `{}` (first use; later runs only fetch)",
            mirror.display()
        ));
        let parent = mirror.parent().expect("mirror dir has a parent");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the directory `{}`", parent.display()))?;
        // Clone into a temp dir next to the final place, then rename: a crash mid-clone leaves
        // no half mirror behind that later runs would mistake for a good one.
        let tmp = tempfile::Builder::new()
            .prefix(".clone-")
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a temp dir in `{}`", parent.display()))?;
        let mut cmd = Command::new("git");
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .args(["clone", "--mirror", "--quiet", "--"])
            .arg(&location)
            .arg(tmp.path().join("m.git"));
        run_git(
            cmd,
            &opts.cancel,
            &format!("cannot clone `{location}`; check the URL or path and the network"),
        )
        .map_err(|e| Failure::new(Code::Usage, format!("{e:#}")))?;
        std::fs::rename(tmp.path().join("m.git"), &mirror)
            .with_context(|| format!("cannot move the new mirror into `{}`", mirror.display()))?;
    }
    Ok(mirror)
}

/// Points the mirror's HEAD at the remote's current default branch, so `HEAD` keeps meaning
/// the default branch's tip after the remote renames it. Best effort: a failure leaves HEAD
/// as it was.
fn follow_remote_head(mirror: &Path, cancel: &Cancel) {
    let mut cmd = git(mirror);
    cmd.args(["ls-remote", "--symref", "origin", "HEAD"]);
    let Ok(out) = run_git(cmd, cancel, "ls-remote") else {
        return;
    };
    let target = out.lines().find_map(|line| {
        line.strip_prefix("ref: ")
            .and_then(|rest| rest.strip_suffix("\tHEAD"))
    });
    if let Some(target) = target {
        let mut cmd = git(mirror);
        cmd.args(["symbolic-ref", "HEAD", target]);
        let _ = run_git(cmd, cancel, "symbolic-ref");
    }
}

/// The mirror of `opts.repo`, which [`resolve`] must have created.
pub(super) fn existing_mirror(opts: &SourceOptions) -> anyhow::Result<PathBuf> {
    let mirror = mirror_dir(&opts.cache_dir, &opts.repo);
    if !mirror.join("HEAD").is_file() {
        anyhow::bail!(
            "no mirror of `{}` at `{}`; resolve the refs before building",
            opts.repo.location(),
            mirror.display()
        );
    }
    Ok(mirror)
}

/// `sha` and committer time (ISO 8601) of `rev` in `repo`, or `None` when it names no commit.
pub(super) fn commit_of(
    repo: &Path,
    rev: &str,
    cancel: &Cancel,
) -> anyhow::Result<Option<(String, String)>> {
    let mut cmd = git(repo);
    cmd.args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"));
    let line = process::command_line(&cmd);
    let done = process::run_until_done(&mut cmd, Sink::Capture, cancel)?;
    if !done.status.success() {
        // `--quiet --verify` exits 1 without output for "no such commit"; anything on stderr
        // (an ambiguous short SHA, a broken repository) is worth showing.
        if done.stderr.trim().is_empty() {
            return Ok(None);
        }
        return Err(usage(process::failure_message(
            &format!("cannot resolve `{rev}`"),
            &line,
            done.status,
            done.stderr.trim(),
            None,
        )));
    }
    let sha = done.stdout.trim().to_string();
    let mut cmd = git(repo);
    cmd.args(["show", "-s", "--format=%cI", &sha]);
    let time = run_git(
        cmd,
        cancel,
        &format!("cannot read the commit time of `{sha}`"),
    )?;
    Ok(Some((sha, time)))
}

/// `owner/name` from the `origin` remote of a local repository, when that is a GitHub URL.
fn repository_of_local(repo: &Path, cancel: &Cancel) -> Option<String> {
    let mut cmd = git(repo);
    cmd.args(["config", "--get", "remote.origin.url"]);
    run_git(cmd, cancel, "config")
        .ok()
        .and_then(|url| github_repository(&url))
}

pub(super) fn resolve(
    opts: &SourceOptions,
    refs: &[String],
    progress: &dyn Fn(&str),
) -> anyhow::Result<Vec<ResolvedCommit>> {
    for r in refs {
        if r.is_empty() || r.starts_with('-') || r.chars().any(char::is_whitespace) {
            return Err(usage(format!(
                "`{r}` is not a valid git ref; give a branch, tag, commit SHA or `HEAD`"
            )));
        }
    }
    let (repo_dir, repository, where_) = match &opts.valkey_path {
        Some(path) => {
            if !path.join(".git").exists() {
                return Err(usage(format!(
                    "`--valkey-path` `{}` is not a git checkout; give the directory of a Valkey clone",
                    path.display()
                )));
            }
            let repository = repository_of_local(path, &opts.cancel);
            (
                path.clone(),
                repository,
                format!("the checkout `{}`", path.display()),
            )
        }
        None => {
            let mirror = sync_mirror(opts, progress)?;
            let repository = match &opts.repo {
                RepoSource::Url(url) => github_repository(url),
                RepoSource::Path(path) => repository_of_local(path, &opts.cancel),
            };
            (mirror, repository, format!("`{}`", opts.repo.location()))
        }
    };
    let mut resolved = Vec::with_capacity(refs.len());
    for r in refs {
        let mut found = commit_of(&repo_dir, r, &opts.cancel)?;
        if found.is_none() && opts.valkey_path.is_some() {
            // In a clone, `unstable` often exists only as `origin/unstable`.
            found = commit_of(&repo_dir, &format!("origin/{r}"), &opts.cancel)?;
        }
        let Some((sha, commit_time)) = found else {
            return Err(usage(format!(
                "unknown ref `{r}` in {where_}: it is not a branch, tag or commit there; \
                 check the spelling, or push / fetch it to that repository"
            )));
        };
        resolved.push(ResolvedCommit {
            git_ref: r.clone(),
            sha,
            commit_time,
            repository: repository.clone(),
        });
    }
    Ok(resolved)
}

/// The first-parent history from `good` (excluded) to `bad` (included), oldest first, each
/// commit with its subject line. `good` must be an ancestor of `bad` (a usage error otherwise).
pub(super) fn first_parent_range(
    opts: &SourceOptions,
    good: &str,
    bad: &str,
) -> anyhow::Result<Vec<HistoryCommit>> {
    let repo = match &opts.valkey_path {
        Some(path) => path.clone(),
        None => existing_mirror(opts)?,
    };
    let mut cmd = git(&repo);
    cmd.args(["merge-base", "--is-ancestor", good, bad]);
    let done = process::run_until_done(&mut cmd, Sink::Capture, &opts.cancel)?;
    if !done.status.success() {
        return Err(usage(format!(
            "`{good}` is not an ancestor of `{bad}`: the good commit must come before the bad one in the history; swap them or pick commits of one branch"
        )));
    }
    let mut cmd = git(&repo);
    cmd.args([
        "log",
        "--first-parent",
        "--reverse",
        "--format=%H%x09%cI%x09%s",
    ])
    .arg(format!("{good}..{bad}"));
    let out = run_git(
        cmd,
        &opts.cancel,
        &format!("cannot list the commits from `{good}` to `{bad}`"),
    )?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            Some(HistoryCommit {
                sha: parts.next()?.to_string(),
                commit_time: parts.next()?.to_string(),
                subject: parts.next().unwrap_or("").to_string(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_dirs_are_readable_and_distinct() {
        let cache = Path::new("/c");
        let a = mirror_dir(
            cache,
            &RepoSource::Url("https://github.com/valkey-io/valkey.git".into()),
        );
        let b = mirror_dir(cache, &RepoSource::Url("git@github.com:me/valkey".into()));
        let c = mirror_dir(cache, &RepoSource::Path("/src/valkey/".into()));
        for dir in [&a, &b, &c] {
            let name = dir.file_name().unwrap().to_str().unwrap();
            assert!(
                name.starts_with("valkey-") && name.ends_with(".git"),
                "{name}"
            );
            assert_eq!(dir.parent().unwrap(), Path::new("/c/repos"));
        }
        assert_ne!(a, b);
        assert_ne!(b, c);
    }
}
