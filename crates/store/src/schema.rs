//! Column names, types and DDL: which logical type a column has on each backend, the columns
//! every metrics table starts with, and the statements that read, add or widen columns. It does
//! not insert or read rows, and it does not decide when a table changes shape: migrations and
//! the row modules do.

use std::collections::BTreeMap;

pub(crate) use crate::coltype::{ColType, FLOAT, INT, TEXT};
use crate::conn::{Dialect, Tx, Val};
use crate::error::Result;
use crate::ident::q;

/// A table's columns and their logical types; empty when the table does not exist.
pub(crate) type Columns = BTreeMap<String, ColType>;

pub(crate) fn read_columns(tx: &mut Tx<'_>, table: &str) -> Result<Columns> {
    let mut cols = Columns::new();
    match tx.dialect() {
        Dialect::Postgres => {
            // information_schema uses domain types; cast them to plain ones for the decoder.
            let rows = tx.query(
                "SELECT column_name::text, data_type::text, character_maximum_length::int8, \
                 numeric_precision::int8, numeric_scale::int8 \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[Val::text(table)],
            )?;
            for row in rows {
                let name = row[0].as_str().unwrap_or_default().to_owned();
                let ty = ColType::from_pg(
                    row[1].as_str().unwrap_or_default(),
                    row[2].as_i64(),
                    row[3].as_i64(),
                    row[4].as_i64(),
                );
                cols.insert(name, ty);
            }
        }
        Dialect::Sqlite => {
            let rows = tx.query(
                "SELECT name, type FROM pragma_table_info($1)",
                &[Val::text(table)],
            )?;
            for row in rows {
                let name = row[0].as_str().unwrap_or_default().to_owned();
                cols.insert(
                    name,
                    ColType::from_sqlite_decl(row[1].as_str().unwrap_or_default()),
                );
            }
            if !cols.is_empty() {
                let rows = tx.query(
                    "SELECT column_name, col_type FROM valkey_perf_columns WHERE table_name = $1",
                    &[Val::text(table)],
                )?;
                for row in rows {
                    if let (Some(name), Some(tag)) = (row[0].as_str(), row[1].as_str())
                        && let Some(slot) = cols.get_mut(name)
                    {
                        *slot = ColType::from_tag(tag);
                    }
                }
            }
        }
    }
    Ok(cols)
}

/// Adds a column (nullable) with its logical type.
pub(crate) fn add_column(tx: &mut Tx<'_>, table: &str, name: &str, ty: ColType) -> Result<()> {
    let dialect = tx.dialect();
    let if_not_exists = if dialect == Dialect::Postgres {
        "IF NOT EXISTS "
    } else {
        ""
    };
    tx.batch(&format!(
        "ALTER TABLE {} ADD COLUMN {if_not_exists}{} {}",
        q(table),
        q(name),
        ty.ddl(dialect)
    ))?;
    record_sqlite_type(tx, table, name, ty)
}

/// Changes a column's type to a wider one (the caller decided it is wider).
pub(crate) fn widen_column(tx: &mut Tx<'_>, table: &str, name: &str, to: ColType) -> Result<()> {
    match tx.dialect() {
        // Every widening used here (int → bigint → numeric, varchar(n) → text, numeric(p,s) →
        // numeric) has an implicit or assignment cast, so no USING clause is needed.
        Dialect::Postgres => tx.batch(&format!(
            "ALTER TABLE {} ALTER COLUMN {} TYPE {}",
            q(table),
            q(name),
            to.ddl(Dialect::Postgres)
        )),
        // SQLite stores any value in any column; only the logical type changes.
        Dialect::Sqlite => record_sqlite_type(tx, table, name, to),
    }
}

pub(crate) fn record_sqlite_type(
    tx: &mut Tx<'_>,
    table: &str,
    name: &str,
    ty: ColType,
) -> Result<()> {
    if tx.dialect() == Dialect::Sqlite {
        tx.exec(
            "INSERT INTO valkey_perf_columns (table_name, column_name, col_type) VALUES ($1, $2, $3) \
             ON CONFLICT (table_name, column_name) DO UPDATE SET col_type = excluded.col_type",
            &[Val::text(table), Val::text(name), Val::text(ty.tag())],
        )?;
    }
    Ok(())
}

/// Serializes schema changes across PostgreSQL sessions until the transaction ends. The key is
/// an arbitrary constant (`valkey` in ASCII) that other applications are unlikely to use.
pub(crate) fn lock_schema(tx: &mut Tx<'_>) -> Result<()> {
    if tx.dialect() == Dialect::Postgres {
        tx.exec("SELECT pg_advisory_xact_lock(130160802882937)", &[])?;
    }
    Ok(())
}

/// The columns valkey-perf creates in a new metrics table, and adds to an adopted one: those
/// upstream's issue lists, plus the record fields every valkey-perf record has whose type we
/// know in advance. `timestamp` is the COMMIT time (dashboards and regression detection order
/// by it). Further record fields become columns when first pushed.
pub(crate) const METRICS_FIXED: &[(&str, ColType)] = &[
    ("timestamp", ColType::Time),
    ("commit", TEXT),
    ("command", TEXT),
    ("data_size", INT),
    ("pipeline", INT),
    ("clients", INT),
    ("requests", INT),
    ("rps", FLOAT),
    ("avg_latency_ms", FLOAT),
    ("min_latency_ms", FLOAT),
    ("p50_latency_ms", FLOAT),
    ("p95_latency_ms", FLOAT),
    ("p99_latency_ms", FLOAT),
    ("max_latency_ms", FLOAT),
    ("cluster_mode", ColType::Bool),
    ("tls", ColType::Bool),
    ("io_threads", INT),
    ("benchmark_threads", INT),
    ("valkey_benchmark_threads", INT),
    ("benchmark_mode", TEXT),
    ("duration", INT),
    ("warmup", INT),
    ("keyspacelen", INT),
    ("architecture", TEXT),
    ("test_type", TEXT),
    ("run_index", INT),
    ("run_started_at", ColType::Time),
    ("engine", TEXT),
];

/// Columns the store manages itself; records may not carry fields of these names.
pub(crate) const METRICS_INTERNAL: &[&str] = &["id", "created_at", "record_key"];
