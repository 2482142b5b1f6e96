//! Results files (docs/design.md §6.1): `results/<target>/metrics.json`, appended to under a
//! file lock and rewritten atomically after every run, the invocation log, server logs. Knows
//! records, not how they were measured.

pub mod env;
pub mod flamegraph;

use crate::exit::{Code, Failure};
use crate::model::Record;
use crate::util::{io_hint, write_atomic};
use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One target's `metrics.json`. Every append takes an exclusive lock on the directory's
/// `.metrics.json.lock`, re-reads the file, adds the record and rewrites the file whole (temp
/// file + rename): two invocations writing into one results directory at once both keep
/// every record, and a crash or Ctrl-C never leaves a half-written file.
pub struct MetricsFile {
    path: PathBuf,
    lock_path: PathBuf,
    /// Records in the file after this invocation's last write (or when it was opened).
    total: usize,
    /// Records this invocation wrote.
    written: usize,
}

impl MetricsFile {
    /// Opens `dir/metrics.json`, keeping the records already in it (runs append). A file that
    /// is not a JSON array is an error before anything is measured, never overwritten; so is
    /// a directory valkey-perf cannot write into (exit 2, naming the path and the fix).
    pub fn open(dir: &Path) -> Result<MetricsFile> {
        std::fs::create_dir_all(dir)
            .map_err(|e| unwritable(dir, &e, "creating results directory"))?;
        let mut file = MetricsFile {
            path: dir.join("metrics.json"),
            lock_path: dir.join(".metrics.json.lock"),
            total: 0,
            written: 0,
        };
        let lock = file
            .lock()
            .map_err(|e| unwritable(&file.lock_path, &e, "creating the lock file"))?;
        file.total = file.read_records()?.len();
        drop(lock);
        probe(dir)?;
        Ok(file)
    }

    /// The exclusive lock every writer of this file holds while it reads and rewrites it.
    fn lock(&self) -> std::io::Result<Flock<File>> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, errno)| errno.into())
    }

    /// The records in the file now (empty when there is none).
    fn read_records(&self) -> Result<Vec<Value>> {
        let path = &self.path;
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(Vec::new()),
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(items)) => Ok(items),
                Ok(_) => bail!(
                    "`{}` exists but is not a JSON array of records; move it away or choose another --results-dir",
                    path.display()
                ),
                Err(e) => bail!(
                    "`{}` exists but is not valid JSON ({e}); move it away or choose another --results-dir",
                    path.display()
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(anyhow::anyhow!(
                "reading `{}`: {}",
                path.display(),
                io_hint(&e)
            )),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record: under the lock, the file is re-read (another invocation may have
    /// appended since), the record added, and the file rewritten atomically. Per-run and
    /// per-target details go into the record's nested `run_details` object (see
    /// [`crate::model::nest_details`]).
    pub fn append(&mut self, record: &Record) -> Result<()> {
        let json = record_json(record)?;
        let lock = self.lock().map_err(|e| {
            anyhow::anyhow!(
                "locking `{}` to append a record: {}",
                self.lock_path.display(),
                io_hint(&e)
            )
        })?;
        let mut records = self.read_records()?;
        records.push(json);
        let text = serde_json::to_string_pretty(&records).context("serializing records")?;
        write_atomic(&self.path, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("writing `{}`: {}", self.path.display(), io_hint(&e)))?;
        drop(lock);
        self.total = records.len();
        self.written += 1;
        Ok(())
    }

    /// Records in the file after this invocation's last write.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Records this invocation wrote into the file.
    pub fn written(&self) -> usize {
        self.written
    }
}

/// A record as `metrics.json` holds it: per-run and per-target details in its nested
/// `run_details` object (see [`crate::model::nest_details`]).
pub fn record_json(record: &Record) -> Result<Value> {
    let Value::Object(map) = serde_json::to_value(record).context("serializing a record")? else {
        bail!("a record did not serialize to a JSON object");
    };
    Ok(Value::Object(crate::model::nest_details(map)))
}

/// Bytes the probe writes: one page, so a full file system refuses them (creating an empty
/// file can still succeed there).
const PROBE_BYTES: usize = 4096;

/// Checks that `dir` takes new data before anything starts: a probe file created, written,
/// synced and removed. A read-only mount, missing permissions or a full disk is a usage error
/// (exit 2) naming the directory and the fix, rather than runs that fail one after another.
fn probe(dir: &Path) -> Result<()> {
    let path = dir.join(format!(".probe-{}", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut f = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        f.write_all(&[0; PROBE_BYTES])?;
        f.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    written
        .and(removed.or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        }))
        .map_err(|e| unwritable(dir, &e, "writing into the results directory"))
}

/// A results directory valkey-perf cannot write into, found before anything started: a
/// usage error (exit 2) naming the path, the reason and the fix.
fn unwritable(path: &Path, e: &std::io::Error, what: &str) -> anyhow::Error {
    Failure::new(
        Code::Usage,
        format!(
            "{what} `{}`: {}; nothing was started",
            path.display(),
            io_hint(e)
        ),
    )
}

/// Drop-in for Valkey's existing workflows, which read `results/<ref as typed>/metrics.json`
/// and find releases with `find results -name "*<version>*"`: next to `results/<sha>/`, a
/// relative symlink `results/<ref>` → `<sha>` (`results/feature/x` → `../<sha>` for a ref with
/// `/`). A ref that is the SHA, is not a plain relative path, or whose place is taken by a real
/// file or directory, or lies below a symlink, gets no link (a warning says why); a link left
/// by an earlier run is replaced.
pub fn link_ref_dir(results_dir: &Path, git_ref: &str, sha: &str) {
    use std::path::Component;
    if git_ref == sha || git_ref.is_empty() {
        return;
    }
    let rel = Path::new(git_ref);
    let parts: Vec<_> = rel.components().collect();
    if !parts.iter().all(|c| matches!(c, Component::Normal(_))) {
        tracing::warn!("no `results/{git_ref}` link: the ref is not a plain relative name");
        return;
    }
    let link = results_dir.join(rel);
    // Never create or follow anything below a symlink: `results/feature` may be another ref's
    // link into a SHA directory.
    let mut dir = results_dir.to_path_buf();
    for part in &parts[..parts.len() - 1] {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                tracing::warn!(
                    "no `{}` link: `{}` is not a directory",
                    link.display(),
                    dir.display()
                );
                return;
            }
            Err(_) => {
                if let Err(e) = std::fs::create_dir(&dir) {
                    tracing::warn!(
                        "no `{}` link: creating `{}`: {e}",
                        link.display(),
                        dir.display()
                    );
                    return;
                }
            }
        }
    }
    let target: std::path::PathBuf = std::iter::repeat_n(Path::new(".."), parts.len() - 1)
        .collect::<std::path::PathBuf>()
        .join(sha);
    match std::fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => {
            if std::fs::read_link(&link).is_ok_and(|t| t == target) {
                return;
            }
            if let Err(e) = std::fs::remove_file(&link) {
                tracing::warn!("no `{}` link: replacing the old link: {e}", link.display());
                return;
            }
        }
        Ok(_) => {
            tracing::warn!(
                "no `{}` link: a file or directory of that name exists (move it away to get the link)",
                link.display()
            );
            return;
        }
        Err(_) => {}
    }
    match std::os::unix::fs::symlink(&target, &link) {
        Ok(()) => tracing::info!("`{}` → `{}`", link.display(), target.display()),
        Err(e) => tracing::warn!("no `{}` link: {e}", link.display()),
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
