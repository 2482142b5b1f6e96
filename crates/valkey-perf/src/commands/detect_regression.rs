//! `valkey-perf detect-regression`: the newest commit in the metrics table (by commit time)
//! against the previous one, or against the pooled runs of the previous `--window` commits,
//! judged by the same code as `compare` (docs/design.md §8). Prints JSON; exit 6 on a regression, 2
//! when fewer than two commits are stored.

use super::db::DbArgs;
use crate::compare::{CompareOptions, Verdict, compare_records};
use crate::exit::{Code, Failure, usage};
use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};
use store::MetricsFilter;

/// Flags of `valkey-perf detect-regression`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Changes smaller than this (percent) are not regressions.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    pub threshold: f64,
    /// Compare against the pooled runs of this many previous commits (less noise than one).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub window: usize,
}

/// Runs `valkey-perf detect-regression`.
pub fn run(args: DetectArgs) -> Result<Code> {
    if !(args.threshold.is_finite() && args.threshold >= 0.0) {
        return Err(usage(format!(
            "--threshold {} must be a non-negative percentage",
            args.threshold
        )));
    }
    if args.window == 0 {
        return Err(usage("--window 0 compares against nothing; use 1 or more"));
    }
    let table = args.db.table()?;
    let mut db = args.db.open()?;
    let commits = db.commits_by_time(&table)?;
    if commits.len() < 2 {
        return Err(usage(format!(
            "`{}` holds {} commit(s); detect-regression needs two (push the results of another commit)",
            table.metrics_table(),
            commits.len()
        )));
    }
    let new_commit = commits[0].0.clone();
    let baseline_commits: Vec<String> = commits[1..]
        .iter()
        .take(args.window)
        .map(|(c, _)| c.clone())
        .collect();
    let fetch = |db: &mut store::Db, commits: Vec<String>| {
        db.fetch_metrics(
            &table,
            &MetricsFilter {
                commits,
                ..MetricsFilter::default()
            },
        )
    };
    let new = fetch(&mut db, vec![new_commit.clone()])?;
    let baseline = fetch(&mut db, baseline_commits.clone())?;
    let cmp = compare_records(
        &baseline,
        &new,
        &baseline_commits.join(","),
        &new_commit,
        &CompareOptions {
            threshold_pct: args.threshold,
            ..CompareOptions::default()
        },
    )?;
    let changes = |v: Verdict| -> Vec<Value> {
        cmp.changes
            .iter()
            .filter(|c| c.verdict == v)
            .map(|c| {
                json!({
                    "case": c.case,
                    "metric": c.metric.field(),
                    "pct_change": c.pct_change,
                    "pct_change_ci95": c.pct_change_ci95,
                    "p_value": c.p_value,
                    "p_adjusted": c.p_adjusted,
                })
            })
            .collect()
    };
    let regressions = changes(Verdict::Regression);
    let improvements = changes(Verdict::Improvement);
    let has_regression = !regressions.is_empty();
    let out = json!({
        "baseline_commit": baseline_commits[0],
        "baseline_commits": baseline_commits,
        "new_commit": new_commit,
        "threshold_pct": args.threshold,
        "regressions": regressions,
        "improvements": improvements,
        "has_regression": has_regression,
        "cases_compared": cmp.cases.len(),
        "comparisons": cmp.comparisons,
        "overall": cmp.overall,
        "warnings": cmp.warnings,
    });
    crate::util::outln(format_args!("{}", serde_json::to_string_pretty(&out)?));
    if has_regression {
        return Err(Failure::new(
            Code::Regression,
            format!(
                "{} regression(s) of at least {} % in `{new_commit}` against {}",
                regressions.len(),
                args.threshold,
                baseline_commits.join(", ")
            ),
        ));
    }
    Ok(Code::Success)
}
