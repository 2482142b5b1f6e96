//! `valkey-perf bisect`: which commit between a good and a bad one changed a case
//! (docs/design.md §10).
//!
//! This module owns the flags, their lowering and the search: the ends' difference checked
//! first, then a binary search over the first-parent history, each midpoint built (through
//! the build cache) and measured against the ends of its interval in one interleaved session
//! ([`measure`]), placed by [`decide`]; commits that do not build are skipped as `git bisect
//! skip` does, a midpoint clearly between the ends splits the search in two. What was learnt
//! is kept after every step ([`state`]); [`report`] prints the outcome and pushes the records.

mod decide;
mod measure;
mod report;
mod state;

pub use measure::MetricChoice;

use super::logging::{self, LogLevel};
use super::run::{
    BuildArgs, CaseArgs, EngineArgs, Mode, OutputArgs, RunArgs, RunningArgs, TargetArgs,
};
use crate::exit::{Code, code_of, usage};
use crate::source::{self, HistoryCommit, RepoSource, ResolvedCommit, SourceOptions};
use anyhow::Result;
use clap::Args;
use decide::{Ends, Position};
use measure::Measurer;
use report::Format;
use state::{EndsResult, Skipped, State, StepResult};
use std::path::PathBuf;
use std::time::Instant;

/// Flags of `valkey-perf bisect`.
#[derive(Debug, Args)]
pub struct BisectArgs {
    /// A commit (any git ref) where the case was as expected.
    #[arg(long, value_name = "REF")]
    pub good: String,
    /// A later commit where the case had changed; the first-parent history between them is
    /// searched.
    #[arg(long, value_name = "REF")]
    pub bad: String,
    /// Config file: a JSON array of config objects (for `--metric instructions`, cases of a
    /// fixed number of `requests` without warm-up).
    #[arg(long, default_value = "configs/benchmark-configs.json")]
    pub config: PathBuf,
    /// Only the config's cases whose label has every word of FILTER, e.g. `"GET P=16"` (labels
    /// as `config validate` prints them).
    #[arg(long = "case", value_name = "FILTER")]
    pub case: Option<String>,
    /// What is judged: `rps` (timed, paired rounds), `server-cpu` (the servers' CPU time per
    /// request, timed the same way, far less moved by a busy machine) or `instructions`
    /// (instructions per request under callgrind; exact, one run a side usually decides a
    /// step).
    #[arg(long, value_enum, default_value_t = MetricChoice::Rps)]
    pub metric: MetricChoice,
    /// Most rounds (one run of every target each) for one step before it is reported as
    /// undecidable (default 10 for rps, 5 for instructions).
    #[arg(long, value_name = "N")]
    pub max_rounds: Option<u32>,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Repository `owner/name` stored in records (default: derived from a GitHub --valkey-repo).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repository: Option<String>,
    /// Directory results go into: one subdirectory per tested commit, and
    /// `bisect/<good>-<bad>-<metric>.json`, what was learnt (a second invocation resumes
    /// from it).
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Output on stdout: a table, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Push every tested commit's records into this database at the end (a SQLite path,
    /// `sqlite:PATH`, or `postgres://...`), so the dashboard shows them.
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// CA certificate for `sslmode=verify-full`.
    #[arg(long, value_name = "FILE")]
    pub db_ca: Option<PathBuf>,
    /// Table set for --db: `core`, `tag`, or an id.
    #[arg(long, value_name = "core|tag|ID", default_value = "core")]
    pub table: String,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, value_enum, default_value_t = LogLevel::Info, hide_possible_values = true)]
    pub log_level: LogLevel,
}

/// An interval of the history being searched (indices into the commits, 0 the good end):
/// `lo` is like its good end, `hi` like its bad end, and every midpoint is measured against
/// `good_end` and `bad_end`, whose difference is `d` = ln(bad end / good end).
#[derive(Debug, Clone, Copy)]
struct Interval {
    lo: usize,
    hi: usize,
    good_end: usize,
    bad_end: usize,
    d: f64,
}

/// What the search found in one interval.
#[derive(Debug, Clone)]
pub(super) enum Finding {
    /// `commit` is the first like the bad end; its step is `d`.
    Step { commit: usize, d: f64 },
    /// Commits that do not build hide which of `candidates` (the last one builds) is first.
    Skipped { candidates: Vec<usize>, d: f64 },
    /// The midpoint `at` could not be placed within the round limit: the first bad commit is
    /// after `lo` and at most `hi`.
    Undecidable { lo: usize, hi: usize, at: usize },
}

/// Everything the search works with.
struct Bisection {
    measurer: Measurer,
    source: SourceOptions,
    need_tls: bool,
    /// Good end first, then the first-parent history up to the bad end.
    commits: Vec<HistoryCommit>,
    state: State,
    state_path: PathBuf,
    /// Commits checked to build in this invocation.
    built: std::collections::HashSet<usize>,
}

/// Runs `valkey-perf bisect`.
pub fn run(args: BisectArgs) -> Result<Code> {
    logging::init(args.log_level);
    crate::process::install_signal_handlers()?;
    let started = Instant::now();
    let mut b = lower(&args)?;
    let outcome = search(&mut b);
    b.state.elapsed_secs += started.elapsed().as_secs_f64();
    b.state.save(&b.state_path)?;
    let findings = match outcome {
        Ok(f) => f,
        Err(e) => {
            if code_of(&e) == Code::Interrupted {
                tracing::warn!(
                    "interrupted: {} decided steps are kept in `{}`; the same command resumes from them",
                    b.state.steps.len(),
                    b.state_path.display()
                );
            }
            return Err(e);
        }
    };
    let rep = report::Report::new(&b.commits, &b.state, &findings);
    report::print(&rep, args.format)?;
    if let Some(db) = &args.db {
        report::push(
            db,
            args.db_ca.as_deref(),
            &args.table,
            &args.results_dir,
            &rep,
        )?;
    }
    let undecided_ends = b.state.ends.as_ref().is_none_or(|e| e.verdict.is_none());
    let undecided_step = findings
        .iter()
        .any(|f| matches!(f, Finding::Undecidable { .. }));
    Ok(if undecided_ends || undecided_step {
        Code::Inconclusive
    } else {
        Code::Success
    })
}

/// Checks the flags and the config, resolves the ends and lists the history between them.
/// Nothing is built or started.
fn lower(args: &BisectArgs) -> Result<Bisection> {
    let max_rounds = args
        .max_rounds
        .unwrap_or(if args.metric.exact() { 5 } else { 10 });
    if !args.metric.exact() && max_rounds < 3 {
        return Err(usage(format!(
            "--max-rounds {max_rounds} is too few for --metric {}: a paired interval needs 3 rounds; use 3 or more",
            args.metric.name()
        )));
    }
    if max_rounds == 0 {
        return Err(usage("--max-rounds 0 measures nothing; use 1 or more"));
    }
    store::TableId::parse(&args.table)
        .map_err(|e| usage(format!("--table `{}`: {e}", args.table)))?;
    let measurer = Measurer {
        template: run_args(args, max_rounds),
        filter: args.case.clone(),
        metric: args.metric,
        max_rounds,
    };
    let cases = checked_cases(args, &measurer)?;
    check_db(args)?;
    let need_tls = cases.iter().any(|c| c.topology.tls);
    let labels = cases.iter().map(|c| c.label()).collect();
    let source = source_options(&args.build)?;
    let say = |line: &str| tracing::info!("{line}");
    let ends = source::resolve(&source, &[args.good.clone(), args.bad.clone()], &say)?;
    let (good, bad) = (&ends[0], &ends[1]);
    if good.sha == bad.sha {
        return Err(usage(format!(
            "--good `{}` and --bad `{}` are the same commit `{}`; give two different commits",
            args.good, args.bad, good.sha
        )));
    }
    let history = source::first_parent_range(&source, &good.sha, &bad.sha)?;
    let mut commits = vec![HistoryCommit {
        sha: good.sha.clone(),
        commit_time: good.commit_time.clone(),
        subject: String::new(),
    }];
    commits.extend(history);
    tracing::info!(
        "{} commits after {} up to {} (first parents); about {} steps",
        commits.len() - 1,
        good.short_sha(),
        bad.short_sha(),
        ((commits.len() - 1) as f64).log2().ceil()
    );
    let state_path = State::path(&args.results_dir, &good.sha, &bad.sha, args.metric);
    let state = State::load_or_new(&state_path, &good.sha, &bad.sha, args.metric, labels);
    Ok(Bisection {
        measurer,
        source,
        need_tls,
        commits,
        state,
        state_path,
        built: Default::default(),
    })
}

/// The config's cases `--case` keeps, checked against the metric before anything is built.
fn checked_cases(args: &BisectArgs, measurer: &Measurer) -> Result<Vec<crate::model::Case>> {
    let config = crate::config::load(&args.config, &crate::config::MachineFacts::here())?;
    let cases: Vec<_> = config
        .cases
        .into_iter()
        .filter(|c| measurer.keeps(c))
        .collect();
    if cases.is_empty() {
        return Err(usage(format!(
            "--case `{}` matches no case of `{}`; run `valkey-perf config validate {}` to see their labels",
            args.case.as_deref().unwrap_or(""),
            args.config.display(),
            args.config.display()
        )));
    }
    if args.metric.exact() {
        if let Some(bad) = cases.iter().find(|c| {
            c.warmup_secs > 0 || matches!(c.mode, crate::model::BenchmarkMode::Duration(_))
        }) {
            return Err(usage(format!(
                "config[{}] ({}): --metric instructions counts a fixed number of requests without warm-up; use `requests` and `warmup` 0",
                bad.config_index,
                bad.label()
            )));
        }
        crate::server::callgrind::check_installed().map_err(|e| usage(format!("{e:#}")))?;
    }
    Ok(cases)
}

/// `--db` opens (and is migrated) before anything is measured.
fn check_db(args: &BisectArgs) -> Result<()> {
    if let Some(url) = &args.db {
        store::Db::open(url, args.db_ca.as_deref()).map_err(|e| {
            usage(format!(
                "--db `{}` cannot be opened: {e:#}; fix the URL (nothing was measured)",
                store::redact_url(url)
            ))
        })?;
    }
    Ok(())
}

/// The flags of one `run` session of the bisection; its commits are set per session.
fn run_args(args: &BisectArgs, max_rounds: u32) -> RunArgs {
    RunArgs {
        mode: Mode::Both,
        targets: TargetArgs {
            commits: Vec::new(),
            baseline: None,
            server_bins: Vec::new(),
            baseline_server_bin: None,
            baseline_as_reference: false,
            repository: args.repository.clone(),
        },
        running: RunningArgs {
            use_running_server: false,
            target_ip: "127.0.0.1".into(),
            port: 6379,
            cluster: false,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            user: None,
            password: None,
        },
        // The bisection builds each commit first (and honours --no-build-cache there); the
        // sessions then find the builds in the cache.
        build: BuildArgs {
            no_build_cache: false,
            ..args.build.clone()
        },
        cases: CaseArgs {
            config: args.config.clone(),
            cases: Vec::new(),
            groups: Vec::new(),
            scenarios: Vec::new(),
            runs: max_rounds,
            instructions: args.metric == MetricChoice::Instructions,
            sample: false,
            seed: None,
            precision: None,
            max_time: None,
            duet: false,
            capacity: false,
        },
        engine: args.engine.clone(),
        output: OutputArgs {
            results_dir: args.results_dir.clone(),
            log_level: args.log_level,
            dry_run: false,
            graphs: false,
        },
    }
}

fn source_options(build: &BuildArgs) -> Result<SourceOptions> {
    let cache_dir = match &build.build_dir {
        // Builds run in worktrees below it: a relative path would point elsewhere there.
        Some(d) => std::path::absolute(d)
            .map_err(|e| usage(format!("--build-dir `{}`: {e}", d.display())))?,
        None => source::default_cache_dir()?,
    };
    let mut opts = SourceOptions::new(RepoSource::parse(&build.valkey_repo)?, cache_dir);
    opts.valkey_path = build.valkey_path.clone();
    opts.no_build_cache = build.no_build_cache;
    Ok(opts)
}

/// Ctrl-C between steps: what was decided is already saved; nothing more is started.
fn stop_if_interrupted() -> Result<()> {
    if crate::process::interrupted() {
        return Err(crate::exit::Failure::new(
            Code::Interrupted,
            "interrupted between bisection steps",
        ));
    }
    Ok(())
}

/// The ends, then the search of every interval; the findings in history order.
fn search(b: &mut Bisection) -> Result<Vec<Finding>> {
    let n = b.commits.len() - 1;
    for end in [0, n] {
        if !b.buildable(end)? {
            return Err(crate::exit::Failure::new(
                Code::Build,
                format!(
                    "the {} end `{}` does not build; pick a commit that builds",
                    if end == 0 { "good" } else { "bad" },
                    b.commits[end].sha
                ),
            ));
        }
    }
    let ends = b.ends()?;
    let Some(d) = ends
        .effect
        .filter(|_| ends.verdict == Some(Ends::Reproduces))
        .map(|e| e.log_ratio)
    else {
        return Ok(Vec::new());
    };
    let mut findings = Vec::new();
    let mut stack = vec![Interval {
        lo: 0,
        hi: n,
        good_end: 0,
        bad_end: n,
        d,
    }];
    while let Some(iv) = stack.pop() {
        findings.push(b.narrow(iv, &mut stack)?);
    }
    findings.sort_by_key(|f| match f {
        Finding::Step { commit, .. } => *commit,
        Finding::Skipped { candidates, .. } => candidates[0],
        Finding::Undecidable { lo, .. } => *lo,
    });
    Ok(findings)
}

impl Bisection {
    /// The ends' verdict: recorded, or measured now (and recorded).
    fn ends(&mut self) -> Result<EndsResult> {
        if let Some(e) = self.state.ends.clone().filter(|e| e.verdict.is_some()) {
            return Ok(e);
        }
        let (good, bad) = (
            &self.commits[0].sha,
            &self.commits[self.commits.len() - 1].sha,
        );
        let mut session = self.measurer.session(&[good, bad])?;
        let m = self.measurer.ends(&mut session)?;
        let result = EndsResult {
            verdict: m.decision,
            effect: m.effects[0],
            rounds: m.rounds,
        };
        self.state.ends = Some(result.clone());
        self.state.save(&self.state_path)?;
        Ok(result)
    }

    /// Bisects one interval down to one commit (or to what stops it); a split pushes its
    /// right part onto `stack` and goes on with the left one.
    fn narrow(&mut self, mut iv: Interval, stack: &mut Vec<Interval>) -> Result<Finding> {
        loop {
            stop_if_interrupted()?;
            if iv.hi - iv.lo == 1 {
                return Ok(Finding::Step {
                    commit: iv.hi,
                    d: iv.d,
                });
            }
            let Some(mid) = self.midpoint(iv) else {
                return Ok(Finding::Skipped {
                    candidates: (iv.lo + 1..=iv.hi).collect(),
                    d: iv.d,
                });
            };
            let recorded = self.recorded(iv, mid).is_some();
            if !recorded && !self.buildable(mid)? {
                continue;
            }
            stop_if_interrupted()?;
            let step = self.step(iv, mid)?;
            match step.position {
                Position::LikeGood => iv.lo = mid,
                Position::LikeBad => iv.hi = mid,
                Position::Between => {
                    let (Some(g), Some(bad)) = (step.vs_good, step.vs_bad) else {
                        unreachable!("a split is decided on both effects");
                    };
                    tracing::info!(
                        "{} lies clearly between the ends: the change is split; searching both sides",
                        self.commits[mid].sha
                    );
                    stack.push(Interval {
                        lo: mid,
                        good_end: mid,
                        d: -bad.log_ratio,
                        ..iv
                    });
                    iv = Interval {
                        hi: mid,
                        bad_end: mid,
                        d: g.log_ratio,
                        ..iv
                    };
                }
                Position::Undecided => {
                    return Ok(Finding::Undecidable {
                        lo: iv.lo,
                        hi: iv.hi,
                        at: mid,
                    });
                }
            }
        }
    }

    /// The commit nearest the middle of `iv` that is not known to fail to build (the middle
    /// first, then alternately later and earlier), as `git bisect skip` picks.
    fn midpoint(&self, iv: Interval) -> Option<usize> {
        let middle = (iv.lo + iv.hi) / 2;
        (0..iv.hi - iv.lo)
            .flat_map(|k| [middle + k, middle.wrapping_sub(k)])
            .filter(|&c| c > iv.lo && c < iv.hi)
            .find(|&c| !self.is_skipped(c))
    }

    fn is_skipped(&self, c: usize) -> bool {
        let sha = &self.commits[c].sha;
        self.state.skipped.iter().any(|s| &s.commit == sha)
    }

    /// Builds commit `c` (or finds it in the cache). A failed build is skipped: `false`.
    fn buildable(&mut self, c: usize) -> Result<bool> {
        if self.is_skipped(c) {
            return Ok(false);
        }
        if self.built.contains(&c) {
            return Ok(true);
        }
        let commit = &self.commits[c];
        let resolved = ResolvedCommit {
            git_ref: commit.sha.clone(),
            sha: commit.sha.clone(),
            commit_time: commit.commit_time.clone(),
            repository: None,
        };
        let log = self
            .measurer
            .template
            .output
            .results_dir
            .join(&commit.sha)
            .join("build.log");
        let say = |line: &str| tracing::info!("{line}");
        match source::build(&self.source, &resolved, self.need_tls, &log, &say) {
            Ok(built) => {
                if !self.state.builds.iter().any(|(sha, _)| sha == &commit.sha) {
                    self.state
                        .builds
                        .push((commit.sha.clone(), !built.from_cache));
                }
                self.built.insert(c);
                Ok(true)
            }
            // A build stopped by Ctrl-C says nothing of the commit: it is not skipped.
            Err(_) if crate::process::interrupted() => Err(crate::exit::Failure::new(
                Code::Interrupted,
                format!(
                    "interrupted while building `{}`; what was decided is saved",
                    commit.sha
                ),
            )),
            Err(e) if code_of(&e) == Code::Build => {
                let reason = format!("{e:#}").lines().next().unwrap_or("").to_string();
                tracing::warn!("skipping `{}`: it does not build: {reason}", commit.sha);
                self.state.skipped.push(Skipped {
                    commit: commit.sha.clone(),
                    reason,
                });
                self.state.save(&self.state_path)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The recorded placing of `mid` in `iv`, if it was decided before.
    fn recorded(&self, iv: Interval, mid: usize) -> Option<&StepResult> {
        let sha = |i: usize| self.commits[i].sha.as_str();
        self.state
            .decided(sha(iv.good_end), sha(iv.bad_end), sha(mid))
    }

    /// Places `mid` in `iv`: recorded, or measured now (and recorded).
    fn step(&mut self, iv: Interval, mid: usize) -> Result<StepResult> {
        if let Some(done) = self.recorded(iv, mid) {
            tracing::info!("{}: {} (recorded)", done.commit, done.position.label());
            return Ok(done.clone());
        }
        let sha = |i: usize| self.commits[i].sha.clone();
        let (good_end, bad_end, commit) = (sha(iv.good_end), sha(iv.bad_end), sha(mid));
        let mut session = self.measurer.session(&[&good_end, &bad_end, &commit])?;
        let m = self.measurer.midpoint(&mut session, iv.d)?;
        let step = StepResult {
            good_end,
            bad_end,
            commit,
            position: m.decision.unwrap_or(Position::Undecided),
            vs_good: m.effects[0],
            vs_bad: m.effects[1],
            rounds: m.rounds,
        };
        tracing::info!(
            "{}: {} after {} rounds",
            step.commit,
            step.position.label(),
            step.rounds
        );
        self.state.record(step.clone());
        self.state.save(&self.state_path)?;
        Ok(step)
    }
}
