//! `valkey-perf commits`: which commits still need benchmarking (docs/design.md §8), upstream's
//! `determine`, `mark`, `query`, `cleanup`, plus `claim` (determine and mark in one atomic
//! step, for many runners) and `reset` (retry a commit that failed too often).
//!
//! SHAs go to stdout one per line (`--format json` for rows); everything else to stderr.

use super::db::DbArgs;
use crate::exit::{Code, usage};
use crate::process::{self, Cancel, Sink};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use store::{Candidate, CommitFilter, Selection, Status};

/// Flags of `valkey-perf commits`.
#[derive(Debug, Args)]
pub struct CommitsArgs {
    #[command(subcommand)]
    pub op: Op,
    #[command(flatten)]
    pub db: DbArgs,
    /// The benchmark config the commits are tracked for (stored with every row).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "configs/benchmark-configs.json",
        global = true
    )]
    pub config_file: PathBuf,
    /// Architecture the commits are tracked for (default: this machine's).
    #[arg(long, global = true)]
    pub architecture: Option<String>,
    /// Output: SHAs one per line (`text`, rows as a table for `query`) or `json` rows.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Which commits to consider (`determine`, `claim`).
#[derive(Debug, Args)]
pub struct Walk {
    /// The Valkey repository whose history is walked.
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// Branch, ref or range (`a..b`) to walk, newest first.
    #[arg(long, default_value = "HEAD")]
    pub branch: String,
    /// Return at most this many commits.
    #[arg(long, default_value_t = 3)]
    pub max_commits: usize,
    /// Look at most this far back (commits).
    #[arg(long, default_value_t = 1000)]
    pub depth: usize,
    /// Do not count a commit done under a config that covers this one as done.
    #[arg(long)]
    pub disable_subset_detection: bool,
    /// Skip commits that failed this many times (until `commits reset`).
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
}

#[derive(Debug, Subcommand)]
pub enum Op {
    /// Commits of --branch not yet benchmarked for this config and architecture.
    Determine(Walk),
    /// Like determine, and marks them in_progress atomically: concurrent runners never get
    /// the same commit.
    Claim {
        #[command(flatten)]
        walk: Walk,
        /// Who claims (stored with the rows).
        #[arg(long, value_name = "ID")]
        runner_id: String,
    },
    /// Sets the status of commits.
    Mark {
        /// in_progress, complete or failed.
        #[arg(long)]
        status: String,
        /// With `failed`: why (stored as last_error).
        #[arg(long)]
        error: Option<String>,
        /// The repository the commits are in (for their commit times).
        #[arg(long, value_name = "PATH", default_value = ".")]
        repo: PathBuf,
        /// Full or short SHAs.
        #[arg(required = true, value_name = "SHA")]
        shas: Vec<String>,
    },
    /// Prints the tracked commits.
    Query {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Every config, not only --config-file's.
        #[arg(long)]
        all_configs: bool,
    },
    /// Resets in_progress rows older than --stale-after (runners that died).
    Cleanup {
        /// Age in hours after which an in_progress row is stale.
        #[arg(long, value_name = "HOURS", default_value_t = 24.0)]
        stale_after: f64,
        /// Reset stale rows of every config and architecture, not only these.
        #[arg(long)]
        all_configs: bool,
    },
    /// Lets a commit that failed --max-attempts times be determined again.
    Reset {
        #[arg(required = true, value_name = "SHA")]
        sha: String,
    },
}

fn read_config(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read the config `{}`: {e}; pass the benchmark config with --config-file",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| usage(format!("`{}` is not JSON: {e}", path.display())))
}

/// Runs `git` in `repo` and returns its stdout.
fn git(repo: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo).args(args);
    let line = process::command_line(&cmd);
    let done = process::run_until_done(&mut cmd, Sink::Capture, &Cancel::new())?;
    if !done.status.success() {
        return Err(usage(process::failure_message(
            "",
            &line,
            done.status,
            &done.stderr,
            None,
        )));
    }
    Ok(done.stdout)
}

/// `<sha> <commit time>` lines (git's `%H %cI`) into candidates.
fn parse_log(text: &str) -> Result<Vec<Candidate>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (sha, time) = l
                .split_once(' ')
                .with_context(|| format!("unexpected git output line {l:?}"))?;
            let commit_time = DateTime::parse_from_rfc3339(time.trim())
                .with_context(|| format!("bad commit time in git output line {l:?}"))?
                .with_timezone(&Utc);
            Ok(Candidate {
                sha: sha.to_string(),
                commit_time,
            })
        })
        .collect()
}

/// The newest `depth` commits of `branch` (one `git log`), newest first.
fn walk(w: &Walk) -> Result<Vec<Candidate>> {
    let depth = format!("--max-count={}", w.depth.max(1));
    parse_log(&git(
        &w.repo,
        &["log", &depth, "--format=%H %cI", &w.branch, "--"],
    )?)
}

/// Full SHAs and commit times of the named commits (one `git show`).
fn resolve(repo: &Path, shas: &[String]) -> Result<Vec<Candidate>> {
    let mut args = vec!["show", "-s", "--format=%H %cI"];
    args.extend(shas.iter().map(|s| s.as_str()));
    parse_log(&git(repo, &args)?)
}

fn print_shas(shas: &[String], format: Format) -> Result<()> {
    match format {
        Format::Text => shas
            .iter()
            .for_each(|s| crate::util::outln(format_args!("{s}"))),
        Format::Json => crate::util::outln(format_args!("{}", serde_json::to_string_pretty(shas)?)),
    }
    Ok(())
}

/// The SHAs on stdout, flushed, as [`print_shas`] prints them; an error when stdout is gone.
fn write_shas(shas: &[String], format: Format) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => {
            for s in shas {
                writeln!(out, "{s}")?;
            }
        }
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(shas).map_err(std::io::Error::other)?
        )?,
    }
    out.flush()
}

fn status_of(s: &str) -> Result<Status> {
    s.parse().map_err(|_| {
        usage(format!(
            "status `{s}` is not one of in_progress, complete, failed"
        ))
    })
}

/// Runs `valkey-perf commits`.
pub fn run(args: CommitsArgs) -> Result<Code> {
    let table = args.db.table()?;
    let config = read_config(&args.config_file)?;
    let architecture = args
        .architecture
        .clone()
        .unwrap_or_else(crate::results::env::architecture);
    let selection = |w: &Walk| Selection {
        config: &config,
        architecture: &architecture,
        max_commits: w.max_commits,
        max_attempts: w.max_attempts,
        subset_detection: !w.disable_subset_detection,
    };
    match &args.op {
        Op::Determine(w) => {
            let candidates = walk(w)?;
            let shas = args
                .db
                .open()?
                .determine(&table, &candidates, &selection(w))?;
            print_shas(&shas, args.format)?;
        }
        Op::Claim { walk: w, runner_id } => {
            let candidates = walk(w)?;
            // Printed (and flushed) before the claim commits: see `Db::claim_announced`.
            let format = args.format;
            args.db.open()?.claim_announced(
                &table,
                &candidates,
                &selection(w),
                runner_id,
                &mut |shas| write_shas(shas, format),
            )?;
        }
        Op::Mark {
            status,
            error,
            repo,
            shas,
        } => {
            let status = status_of(status)?;
            if error.is_some() && status != Status::Failed {
                bail!(usage("--error goes with --status failed"));
            }
            let commits = resolve(repo, shas)?;
            args.db.open()?.mark(
                &table,
                &commits,
                status,
                &config,
                &architecture,
                error.as_deref(),
            )?;
            for c in &commits {
                eprintln!("{} → {status}", c.sha);
            }
        }
        Op::Query {
            status,
            all_configs,
        } => {
            let filter = CommitFilter {
                status: status.as_deref().map(status_of).transpose()?,
                config: (!all_configs).then(|| config.clone()),
                architecture: (!all_configs).then(|| architecture.clone()),
            };
            let rows = args.db.open()?.query(&table, &filter)?;
            match args.format {
                Format::Json => {
                    crate::util::outln(format_args!("{}", serde_json::to_string_pretty(&rows)?))
                }
                Format::Text => {
                    crate::util::outln(format_args!(
                        "{:<40}  {:<25}  {:<11}  {:>8}  {:<16}  last error",
                        "sha", "commit time", "status", "attempts", "config"
                    ));
                    for r in &rows {
                        crate::util::outln(format_args!(
                            "{:<40}  {:<25}  {:<11}  {:>8}  {:<16}  {}",
                            r.sha,
                            r.timestamp.to_rfc3339(),
                            r.status.as_str(),
                            r.attempts,
                            r.config_hash.as_deref().unwrap_or("-"),
                            r.last_error.as_deref().unwrap_or("")
                        ));
                    }
                }
            }
        }
        Op::Cleanup {
            stale_after,
            all_configs,
        } => {
            if !(stale_after.is_finite() && *stale_after >= 0.0) {
                bail!(usage(format!(
                    "--stale-after {stale_after} must be zero or more hours"
                )));
            }
            let n = args.db.open()?.cleanup(
                &table,
                Duration::from_secs_f64(stale_after * 3600.0),
                (!all_configs).then_some(&config),
                (!all_configs).then_some(architecture.as_str()),
            )?;
            eprintln!("reset {n} stale in_progress row(s)");
        }
        Op::Reset { sha } => {
            let mut db = args.db.open()?;
            // A short SHA names the one tracked commit of this config it starts with.
            let rows = db.query(
                &table,
                &CommitFilter {
                    status: None,
                    config: Some(config.clone()),
                    architecture: Some(architecture.clone()),
                },
            )?;
            let sha = full_sha(sha, rows.iter().map(|r| r.sha.as_str()))?;
            let n = db.reset(&table, &sha, Some(&config), Some(&architecture))?;
            if n == 0 {
                bail!(usage(format!(
                    "`{sha}` has no failed row for this config and architecture; `commits query --status failed` lists them"
                )));
            }
            eprintln!("{sha}: attempts reset; determine returns it again");
        }
    }
    Ok(Code::Success)
}

/// The tracked SHA that `given` (full or at least 4 hex digits) names, case-insensitively.
fn full_sha<'a>(given: &str, tracked: impl Iterator<Item = &'a str>) -> Result<String> {
    let want = given.to_ascii_lowercase();
    if want.len() < 4 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(usage(format!(
            "`{given}` is not a commit SHA; give at least 4 hex digits (`commits query` lists the tracked commits)"
        )));
    }
    let mut found: Vec<&str> = tracked.filter(|s| s.starts_with(&want)).collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => bail!(usage(format!(
            "no tracked commit of this config and architecture starts with `{given}`; `commits query` lists them"
        ))),
        many => bail!(usage(format!(
            "`{given}` is ambiguous: {}; give more digits",
            many.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_shas_name_one_tracked_commit() {
        let tracked = ["abcdef0123", "abcd990000", "1234567890"];
        assert_eq!(full_sha("1234", tracked.into_iter()).unwrap(), "1234567890");
        assert_eq!(
            full_sha("ABCDEF", tracked.into_iter()).unwrap(),
            "abcdef0123"
        );
        let e = format!("{:#}", full_sha("abcd", tracked.into_iter()).unwrap_err());
        assert!(e.contains("ambiguous") && e.contains("abcd990000"), "{e}");
        assert!(full_sha("ffff", tracked.into_iter()).is_err());
        assert!(full_sha("ab", tracked.into_iter()).is_err());
        assert!(full_sha("xyzw", tracked.into_iter()).is_err());
    }

    #[test]
    fn parses_git_log_lines() {
        let c = parse_log("abc 2024-10-25T00:36:32+02:00\n\n").unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].sha, "abc");
        assert_eq!(c[0].commit_time.to_rfc3339(), "2024-10-24T22:36:32+00:00");
        assert!(parse_log("abc not-a-time").is_err());
    }
}
