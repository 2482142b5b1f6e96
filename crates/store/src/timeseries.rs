//! Time series rows (`benchmark_timeseries`): the per-second samples `run` writes next to a
//! record (`per_second_sampling`), one row per record and second, linked to the record's
//! metrics row by its idempotency key. Pushing the same samples twice adds nothing.

use serde_json::{Map, Value};

use crate::conn::{Tx, Val, parse_time};
use crate::error::{Error, Result};
use crate::ident::q;
use crate::migrations::{self, Kind};

/// Inserts one record's samples; returns the rows inserted (samples already there are skipped).
pub(crate) fn push(
    tx: &mut Tx<'_>,
    table: &str,
    file: &str,
    record_key: &str,
    record: &Map<String, Value>,
    samples: &[Map<String, Value>],
) -> Result<u64> {
    migrations::ensure(tx, Kind::Timeseries, table)?;
    let text = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    let time = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(parse_time)
            .map_or(Val::Null, Val::Time)
    };
    let mut inserted = 0;
    for (i, s) in samples.iter().enumerate() {
        let Some(second) = s.get("second").and_then(Value::as_i64) else {
            return Err(Error::InvalidRecord {
                file: file.to_owned(),
                index: i,
                reason: "a sample has no whole-number `second`".to_owned(),
            });
        };
        inserted += tx.exec(
            &format!(
                "INSERT INTO {} (record_key, \"commit\", command, run_started_at, \"second\", \
                 \"timestamp\", ops_per_sec, sample) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (record_key, \"second\") DO NOTHING",
                q(table)
            ),
            &[
                Val::text(record_key),
                Val::text(text("commit")),
                Val::text(text("command")),
                time(record.get("run_started_at")),
                Val::Int(second),
                time(s.get("timestamp")),
                s.get("ops_per_sec")
                    .and_then(Value::as_f64)
                    .map_or(Val::Null, Val::Float),
                Val::Json(Value::Object(s.clone())),
            ],
        )?;
    }
    Ok(inserted)
}

/// Every sample of the table as `(record_key, second, sample)`, in that order.
pub(crate) fn fetch(tx: &mut Tx<'_>, table: &str) -> Result<Vec<(String, i64, Value)>> {
    migrations::ensure(tx, Kind::Timeseries, table)?;
    let rows = tx.query(
        &format!(
            "SELECT record_key, \"second\", sample FROM {} ORDER BY record_key, \"second\"",
            q(table)
        ),
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter();
            let key = it
                .next()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let second = it.next().and_then(|v| v.as_i64()).unwrap_or_default();
            let sample = match it.next() {
                Some(Val::Json(j)) => j,
                Some(Val::Text(t)) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
                _ => Value::Null,
            };
            (key, second, sample)
        })
        .collect())
}
