//! Servers built from source (docs/design.md §5.1): git refs resolved to commits, and those commits built
//! into `valkey-server`, `valkey-cli` and `valkey-benchmark`, with a build cache.
//!
//! Owns: the bare mirror of `--valkey-repo` (cloned once, then fetched, never re-cloned), ref
//! resolution, clean-worktree builds with `make`, the build cache under `--build-dir`, and builds
//! in a `--valkey-path` checkout. Does not own: prebuilt `--server-bin` binaries, starting
//! servers, progress bars (the caller renders the `progress` messages), or any results file other
//! than the build log path it is handed.
//!
//! Git and make are run as child processes (never libgit2), each in its own process group,
//! stopped when [`SourceOptions::cancel`] is raised.
//!
//! Layout of the cache directory:
//! ```text
//! repos/<name>-<hash>.git          bare mirror of one repository (hash of its URL or path)
//! repos/<name>-<hash>.lock         serializes clone / fetch / worktree changes
//! builds/<key>/                    valkey-server, valkey-cli, valkey-benchmark, build.json
//! builds/<key>.lock                one build per key at a time, across processes
//! checkouts/<hash>/<sha>-<flavour>/  binaries built in a `--valkey-path` checkout, kept per SHA
//! work/                            temporary worktrees, removed after each build
//! ```
//! `<key>` is `<sha>-<tls|plain>-<arch>-<compiler hash>` (see [`cache_key`]).
//!
//! How `run` uses it: resolve every ref first (an unknown ref is exit 2 before anything
//! starts), then build each commit (exit 3 on failure), then benchmark.
//!
//! ```no_run
//! use std::path::Path;
//! use valkey_perf::source::{self, RepoSource, SourceOptions};
//!
//! # fn main() -> anyhow::Result<()> {
//! let repo = RepoSource::parse(source::DEFAULT_REPO_URL)?;
//! let opts = SourceOptions::new(repo, source::default_cache_dir()?);
//! // Ctrl-C stops a running git / make (the handlers `process::install_signal_handlers`
//! // installs raise every `Cancel` token); `opts.cancel.raise()` does too.
//! let say = |line: &str| eprintln!("{line}");
//! let commits = source::resolve(&opts, &["unstable".into(), "8.1.1".into()], &say)?;
//! for commit in &commits {
//!     let log = Path::new("results").join(&commit.sha).join("build.log");
//!     let built = source::build(&opts, commit, /* need_tls */ true, &log, &say)?;
//!     println!("{} -> {}", commit.git_ref, built.server.display());
//! }
//! # Ok(())
//! # }
//! ```

mod build;
mod git;
mod lock;

use crate::process::Cancel;
use anyhow::Context;
use std::path::{Path, PathBuf};

pub use build::{BuildFlavour, cache_key};

/// The repository `--valkey-repo` defaults to.
pub const DEFAULT_REPO_URL: &str = "https://github.com/valkey-io/valkey.git";

/// Where the sources come from (`--valkey-repo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoSource {
    /// A URL git can fetch from (`https://`, `ssh://`, `git@host:path`, `file://`).
    Url(String),
    /// A local repository (bare or not).
    Path(PathBuf),
}

impl RepoSource {
    /// Reads a `--valkey-repo` value: URLs and scp-like `user@host:path` stay URLs, anything else
    /// is a local path, which must exist.
    pub fn parse(value: &str) -> anyhow::Result<RepoSource> {
        if value.contains("://") || is_scp_like(value) {
            return Ok(RepoSource::Url(value.to_string()));
        }
        let path = Path::new(value);
        let canonical = path.canonicalize().map_err(|e| {
            crate::exit::usage(format!(
                "`--valkey-repo` `{value}` is neither a URL nor an existing directory ({e}); \
                 give a git URL or the path of a local Valkey repository"
            ))
        })?;
        Ok(RepoSource::Path(canonical))
    }

    /// The URL or path, as git is given it.
    pub fn location(&self) -> String {
        match self {
            RepoSource::Url(url) => url.clone(),
            RepoSource::Path(path) => path.display().to_string(),
        }
    }
}

/// `user@host:path` (git's scp-like syntax), but not a Windows-like `C:\` or a plain path.
fn is_scp_like(value: &str) -> bool {
    match value.split_once(':') {
        Some((host, _)) => !host.contains('/') && host.contains('@'),
        None => false,
    }
}

/// What [`resolve`] and [`build`] work with, lowered from `--valkey-repo`, `--valkey-path`,
/// `--build-dir` and `--no-build-cache`.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// `--valkey-repo`; ignored when `valkey_path` is set.
    pub repo: RepoSource,
    /// `--valkey-path`: an existing checkout to resolve refs in and build in place.
    pub valkey_path: Option<PathBuf>,
    /// `--build-dir`: mirrors, cached builds, temporary worktrees ([`default_cache_dir`]).
    pub cache_dir: PathBuf,
    /// `--no-build-cache`: build even when a cached build exists (the new build replaces it).
    pub no_build_cache: bool,
    /// Raised by the caller's Ctrl-C handler: running git / make groups are stopped and the
    /// operation fails with exit code 130.
    pub cancel: Cancel,
}

impl SourceOptions {
    /// Options with no `--valkey-path`, the cache enabled and a fresh cancel flag.
    pub fn new(repo: RepoSource, cache_dir: PathBuf) -> SourceOptions {
        SourceOptions {
            repo,
            valkey_path: None,
            cache_dir,
            no_build_cache: false,
            cancel: Cancel::new(),
        }
    }
}

/// A ref resolved to the commit it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCommit {
    /// The ref as the user typed it (`HEAD`, `unstable`, `8.1.1`, `55bbbe0`).
    pub git_ref: String,
    /// Full 40-hex SHA.
    pub sha: String,
    /// Committer time, strict ISO 8601 with offset (`git show --format=%cI`).
    pub commit_time: String,
    /// `owner/name` when the repository is a GitHub URL (or a local clone of one).
    pub repository: Option<String>,
}

impl ResolvedCommit {
    /// The first 12 hex digits, for messages.
    pub fn short_sha(&self) -> &str {
        &self.sha[..self.sha.len().min(12)]
    }
}

/// Binaries ready to run for one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBinaries {
    pub server: PathBuf,
    /// `None` when the build produced no `valkey-cli`.
    pub cli: Option<PathBuf>,
    /// `None` when the build produced no `valkey-benchmark`.
    pub benchmark: Option<PathBuf>,
    /// True when nothing was compiled because the cache had this build.
    pub from_cache: bool,
    /// The cache entry (or `--valkey-path` snapshot) name, for messages and records.
    pub cache_key: String,
    /// Built with `BUILD_TLS=yes`.
    pub tls: bool,
}

/// `$XDG_CACHE_HOME/valkey-perf`, else `~/.cache/valkey-perf`.
pub fn default_cache_dir() -> anyhow::Result<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = match xdg {
        Some(dir) => dir,
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache"))
            .filter(|p| p.is_absolute())
            .context("cannot find a cache directory: neither XDG_CACHE_HOME nor HOME is set; pass `--build-dir DIR`")?,
    };
    Ok(base.join("valkey-perf"))
}

/// `owner/name` of a GitHub repository URL, in the https, ssh and scp-like forms; `None` for
/// anything else.
pub fn github_repository(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = ["https://", "http://", "git://", "ssh://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .map(|rest| {
            // Drop `user@` (and a port) before the host.
            let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
            rest.strip_prefix("github.com/")
                .or_else(|| rest.strip_prefix("www.github.com/"))
                .or_else(|| rest.strip_prefix("github.com:22/"))
        })
        .unwrap_or_else(|| url.strip_prefix("git@github.com:"))?;
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let (owner, name) = rest.split_once('/')?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    (valid(owner) && valid(name)).then(|| format!("{owner}/{name}"))
}

/// Resolves every ref to a full SHA and commit time, before anything is built. Without
/// `valkey_path` this clones the mirror on first use and otherwise fetches it, once per call.
/// An unknown ref fails with exit code 2, naming it.
pub fn resolve(
    opts: &SourceOptions,
    refs: &[String],
    progress: &dyn Fn(&str),
) -> anyhow::Result<Vec<ResolvedCommit>> {
    git::resolve(opts, refs, progress)
}

/// Builds `commit` (or finds it in the cache) and returns its binaries. `need_tls` asks for a
/// `BUILD_TLS=yes` build; a cached TLS build also serves `need_tls = false`. Make's output goes
/// to `log_path` (its directory is created). A failed checkout or build fails with exit code 3
/// and the log's tail, and caches nothing. `progress` receives one line per phase
/// (`using cached build <key> for <sha>`, `building ...`, `built ...`).
pub fn build(
    opts: &SourceOptions,
    commit: &ResolvedCommit,
    need_tls: bool,
    log_path: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<BuiltBinaries> {
    build::build(opts, commit, need_tls, log_path, progress)
}

/// One commit of a first-parent history ([`first_parent_range`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCommit {
    /// Full 40-hex SHA.
    pub sha: String,
    /// Committer time, strict ISO 8601 with offset.
    pub commit_time: String,
    /// The first line of its message.
    pub subject: String,
}

/// The first-parent history from `good` (excluded) to `bad` (included), oldest first, in the
/// `--valkey-path` checkout or the mirror [`resolve`] synced. `good` must be an ancestor of
/// `bad`; otherwise a usage error says so.
pub fn first_parent_range(
    opts: &SourceOptions,
    good: &str,
    bad: &str,
) -> anyhow::Result<Vec<HistoryCommit>> {
    git::first_parent_range(opts, good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_urls_give_owner_and_name() {
        for url in [
            "https://github.com/valkey-io/valkey",
            "https://github.com/valkey-io/valkey.git",
            "https://github.com/valkey-io/valkey/",
            "http://github.com/valkey-io/valkey.git",
            "https://user@github.com/valkey-io/valkey.git",
            "git@github.com:valkey-io/valkey.git",
            "git@github.com:valkey-io/valkey",
            "ssh://git@github.com/valkey-io/valkey.git",
            "git://github.com/valkey-io/valkey.git",
        ] {
            assert_eq!(
                github_repository(url).as_deref(),
                Some("valkey-io/valkey"),
                "{url}"
            );
        }
    }

    #[test]
    fn non_github_urls_give_none() {
        for url in [
            "https://gitlab.com/valkey-io/valkey.git",
            "/home/me/valkey",
            "file:///srv/valkey.git",
            "https://github.com/valkey-io",
            "https://github.com/valkey-io/valkey/tree/unstable",
            "git@example.com:valkey-io/valkey.git",
        ] {
            assert_eq!(github_repository(url), None, "{url}");
        }
    }

    #[test]
    fn repo_source_parse_tells_urls_from_paths() {
        assert_eq!(
            RepoSource::parse("https://github.com/valkey-io/valkey.git").unwrap(),
            RepoSource::Url("https://github.com/valkey-io/valkey.git".into())
        );
        assert_eq!(
            RepoSource::parse("git@github.com:valkey-io/valkey.git").unwrap(),
            RepoSource::Url("git@github.com:valkey-io/valkey.git".into())
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            RepoSource::parse(dir.path().to_str().unwrap()).unwrap(),
            RepoSource::Path(dir.path().canonicalize().unwrap())
        );
        let err = RepoSource::parse("/no/such/valkey").unwrap_err();
        assert_eq!(crate::exit::code_of(&err), crate::exit::Code::Usage);
        assert!(err.to_string().contains("`/no/such/valkey`"), "{err}");
    }
}
