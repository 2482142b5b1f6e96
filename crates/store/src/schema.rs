//! Table names, column names and types, and versioned migrations.
//!
//! This module owns the shape of the tables: which names are allowed, which logical type a
//! column has on each backend, and how a table is created or adopted (an upstream-created
//! table is migrated in place, never copied). It does not insert or read rows.
//!
//! Migrations are versioned per table in `valkey_perf_migrations` (table name, version,
//! description, time). The tables of `core` are migrated when a database is opened; the tables
//! of any other table id the first time they are used. On PostgreSQL, schema changes are
//! serialized across processes by a transaction-scoped advisory lock
//! (<https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS>); on SQLite by
//! the immediate transaction every operation runs in.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub(crate) use crate::coltype::{ColType, FLOAT, INT, TEXT};
use crate::conn::{Dialect, SQLITE_NOW, Tx, Val};
use crate::error::{Error, Result};

/// Which pair of tables an operation uses: `core`, `tag`, or a custom id.
///
/// | id | metrics table | commits table |
/// | --- | --- | --- |
/// | `core` | `benchmark_metrics` | `benchmark_commits` |
/// | `tag` | `benchmark_tags_metrics` | `benchmark_tags_commits` |
/// | other | `benchmark_metrics_<id>` | `benchmark_commits_<id>` |
///
/// Upstream has no commits table for release tags (tags are pushed, never tracked); we name it
/// after the metrics table so `commits --table tag` is possible and cannot collide with a
/// custom id (`benchmark_commits_tag` would be id `tag` under the general rule).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableId(String);

impl TableId {
    /// The default, upstream's `--table core`.
    pub fn core() -> TableId {
        TableId("core".to_owned())
    }

    /// Validates an id: `core`, `tag`, or `^[a-z][a-z0-9_]{0,30}$`.
    pub fn parse(id: &str) -> Result<TableId> {
        let ok = id.len() <= 31
            && id.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(TableId(id.to_owned()))
        } else {
            Err(Error::InvalidTableId(id.to_owned()))
        }
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The metrics table's name.
    pub fn metrics_table(&self) -> String {
        match self.0.as_str() {
            "core" => "benchmark_metrics".to_owned(),
            "tag" => "benchmark_tags_metrics".to_owned(),
            id => format!("benchmark_metrics_{id}"),
        }
    }

    /// The per-second samples table's name.
    pub fn timeseries_table(&self) -> String {
        match self.0.as_str() {
            "core" => "benchmark_timeseries".to_owned(),
            "tag" => "benchmark_tags_timeseries".to_owned(),
            id => format!("benchmark_timeseries_{id}"),
        }
    }

    /// The commits table's name.
    pub fn commits_table(&self) -> String {
        match self.0.as_str() {
            "core" => "benchmark_commits".to_owned(),
            "tag" => "benchmark_tags_commits".to_owned(),
            id => format!("benchmark_commits_{id}"),
        }
    }
}

impl FromStr for TableId {
    type Err = Error;
    fn from_str(s: &str) -> Result<TableId> {
        TableId::parse(s)
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` may be a column: `^[a-z][a-z0-9_]{0,62}$` (63 bytes is PostgreSQL's
/// identifier limit, `NAMEDATALEN - 1`).
pub(crate) fn valid_column(name: &str) -> bool {
    name.len() <= 63
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Quotes a validated identifier. Every table and column name in generated SQL goes through
/// here, so reserved words (`timestamp`, `commit`) and future names are always safe.
pub(crate) fn q(name: &str) -> String {
    debug_assert!(
        valid_column(name),
        "identifier `{name}` should have been validated"
    );
    format!("\"{name}\"")
}

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

fn record_sqlite_type(tx: &mut Tx<'_>, table: &str, name: &str, ty: ColType) -> Result<()> {
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
        Kind::Metrics => &[(1, "create or adopt metrics table", metrics_v1)],
        Kind::Commits => &[(1, "create or adopt commits table", commits_v1)],
        Kind::Timeseries => &[(
            1,
            "create time series table",
            crate::timeseries::timeseries_v1,
        )],
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

fn metrics_v1(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    let dialect = tx.dialect();
    let existing = read_columns(tx, table)?;
    if existing.is_empty() {
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
        let mut cols = vec![id.to_owned(), format!("created_at {now}")];
        for (name, ty) in METRICS_FIXED {
            let not_null = if ["timestamp", "commit", "command"].contains(name) {
                " NOT NULL"
            } else {
                ""
            };
            cols.push(format!("{} {}{not_null}", q(name), ty.ddl(dialect)));
        }
        cols.push("record_key TEXT".to_owned());
        tx.batch(&format!("CREATE TABLE {} ({})", q(table), cols.join(", ")))?;
        for (name, ty) in METRICS_FIXED {
            record_sqlite_type(tx, table, name, *ty)?;
        }
    } else {
        for (name, ty) in METRICS_FIXED {
            if !existing.contains_key(*name) {
                add_column(tx, table, name, *ty)?;
            }
        }
        if !existing.contains_key("record_key") {
            add_column(tx, table, "record_key", TEXT)?;
        }
    }
    // Rows pushed before this migration (by upstream) keep a NULL key: they cannot be matched
    // to a file position after the fact, and NULLs never conflict in a unique index.
    tx.batch(&format!(
        "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {t} (record_key); \
         CREATE INDEX IF NOT EXISTS {} ON {t} (\"commit\"); \
         CREATE INDEX IF NOT EXISTS {} ON {t} (\"timestamp\"); \
         CREATE INDEX IF NOT EXISTS {} ON {t} (command)",
        q(&format!("{table}_record_key")),
        // Upstream's index names, so adopting its table adds no duplicates.
        q(&format!("idx_{table}_commit")),
        q(&format!("idx_{table}_timestamp")),
        q(&format!("idx_{table}_command")),
        t = q(table),
    ))
}

/// The statuses a commit row may have, as the CHECK constraint spells them.
const STATUS_CHECK: &str = "status IN ('in_progress', 'complete', 'failed')";

fn commits_v1(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    let dialect = tx.dialect();
    let existing = read_columns(tx, table)?;
    let t = q(table);
    let check = q(&format!("{table}_status_check"));
    if existing.is_empty() {
        let ddl = match dialect {
            // Upstream's columns and unique key, plus ours. `sha` allows 64 characters for
            // SHA-256 repositories (upstream: VARCHAR(40)).
            Dialect::Postgres => format!(
                "CREATE TABLE {t} (\
                   id BIGSERIAL PRIMARY KEY, \
                   sha VARCHAR(64) NOT NULL, \
                   \"timestamp\" TIMESTAMPTZ NOT NULL, \
                   status VARCHAR(20) NOT NULL CONSTRAINT {check} CHECK ({STATUS_CHECK}), \
                   config JSONB NOT NULL, \
                   config_hash TEXT, \
                   architecture VARCHAR(50), \
                   attempts INTEGER NOT NULL DEFAULT 0, \
                   last_error TEXT, \
                   runner_id TEXT, \
                   created_at TIMESTAMPTZ DEFAULT NOW(), \
                   updated_at TIMESTAMPTZ DEFAULT NOW(), \
                   CONSTRAINT {} UNIQUE (sha, config, architecture))",
                q(&format!("{table}_sha_config_arch"))
            ),
            // `config` holds canonical JSON text (keys sorted), so equal configs are equal text
            // and the unique key works as JSONB equality does on PostgreSQL.
            Dialect::Sqlite => format!(
                "CREATE TABLE {t} (\
                   id INTEGER PRIMARY KEY AUTOINCREMENT, \
                   sha TEXT NOT NULL, \
                   \"timestamp\" TEXT NOT NULL, \
                   status TEXT NOT NULL CONSTRAINT {check} CHECK ({STATUS_CHECK}), \
                   config TEXT NOT NULL, \
                   config_hash TEXT, \
                   architecture TEXT, \
                   attempts INTEGER NOT NULL DEFAULT 0, \
                   last_error TEXT, \
                   runner_id TEXT, \
                   created_at TEXT DEFAULT ({SQLITE_NOW}), \
                   updated_at TEXT DEFAULT ({SQLITE_NOW}), \
                   UNIQUE (sha, config, architecture))"
            ),
        };
        tx.batch(&ddl)?;
    } else {
        if dialect == Dialect::Postgres {
            // Upstream's inline CHECK allows only in_progress and complete; replace every
            // CHECK that mentions `status` with ours. The rows all satisfy the wider one.
            let rows = tx.query(
                "SELECT conname::text FROM pg_constraint \
                 WHERE conrelid = to_regclass($1) AND contype = 'c' \
                 AND pg_get_constraintdef(oid) LIKE '%status%'",
                &[Val::text(table)],
            )?;
            for row in rows {
                if let Some(name) = row[0].as_str() {
                    // Constraint names from the catalog are quoted by doubling quotes.
                    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
                    tx.batch(&format!("ALTER TABLE {t} DROP CONSTRAINT {quoted}"))?;
                }
            }
            tx.batch(&format!(
                "ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({STATUS_CHECK})"
            ))?;
        }
        // SQLite cannot alter a CHECK; a SQLite commits table is always ours, created above.
        let missing: &[(&str, &str)] = &[
            ("attempts", "INTEGER NOT NULL DEFAULT 0"),
            ("last_error", "TEXT"),
            ("runner_id", "TEXT"),
            ("config_hash", "TEXT"),
        ];
        for (name, ddl) in missing {
            if !existing.contains_key(*name) {
                tx.batch(&format!("ALTER TABLE {t} ADD COLUMN {} {ddl}", q(name)))?;
            }
        }
        let time_ddl = match dialect {
            Dialect::Postgres => "TIMESTAMPTZ DEFAULT NOW()".to_owned(),
            Dialect::Sqlite => "TEXT".to_owned(),
        };
        for name in ["created_at", "updated_at"] {
            if !existing.contains_key(name) {
                tx.batch(&format!(
                    "ALTER TABLE {t} ADD COLUMN {} {time_ddl}",
                    q(name)
                ))?;
            }
        }
        // Fill config_hash for rows written without it.
        let rows = tx.query(
            &format!("SELECT id, config FROM {t} WHERE config_hash IS NULL"),
            &[],
        )?;
        for row in rows {
            let config = crate::commits::config_from_val(&row[1], table)?;
            tx.exec(
                &format!("UPDATE {t} SET config_hash = $1 WHERE id = $2"),
                &[
                    Val::text(crate::commits::config_hash(&config)),
                    row[0].clone(),
                ],
            )?;
        }
    }
    tx.batch(&format!(
        "CREATE INDEX IF NOT EXISTS {} ON {t} (architecture, sha); \
         CREATE INDEX IF NOT EXISTS {} ON {t} (status, updated_at)",
        q(&format!("{table}_arch_sha")),
        q(&format!("{table}_status_updated")),
    ))
}

/// Migrates a database's `core` tables; other table ids are migrated on first use.
pub(crate) fn migrate_core(tx: &mut Tx<'_>) -> Result<()> {
    let core = TableId::core();
    ensure(tx, Kind::Metrics, &core.metrics_table())?;
    ensure(tx, Kind::Commits, &core.commits_table())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ids() {
        let t = |s: &str| TableId::parse(s).unwrap();
        assert_eq!(t("core").metrics_table(), "benchmark_metrics");
        assert_eq!(t("core").commits_table(), "benchmark_commits");
        assert_eq!(t("tag").metrics_table(), "benchmark_tags_metrics");
        assert_eq!(t("tag").commits_table(), "benchmark_tags_commits");
        assert_eq!(t("search").metrics_table(), "benchmark_metrics_search");
        assert_eq!(t("search").commits_table(), "benchmark_commits_search");
        let long = "a".repeat(31);
        assert!(TableId::parse(&long).is_ok());
        for bad in ["", "Core", "1x", "a-b", "x\"; drop", &"a".repeat(32)] {
            assert!(TableId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn column_names() {
        assert!(valid_column("env_kernel_version"));
        assert!(valid_column(&"a".repeat(63)));
        assert!(!valid_column(&"a".repeat(64)));
        for bad in [
            "",
            "_x",
            "X",
            "a b",
            "x\"; DROP TABLE benchmark_metrics; --",
            "é",
        ] {
            assert!(!valid_column(bad), "{bad}");
        }
    }
}
