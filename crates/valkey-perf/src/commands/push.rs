//! `valkey-perf push`: every `metrics.json` below a results directory into the database, one
//! transaction per file; a second push of the same results adds nothing (SPEC §8).

use super::db::DbArgs;
use crate::compare::group::load_records;
use crate::exit::{Code, Failure};
use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

/// Flags of `valkey-perf push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Directory searched (recursively) for `metrics.json` files.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,
    /// Stored in every row's `test_type` column.
    #[arg(long, value_name = "TYPE")]
    pub test_type: Option<String>,
    /// Say what would be inserted, and insert nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Every `metrics.json` below `dir`, in path order (links are not followed).
pub fn metrics_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| {
            crate::exit::usage(format!(
                "cannot read `{}`: {e}; pass the results directory `run` wrote with --results-dir",
                d.display()
            ))
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && path.file_name().is_some_and(|n| n == "metrics.json") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs `valkey-perf push`.
pub fn run(args: PushArgs) -> Result<Code> {
    let table = args.db.table()?;
    let files = metrics_files(&args.results_dir)?;
    if files.is_empty() {
        return Err(crate::exit::usage(format!(
            "no metrics.json below `{}`; run `valkey-perf run` first or pass --results-dir",
            args.results_dir.display()
        )));
    }
    let mut db = args.db.open()?;
    let mut failed = Vec::new();
    let (mut inserted, mut present) = (0, 0);
    for file in &files {
        let outcome = load_records(file).and_then(|records| {
            db.push_records(
                &table,
                &file.display().to_string(),
                &records,
                args.test_type.as_deref(),
                args.dry_run,
            )
            .map_err(anyhow::Error::from)
        });
        match outcome {
            Ok(o) => {
                inserted += o.inserted;
                present += o.already_present;
                let mut line = format!(
                    "{}: {} {}, {} already present",
                    file.display(),
                    if args.dry_run {
                        "would insert"
                    } else {
                        "inserted"
                    },
                    o.inserted,
                    o.already_present
                );
                if !o.columns_added.is_empty() {
                    line.push_str(&format!("; new columns: {}", o.columns_added.join(", ")));
                }
                if !o.columns_widened.is_empty() {
                    line.push_str(&format!("; widened: {}", o.columns_widened.join(", ")));
                }
                println!("{line}");
            }
            Err(e) => {
                eprintln!(
                    "error: {}: nothing from this file was pushed: {e:#}",
                    file.display()
                );
                failed.push(file.display().to_string());
            }
        }
    }
    eprintln!(
        "{} files into `{}` ({}): {inserted} rows {}, {present} already present",
        files.len(),
        table.metrics_table(),
        store::redact_url(&args.db.db),
        if args.dry_run {
            "would be inserted"
        } else {
            "inserted"
        },
    );
    if failed.is_empty() {
        Ok(Code::Success)
    } else {
        Err(Failure::new(
            Code::Usage,
            format!(
                "{} of {} files were not pushed (the others were): {}; fix them and push again (pushing twice adds nothing)",
                failed.len(),
                files.len(),
                failed.join(", ")
            ),
        ))
    }
}
