//! The self-contained HTML dashboard (docs/design.md §9): records read from the database in, one HTML
//! page out, with its data, inline SVG charts, styles and a little plain JavaScript inside, so
//! it opens from a file with no network.
//!
//! This module owns shaping rows into views (commits in commit-time order, one chart per case
//! combination of data size, pipeline, io-threads, cluster and TLS, a panel per command) and
//! rendering them. It does not read the database (the `dashboard` command does), and the
//! comparison of the newest commit with the previous one is `compare`'s, reused as is.

mod collect;
mod data;
mod page;
mod svg;

use crate::compare::RecordView;
use crate::compare::group::canonical;
use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use std::collections::BTreeMap;

pub use collect::{Batch, Collector, Shaped};
pub use page::{render, render_shaped};

/// What the page is made of.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Rows of the metrics table (the chosen `--table`), any order.
    pub rows: Vec<RecordView>,
    /// Rows of the release-tag table; the release view is left out when empty.
    pub tag_rows: Vec<RecordView>,
    /// Where the rows came from (database location without password, table), for the header.
    pub source: String,
    /// When the page was made (shown in the header).
    pub generated_at: String,
}

/// The fields that make one chart: a combination of data size, pipeline, io-threads, cluster
/// and TLS (case fields of [`crate::model::fields::FIELDS`], like [`PANEL_FIELDS`]).
const COMBO_FIELDS: &[&str] = &["data_size", "pipeline", "io_threads", "cluster_mode", "tls"];

/// Case fields besides the command that split a chart into panels when they vary.
const PANEL_FIELDS: &[&str] = &[
    "clients",
    "requests",
    "duration",
    "keyspacelen",
    "engine",
    "valkey_benchmark_threads",
    "config_set",
];

/// Whether the charts read `field`: the commit and its facts, the case fields that place a
/// row, the numbers drawn, and what leaves a row out (a reference, a failed run). A reader of
/// many rows asks the store for these alone.
pub fn charted_field(field: &str) -> bool {
    const OWN: &[&str] = &[
        "commit",
        "timestamp",
        "ref",
        "repository",
        "command",
        "rps",
        "p50_latency_ms",
        "p99_latency_ms",
        "status",
        "benchmark_mode",
        crate::history::REFERENCE_FIELD,
    ];
    OWN.contains(&field)
        || COMBO_FIELDS.contains(&field)
        || PANEL_FIELDS.contains(&field)
        // What tells a capacity ladder without a maximum (a failed run).
        || field.starts_with("capacity_")
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(r: &RecordView, field: &str) -> Option<String> {
    canonical(r.get(field)).filter(|s| !s.is_empty())
}

fn number(r: &RecordView, field: &str) -> Option<f64> {
    match r.get(field)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// One x position of the trend charts.
#[derive(Debug, Clone)]
pub struct Commit {
    pub sha: String,
    pub time: Option<DateTime<FixedOffset>>,
    pub time_text: String,
    pub git_ref: Option<String>,
    pub repository: Option<String>,
}

impl Commit {
    pub fn short(&self) -> &str {
        self.sha.get(..7).unwrap_or(&self.sha)
    }

    /// The commit's page, when the repository is a GitHub `owner/name` or an `https://` URL.
    pub fn href(&self) -> Option<String> {
        let repo = self.repository.as_deref()?.trim_end_matches('/');
        let sha_ok = self.sha.len() >= 7 && self.sha.chars().all(|c| c.is_ascii_hexdigit());
        let simple = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let base = match repo.split_once('/') {
            _ if repo.starts_with("https://") => repo.trim_end_matches(".git").to_string(),
            Some((owner, name)) if simple(owner) && simple(name) => {
                format!("https://github.com/{owner}/{name}")
            }
            _ => return None,
        };
        sha_ok.then(|| format!("{base}/commit/{}", self.sha))
    }

    fn label(&self, text: String) -> svg::XLabel {
        let mut tooltip = format!("{} · {}", self.sha, self.time_text);
        if let Some(r) = &self.git_ref {
            tooltip.push_str(&format!(" · {r}"));
        }
        svg::XLabel {
            text,
            href: self.href(),
            tooltip,
        }
    }
}

/// The distinct commits of `rows` in commit-time order (ties by SHA).
pub fn commits_in_time_order<'a>(rows: impl IntoIterator<Item = &'a RecordView>) -> Vec<Commit> {
    let mut by_sha: BTreeMap<String, Commit> = BTreeMap::new();
    for r in rows {
        let Some(sha) = text(r, "commit") else {
            continue;
        };
        let entry = by_sha.entry(sha.clone()).or_insert_with(|| {
            let time_text = text(r, "timestamp").unwrap_or_default();
            Commit {
                sha,
                time: DateTime::parse_from_rfc3339(&time_text).ok(),
                time_text,
                git_ref: None,
                repository: None,
            }
        });
        entry.git_ref = entry.git_ref.take().or_else(|| text(r, "ref"));
        entry.repository = entry.repository.take().or_else(|| text(r, "repository"));
    }
    let mut out: Vec<Commit> = by_sha.into_values().collect();
    out.sort_by(|a, b| (a.time, &a.time_text, &a.sha).cmp(&(b.time, &b.time_text, &b.sha)));
    out
}

/// A chart: one combination of the [`COMBO_FIELDS`], with a panel per command (and per other
/// case parameters when they vary).
#[derive(Debug)]
pub struct Combo {
    pub key: String,
    pub label: String,
    pub panels: BTreeMap<(String, String), Panel>,
}

/// The numbers of one run the charts draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub rps: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Run {
    fn of(r: &RecordView) -> Run {
        Run {
            rps: number(r, "rps"),
            p50: number(r, "p50_latency_ms"),
            p99: number(r, "p99_latency_ms"),
        }
    }
}

/// The runs of one command (and case) of a chart, per x position.
#[derive(Debug)]
pub struct Panel {
    pub command: String,
    /// The other case parameters, e.g. `50 clients · 100000 requests`.
    pub detail: String,
    /// Per x position, the runs measured there.
    pub runs: Vec<Vec<Run>>,
}

impl Panel {
    /// The rps series (one point per x position that has runs).
    pub fn rps_points(&self) -> Vec<Option<svg::Point>> {
        self.runs
            .iter()
            .map(|runs| {
                let runs: Vec<f64> = runs.iter().filter_map(|r| r.rps).collect();
                (!runs.is_empty()).then_some(svg::Point { runs })
            })
            .collect()
    }
}

fn combo_label(r: &RecordView) -> String {
    let num = |f| text(r, f).unwrap_or_else(|| "?".into());
    let flag = |f| r.get(f).and_then(Value::as_bool);
    format!(
        "{} B values · pipeline {} · io-threads {} · {} · {}",
        num("data_size"),
        num("pipeline"),
        // Records without the field (upstream's, when its config set no io-threads) ran
        // with the server's default.
        text(r, "io_threads").unwrap_or_else(|| "default".into()),
        match flag("cluster_mode") {
            Some(true) => "cluster",
            Some(false) => "standalone",
            None => "cluster ?",
        },
        match flag("tls") {
            Some(true) => "TLS",
            Some(false) => "plain TCP",
            None => "TLS ?",
        },
    )
}

/// A sortable key: numbers zero-padded so that 16 sorts before 128.
fn combo_key(r: &RecordView) -> String {
    COMBO_FIELDS
        .iter()
        .map(|f| match number(r, f) {
            Some(n) => format!("{n:>16.3}"),
            None => text(r, f).unwrap_or_default(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn panel_detail(r: &RecordView) -> String {
    let mut parts = Vec::new();
    for f in PANEL_FIELDS {
        let Some(v) = text(r, f) else { continue };
        parts.push(match *f {
            "clients" => format!("{v} clients"),
            "requests" => format!("{v} requests"),
            "duration" => format!("{v} s"),
            "keyspacelen" => format!("keyspace {v}"),
            "valkey_benchmark_threads" => format!("{v} client threads"),
            "config_set" if v == "{}" => continue,
            "config_set" => format!("config {v}"),
            _ => v,
        });
    }
    parts.join(" · ")
}

/// Groups `rows` into charts and panels, with `x_of` giving each row's x position (rows it
/// returns `None` for are left out) among `n` positions.
pub fn shape<'a>(
    rows: impl IntoIterator<Item = &'a RecordView>,
    n: usize,
    x_of: impl Fn(&RecordView) -> Option<usize>,
) -> Vec<Combo> {
    let mut combos: BTreeMap<String, Combo> = BTreeMap::new();
    for r in rows {
        let Some(x) = x_of(r) else { continue };
        if let Some(place) = place_of(r) {
            panel_runs(&mut combos, r, &place, n)[x].push(Run::of(r));
        }
    }
    combos.into_values().collect()
}

/// Where a row's runs go: its chart's key and its panel's (command, detail); `None` for a
/// row without a command.
type Place = (String, (String, String));

fn place_of(r: &RecordView) -> Option<Place> {
    let command = text(r, "command")?;
    Some((combo_key(r), (command, panel_detail(r))))
}

/// The runs of the panel at `place` (made, with `n` empty positions, when new).
fn panel_runs<'c>(
    combos: &'c mut BTreeMap<String, Combo>,
    r: &RecordView,
    place: &Place,
    n: usize,
) -> &'c mut Vec<Vec<Run>> {
    let (key, panel_key) = place;
    // Looked up before made: a row of a known panel allocates nothing here.
    if !combos.contains_key(key) {
        let combo = Combo {
            key: key.clone(),
            label: combo_label(r),
            panels: BTreeMap::new(),
        };
        combos.insert(key.clone(), combo);
    }
    let combo = combos.get_mut(key).expect("made above");
    if !combo.panels.contains_key(panel_key) {
        let (command, detail) = panel_key.clone();
        let runs = vec![Vec::new(); n];
        let panel = Panel {
            command,
            detail,
            runs,
        };
        combo.panels.insert(panel_key.clone(), panel);
    }
    &mut combo.panels.get_mut(panel_key).expect("made above").runs
}

/// Every command present, sorted.
pub fn commands<'a>(rows: impl IntoIterator<Item = &'a RecordView>) -> Vec<String> {
    let mut out: Vec<String> = rows
        .into_iter()
        .filter_map(|r| text(r, "command"))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn charts_and_panels_split_by_case_fields() {
        for f in COMBO_FIELDS.iter().chain(PANEL_FIELDS) {
            assert!(crate::model::fields::is_case_field(f), "`{f}`");
        }
    }

    fn rec(v: Value) -> RecordView {
        RecordView::from_map(v.as_object().unwrap().clone())
    }

    #[test]
    fn commits_follow_commit_time_not_sha_or_row_order() {
        let rows = vec![
            rec(json!({"commit": "bbbbbbb1", "timestamp": "2025-01-01T10:00:00Z"})),
            rec(json!({"commit": "aaaaaaa2", "timestamp": "2025-01-02T09:00:00+02:00"})),
            rec(json!({"commit": "ccccccc0", "timestamp": "2024-12-31T23:00:00Z"})),
        ];
        let order: Vec<String> = commits_in_time_order(&rows)
            .into_iter()
            .map(|c| c.sha)
            .collect();
        assert_eq!(order, ["ccccccc0", "bbbbbbb1", "aaaaaaa2"]);
    }

    #[test]
    fn links_only_for_plain_repositories_and_hex_shas() {
        let c = |repo: &str, sha: &str| Commit {
            sha: sha.into(),
            time: None,
            time_text: String::new(),
            git_ref: None,
            repository: Some(repo.into()),
        };
        assert_eq!(
            c("valkey-io/valkey", "55bbbe09a3").href().as_deref(),
            Some("https://github.com/valkey-io/valkey/commit/55bbbe09a3")
        );
        assert_eq!(c("a/b\"><script>", "55bbbe09a3").href(), None);
        assert_eq!(c("valkey-io/valkey", "9.1.2-abc").href(), None);
    }

    #[test]
    fn combos_sort_numerically() {
        let rows: Vec<RecordView> = [128, 16]
            .into_iter()
            .map(|d| rec(json!({"commit": "a", "command": "SET", "data_size": d, "pipeline": 1})))
            .collect();
        let combos = shape(&rows, 1, |_| Some(0));
        assert!(combos[0].label.starts_with("16 B"), "{}", combos[0].label);
    }
}
