//! Comparison of two result sets (docs/design.md §7): pure statistics, verdicts, markdown and JSON
//! reports, and graphs. The `valkey-perf compare` subcommand is in `commands::compare`; `run`
//! calls [`compare_records`] and [`write_report`] at the end of a run with a baseline.
//!
//! The math lives in [`stats`], record reading and grouping in [`group`], the typed reading of
//! one record in [`view`], the domain types in
//! [`model`], the analysis of cases and metrics in `analyse`, the judging in [`verdict`], presentation in [`report`] and [`graphs`]. May import
//! `model`, `results` and `util`; never runs benchmarks or touches a database.

pub mod across;
mod analyse;
pub mod capacity;
mod correct;
mod coupling;
pub mod effects;
pub mod functions;
pub mod graphs;
pub mod group;
mod infer;
mod legend;
pub mod model;
pub mod moderate;
pub mod numeric;
pub mod report;
mod select;
pub mod stats;
pub mod verdict;
pub mod view;

use anyhow::Context;
use std::path::{Path, PathBuf};

pub use graphs::write_graphs;
pub use group::RecordMap;
pub use model::*;
pub use report::{render_json, render_markdown};
pub use stats::{Difference, Summary};
pub use verdict::{compare_files, compare_records, compare_views};
pub use view::RecordView;

/// The latency-against-throughput chart of every capacity case, both targets' ladders on
/// it: `capacity-<NN>-<label>.png|svg`, the names [`report::render_markdown`] links.
pub fn capacity_charts(cmp: &Comparison, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (i, case) in cmp.cases.iter().enumerate() {
        if case.capacity.is_empty() {
            continue;
        }
        files.extend(capacity::draw_chart(
            &dir.join(capacity_chart_name(i, &case.label)),
            &capacity_chart_title(case),
            &capacity_ladders(cmp, case),
        )?);
    }
    Ok(files)
}

/// The same charts as [`capacity_charts`], as SVG text to put inline: `(case label, svg)`.
pub fn capacity_svgs(cmp: &Comparison) -> anyhow::Result<Vec<(String, String)>> {
    cmp.cases
        .iter()
        .filter(|case| !case.capacity.is_empty())
        .map(|case| {
            let svg =
                capacity::chart_svg(&capacity_chart_title(case), &capacity_ladders(cmp, case))?;
            Ok((case.label.clone(), svg))
        })
        .collect()
}

fn capacity_chart_title(case: &CaseComparison) -> String {
    format!("{}: latency against throughput", case.label)
}

/// A case's ladders as the chart names them: the side's short name and the run.
fn capacity_ladders<'c>(
    cmp: &Comparison,
    case: &'c CaseComparison,
) -> Vec<(String, bool, &'c crate::model::capacity::CapacityFigures)> {
    case.capacity
        .iter()
        .map(|l| {
            let side = if l.baseline { &cmp.baseline } else { &cmp.new };
            (
                format!(
                    "{} run {}",
                    report::short_side_name(side),
                    l.run_index.map_or(0, |r| r + 1)
                ),
                l.baseline,
                &l.figures,
            )
        })
        .collect()
}

/// The file name (without extension) of case `i`'s capacity chart.
pub fn capacity_chart_name(i: usize, label: &str) -> String {
    format!("capacity-{:02}-{}", i + 1, graphs::slug(label))
}

/// Writes `report.md` into `dir` (atomically) and, with `graphs`, the graphs into
/// `dir/graphs`; returns every file written. This is what `run` calls at the end of a run
/// with a baseline (docs/design.md §6.1: `results/<sha>/report.md`).
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
    // Capacity charts are part of the report, drawn whether or not other graphs are.
    files.extend(capacity_charts(cmp, &dir.join("graphs"))?);
    Ok(files)
}
