//! The comparison's domain: metrics and their direction, options, verdicts, and the
//! [`Comparison`] every report renders. Pure data; no I/O.

use super::group;
use super::stats::{Difference, Summary};
use serde::Serialize;

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
    /// Instructions per request counted under callgrind (instructions mode).
    InstructionsPerRequest,
    /// Server CPU time per request in the measured window (all threads, all nodes).
    ServerCpuPerRequest,
    /// Memory mode: bytes each key costs beyond its name and value.
    OverheadPerItem,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::Rps,
        Metric::AvgLatency,
        Metric::P50Latency,
        Metric::P95Latency,
        Metric::P99Latency,
        Metric::MinLatency,
        Metric::MaxLatency,
        Metric::InstructionsPerRequest,
        Metric::ServerCpuPerRequest,
        Metric::OverheadPerItem,
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
            Metric::InstructionsPerRequest => "instructions_per_request",
            Metric::ServerCpuPerRequest => "server_cpu_us_per_request",
            Metric::OverheadPerItem => "overhead_bytes_per_item",
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
            Metric::InstructionsPerRequest => "instructions/request",
            Metric::ServerCpuPerRequest => "server CPU/request",
            Metric::OverheadPerItem => "overhead/key",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::Rps => "req/s",
            Metric::InstructionsPerRequest => "instr",
            Metric::ServerCpuPerRequest => "µs",
            Metric::OverheadPerItem => "B",
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

    pub fn is_latency(self) -> bool {
        !matches!(
            self,
            Metric::Rps
                | Metric::InstructionsPerRequest
                | Metric::ServerCpuPerRequest
                | Metric::OverheadPerItem
        )
    }

    /// Metrics only some records have (instructions mode, server usage, memory mode): a case
    /// where neither side has them shows no row for them.
    pub fn optional(self) -> bool {
        matches!(
            self,
            Metric::InstructionsPerRequest | Metric::ServerCpuPerRequest | Metric::OverheadPerItem
        )
    }

    /// Measured in time, so meaningless against a server under callgrind.
    pub fn is_timing(self) -> bool {
        !matches!(
            self,
            Metric::InstructionsPerRequest | Metric::OverheadPerItem
        )
    }
}

/// Which metrics to compare (`--metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
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
                MetricSet::Rps => *m == Metric::Rps,
                MetricSet::Latency => m.is_latency(),
            })
            .collect()
    }
}

/// Multiple-comparison correction (`--correction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Benjamini–Hochberg within each family of the report (docs/design.md §7.4): a
    /// false-discovery rate of α among the primary verdicts, and separately among the
    /// secondary ones.
    #[default]
    Fdr,
    /// Holm's step-down method within each family: a family-wise error rate of α.
    Holm,
    /// Each comparison at α on its own.
    None,
}

/// What is known of the drift between two invocations on the benchmarking machine: the spread
/// of the shift that every case shares when the same code is measured twice, as a standard
/// deviation of the log ratio, and where that figure came from. Between two invocations a
/// common shift is judged only against this.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftPrior {
    /// Standard deviation of the common log shift between two invocations.
    pub sd_log: f64,
    /// Consecutive commit pairs of the machine's history the estimate used; 0 when it is the
    /// documented default.
    pub pairs: usize,
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
    /// The noise threshold of `instructions_per_request` (percent): instruction counts vary
    /// far less than time.
    pub instructions_threshold_pct: f64,
    /// The machine's invocation drift, when known from its history (`detect-regression`);
    /// `None` uses the documented default.
    pub drift: Option<DriftPrior>,
    /// The share of a case's own sample variance below which moderation may not take it
    /// ([`super::moderate::moderate_each`]): 1, the default, keeps the promise when the noise
    /// differs between cases; 0 is limma's plain moderation. Not a command-line option: the
    /// frontier test (`tests/integration/verdicts/frontier.rs`, docs/design.md §7.6)
    /// measures what each value buys in power and costs in false alarms.
    pub own_variance_floor: f64,
}

impl CompareOptions {
    /// The noise threshold that applies to `metric`.
    pub fn threshold_for(&self, metric: Metric) -> f64 {
        match metric {
            Metric::InstructionsPerRequest => self.instructions_threshold_pct,
            _ => self.threshold_pct,
        }
    }
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            metrics: MetricSet::All,
            threshold_pct: 1.0,
            correction: Correction::Fdr,
            alpha: 0.05,
            min_runs: 2,
            instructions_threshold_pct: 0.5,
            drift: None,
            own_variance_floor: super::moderate::OWN_VARIANCE_FLOOR,
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
    /// How the difference was judged; `None` without enough runs.
    pub analysis: Option<super::effects::Analysis>,
    pub difference: Option<Difference>,
    /// The p-value after the correction (equal to the raw one with `Correction::None`).
    pub p_adjusted: Option<f64>,
    /// The smallest change (percent, either way) this data finds with 80 % power at the
    /// threshold of its family: "no significant change" with a minimum detectable effect of
    /// 20 % says that a 10 % change could have gone unseen.
    pub mde_pct: Option<f64>,
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
    /// Instructions mode, for a case whose instructions per request changed: the functions
    /// whose inclusive instructions per request changed most.
    pub functions: Vec<super::functions::FunctionChange>,
    /// Server figures shown but not judged (memory after the run, time per call), where the
    /// records have them.
    pub server: Vec<ShownFigure>,
    /// Capacity mode: every ladder of the case, baseline's first.
    pub capacity: Vec<super::capacity::Ladder>,
}

/// Record fields shown per case next to the judged metrics, with their labels: what the
/// servers held after the load and how long they took per call of the measured command.
pub const SHOWN_FIELDS: &[(&str, &str)] = &[
    ("used_memory", "used memory (bytes)"),
    ("used_memory_rss", "RSS (bytes)"),
    ("mem_fragmentation_ratio", "fragmentation ratio"),
    ("keys", "keys"),
    ("usec_per_call", "server µs per call"),
];

/// One of [`SHOWN_FIELDS`] for one case: the mean over each side's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShownFigure {
    pub field: &'static str,
    pub label: &'static str,
    pub baseline_mean: Option<f64>,
    pub new_mean: Option<f64>,
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

/// The change of one metric over all cases at once: the geometric mean of the cases' ratios
/// (their unweighted mean log ratio), so that a small change everywhere is found even when no
/// single case is significant. Between two invocations it is the common shift, judged
/// against the machine's drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    pub metric: Metric,
    /// Cases pooled.
    pub cases: usize,
    pub pct_change: Option<f64>,
    pub pct_change_ci95: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    /// Adjusted in its family (see [`Correction`]).
    pub p_adjusted: Option<f64>,
    pub verdict: Verdict,
    /// Why there is no verdict, or what was left out.
    pub note: Option<String>,
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
    /// Tests in the primary family (the primary metric of every case with a test, and its
    /// overall line): the family the report's promise is about.
    pub comparisons: usize,
    /// Significant changes, largest |% change| first.
    pub changes: Vec<Change>,
    /// One line per judged metric over all cases.
    pub overall: Vec<Overall>,
    /// Between two invocations: the shift every case shares in the primary metric.
    pub common_shift: Option<CommonShift>,
    pub warnings: Vec<crate::model::Warning>,
}

/// Where the drift a common shift is judged against comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftSource {
    /// The documented default (5 %).
    Default,
    /// The common shifts between consecutive commits of the machine's history.
    History,
}

/// The shift every case shares between two invocations (docs/design.md §7.3): between two
/// invocations it cannot be told from machine drift, so it is judged only against the drift
/// the machine is known to have.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommonShift {
    pub metric: Metric,
    /// Cases whose log ratios it is the mean of.
    pub cases: usize,
    pub pct_change: f64,
    /// 95 % interval, drift included.
    pub pct_change_ci95: [f64; 2],
    pub p_value: f64,
    pub p_adjusted: Option<f64>,
    pub verdict: Verdict,
    /// The drift used: standard deviation of the common shift between two invocations, in
    /// percent, and where it came from.
    pub drift_sd_pct: f64,
    pub drift_source: DriftSource,
    /// Consecutive commit pairs of the history the drift came from (0 for the default).
    pub drift_pairs: usize,
}

impl CommonShift {
    /// The sentence the reports show.
    pub fn sentence(&self) -> String {
        let source = match self.drift_source {
            DriftSource::Default => "the default drift".to_string(),
            DriftSource::History => {
                format!("drift from {} commit pairs of history", self.drift_pairs)
            }
        };
        let judged = match self.verdict {
            Verdict::Regression | Verdict::Improvement => {
                format!("far beyond it: a {}", self.verdict.label())
            }
            _ => "within it".to_string(),
        };
        format!(
            "every case {:+.1} % in {}: between two invocations this cannot be told from \
             machine drift; judged against {source} (sd {:.1} %): {judged}",
            self.pct_change,
            self.metric.label(),
            self.drift_sd_pct
        )
    }
}

/// Whether a change is at least `pct` percent large for a gate: its whole 95 % interval lies
/// at least `pct` away from zero (the data show a change that large, not only a point estimate
/// that large), so a true change smaller than `pct` trips the gate rarely. Without an interval,
/// the point estimate.
pub fn beyond(pct_change: Option<f64>, ci95: Option<[f64; 2]>, pct: f64) -> bool {
    match (ci95, pct_change) {
        (Some([lo, hi]), _) => lo >= pct || hi <= -pct,
        (None, Some(p)) => p.abs() >= pct,
        (None, None) => true,
    }
}

impl Comparison {
    pub fn regressions(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.verdict == Verdict::Regression)
    }

    /// Overall lines that are regressions at least `pct` percent large (see
    /// [`beyond`]).
    pub fn overall_regressions_at_least(&self, pct: f64) -> Vec<&Overall> {
        self.overall
            .iter()
            .filter(|o| o.verdict == Verdict::Regression)
            .filter(|o| beyond(o.pct_change, o.pct_change_ci95, pct))
            .collect()
    }

    /// Regressions at least `pct` percent large (see [`beyond`]): what
    /// `--fail-on-regression PCT` fails on.
    pub fn regressions_at_least(&self, pct: f64) -> Vec<&Change> {
        self.regressions()
            .filter(|c| beyond(c.pct_change, c.pct_change_ci95, pct))
            .collect()
    }

    /// Whether the report judged anything a gate asks about: a primary-metric test of some
    /// case, or an overall line with an estimate. A gate that judged nothing is inconclusive,
    /// not a pass.
    pub fn judged_anything(&self) -> bool {
        let case = self.cases.iter().any(|c| {
            c.metrics
                .iter()
                .find(|m| m.verdict != Verdict::NotJudged)
                .is_some_and(|m| m.p_adjusted.is_some())
        });
        case || self.overall.iter().any(|o| o.p_adjusted.is_some())
    }
}
