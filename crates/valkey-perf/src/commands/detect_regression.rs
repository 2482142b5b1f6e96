//! `valkey-perf detect-regression` (docs/design.md §8.1): judges the newest commit in the
//! metrics table (by commit time). When the newest commit ran in one invocation with a
//! reference (`run --baseline-as-reference`), its runs are paired round by round with the
//! reference's runs of that invocation; otherwise it is compared with its own runs against the
//! previous commit's (or the pooled previous `--window` commits'). Either way the machine's
//! invocation drift is estimated from the history of the table and handed to `compare`, and
//! the shift every case shares against the previous commit is reported with its robust z.
//! `--history` finds change points over the whole history instead.
//!
//! Prints JSON. Exit 6 on a regression, 7 when nothing could be judged (unless
//! `--allow-inconclusive`), 2 when fewer than two commits are stored.

use super::db::DbArgs;
use crate::compare::{
    CompareOptions, Comparison, DriftPrior, RecordMap, RecordView, Verdict, compare_records,
};
use crate::exit::{Code, Failure, usage};
use crate::history::drift::{self, CommonShift, DriftEstimate};
use crate::history::{self, History, REFERENCE_FIELD, is_reference};
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
    /// Without a reference run, compare against the pooled runs of this many previous commits
    /// (less noise than one).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub window: usize,
    /// Previous commits whose consecutive pairs estimate the machine's invocation drift.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub drift_commits: usize,
    /// Find the commits where a case's series steps (E-divisive means, permutation test) over
    /// the whole history, instead of judging the newest commit.
    #[arg(long)]
    pub history: bool,
    /// `--history`: chance of any false change point over all case series.
    #[arg(long, value_name = "ALPHA", default_value_t = 0.05)]
    pub history_alpha: f64,
    /// Exit 0 instead of 7 when nothing could be judged (no case with enough runs).
    #[arg(long)]
    pub allow_inconclusive: bool,
}

/// Runs `valkey-perf detect-regression`.
pub fn run(args: DetectArgs) -> Result<Code> {
    validate(&args)?;
    let table = args.db.table()?;
    let mut db = args.db.open()?;
    let commits: Vec<String> = db
        .commits_by_time(&table)?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    if commits.len() < 2 {
        return Err(usage(format!(
            "`{}` holds {} commit(s); detect-regression needs two (push the results of another commit)",
            table.metrics_table(),
            commits.len()
        )));
    }
    let wanted = if args.history {
        Vec::new()
    } else {
        let keep = 1 + args.window.max(args.drift_commits);
        commits.into_iter().take(keep).collect()
    };
    let rows: Vec<RecordView> = db
        .fetch_metrics(
            &table,
            &MetricsFilter {
                commits: wanted,
                ..MetricsFilter::default()
            },
        )?
        .into_iter()
        .map(RecordView::from_map)
        .collect();
    if args.history {
        change_points(&args, &rows)
    } else {
        newest(&args, &rows)
    }
}

fn validate(args: &DetectArgs) -> Result<()> {
    if !(args.threshold.is_finite() && args.threshold >= 0.0) {
        return Err(usage(format!(
            "--threshold {} must be a non-negative percentage",
            args.threshold
        )));
    }
    if args.window == 0 {
        return Err(usage("--window 0 compares against nothing; use 1 or more"));
    }
    if !(args.history_alpha > 0.0 && args.history_alpha < 1.0) {
        return Err(usage(format!(
            "--history-alpha {} must be between 0 and 1 (e.g. 0.05)",
            args.history_alpha
        )));
    }
    Ok(())
}

/// Exit 7 (or 0 with `--allow-inconclusive`) for a run that judged nothing.
fn inconclusive(args: &DetectArgs, why: String) -> Result<Code> {
    if args.allow_inconclusive {
        eprintln!("inconclusive (allowed by --allow-inconclusive): {why}");
        return Ok(Code::Success);
    }
    Err(Failure::new(
        Code::Inconclusive,
        format!("inconclusive: {why}; pass --allow-inconclusive to let this pass"),
    ))
}

/// `--history`: the change points of every case series.
fn change_points(args: &DetectArgs, rows: &[RecordView]) -> Result<Code> {
    let h = history::history(rows);
    let min = 2 * history::changepoint::Options::default().min_segment;
    let judged = h
        .series
        .iter()
        .filter(|s| s.values.iter().flatten().count() >= min)
        .count();
    let cps = history::change_points(&h, args.history_alpha);
    let out = json!({
        "mode": "history",
        "commits": h.commits.len(),
        "first_commit": h.commits.first().map(|c| &c.sha),
        "last_commit": h.commits.last().map(|c| &c.sha),
        "cases": h.series.len(),
        "cases_judged": judged,
        "alpha": args.history_alpha,
        "method": "E-divisive means, permutation test with fixed seeds; each case series at alpha / cases judged",
        "change_points": cps,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    if judged == 0 {
        return inconclusive(
            args,
            format!("no case has {min} or more commits with runs, too few to find a change point"),
        );
    }
    Ok(Code::Success)
}

/// What the newest commit is judged against.
struct Sides {
    new_commit: String,
    new: Vec<RecordMap>,
    baseline_commits: Vec<String>,
    baseline: Vec<RecordMap>,
    /// The invocation the newest commit shares with its reference, when it has one.
    invocation: Option<String>,
}

fn maps<'a>(rows: impl Iterator<Item = &'a RecordView>) -> Vec<RecordMap> {
    rows.map(|r| r.fields().clone()).collect()
}

/// The newest commit's own runs, and its reference's runs of the same invocation when it has
/// any, else the own runs of the previous `window` commits.
fn sides(args: &DetectArgs, rows: &[RecordView], h: &History) -> Option<Sides> {
    let newest = h.commits.last()?.sha.clone();
    let commit_of = |r: &RecordView| history_text(r, "commit");
    let own: Vec<&RecordView> = rows
        .iter()
        .filter(|r| !is_reference(r) && commit_of(r).as_deref() == Some(newest.as_str()))
        .collect();
    let invocations: Vec<String> = own.iter().filter_map(|r| r.invocation_id.clone()).collect();
    let reference: Vec<&RecordView> = rows
        .iter()
        .filter(|r| {
            history_text(r, REFERENCE_FIELD).is_some_and(|f| f.split(',').any(|c| c == newest))
                && r.invocation_id
                    .as_ref()
                    .is_some_and(|i| invocations.contains(i))
        })
        .collect();
    if let Some(first) = reference.first() {
        return Some(Sides {
            new_commit: newest,
            new: maps(own.into_iter()),
            baseline_commits: vec![commit_of(first).unwrap_or_default()],
            baseline: maps(reference.iter().copied()),
            invocation: first.invocation_id.clone(),
        });
    }
    let previous: Vec<String> = h.commits[..h.commits.len() - 1]
        .iter()
        .rev()
        .take(args.window)
        .map(|c| c.sha.clone())
        .collect();
    let baseline = rows.iter().filter(|r| {
        !is_reference(r) && commit_of(r).is_some_and(|c| previous.contains(&c)) && !r.failed()
    });
    Some(Sides {
        new_commit: newest,
        new: maps(own.into_iter()),
        baseline: maps(baseline),
        baseline_commits: previous,
        invocation: None,
    })
}

fn history_text(r: &RecordView, field: &str) -> Option<String> {
    crate::compare::group::canonical(r.get(field))
}

/// The drift section of the output, and what `compare` gets.
fn drift_json(estimate: Option<&DriftEstimate>) -> (Value, Option<DriftPrior>) {
    match estimate {
        Some(e) => (
            json!({
                "source": "history",
                "sd_pct": e.sd_log * 100.0,
                "pairs": e.pairs,
                "commits": e.commits,
                "method": "1.4826 x MAD of the per-pair common shifts (median over cases of the log ratio of rps) between consecutive commits",
            }),
            Some(DriftPrior {
                sd_log: e.sd_log,
                pairs: e.pairs,
            }),
        ),
        None => (
            json!({
                "source": "default",
                "note": format!(
                    "fewer than {} consecutive commit pairs in the history: the documented default drift is used",
                    drift::MIN_PAIRS
                ),
            }),
            None,
        ),
    }
}

/// The common shift of the newest commit against the previous one, judged against the drift.
fn shift_json(shift: Option<&CommonShift>, estimate: Option<&DriftEstimate>) -> Value {
    let Some(shift) = shift else {
        return Value::Null;
    };
    let pct = (shift.log_shift.exp() - 1.0) * 100.0;
    let z = estimate.map(|e| drift::robust_z(shift, e));
    let far = z.is_some_and(|z| z.abs() >= drift::FAR_Z);
    let message = match (z, estimate) {
        (Some(z), Some(e)) => format!(
            "every case {pct:+.1} % against the previous commit: robust z = {z:.1} against the machine's drift ({:.2} % from {} commit pairs){}",
            e.sd_log * 100.0,
            e.pairs,
            if far {
                ", far outside what drift explains"
            } else {
                ", within what drift explains"
            }
        ),
        _ => format!(
            "every case {pct:+.1} % against the previous commit; too little history to tell it from drift between invocations"
        ),
    };
    if far {
        eprintln!("{message}");
    }
    json!({
        "pct_change": pct,
        "cases": shift.cases,
        "robust_z": z,
        "far_outside_drift": far,
        "message": message,
    })
}

/// Judges the newest commit.
fn newest(args: &DetectArgs, rows: &[RecordView]) -> Result<Code> {
    let h = history::history(rows);
    let Some(sides) = sides(args, rows, &h) else {
        return inconclusive(args, "the table holds no commit's own runs".into());
    };
    let last = h.commits.len() - 1;
    let estimate = drift::estimate(&h.series, last);
    let shift = (last >= 1)
        .then(|| drift::common_shift(&h.series, last - 1, last))
        .flatten();
    let (drift_out, prior) = drift_json(estimate.as_ref());
    let cmp = compare_records(
        &sides.baseline,
        &sides.new,
        &sides.baseline_commits.join(","),
        &sides.new_commit,
        &CompareOptions {
            threshold_pct: args.threshold,
            drift: prior,
            ..CompareOptions::default()
        },
    )?;
    report(
        args,
        &sides,
        &cmp,
        drift_out,
        shift_json(shift.as_ref(), estimate.as_ref()),
    )
}

fn change_json(cmp: &Comparison, v: Verdict) -> Vec<Value> {
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
}

/// Prints the JSON and picks the exit code.
fn report(
    args: &DetectArgs,
    sides: &Sides,
    cmp: &Comparison,
    drift_out: Value,
    shift_out: Value,
) -> Result<Code> {
    let regressions = change_json(cmp, Verdict::Regression);
    let overall_regressions = cmp.overall_regressions_at_least(args.threshold);
    let has_regression = !regressions.is_empty() || !overall_regressions.is_empty();
    let judged = cmp.comparisons > 0;
    let out = json!({
        "baseline_commit": sides.baseline_commits.first(),
        "baseline_commits": sides.baseline_commits,
        "new_commit": sides.new_commit,
        "threshold_pct": args.threshold,
        "regressions": regressions,
        "improvements": change_json(cmp, Verdict::Improvement),
        "overall_regressions": overall_regressions,
        "has_regression": has_regression,
        "inconclusive": !judged && !has_regression,
        "mode": if sides.invocation.is_some() { "paired_reference" } else { "across_invocations" },
        "reference_invocation": sides.invocation,
        "drift": drift_out,
        "common_shift": shift_out,
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
                "{} regression(s) and {} overall regression(s) of at least {} % in `{}` against {}",
                regressions.len(),
                overall_regressions.len(),
                args.threshold,
                sides.new_commit,
                sides.baseline_commits.join(", ")
            ),
        ));
    }
    if !judged {
        return inconclusive(
            args,
            format!(
                "no case of `{}` had enough runs on both sides to be judged ({} case(s) in common)",
                sides.new_commit,
                cmp.cases.len()
            ),
        );
    }
    Ok(Code::Success)
}
