//! Results files (docs/design.md §6.1): `results/<target>/metrics.json` rewritten atomically after every
//! run, the invocation log, server logs. Knows records, not how they were measured.

pub mod env;
pub mod flamegraph;

use crate::model::Record;
use crate::util::write_atomic;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One target's `metrics.json`, kept in memory and rewritten whole (temp file + rename) after
/// every appended record, so a crash or Ctrl-C never leaves a half-written file.
pub struct MetricsFile {
    path: PathBuf,
    records: Vec<Value>,
}

impl MetricsFile {
    /// Opens `dir/metrics.json`, keeping the records already in it (runs append). A file that
    /// is not a JSON array is an error before anything is measured, never overwritten.
    pub fn open(dir: &Path) -> Result<MetricsFile> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating results directory `{}`", dir.display()))?;
        let path = dir.join("metrics.json");
        let records = match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => Vec::new(),
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(items)) => items,
                Ok(_) => bail!(
                    "`{}` exists but is not a JSON array of records; move it away or choose another --results-dir",
                    path.display()
                ),
                Err(e) => bail!(
                    "`{}` exists but is not valid JSON ({e}); move it away or choose another --results-dir",
                    path.display()
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading `{}`", path.display())),
        };
        Ok(MetricsFile { path, records })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and rewrites the file atomically. Per-run and per-target details go
    /// into the record's nested `run_details` object (see [`crate::model::nest_details`]).
    pub fn append(&mut self, record: &Record) -> Result<()> {
        let Value::Object(map) = serde_json::to_value(record).context("serializing a record")?
        else {
            bail!("a record did not serialize to a JSON object");
        };
        self.records
            .push(Value::Object(crate::model::nest_details(map)));
        let text = serde_json::to_string_pretty(&self.records).context("serializing records")?;
        write_atomic(&self.path, text.as_bytes())
            .with_context(|| format!("writing `{}`", self.path.display()))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_clobber_a_foreign_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("metrics.json"), "{not json").unwrap();
        let err = MetricsFile::open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("not valid JSON") && err.contains("move it away"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("metrics.json")).unwrap(),
            "{not json"
        );
    }

    #[test]
    fn keeps_existing_records() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("metrics.json"), "[{\"rps\": 1}]").unwrap();
        let file = MetricsFile::open(dir.path()).unwrap();
        assert_eq!(file.len(), 1);
    }
}
