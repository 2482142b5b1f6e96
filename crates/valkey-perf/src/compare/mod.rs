//! `valkey-perf compare`: pairs the runs of two result sets case by case, judges every metric
//! with Welch's test and a noise threshold, and renders markdown, JSON and graphs (SPEC §7).
//!
//! This module owns the verdict logic and the library entry points used by `run` at the end of
//! a baseline run ([`compare_files`], [`compare_records`], [`render_markdown`],
//! [`render_json`], [`write_graphs`]). The math lives in [`stats`], record reading and
//! grouping in [`group`], presentation in [`report`] and [`graphs`]. It does not run
//! benchmarks or touch the database.

pub mod graphs;
pub mod group;
pub mod report;
pub mod stats;

use crate::exit::{Code, Failure};
use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use graphs::write_graphs;
pub use group::RecordMap;
pub use report::{render_json, render_markdown};
use stats::{Difference, Summary};

/// A metric of a record, with its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Rps,
    AvgLatency,
    P50Latency,
    P95Latency,
    P99Latency,
    MinLatency,
    MaxLatency,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Rps,
        Metric::AvgLatency,
        Metric::P50Latency,
        Metric::P95Latency,
        Metric::P99Latency,
        Metric::MinLatency,
        Metric::MaxLatency,
    ];

    /// The record field holding this metric.
    pub fn field(self) -> &'static str {
        match self {
            Metric::Rps => "rps",
            Metric::AvgLatency => "avg_latency_ms",
            Metric::P50Latency => "p50_latency_ms",
            Metric::P95Latency => "p95_latency_ms",
            Metric::P99Latency => "p99_latency_ms",
            Metric::MinLatency => "min_latency_ms",
            Metric::MaxLatency => "max_latency_ms",
        }
    }

    /// Short display name.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Rps => "rps",
            Metric::AvgLatency => "avg latency",
            Metric::P50Latency => "p50 latency",
            Metric::P95Latency => "p95 latency",
            Metric::P99Latency => "p99 latency",
            Metric::MinLatency => "min latency",
            Metric::MaxLatency => "max latency",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::Rps => "req/s",
            _ => "ms",
        }
    }

    /// rps: higher is better; latencies: lower is better.
    pub fn higher_is_better(self) -> bool {
        self == Metric::Rps
    }

    /// Min and max are single extreme samples, too noisy to judge: shown only.
    pub fn judged(self) -> bool {
        !matches!(self, Metric::MinLatency | Metric::MaxLatency)
    }

    fn is_latency(self) -> bool {
        self != Metric::Rps
    }
}

/// Which metrics to compare (`--metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricSet {
    #[default]
    All,
    Rps,
    Latency,
}

impl MetricSet {
    pub fn metrics(self) -> Vec<Metric> {
        Metric::ALL
            .into_iter()
            .filter(|m| match self {
                MetricSet::All => true,
                MetricSet::Rps => !m.is_latency(),
                MetricSet::Latency => m.is_latency(),
            })
            .collect()
    }
}

/// Multiple-comparison correction (`--correction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Holm's step-down method over every judged comparison of the report.
    #[default]
    Holm,
    /// Each comparison at α on its own.
    None,
}

/// Report format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    Markdown,
    Json,
}

/// How to compare. `Default` gives the command-line defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareOptions {
    pub metrics: MetricSet,
    /// Changes smaller than this (percent of the baseline mean) are "no significant change".
    pub threshold_pct: f64,
    pub correction: Correction,
    /// Family-wise significance level.
    pub alpha: f64,
    /// Fewer runs than this on either side gives "insufficient data".
    pub min_runs: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            metrics: MetricSet::All,
            threshold_pct: 1.0,
            correction: Correction::Holm,
            alpha: 0.05,
            min_runs: 2,
        }
    }
}

/// The verdict on one metric of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    InsufficientData,
    NoSignificantChange,
    Improvement,
    Regression,
    /// Min/max: shown, never judged.
    NotJudged,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::InsufficientData => "insufficient data",
            Verdict::NoSignificantChange => "no significant change",
            Verdict::Improvement => "improvement",
            Verdict::Regression => "regression",
            Verdict::NotJudged => "not judged",
        }
    }
}

/// One metric of one case, both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    pub metric: Metric,
    pub field: &'static str,
    pub baseline_values: Vec<f64>,
    pub new_values: Vec<f64>,
    pub baseline: Option<Summary>,
    pub new: Option<Summary>,
    pub difference: Option<Difference>,
    /// The p-value after the correction (equal to the raw one with `Correction::None`).
    pub p_adjusted: Option<f64>,
    pub verdict: Verdict,
}

/// One case present on both sides or on one side only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseComparison {
    pub label: String,
    pub params: Vec<group::Param>,
    pub baseline_runs: usize,
    pub new_runs: usize,
    pub metrics: Vec<MetricComparison>,
}

impl CaseComparison {
    /// The worst verdict of the case: regression, else improvement, else the rest.
    pub fn overall(&self) -> Verdict {
        let has = |v| self.metrics.iter().any(|m| m.verdict == v);
        if has(Verdict::Regression) {
            Verdict::Regression
        } else if has(Verdict::Improvement) {
            Verdict::Improvement
        } else if has(Verdict::NoSignificantChange) {
            Verdict::NoSignificantChange
        } else {
            Verdict::InsufficientData
        }
    }
}

/// What one side of the comparison is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideInfo {
    /// The file, or a caller's label for in-memory records.
    pub source: String,
    pub records: usize,
    pub commits: Vec<String>,
    pub refs: Vec<String>,
    pub repository: Option<String>,
    pub server_versions: Vec<String>,
}

/// A significant change, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub case: String,
    pub metric: Metric,
    pub verdict: Verdict,
    pub pct_change: Option<f64>,
    pub pct_change_ci95: Option<[f64; 2]>,
    pub p_value: f64,
    pub p_adjusted: f64,
}

/// Everything `compare` found. Serialized as is for `--format json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub baseline: SideInfo,
    pub new: SideInfo,
    pub options: CompareOptions,
    /// Case fields used to pair runs.
    pub pairing_fields: Vec<String>,
    /// Case fields only one side has; ignored for pairing.
    pub ignored_fields: Vec<group::IgnoredField>,
    /// Parameters identical in every case.
    pub fixed_config: Vec<group::Param>,
    /// Cases present on both sides.
    pub cases: Vec<CaseComparison>,
    pub only_in_baseline: Vec<CaseComparison>,
    pub only_in_new: Vec<CaseComparison>,
    /// Number of judged comparisons that had enough data for a test (the Holm family size).
    pub comparisons: usize,
    /// Significant changes, largest |% change| first.
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.verdict == Verdict::Regression)
    }

    /// Regressions at least `pct` percent large.
    pub fn regressions_at_least(&self, pct: f64) -> Vec<&Change> {
        self.regressions()
            .filter(|c| c.pct_change.is_none_or(|p| p.abs() >= pct))
            .collect()
    }
}

/// Compares two `metrics.json` files.
pub fn compare_files(
    baseline: &Path,
    new: &Path,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    let b = group::load_records(baseline)?;
    let n = group::load_records(new)?;
    compare_records(
        &b,
        &n,
        &baseline.display().to_string(),
        &new.display().to_string(),
        opts,
    )
}

fn distinct(records: &[RecordMap], field: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in records {
        match group::canonical(r.get(field)) {
            Some(v) if !out.contains(&v) => out.push(v),
            _ => {}
        }
    }
    out
}

fn side_info(records: &[RecordMap], source: &str) -> SideInfo {
    SideInfo {
        source: source.to_string(),
        records: records.len(),
        commits: distinct(records, "commit"),
        refs: distinct(records, "ref"),
        repository: distinct(records, "repository").into_iter().next(),
        server_versions: distinct(records, "server_version"),
    }
}

fn values_of(records: &[RecordMap], idx: &[usize], metric: Metric) -> Vec<f64> {
    idx.iter()
        .filter_map(|&i| records[i].get(metric.field())?.as_f64())
        .filter(|v| v.is_finite())
        .collect()
}

/// Compares in-memory records (as read from `metrics.json`); `baseline_source` and
/// `new_source` name them in the report.
pub fn compare_records(
    baseline: &[RecordMap],
    new: &[RecordMap],
    baseline_source: &str,
    new_source: &str,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    anyhow::ensure!(
        opts.threshold_pct >= 0.0 && opts.threshold_pct.is_finite(),
        "the noise threshold must be a non-negative percentage, got {}",
        opts.threshold_pct
    );
    anyhow::ensure!(
        opts.alpha > 0.0 && opts.alpha < 1.0,
        "alpha must lie between 0 and 1, got {}",
        opts.alpha
    );
    let mut warnings = Vec::new();
    for (side, recs, src) in [
        ("baseline", baseline, baseline_source),
        ("new", new, new_source),
    ] {
        if recs.is_empty() {
            warnings.push(format!("the {side} file `{src}` holds no records"));
        }
    }
    let grouping = group::group(baseline, new);
    for ign in &grouping.ignored {
        warnings.push(format!(
            "`{}` appears only in the {} records and was ignored for pairing",
            ign.name, ign.only_in
        ));
    }
    let (fixed_config, varying) = group::fixed_and_varying(&grouping.groups, &grouping.fields);
    let metrics = opts.metrics.metrics();
    let min_runs = opts.min_runs.max(2);

    let mut cases = Vec::new();
    let mut only_in_baseline = Vec::new();
    let mut only_in_new = Vec::new();
    let mut few_runs = false;
    for g in &grouping.groups {
        let label = group::label(&g.params, &varying);
        let mut mcs = Vec::new();
        for &metric in &metrics {
            let bv = values_of(baseline, &g.baseline, metric);
            let nv = values_of(new, &g.new, metric);
            let enough = bv.len() >= min_runs && nv.len() >= min_runs;
            few_runs |= enough && (bv.len() < 3 || nv.len() < 3);
            let difference = if enough {
                stats::difference(&bv, &nv)
            } else {
                None
            };
            let verdict = if !metric.judged() {
                Verdict::NotJudged
            } else if difference.is_none() {
                Verdict::InsufficientData
            } else {
                // Decided after the correction, below.
                Verdict::NoSignificantChange
            };
            mcs.push(MetricComparison {
                metric,
                field: metric.field(),
                baseline: Summary::of(&bv),
                new: Summary::of(&nv),
                baseline_values: bv,
                new_values: nv,
                difference,
                p_adjusted: None,
                verdict,
            });
        }
        let case = CaseComparison {
            label,
            params: g.params.clone(),
            baseline_runs: g.baseline.len(),
            new_runs: g.new.len(),
            metrics: mcs,
        };
        match (g.baseline.is_empty(), g.new.is_empty()) {
            (false, false) => cases.push(case),
            (false, true) => only_in_baseline.push(case),
            _ => only_in_new.push(case),
        }
    }

    // The family: every judged metric with a test. Holm adjusts over all of them at once.
    let family: Vec<(usize, usize)> = cases
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| {
            c.metrics
                .iter()
                .enumerate()
                .filter(|(_, m)| m.metric.judged() && m.difference.is_some())
                .map(move |(mi, _)| (ci, mi))
        })
        .collect();
    let raw: Vec<f64> = family
        .iter()
        .map(|&(ci, mi)| {
            cases[ci].metrics[mi]
                .difference
                .as_ref()
                .map_or(1.0, |d| d.p_value)
        })
        .collect();
    let adjusted = match opts.correction {
        Correction::Holm => stats::holm_adjust(&raw),
        Correction::None => raw.clone(),
    };
    for (&(ci, mi), &p_adj) in family.iter().zip(&adjusted) {
        let mc = &mut cases[ci].metrics[mi];
        mc.p_adjusted = Some(p_adj);
        mc.verdict = judge(mc.metric, mc.difference.as_ref(), p_adj, opts);
    }
    // Not-judged metrics still get the raw p-value shown; no adjustment.
    let mut changes: Vec<Change> = Vec::new();
    for c in &cases {
        for m in &c.metrics {
            if let (Verdict::Improvement | Verdict::Regression, Some(d), Some(p_adj)) =
                (m.verdict, &m.difference, m.p_adjusted)
            {
                changes.push(Change {
                    case: c.label.clone(),
                    metric: m.metric,
                    verdict: m.verdict,
                    pct_change: d.pct_change,
                    pct_change_ci95: d.pct_change_ci95,
                    p_value: d.p_value,
                    p_adjusted: p_adj,
                });
            }
        }
    }
    changes.sort_by(|a, b| {
        let mag = |c: &Change| c.pct_change.map_or(f64::INFINITY, f64::abs);
        mag(b).total_cmp(&mag(a))
    });

    if few_runs {
        warnings.push(
            "some cases have only 2 runs on a side: intervals are very wide (t = 12.7 at 1 \
             degree of freedom); use --runs 3 or more"
                .to_string(),
        );
    }
    if cases.is_empty() && !(baseline.is_empty() || new.is_empty()) {
        warnings.push(
            "no case appears in both files: check that both were run with the same config"
                .to_string(),
        );
    }
    let noisy: Vec<String> = cases
        .iter()
        .filter(|c| {
            c.metrics.iter().any(|m| {
                m.metric == Metric::Rps
                    && [&m.baseline, &m.new]
                        .iter()
                        .any(|s| s.as_ref().and_then(|s| s.cv_pct).is_some_and(|cv| cv > 5.0))
            })
        })
        .map(|c| format!("`{}`", c.label))
        .collect();
    if !noisy.is_empty() {
        warnings.push(format!(
            "rps CV above 5 % in {}: the machine is noisy, small changes cannot be detected \
             (pin CPUs, set the governor to `performance`, add runs)",
            noisy.join(", ")
        ));
    }

    Ok(Comparison {
        baseline: side_info(baseline, baseline_source),
        new: side_info(new, new_source),
        options: opts.clone(),
        pairing_fields: grouping.fields,
        ignored_fields: grouping.ignored,
        fixed_config,
        comparisons: family.len(),
        cases,
        only_in_baseline,
        only_in_new,
        changes,
        warnings,
    })
}

/// The verdict for one judged metric given its (adjusted) p-value.
fn judge(metric: Metric, d: Option<&Difference>, p_adj: f64, opts: &CompareOptions) -> Verdict {
    let Some(d) = d else {
        return Verdict::InsufficientData;
    };
    // Significant only when the interval of the change excludes 0 *and* the corrected p-value
    // is below α. Without correction the two agree (the Fieller interval is built with the
    // Welch critical value); with Holm the p-value is the stricter test.
    let [lo, hi] = d.pct_change_ci95.unwrap_or(d.mean_diff_ci95);
    let interval_excludes_zero = lo > 0.0 || hi < 0.0;
    if !interval_excludes_zero || p_adj.is_nan() || p_adj >= opts.alpha {
        return Verdict::NoSignificantChange;
    }
    if d.pct_change.is_some_and(|p| p.abs() < opts.threshold_pct) {
        return Verdict::NoSignificantChange;
    }
    if (d.mean_diff > 0.0) == metric.higher_is_better() {
        Verdict::Improvement
    } else {
        Verdict::Regression
    }
}

/// Writes `report.md` into `dir` (atomically) and, with `graphs`, the graphs into
/// `dir/graphs`; returns every file written. This is what `run` calls at the end of a run
/// with a baseline (SPEC §6: `results/<sha>/report.md`).
pub fn write_report(cmp: &Comparison, dir: &Path, graphs: bool) -> anyhow::Result<Vec<PathBuf>> {
    let report = dir.join("report.md");
    crate::util::write_atomic(&report, render_markdown(cmp).as_bytes()).with_context(|| {
        format!(
            "cannot write `{}`: check the results directory is writable",
            report.display()
        )
    })?;
    let mut files = vec![report];
    if graphs {
        files.extend(write_graphs(cmp, &dir.join("graphs"))?);
    }
    Ok(files)
}

/// `valkey-perf compare`: statistics, markdown or JSON report, graphs, verdicts.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline `metrics.json` (valkey-perf or upstream valkey-perf-benchmark format).
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// The `metrics.json` to compare against the baseline.
    #[arg(long, value_name = "FILE")]
    pub new: PathBuf,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Which metrics to compare.
    #[arg(long, value_enum, default_value_t = MetricSet::All)]
    pub metrics: MetricSet,
    /// Also draw graphs (PNG and SVG) into --graph-dir.
    #[arg(long)]
    pub graphs: bool,
    /// Where --graphs writes its files.
    #[arg(long, value_name = "DIR", default_value = "graphs")]
    pub graph_dir: PathBuf,
    /// Exit with code 6 when a regression of at least PCT percent is found.
    #[arg(long, value_name = "PCT")]
    pub fail_on_regression: Option<f64>,
    /// Noise threshold: smaller changes are "no significant change", in percent.
    #[arg(long, value_name = "PCT", default_value_t = 1.0)]
    pub threshold: f64,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Multiple-comparison correction over all comparisons of the report.
    #[arg(long, value_enum, default_value_t = Correction::Holm)]
    pub correction: Correction,
    /// Same as --correction none.
    #[arg(long, conflicts_with = "correction")]
    pub no_holm: bool,
}

/// Runs `valkey-perf compare`.
pub fn run(args: CompareArgs) -> anyhow::Result<Code> {
    if let Some(pct) = args
        .fail_on_regression
        .filter(|p| !p.is_finite() || *p < 0.0)
    {
        return Err(crate::exit::usage(format!(
            "--fail-on-regression must be a non-negative percentage, got {pct}"
        )));
    }
    if !args.threshold.is_finite() || args.threshold < 0.0 {
        return Err(crate::exit::usage(format!(
            "--threshold must be a non-negative percentage, got {}",
            args.threshold
        )));
    }
    let opts = CompareOptions {
        metrics: args.metrics,
        threshold_pct: args.threshold,
        correction: if args.no_holm {
            Correction::None
        } else {
            args.correction
        },
        ..CompareOptions::default()
    };
    // Unreadable or malformed input is the user's to fix: exit 2, with the whole chain.
    let cmp = compare_files(&args.baseline, &args.new, &opts)
        .map_err(|e| crate::exit::usage(format!("{e:#}")))?;
    for w in &cmp.warnings {
        eprintln!("warning: {w}");
    }
    let text = match args.format {
        Format::Markdown => render_markdown(&cmp),
        Format::Json => render_json(&cmp),
    };
    match &args.output {
        Some(path) => crate::util::write_atomic(path, text.as_bytes()).with_context(|| {
            format!(
                "cannot write the report to `{}`: check the directory exists and is writable",
                path.display()
            )
        })?,
        None => print!("{text}"),
    }
    if args.graphs {
        let files = write_graphs(&cmp, &args.graph_dir)?;
        eprintln!(
            "wrote {} graph files to `{}`",
            files.len(),
            args.graph_dir.display()
        );
    }
    if let Some(pct) = args.fail_on_regression {
        let found = cmp.regressions_at_least(pct);
        if !found.is_empty() {
            let list: Vec<String> = found
                .iter()
                .map(|c| {
                    format!(
                        "`{}` {} {}",
                        c.case,
                        c.metric.label(),
                        report::fmt_pct(c.pct_change)
                    )
                })
                .collect();
            return Err(Failure::new(
                Code::Regression,
                format!(
                    "{} regression(s) of at least {pct} %: {}",
                    found.len(),
                    list.join(", ")
                ),
            ));
        }
    }
    Ok(Code::Success)
}
