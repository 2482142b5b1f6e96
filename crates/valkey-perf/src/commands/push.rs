//! `valkey-perf push`: every `metrics.json` below a results directory into the database, one
//! transaction per file; a second push of the same results adds nothing (docs/design.md §8).

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

/// The per-second samples of the records that have them (`timeseries_file`) into the
/// time series table; returns the rows inserted. A sample file is found where the record says,
/// or in the `timeseries/` directory next to `metrics.json` (results moved since the run).
fn push_timeseries(
    db: &mut store::Db,
    table: &store::TableId,
    metrics: &Path,
    records: &[crate::compare::RecordView],
    dry_run: bool,
) -> Result<u64> {
    let mut inserted = 0;
    for record in records {
        let Some(recorded) = &record.timeseries_file else {
            continue;
        };
        let recorded = PathBuf::from(recorded);
        let beside = metrics
            .parent()
            .unwrap_or(Path::new("."))
            .join("timeseries")
            .join(recorded.file_name().unwrap_or_default());
        let path = if recorded.is_file() { recorded } else { beside };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "time series `{}` of a record cannot be read ({e}); keep `timeseries/` next to `metrics.json`",
                path.display()
            )
        })?;
        let samples = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| match serde_json::from_str(l) {
                Ok(serde_json::Value::Object(m)) => Ok(m),
                _ => anyhow::bail!("`{}` line {} is not a JSON object", path.display(), i + 1),
            })
            .collect::<Result<Vec<_>>>()?;
        inserted += db.push_timeseries(
            table,
            &path.display().to_string(),
            record.fields(),
            &samples,
            dry_run,
        )?;
    }
    Ok(inserted)
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
        let mut records = Vec::new();
        let outcome = load_records(file).and_then(|rs| {
            records = rs;
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
                let views: Vec<crate::compare::RecordView> = records
                    .iter()
                    .cloned()
                    .map(crate::compare::RecordView::from_map)
                    .collect();
                match push_timeseries(&mut db, &table, file, &views, args.dry_run) {
                    Ok(0) => {}
                    Ok(n) => line.push_str(&format!("; {n} time series rows")),
                    Err(e) => {
                        eprintln!("error: {}: {e:#}", file.display());
                        failed.push(file.display().to_string());
                    }
                }
                crate::util::outln(format_args!("{line}"));
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
