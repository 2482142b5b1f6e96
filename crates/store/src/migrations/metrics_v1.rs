//! Version 1 of a metrics table: create it with the fixed columns, or adopt upstream's by
//! adding the missing ones, plus the idempotency key and upstream's indexes.

use crate::conn::Tx;
use crate::error::Result;
use crate::ident::q;
use crate::schema::{METRICS_FIXED, TEXT, add_column, read_columns, record_sqlite_type};

pub(super) fn metrics_v1(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    let dialect = tx.dialect();
    let existing = read_columns(tx, table)?;
    if existing.is_empty() {
        let mut cols = super::id_and_created_at(dialect);
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
