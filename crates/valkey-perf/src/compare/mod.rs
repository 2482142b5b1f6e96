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
mod correct;
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
    Ok(files)
}
