//! The outcome of a bisection: the first bad commit (or the commits a split change is spread
//! over) with its subject and the size of its step, every tested commit with its ratio to the
//! ends and their intervals, the commits skipped, the builds and the wall time; as a table or
//! JSON on stdout, and the tested commits' records pushed into a database.

use super::Finding;
use super::decide::{Effect, Ends, Position};
use super::measure::MetricChoice;
use super::state::{Skipped, State};
use crate::source::HistoryCommit;
use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::Serialize;
use std::path::Path;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// A commit as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub commit: String,
    pub subject: String,
}

/// A percent change with its 95 % interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Pct {
    pub pct: f64,
    pub ci95: [f64; 2],
}

impl Pct {
    fn of(e: Option<Effect>) -> Option<Pct> {
        e.map(|e| Pct {
            pct: e.pct(),
            ci95: e.pct_ci95(),
        })
    }

    fn show(p: Option<Pct>) -> String {
        match p {
            Some(p) if p.ci95[0] == p.ci95[1] => format!("{:+.2} %", p.pct),
            Some(p) => format!("{:+.1} % [{:+.1}, {:+.1}]", p.pct, p.ci95[0], p.ci95[1]),
            None => "-".into(),
        }
    }
}

/// What the search concluded, in order of history.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Found {
    /// The first commit like the bad end of its interval, and that interval's step (bad end
    /// over good end).
    FirstBad { commit: Named, step_pct: f64 },
    /// Commits that do not build hide which of these is the first bad one.
    OneOf { commits: Vec<Named>, step_pct: f64 },
    /// A midpoint that could not be placed within the round limit: the first bad commit is
    /// after `after` and at most `up_to`.
    Undecidable {
        at: Named,
        after: String,
        up_to: String,
    },
}

/// One tested midpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Tested {
    pub commit: Named,
    pub position: Position,
    /// Against the bisection's ends, or (in a split) those of its part.
    pub good_end: String,
    pub bad_end: String,
    pub vs_good: Option<Pct>,
    pub vs_bad: Option<Pct>,
    pub rounds: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub good: String,
    pub bad: String,
    pub metric: MetricChoice,
    pub cases: Vec<String>,
    /// Commits after the good one up to the bad one (first parents).
    pub commits: usize,
    /// `None` when no verdict came within the round limit.
    pub ends_verdict: Option<Ends>,
    /// Bad over good.
    pub ends_change: Option<Pct>,
    pub ends_rounds: u32,
    pub found: Vec<Found>,
    pub tested: Vec<Tested>,
    pub skipped: Vec<Skipped>,
    /// Commits built: compiled, or found in the cache.
    pub builds_compiled: usize,
    pub builds_cached: usize,
    pub wall_secs: f64,
}

impl Report {
    pub(super) fn new(commits: &[HistoryCommit], state: &State, findings: &[Finding]) -> Report {
        let named = |sha: &str| Named {
            commit: sha.to_string(),
            subject: commits
                .iter()
                .find(|c| c.sha == sha)
                .map(|c| c.subject.clone())
                .unwrap_or_default(),
        };
        let at = |i: usize| named(&commits[i].sha);
        let pct = |d: f64| (d.exp() - 1.0) * 100.0;
        let found = findings
            .iter()
            .map(|f| match f {
                Finding::Step { commit, d } => Found::FirstBad {
                    commit: at(*commit),
                    step_pct: pct(*d),
                },
                Finding::Skipped { candidates, d } => Found::OneOf {
                    commits: candidates.iter().map(|&i| at(i)).collect(),
                    step_pct: pct(*d),
                },
                Finding::Undecidable { lo, hi, at: mid } => Found::Undecidable {
                    at: at(*mid),
                    after: commits[*lo].sha.clone(),
                    up_to: commits[*hi].sha.clone(),
                },
            })
            .collect();
        let ends = state.ends.as_ref();
        Report {
            good: state.good.clone(),
            bad: state.bad.clone(),
            metric: state.metric,
            cases: state.cases.clone(),
            commits: commits.len() - 1,
            ends_verdict: ends.and_then(|e| e.verdict),
            ends_change: Pct::of(ends.and_then(|e| e.effect)),
            ends_rounds: ends.map_or(0, |e| e.rounds),
            found,
            tested: state
                .steps
                .iter()
                .map(|s| Tested {
                    commit: named(&s.commit),
                    position: s.position,
                    good_end: s.good_end.clone(),
                    bad_end: s.bad_end.clone(),
                    vs_good: Pct::of(s.vs_good),
                    vs_bad: Pct::of(s.vs_bad),
                    rounds: s.rounds,
                })
                .collect(),
            skipped: state.skipped.clone(),
            builds_compiled: state
                .builds
                .iter()
                .filter(|(_, compiled)| *compiled)
                .count(),
            builds_cached: state
                .builds
                .iter()
                .filter(|(_, compiled)| !*compiled)
                .count(),
            wall_secs: state.elapsed_secs,
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// The report on stdout.
pub fn print(rep: &Report, format: Format) -> Result<()> {
    match format {
        Format::Json => crate::util::outln(format_args!("{}", serde_json::to_string_pretty(rep)?)),
        Format::Table => crate::util::out(format_args!("{}", render(rep))),
    }
    Ok(())
}

/// The table: the ends, what was found, every tested commit, builds and time.
pub fn render(rep: &Report) -> String {
    let mut out = render_ends(rep);
    out.push_str(&render_found(rep));
    out.push_str(&render_tested(rep));
    out.push_str(&format!(
        "\n{} builds ({} compiled, {} from the cache), wall time {:.0} s\n",
        rep.builds_compiled + rep.builds_cached,
        rep.builds_compiled,
        rep.builds_cached,
        rep.wall_secs
    ));
    out
}

/// What was bisected, and the ends' verdict.
fn render_ends(rep: &Report) -> String {
    let verdict = match rep.ends_verdict {
        Some(Ends::Reproduces) => "the difference reproduces".to_string(),
        Some(Ends::DoesNotReproduce) => "the difference does not reproduce".to_string(),
        _ => format!(
            "the difference does not reproduce: not clear within {} rounds (raise --max-rounds, or use --metric instructions)",
            rep.ends_rounds
        ),
    };
    format!(
        "bisect of {} from {} (good) to {} (bad): {} commits, {} case{}: {}\n\
         ends: bad vs good {} after {} round{}: {verdict}\n\n",
        rep.metric.describe(),
        short(&rep.good),
        short(&rep.bad),
        rep.commits,
        rep.cases.len(),
        if rep.cases.len() == 1 { "" } else { "s" },
        rep.cases.join("; "),
        Pct::show(rep.ends_change),
        rep.ends_rounds,
        if rep.ends_rounds == 1 { "" } else { "s" }
    )
}

/// The first bad commit, or the steps of a split change, or what stopped the search.
fn render_found(rep: &Report) -> String {
    let mut out = String::new();
    if rep.found.len() > 1 {
        out.push_str(&format!(
            "the change is split over {} steps:\n",
            rep.found.len()
        ));
    }
    for f in &rep.found {
        out.push_str(&match f {
            Found::FirstBad { commit, step_pct } => format!(
                "first bad commit: {} {} (step {step_pct:+.1} %)\n",
                commit.commit, commit.subject
            ),
            Found::OneOf { commits, step_pct } => format!(
                "the first bad commit is one of (the others do not build; step {step_pct:+.1} %):\n{}",
                commits
                    .iter()
                    .map(|c| format!("  {} {}\n", c.commit, c.subject))
                    .collect::<String>()
            ),
            Found::Undecidable { at, after, up_to } => format!(
                "undecidable: {} {} could not be placed within the round limit; the first bad commit is after {} and at most {} (raise --max-rounds, or use --metric instructions)\n",
                short(&at.commit),
                at.subject,
                short(after),
                short(up_to)
            ),
        });
    }
    out
}

/// Every tested commit with its change against both ends, and the commits skipped.
fn render_tested(rep: &Report) -> String {
    let mut out = String::new();
    if !rep.tested.is_empty() {
        out.push_str(&format!(
            "\n{:<12}  {:<11}  {:<28}  {:<28}  {:>6}  subject\n",
            "commit", "position", "vs good", "vs bad", "rounds"
        ));
    }
    for t in &rep.tested {
        let against = if t.good_end != rep.good || t.bad_end != rep.bad {
            format!(" (ends {}..{})", short(&t.good_end), short(&t.bad_end))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{:<12}  {:<11}  {:<28}  {:<28}  {:>6}  {}{against}\n",
            short(&t.commit.commit),
            t.position.label(),
            Pct::show(t.vs_good),
            Pct::show(t.vs_bad),
            t.rounds,
            t.commit.subject
        ));
    }
    for s in &rep.skipped {
        out.push_str(&format!(
            "skipped {}: does not build ({})\n",
            short(&s.commit),
            s.reason
        ));
    }
    out
}

/// Pushes the records of every tested commit (and the ends) into the database at `url`.
pub fn push(
    url: &str,
    ca: Option<&Path>,
    table: &str,
    results_dir: &Path,
    rep: &Report,
) -> Result<()> {
    let table = store::TableId::parse(table)?;
    let mut db = store::Db::open(url, ca)
        .with_context(|| format!("opening the database `{}`", store::redact_url(url)))?;
    let mut shas: Vec<&str> = vec![&rep.good, &rep.bad];
    shas.extend(rep.tested.iter().map(|t| t.commit.commit.as_str()));
    shas.dedup();
    let (mut inserted, mut present) = (0, 0);
    for sha in shas {
        let file = results_dir.join(sha).join("metrics.json");
        if !file.is_file() {
            continue;
        }
        let records = crate::compare::group::load_records(&file)?;
        let o = db.push_records(&table, &file.display().to_string(), &records, None, false)?;
        inserted += o.inserted;
        present += o.already_present;
    }
    tracing::info!(
        "pushed into `{}`: {inserted} rows inserted, {present} already present",
        store::redact_url(url)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::bisect::state::{EndsResult, StepResult};

    fn sha(i: usize) -> String {
        i.to_string().repeat(40)
    }

    #[test]
    fn a_split_change_names_both_steps_and_the_ends_of_each_part() {
        let commits: Vec<HistoryCommit> = (0..=4)
            .map(|i| HistoryCommit {
                sha: sha(i),
                commit_time: String::new(),
                subject: format!("commit {i}"),
            })
            .collect();
        let step = |good: usize, bad: usize, c: usize, position, g: f64, b: f64| StepResult {
            good_end: sha(good),
            bad_end: sha(bad),
            commit: sha(c),
            position,
            vs_good: Some(Effect::exact(g)),
            vs_bad: Some(Effect::exact(b)),
            rounds: 3,
        };
        let state = State {
            good: sha(0),
            bad: sha(4),
            metric: MetricChoice::Instructions,
            cases: vec!["SET d=16 P=1 c=1 n=5000 r=1000".into()],
            ends: Some(EndsResult {
                verdict: Some(Ends::Reproduces),
                effect: Some(Effect::exact(0.4)),
                rounds: 1,
            }),
            steps: vec![
                step(0, 4, 2, Position::Between, 0.2, -0.2),
                step(2, 4, 3, Position::LikeGood, 0.0, -0.2),
            ],
            skipped: vec![Skipped {
                commit: sha(1),
                reason: "build failed".into(),
            }],
            builds: vec![(sha(0), true), (sha(4), false)],
            elapsed_secs: 61.4,
        };
        let findings = [
            Finding::Skipped {
                candidates: vec![1, 2],
                d: 0.2,
            },
            Finding::Step { commit: 4, d: 0.2 },
        ];
        let text = render(&Report::new(&commits, &state, &findings));
        for line in [
            "ends: bad vs good +49.18 % after 1 round: the difference reproduces",
            "the change is split over 2 steps:",
            "the first bad commit is one of (the others do not build; step +22.1 %):",
            &format!("  {} commit 2", sha(2)),
            &format!("first bad commit: {} commit 4 (step +22.1 %)", sha(4)),
            "222222222222  between      +22.14 %",
            "commit 3 (ends 222222222222..444444444444)",
            "skipped 111111111111: does not build (build failed)",
            "2 builds (1 compiled, 1 from the cache), wall time 61 s",
        ] {
            assert!(text.contains(line), "no `{line}` in:\n{text}");
        }
    }
}
