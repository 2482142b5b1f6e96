//! Storage for valkey-perf: benchmark results and commit tracking in one database, a SQLite
//! file by default (nothing to install) or PostgreSQL for a fleet of runners.
//!
//! The tables are upstream's (`benchmark_metrics`, `benchmark_commits`, ...), so an upstream
//! database and its Grafana dashboards keep working; opening an upstream-created database
//! migrates it in place (table names: [`TableId`]). One API, one schema and one test suite
//! serve both backends.
//!
//! This crate owns the database: connecting (TLS through rustls), migrations, pushing records
//! (idempotent, one transaction per file), reading them back, and the commit states
//! (`determine`, `mark`, `claim`, `cleanup`, `reset`, `query`). It does not read result files,
//! walk git history, compute statistics or print anything: callers do.
//!
//! Modules, bottom first; each imports only modules before it, so there is no import circle
//! (`tests/suite/layout.rs` checks both):
//! `error` → `url` → `tls` → `conn` → `coltype` → `ident` → `schema` → `commits` →
//! `migrations` → `details` → `rows` → `metrics`, `timeseries` → this file's API. `ident`
//! validates and quotes table and column names, `details` the per-run details column, `schema`
//! owns column types and DDL, `migrations` the versioned creation and adoption of each kind of
//! table (one file per migration), `rows` how records become rows (their key, the column plan,
//! the insert), and `commits`, `metrics` and `timeseries` the rows of their tables.
//! `test_support` stands apart.
//!
//! The API is blocking. PostgreSQL is reached through the `postgres` crate, which drives
//! `tokio-postgres` from its own current-thread runtime.
//!
//! ```no_run
//! # fn main() -> Result<(), store::Error> {
//! let mut db = store::Db::open("results/valkey-perf.db", None)?;
//! let records: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(
//!     &std::fs::read_to_string("results/abc123/metrics.json").unwrap(),
//! ).unwrap();
//! let table = store::TableId::core();
//! let outcome = db.push_records(&table, "results/abc123/metrics.json", &records, None, false)?;
//! eprintln!("{} inserted, {} already present", outcome.inserted, outcome.already_present);
//! # Ok(())
//! # }
//! ```

mod coltype;
mod commits;
mod conn;
mod details;
mod error;
mod ident;
mod metrics;
mod migrations;
mod rows;
mod schema;
mod timeseries;
mod tls;
mod url;

#[cfg(feature = "test-support")]
pub mod test_support;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use commits::{Candidate, CommitFilter, CommitRow, Selection, Status, covers};
pub use error::{Error, Result};
pub use ident::TableId;
pub use metrics::{MetricsFilter, PushOutcome};
pub use url::redact as redact_url;

use conn::{Conn, Tx};
use migrations::Kind;

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// An open database, migrated to the current schema.
pub struct Db {
    conn: Conn,
    /// Where it is, for messages: a path, or the URL with the password hidden.
    location: String,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend())
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// How often a claim is retried after a PostgreSQL deadlock or serialization failure.
const CLAIM_RETRIES: usize = 5;

impl Db {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    ///
    /// `url` is a file path or `sqlite:PATH` (the parent directory is created), or
    /// `postgres://user[:password]@host[:port]/db[?sslmode=disable|prefer|require|verify-full]`
    /// (default `prefer`, as libpq). Without a password in the URL, `PGPASSWORD` and then
    /// `~/.pgpass` (or `PGPASSFILE`) are used. `ca` is the PEM CA file `verify-full` checks the
    /// server against; other modes ignore it.
    pub fn open(url: &str, ca: Option<&Path>) -> Result<Db> {
        let (conn, location) = match url::parse(url)? {
            url::Target::Sqlite(path) => (Conn::open_sqlite(&path)?, path.display().to_string()),
            url::Target::Postgres(target) => {
                (Conn::open_postgres(&target, ca)?, target.redacted.clone())
            }
        };
        let mut db = Db { conn, location };
        db.in_tx(migrations::migrate_core)?;
        Ok(db)
    }

    /// The engine behind this database.
    pub fn backend(&self) -> Backend {
        match self.conn.dialect() {
            conn::Dialect::Sqlite => Backend::Sqlite,
            conn::Dialect::Postgres => Backend::Postgres,
        }
    }

    /// Keeps SQLite's page cache of this connection to `kib` KiB (PostgreSQL has none to
    /// set): a reader that goes over the rows once gains little from a large one.
    pub fn limit_page_cache(&mut self, kib: u32) -> Result<()> {
        match &self.conn {
            Conn::Sqlite(c) => c
                .pragma_update(None, "cache_size", -i64::from(kib))
                .map_err(|source| Error::Sqlite {
                    context: format!("setting the page cache of `{}`", self.location),
                    source,
                }),
            Conn::Pg(_) => Ok(()),
        }
    }

    /// Where the database is: a path, or the URL with any password replaced by `***`.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn in_tx<T>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut tx = self.conn.begin()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Pushes the records of one results file in one transaction: all of them or, on any
    /// error, none. `file` labels the records in messages. `test_type`, when given, is stored
    /// in every row's `test_type` (upstream's `--test-type`). With `dry_run` everything is done
    /// and then rolled back, so the outcome says what a real push would do.
    ///
    /// Records already in the table (same idempotency key) are counted, not inserted again.
    /// A field name not matching `^[a-z][a-z0-9_]{0,62}$` refuses the whole file.
    pub fn push_records(
        &mut self,
        table: &TableId,
        file: &str,
        records: &[Map<String, Value>],
        test_type: Option<&str>,
        dry_run: bool,
    ) -> Result<PushOutcome> {
        let mut tx = self.conn.begin()?;
        let outcome = metrics::push(&mut tx, &table.metrics_table(), file, records, test_type)?;
        if dry_run {
            tx.rollback()?;
        } else {
            tx.commit()?;
        }
        Ok(outcome)
    }

    /// Starts pushing one results file whose records arrive in batches ([`FilePush::push`]),
    /// so a large file need never be held whole: all batches go into one transaction, so
    /// the file is stored whole or, on any error or an interruption, not at all. Otherwise as
    /// [`Db::push_records`].
    pub fn begin_push(
        &mut self,
        table: &TableId,
        file: &str,
        test_type: Option<&str>,
    ) -> Result<FilePush<'_>> {
        let mut tx = self.conn.begin()?;
        let state = metrics::begin(&mut tx, &table.metrics_table(), file, test_type)?;
        Ok(FilePush { tx, state })
    }

    /// Pushes the per-second samples of one record (`run`'s `per_second_sampling`) into the
    /// table id's `benchmark_timeseries`, one row per second, keyed by the record's idempotency
    /// key and the second, in one transaction. Returns the rows inserted; samples pushed before
    /// are skipped.
    pub fn push_timeseries(
        &mut self,
        table: &TableId,
        file: &str,
        record: &Map<String, Value>,
        samples: &[Map<String, Value>],
        dry_run: bool,
    ) -> Result<u64> {
        let mut tx = self.conn.begin()?;
        let key = rows::record_key(record, 0);
        let n = timeseries::push(
            &mut tx,
            &table.timeseries_table(),
            file,
            &key,
            record,
            samples,
        )?;
        if dry_run {
            tx.rollback()?;
        } else {
            tx.commit()?;
        }
        Ok(n)
    }

    /// Every stored sample of the table id as `(record key, second, sample)`.
    pub fn fetch_timeseries(&mut self, table: &TableId) -> Result<Vec<(String, i64, Value)>> {
        let name = table.timeseries_table();
        self.in_tx(|tx| timeseries::fetch(tx, &name))
    }

    /// Every metrics row matching `filter`, oldest commit first, as a JSON object with the
    /// record's field names and JSON types (decimals as numbers, times as RFC 3339 UTC text;
    /// columns a row has no value for are null).
    pub fn fetch_metrics(
        &mut self,
        table: &TableId,
        filter: &MetricsFilter,
    ) -> Result<Vec<Map<String, Value>>> {
        let name = table.metrics_table();
        self.in_tx(|tx| metrics::fetch(tx, &name, filter, &|_| true))
    }

    /// As [`Db::fetch_metrics`], with only the fields `wanted` accepts (columns and fields
    /// nested in `run_details` alike): a reader that needs a few fields of many rows does not
    /// pay for reading and decoding the others.
    pub fn fetch_metric_fields(
        &mut self,
        table: &TableId,
        filter: &MetricsFilter,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Map<String, Value>>> {
        let name = table.metrics_table();
        self.in_tx(|tx| metrics::fetch(tx, &name, filter, wanted))
    }

    /// The distinct commits in the metrics table with their commit time, newest first.
    pub fn commits_by_time(&mut self, table: &TableId) -> Result<Vec<(String, DateTime<Utc>)>> {
        let name = table.metrics_table();
        self.in_tx(|tx| metrics::commits_by_time(tx, &name))
    }

    fn commits_tx<T>(
        &mut self,
        table: &TableId,
        f: impl FnOnce(&mut Tx<'_>, &str) -> Result<T>,
    ) -> Result<T> {
        let name = table.commits_table();
        self.in_tx(|tx| {
            migrations::ensure(tx, Kind::Commits, &name)?;
            f(tx, &name)
        })
    }

    /// Up to `sel.max_commits` of `candidates` (newest first) that are not done for this
    /// config and architecture, in candidate order. One query for all candidates.
    pub fn determine(
        &mut self,
        table: &TableId,
        candidates: &[Candidate],
        sel: &Selection<'_>,
    ) -> Result<Vec<String>> {
        self.commits_tx(table, |tx, t| commits::determine(tx, t, candidates, sel))
    }

    /// Sets the status of `commits` for this config and architecture, creating rows as needed.
    /// Marking `failed` adds one to `attempts` and stores `error` as `last_error`.
    pub fn mark(
        &mut self,
        table: &TableId,
        commits: &[Candidate],
        status: Status,
        config: &Value,
        architecture: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let args = commits::MarkArgs {
            status,
            config,
            architecture,
            error,
            runner_id: None,
        };
        self.commits_tx(table, |tx, t| commits::mark(tx, t, commits, &args))
    }

    /// Determine and mark `in_progress` (with `runner_id`) in one atomic step: concurrent
    /// claimers, in other processes or on other machines, never get the same commit.
    pub fn claim(
        &mut self,
        table: &TableId,
        candidates: &[Candidate],
        sel: &Selection<'_>,
        runner_id: &str,
    ) -> Result<Vec<String>> {
        self.claim_announced(table, candidates, sel, runner_id, &mut |_| Ok(()))
    }

    /// [`Db::claim`], handing the claimed SHAs to `announce` (e.g. printing them) inside the
    /// transaction, before it commits: a claimer killed at any moment leaves no `in_progress`
    /// row whose SHA was not announced. When `announce` fails nothing is claimed. (Killed
    /// between `announce` and the commit, the SHAs were announced but are not claimed: another
    /// runner may benchmark them too, which costs time but loses no commit.)
    pub fn claim_announced(
        &mut self,
        table: &TableId,
        candidates: &[Candidate],
        sel: &Selection<'_>,
        runner_id: &str,
        announce: &mut dyn FnMut(&[String]) -> std::io::Result<()>,
    ) -> Result<Vec<String>> {
        let mut tries = 0;
        loop {
            let mut announced = false;
            match self.commits_tx(table, |tx, t| {
                let shas = commits::claim(tx, t, candidates, sel, runner_id)?;
                announced = true;
                announce(&shas).map_err(Error::Announce)?;
                Ok(shas)
            }) {
                // Retried only while nothing was announced: a SHA is never announced twice.
                Err(e) if !announced && e.is_retryable() && tries < CLAIM_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    /// Resets `in_progress` rows not updated for `stale_after` (a runner that died), only for
    /// `config` and `architecture` when given: rows that never failed are deleted (determine
    /// returns the commit again), rows with earlier failures go back to `failed` with their
    /// attempt count. Returns how many rows were reset.
    pub fn cleanup(
        &mut self,
        table: &TableId,
        stale_after: Duration,
        config: Option<&Value>,
        architecture: Option<&str>,
    ) -> Result<usize> {
        self.commits_tx(table, |tx, t| {
            commits::cleanup(tx, t, stale_after, config, architecture)
        })
    }

    /// Lets a `failed` commit be retried: its `attempts` go back to 0 (`last_error` is kept).
    /// Scoped to `config` and `architecture` when given. Returns how many rows changed.
    pub fn reset(
        &mut self,
        table: &TableId,
        sha: &str,
        config: Option<&Value>,
        architecture: Option<&str>,
    ) -> Result<usize> {
        self.commits_tx(table, |tx, t| {
            commits::reset(tx, t, sha, config, architecture)
        })
    }

    /// The commit rows matching `filter`, newest commit first.
    pub fn query(&mut self, table: &TableId, filter: &CommitFilter) -> Result<Vec<CommitRow>> {
        self.commits_tx(table, |tx, t| commits::query(tx, t, filter))
    }
}

/// One results file being pushed in batches (see [`Db::begin_push`]).
pub struct FilePush<'d> {
    tx: conn::Tx<'d>,
    state: metrics::FileState,
}

impl FilePush<'_> {
    /// The next records of the file, in file order.
    pub fn push(&mut self, records: &[Map<String, Value>]) -> Result<()> {
        self.state.push(&mut self.tx, records)
    }

    /// Commits the file (with `dry_run`, rolls it back) and says what was done. Dropping a
    /// `FilePush` without finishing it rolls the file back.
    pub fn finish(self, dry_run: bool) -> Result<PushOutcome> {
        if dry_run {
            self.tx.rollback()?;
        } else {
            self.tx.commit()?;
        }
        Ok(self.state.outcome)
    }
}
