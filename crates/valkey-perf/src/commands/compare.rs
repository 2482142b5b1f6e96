//! `valkey-perf compare`: two `metrics.json` files in, a report out (docs/design.md §7). Flags are
//! lowered into [`CompareOptions`]; the statistics are `crate::compare`'s.

use crate::compare::{
    CompareOptions, Correction, MetricSet, compare_files, render_json, render_markdown, report,
    write_graphs,
};
use crate::exit::{Code, Failure};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Report format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    Markdown,
    Json,
}

/// `--metrics` as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricsArg {
    All,
    Rps,
    Latency,
}

impl From<MetricsArg> for MetricSet {
    fn from(m: MetricsArg) -> MetricSet {
        match m {
            MetricsArg::All => MetricSet::All,
            MetricsArg::Rps => MetricSet::Rps,
            MetricsArg::Latency => MetricSet::Latency,
        }
    }
}

/// `--correction` as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CorrectionArg {
    /// Benjamini–Hochberg within each family: a false-discovery rate of α.
    Fdr,
    /// Holm's step-down method within each family: a family-wise error rate of α.
    Holm,
    /// Each comparison at α on its own.
    None,
}

impl From<CorrectionArg> for Correction {
    fn from(c: CorrectionArg) -> Correction {
        match c {
            CorrectionArg::Fdr => Correction::Fdr,
            CorrectionArg::Holm => Correction::Holm,
            CorrectionArg::None => Correction::None,
        }
    }
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
    #[arg(long, value_enum, default_value_t = MetricsArg::All)]
    pub metrics: MetricsArg,
    /// Also draw graphs (PNG and SVG) into --graph-dir.
    #[arg(long)]
    pub graphs: bool,
    /// Where --graphs writes its files.
    #[arg(long, value_name = "DIR", default_value = "graphs")]
    pub graph_dir: PathBuf,
    /// Exit with code 6 on a regression whose whole 95 % interval lies at least PCT percent
    /// beyond no change (the data show a change that large); exit 7 when nothing could be
    /// judged.
    #[arg(long, value_name = "PCT")]
    pub fail_on_regression: Option<f64>,
    /// With --fail-on-regression: exit 0 instead of 7 when nothing could be judged (no
    /// verdict possible, insufficient data).
    #[arg(long, requires = "fail_on_regression")]
    pub allow_inconclusive: bool,
    /// Noise threshold: smaller changes are "no significant change", in percent.
    #[arg(long, value_name = "PCT", default_value_t = 1.0)]
    pub threshold: f64,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Multiple-comparison correction within each family of the report (primary: the
    /// primary metric of every case and its overall line; secondary: the other metrics).
    #[arg(long, value_enum, default_value_t = CorrectionArg::Fdr)]
    pub correction: CorrectionArg,
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
        metrics: args.metrics.into(),
        threshold_pct: args.threshold,
        correction: if args.no_holm {
            Correction::None
        } else {
            args.correction.into()
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
        None => crate::util::out(format_args!("{text}")),
    }
    if args.graphs {
        let files = write_graphs(&cmp, &args.graph_dir)?;
        eprintln!(
            "wrote {} graph files to `{}`",
            files.len(),
            args.graph_dir.display()
        );
    }
    if cmp.cases.is_empty() {
        // A gate that compares nothing must not pass.
        return Err(crate::exit::usage(format!(
            "no case appears in both `{}` and `{}`, so nothing was compared; check that both were run with the same config (and engine)",
            args.baseline.display(),
            args.new.display()
        )));
    }
    if let Some(pct) = args.fail_on_regression {
        if !cmp.judged_anything() && !args.allow_inconclusive {
            return Err(Failure::new(
                Code::Inconclusive,
                format!(
                    "nothing could be judged between `{}` and `{}` (insufficient data, or no \
                     verdict possible), so the gate cannot pass; add runs (3 or more a side), \
                     or pass --allow-inconclusive to accept this",
                    args.baseline.display(),
                    args.new.display()
                ),
            ));
        }
        let found = cmp.regressions_at_least(pct);
        let overall = cmp.overall_regressions_at_least(pct);
        if !found.is_empty() || !overall.is_empty() {
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
                .chain(overall.iter().map(|o| {
                    format!(
                        "overall {} {} over {} cases",
                        o.metric.label(),
                        report::fmt_pct(o.pct_change),
                        o.cases
                    )
                }))
                .collect();
            return Err(Failure::new(
                Code::Regression,
                format!(
                    "{} regression(s) of at least {pct} %: {}",
                    list.len(),
                    list.join(", ")
                ),
            ));
        }
    }
    Ok(Code::Success)
}
