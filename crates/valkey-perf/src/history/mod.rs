//! The history of one machine's results over commits (docs/design.md §8.1): which rows are a
//! commit's own and which are references measured beside another commit, each case's series
//! of its primary metric over commits, the invocation drift those series imply ([`drift`]),
//! and the commits where a series steps ([`changepoint`]).
//!
//! Pure: rows in, figures out. It reads no database and prints nothing; `detect-regression`
//! and the dashboard do. May import `model` and `compare` (the typed view of a record and the
//! case grouping).

pub mod changepoint;
pub mod drift;

use crate::compare::group::{Group, Param, canonical, fixed_and_varying, label};
use crate::compare::{Metric, RecordView};
use serde::Serialize;
use std::collections::BTreeMap;

/// The record field that marks a reference row: the commit the row was measured beside, in
/// one invocation, interleaved (`run --reference`). A reference row carries the reference
/// commit's SHA and commit time like its own rows, so readers of a commit's own series leave
/// rows with this field out.
pub const REFERENCE_FIELD: &str = "reference_for";

/// Whether `r` is a reference row (measured beside another commit), not its commit's own.
pub fn is_reference(r: &RecordView) -> bool {
    canonical(r.get(REFERENCE_FIELD)).is_some_and(|s| !s.is_empty())
}

/// A commit's own rows: every row but the references and failed scenario streams.
pub fn own_rows(rows: &[RecordView]) -> Vec<RecordView> {
    rows.iter()
        .filter(|r| !is_reference(r) && !r.failed())
        .cloned()
        .collect()
}

/// One commit of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryCommit {
    pub sha: String,
    /// The commit time as stored.
    pub timestamp: String,
}

/// One case's primary metric over the commits of a [`History`].
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSeries {
    /// The case's label (`GET data_size=16`), as `compare` names cases.
    pub case: String,
    pub metric: Metric,
    /// Per commit (the history's order), the mean over its runs of the log of the metric;
    /// `None` where the commit has no run of the case.
    pub values: Vec<Option<f64>>,
}

/// The per-case series of a set of rows over their commits in commit-time order.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Oldest first.
    pub commits: Vec<HistoryCommit>,
    pub series: Vec<CaseSeries>,
}

/// The primary metric of a row: requests per second, when it is a positive number.
fn primary(r: &RecordView) -> Option<f64> {
    r.number(Metric::Rps.field())
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// Commits of `rows` in commit-time order (parsed RFC 3339, then the text, then the SHA).
fn commits_in_order(rows: &[RecordView]) -> Vec<HistoryCommit> {
    let mut by_sha: BTreeMap<String, String> = BTreeMap::new();
    for r in rows {
        if let Some(sha) = canonical(r.get("commit")) {
            by_sha
                .entry(sha)
                .or_insert_with(|| canonical(r.get("timestamp")).unwrap_or_default());
        }
    }
    let mut out: Vec<HistoryCommit> = by_sha
        .into_iter()
        .map(|(sha, timestamp)| HistoryCommit { sha, timestamp })
        .collect();
    let time = |c: &HistoryCommit| chrono::DateTime::parse_from_rfc3339(&c.timestamp).ok();
    out.sort_by(|a, b| (time(a), &a.timestamp, &a.sha).cmp(&(time(b), &b.timestamp, &b.sha)));
    out
}

/// A case's parameters in canonical text, in the order of the case fields.
type CaseKey = Vec<Option<String>>;

/// A case's parameters and, per commit, the logs of its runs' primary metric.
type CaseRuns = (Vec<Param>, Vec<Vec<f64>>);

/// The field that marks a duet run (`run --duet`): its rps is not a solo run's, so duet runs
/// of a case make a series of their own.
const DUET: &str = "duet";

/// The fields a series is told apart by: the case parameters, then [`DUET`].
fn series_fields() -> impl Iterator<Item = &'static str> {
    crate::model::fields::case_fields().chain(std::iter::once(DUET))
}

/// The series key of a row (its case parameters in canonical text, and whether it is a duet's)
/// and its parameters. A solo run has no `duet` parameter.
fn case_of(r: &RecordView) -> (CaseKey, Vec<Param>) {
    let mut key = Vec::new();
    let mut params = Vec::new();
    for f in series_fields() {
        if f == DUET && r.get(DUET).and_then(serde_json::Value::as_bool) != Some(true) {
            key.push(None);
            continue;
        }
        let v = r.get(f);
        key.push(canonical(v));
        if let Some(v) = v.filter(|v| !v.is_null()) {
            params.push(Param {
                name: f.to_string(),
                value: v.clone(),
            });
        }
    }
    (key, params)
}

/// The history of `rows`: their own rows (references left out), each case's primary metric
/// per commit.
pub fn history(rows: &[RecordView]) -> History {
    let own = own_rows(rows);
    let commits = commits_in_order(&own);
    let position: BTreeMap<&str, usize> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.sha.as_str(), i))
        .collect();
    let mut cases: BTreeMap<CaseKey, CaseRuns> = BTreeMap::new();
    for r in &own {
        let (Some(value), Some(sha)) = (primary(r), canonical(r.get("commit"))) else {
            continue;
        };
        let (key, params) = case_of(r);
        let entry = cases
            .entry(key)
            .or_insert_with(|| (params, vec![Vec::new(); commits.len()]));
        entry.1[position[sha.as_str()]].push(value.ln());
    }
    let groups: Vec<Group> = cases
        .values()
        .map(|(params, _)| Group {
            params: params.clone(),
            baseline: Vec::new(),
            new: Vec::new(),
        })
        .collect();
    let fields: Vec<String> = series_fields().map(str::to_string).collect();
    let (_, varying) = fixed_and_varying(&groups, &fields);
    let series = cases
        .into_values()
        .map(|(params, runs)| CaseSeries {
            case: label(&params, &varying),
            metric: Metric::Rps,
            values: runs
                .iter()
                .map(|v| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64))
                .collect(),
        })
        .collect();
    History { commits, series }
}

/// A change point of one case's series, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseChangePoint {
    pub case: String,
    pub metric: &'static str,
    /// The first commit at the new level.
    pub commit: String,
    /// The commit before it.
    pub previous_commit: String,
    /// The step in percent (ratio of the geometric means of the segments on either side).
    pub pct_change: f64,
    pub pct_change_ci95: [f64; 2],
    pub p_value: f64,
}

/// The change points of every case series of `h`. Each series is tested at level
/// `alpha / series` (Bonferroni), so the chance of any false change point in the whole history
/// stays below `alpha`; the shuffles are seeded from the case's label, so the answer does not
/// change from one call to the next.
pub fn change_points(h: &History, alpha: f64) -> Vec<CaseChangePoint> {
    let judged: Vec<&CaseSeries> = h
        .series
        .iter()
        .filter(|s| {
            s.values.iter().flatten().count() >= 2 * changepoint::Options::default().min_segment
        })
        .collect();
    let level = alpha / judged.len().max(1) as f64;
    let pct = |log: f64| (log.exp() - 1.0) * 100.0;
    let mut out = Vec::new();
    for s in judged {
        // Positions of the commits that have the case, and their values.
        let (at, values): (Vec<usize>, Vec<f64>) = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .unzip();
        let seed = s.case.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        for cp in changepoint::detect(&values, &changepoint::Options::at_level(level, seed)) {
            out.push(CaseChangePoint {
                case: s.case.clone(),
                metric: s.metric.field(),
                commit: h.commits[at[cp.index]].sha.clone(),
                previous_commit: h.commits[at[cp.index - 1]].sha.clone(),
                pct_change: pct(cp.step),
                pct_change_ci95: [pct(cp.step_ci95[0]), pct(cp.step_ci95[1])],
                p_value: cp.p_value,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(commit: &str, day: u32, command: &str, rps: f64, reference: bool) -> RecordView {
        let mut v = json!({
            "commit": commit, "timestamp": format!("2025-01-{day:02}T10:00:00Z"),
            "command": command, "data_size": 16, "rps": rps,
        });
        if reference {
            v[REFERENCE_FIELD] = json!("later");
        }
        RecordView::from_map(v.as_object().unwrap().clone())
    }

    #[test]
    fn references_stay_out_of_a_commits_series() {
        let rows = vec![
            row("b", 2, "SET", 200.0, false),
            row("a", 1, "SET", 100.0, false),
            // `a` measured again beside `b`: not `a`'s own.
            row("a", 1, "SET", 400.0, true),
            row("a", 1, "GET", 50.0, false),
        ];
        let h = history(&rows);
        let shas: Vec<&str> = h.commits.iter().map(|c| c.sha.as_str()).collect();
        assert_eq!(shas, ["a", "b"]);
        let set = h.series.iter().find(|s| s.case == "SET").unwrap();
        assert_eq!(set.values, vec![Some(100f64.ln()), Some(200f64.ln())]);
        let get = h.series.iter().find(|s| s.case == "GET").unwrap();
        assert_eq!(get.values, vec![Some(50f64.ln()), None]);
    }

    /// `row` with a `duet` field.
    fn with_duet(commit: &str, day: u32, rps: f64, duet: bool) -> RecordView {
        let v = json!({
            "commit": commit, "timestamp": format!("2025-01-{day:02}T10:00:00Z"),
            "command": "SET", "data_size": 16, "rps": rps, "duet": duet,
        });
        RecordView::from_map(v.as_object().unwrap().clone())
    }

    #[test]
    fn duet_runs_are_a_series_of_their_own() {
        let rows = vec![
            row("a", 1, "SET", 100.0, false),
            row("b", 2, "SET", 100.0, false),
            with_duet("a", 1, 60.0, true),
            with_duet("b", 2, 61.0, true),
        ];
        let h = history(&rows);
        assert_eq!(h.series.len(), 2);
        let solo = h.series.iter().find(|s| s.case == "SET").unwrap();
        assert_eq!(solo.values, vec![Some(100f64.ln()), Some(100f64.ln())]);
        // Labels name what varies: here only `duet`.
        let duet = h.series.iter().find(|s| s.case == "duet=true").unwrap();
        assert_eq!(duet.values, vec![Some(60f64.ln()), Some(61f64.ln())]);
        // `duet: false` is a solo run.
        let solo_only = vec![
            row("a", 1, "SET", 100.0, false),
            with_duet("b", 2, 100.0, false),
        ];
        let h = history(&solo_only);
        assert_eq!(h.series.len(), 1);
        assert_eq!(h.series[0].values.len(), 2);
    }

    #[test]
    fn a_step_is_reported_at_its_first_commit_in_percent() {
        let rows: Vec<RecordView> = (0..12)
            .map(|i| {
                row(
                    &format!("c{i:02}"),
                    i + 1,
                    "SET",
                    if i < 6 { 100.0 } else { 90.0 },
                    false,
                )
            })
            .collect();
        let cps = change_points(&history(&rows), 0.05);
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert_eq!(
            (cps[0].commit.as_str(), cps[0].previous_commit.as_str()),
            ("c06", "c05")
        );
        assert!((cps[0].pct_change + 10.0).abs() < 1e-9, "{cps:?}");
    }
}
