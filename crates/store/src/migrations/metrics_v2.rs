//! Version 2 of a metrics table: one PostgreSQL table shared with valkey-perf-benchmark's
//! Python scripts, in both directions (PostgreSQL only; those scripts never write SQLite).
//!
//! - `record_key` becomes `bytea`: upstream's `detect_regression.py` groups runs by every
//!   column whose value is a string, number or boolean, so a text key (unique per row) made
//!   every run a group of its own and hid every change. psycopg2 reads `bytea` as a buffer,
//!   which that grouping skips, as it skips JSON (`run_details`) and time columns.
//! - A row trigger makes both writers idempotent against each other: a row written without a
//!   key (upstream's push) is skipped when the same measurement is already stored; a row with
//!   a key (ours) takes over an unkeyed row of the same measurement (that row gets the key)
//!   instead of adding a second one. "The same measurement" is upstream's own uniqueness
//!   (its `idx_benchmark_metrics_unique`): commit, commit time, command, data size, pipeline,
//!   clients, requests, rps, cluster mode, TLS, io-threads and architecture, NULLs equal.
//!   Rows stored twice before this version stay as they are (nothing is deleted).

use crate::conn::{Dialect, Tx};
use crate::error::Result;
use crate::ident::q;
use crate::schema::read_columns;

/// The columns that identify one measurement across both writers (all created by version 1).
pub(crate) const SAME_RUN: &[&str] = &[
    "commit",
    "timestamp",
    "command",
    "data_size",
    "pipeline",
    "clients",
    "requests",
    "rps",
    "cluster_mode",
    "tls",
    "io_threads",
    "architecture",
];

pub(super) fn metrics_v2(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    if tx.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let t = q(table);
    let columns = read_columns(tx, table)?;
    if columns
        .get("record_key")
        .is_some_and(|ty| *ty != crate::schema::ColType::Other)
    {
        tx.batch(&format!(
            "ALTER TABLE {t} ALTER COLUMN record_key TYPE bytea USING decode(record_key, 'hex')"
        ))?;
    }
    let same = |o: &str| {
        SAME_RUN
            .iter()
            .map(|c| format!("{o}.{c} IS NOT DISTINCT FROM NEW.{c}", c = q(c)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let function = q(&format!("valkey_perf_same_run_{table}"));
    tx.batch(&format!(
        "CREATE INDEX IF NOT EXISTS {unique} ON {t} \
           (\"timestamp\", \"commit\", command, data_size, pipeline, rps, cluster_mode, tls, io_threads, architecture); \
         CREATE INDEX IF NOT EXISTS {unkeyed} ON {t} (\"commit\", command, \"timestamp\") WHERE record_key IS NULL; \
         CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$ \
         BEGIN \
           IF NEW.record_key IS NULL THEN \
             PERFORM 1 FROM {t} o WHERE {same_any}; \
             IF FOUND THEN RETURN NULL; END IF; \
             RETURN NEW; \
           END IF; \
           UPDATE {t} SET record_key = NEW.record_key WHERE id = ( \
             SELECT o.id FROM {t} o WHERE o.record_key IS NULL AND {same_any} ORDER BY o.id LIMIT 1) \
             AND NOT EXISTS (SELECT 1 FROM {t} k WHERE k.record_key = NEW.record_key); \
           IF FOUND THEN RETURN NULL; END IF; \
           RETURN NEW; \
         END $body$; \
         DROP TRIGGER IF EXISTS {trigger} ON {t}; \
         CREATE TRIGGER {trigger} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {function}()",
        // Upstream's index name (its schema.sql), so an adopted table gets no duplicate.
        unique = q(&format!("idx_{table}_unique")),
        unkeyed = q(&format!("{table}_unkeyed")),
        same_any = same("o"),
        trigger = q(&format!("{table}_same_run")),
    ))
}
