//! Version 1 of a commits table: create it, or adopt upstream's (wider status CHECK, the
//! columns upstream lacks, `config_hash` filled for existing rows), plus its indexes.

use crate::commits::{config_from_val, config_hash};
use crate::conn::{Dialect, SQLITE_NOW, Tx, Val};
use crate::error::Result;
use crate::ident::q;
use crate::schema::{Columns, read_columns};

/// The statuses a commit row may have, as the CHECK constraint spells them.
const STATUS_CHECK: &str = "status IN ('in_progress', 'complete', 'failed')";

pub(super) fn commits_v1(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    let existing = read_columns(tx, table)?;
    if existing.is_empty() {
        create(tx, table)?;
    } else {
        adopt(tx, table, &existing)?;
    }
    let t = q(table);
    tx.batch(&format!(
        "CREATE INDEX IF NOT EXISTS {} ON {t} (architecture, sha); \
         CREATE INDEX IF NOT EXISTS {} ON {t} (status, updated_at)",
        q(&format!("{table}_arch_sha")),
        q(&format!("{table}_status_updated")),
    ))
}

/// Creates the table: upstream's columns and unique key, plus ours.
fn create(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    let t = q(table);
    let check = q(&format!("{table}_status_check"));
    let ddl = match tx.dialect() {
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
    Ok(())
}

/// Adopts an existing (upstream-created) table in place.
fn adopt(tx: &mut Tx<'_>, table: &str, existing: &Columns) -> Result<()> {
    let dialect = tx.dialect();
    let t = q(table);
    let check = q(&format!("{table}_status_check"));
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
        let config = config_from_val(&row[1], table)?;
        tx.exec(
            &format!("UPDATE {t} SET config_hash = $1 WHERE id = $2"),
            &[Val::text(config_hash(&config)), row[0].clone()],
        )?;
    }
    Ok(())
}
