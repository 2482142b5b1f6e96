//! Version 1 of a time series table: create it.

use crate::coltype::{ColType, FLOAT, INT, TEXT};
use crate::conn::Tx;
use crate::error::Result;
use crate::ident::q;

/// Creates the table (first use of a table id).
pub(super) fn timeseries_v1(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    let d = tx.dialect();
    let cols: [(&str, ColType, &str); 8] = [
        ("record_key", TEXT, " NOT NULL"),
        ("commit", TEXT, " NOT NULL"),
        ("command", TEXT, " NOT NULL"),
        ("run_started_at", ColType::Time, ""),
        ("second", INT, " NOT NULL"),
        ("timestamp", ColType::Time, ""),
        ("ops_per_sec", FLOAT, ""),
        ("sample", ColType::Json, " NOT NULL"),
    ];
    let mut ddl = super::id_and_created_at(d);
    ddl.extend(
        cols.iter()
            .map(|(n, ty, extra)| format!("{} {}{extra}", q(n), ty.ddl(d))),
    );
    ddl.push(format!("UNIQUE (record_key, {})", q("second")));
    tx.batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} ({}); CREATE INDEX IF NOT EXISTS {} ON {} (\"commit\")",
        q(table),
        ddl.join(", "),
        q(&format!("{table}_commit")),
        q(table),
    ))
}
