//! Versioned migrations: how each kind of table is created or adopted (an upstream-created
//! table is migrated in place, never copied), one file per migration.
//!
//! Migrations are versioned per table in `valkey_perf_migrations` (table name, version,
//! description, time). The tables of `core` are migrated when a database is opened; the tables
//! of any other table id the first time they are used. On PostgreSQL, schema changes are
//! serialized across processes by a transaction-scoped advisory lock
//! (<https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS>); on SQLite by
//! the immediate transaction every operation runs in.

mod commits_v1;
mod commits_v2;
mod metrics_v1;
mod metrics_v2;
mod timeseries_v1;

use crate::conn::{Dialect, SQLITE_NOW, Tx, Val};
use crate::error::Result;
use crate::ident::TableId;
use crate::schema::lock_schema;

/// Which kind of table a migration applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Metrics,
    Commits,
    Timeseries,
}

type Step = fn(&mut Tx<'_>, &str) -> Result<()>;

/// The migrations of each kind of table, in order. Append only: a released version is never
/// edited, a change is a new version.
fn steps(kind: Kind) -> &'static [(i64, &'static str, Step)] {
    match kind {
        Kind::Metrics => &[
            (1, "create or adopt metrics table", metrics_v1::metrics_v1),
            (
                2,
                "share the table with upstream's scripts: binary record_key, same-run trigger",
                metrics_v2::metrics_v2,
            ),
        ],
        Kind::Commits => &[
            (1, "create or adopt commits table", commits_v1::commits_v1),
            (
                2,
                "keep valkey-perf's claims from other tools' cleanup",
                commits_v2::commits_v2,
            ),
        ],
        Kind::Timeseries => &[(1, "create time series table", timeseries_v1::timeseries_v1)],
    }
}

/// Brings `table` to the newest version of its kind; a no-op (one query) when it is there.
pub(crate) fn ensure(tx: &mut Tx<'_>, kind: Kind, table: &str) -> Result<()> {
    let wanted = steps(kind);
    let applied = applied_versions(tx, table)?;
    if wanted.iter().all(|(v, _, _)| applied.contains(v)) {
        return Ok(());
    }
    lock_schema(tx)?;
    bootstrap(tx)?;
    // Re-read under the lock: another process may have migrated meanwhile.
    let applied = applied_versions(tx, table)?;
    let now = tx.now_sql();
    for (version, description, step) in wanted {
        if applied.contains(version) {
            continue;
        }
        step(tx, table)?;
        tx.exec(
            &format!(
                "INSERT INTO valkey_perf_migrations (table_name, version, description, applied_at) \
                 VALUES ($1, $2, $3, {now})"
            ),
            &[
                Val::text(table),
                Val::Int(*version),
                Val::text(*description),
            ],
        )?;
    }
    Ok(())
}

fn migrations_table_exists(tx: &mut Tx<'_>) -> Result<bool> {
    let sql = match tx.dialect() {
        Dialect::Postgres => "SELECT to_regclass('valkey_perf_migrations') IS NOT NULL",
        Dialect::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'valkey_perf_migrations')"
        }
    };
    let rows = tx.query(sql, &[])?;
    Ok(matches!(
        rows.first().and_then(|r| r.first()),
        Some(Val::Bool(true) | Val::Int(1))
    ))
}

fn applied_versions(tx: &mut Tx<'_>, table: &str) -> Result<Vec<i64>> {
    if !migrations_table_exists(tx)? {
        return Ok(Vec::new());
    }
    let rows = tx.query(
        "SELECT version FROM valkey_perf_migrations WHERE table_name = $1",
        &[Val::text(table)],
    )?;
    Ok(rows.iter().filter_map(|r| r[0].as_i64()).collect())
}

fn bootstrap(tx: &mut Tx<'_>) -> Result<()> {
    let time = match tx.dialect() {
        Dialect::Postgres => "TIMESTAMPTZ",
        Dialect::Sqlite => "TEXT",
    };
    tx.batch(&format!(
        "CREATE TABLE IF NOT EXISTS valkey_perf_migrations (\
           table_name TEXT NOT NULL, \
           version INTEGER NOT NULL, \
           description TEXT NOT NULL, \
           applied_at {time} NOT NULL, \
           PRIMARY KEY (table_name, version))"
    ))?;
    if tx.dialect() == Dialect::Sqlite {
        tx.batch(
            "CREATE TABLE IF NOT EXISTS valkey_perf_columns (\
               table_name TEXT NOT NULL, \
               column_name TEXT NOT NULL, \
               col_type TEXT NOT NULL, \
               PRIMARY KEY (table_name, column_name))",
        )?;
    }
    Ok(())
}

/// Migrates a database's `core` tables; other table ids are migrated on first use.
pub(crate) fn migrate_core(tx: &mut Tx<'_>) -> Result<()> {
    let core = TableId::core();
    ensure(tx, Kind::Metrics, &core.metrics_table())?;
    ensure(tx, Kind::Commits, &core.commits_table())
}

/// The first two columns of every table valkey-perf creates: a generated id and the time the
/// row was written, in the dialect's types.
fn id_and_created_at(dialect: Dialect) -> Vec<String> {
    let (id, now) = match dialect {
        Dialect::Postgres => (
            "id BIGSERIAL PRIMARY KEY",
            "TIMESTAMPTZ NOT NULL DEFAULT NOW()".to_owned(),
        ),
        Dialect::Sqlite => (
            "id INTEGER PRIMARY KEY AUTOINCREMENT",
            format!("TEXT NOT NULL DEFAULT ({SQLITE_NOW})"),
        ),
    };
    vec![id.to_owned(), format!("created_at {now}")]
}
