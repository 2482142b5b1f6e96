//! Metrics rows: pushing records (one transaction per file, its records in batches) and
//! reading them back.
//!
//! This module owns the mapping between JSON records and rows: column evolution (new fields
//! become columns, a value that needs a wider type widens the column), the idempotency key,
//! and the JSON form rows are read back in. It does not find or parse `metrics.json` files.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::conn::{Dialect, Tx, Val, parse_time, rfc3339};
use crate::details::{DETAILS_COLUMN, flatten};
use crate::error::{Error, Result};
use crate::ident::{self, q};
use crate::migrations::{self, Kind};
use crate::rows::{self, Batch};
use crate::schema::{self, ColType, Columns, METRICS_INTERNAL};

/// What one `push_records` call did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushOutcome {
    /// Rows inserted.
    pub inserted: u64,
    /// Records whose key was already in the table (pushed before), so not inserted again.
    pub already_present: u64,
    /// Columns created for record fields seen for the first time.
    pub columns_added: Vec<String>,
    /// Columns whose type was widened, as `name: old → new`.
    pub columns_widened: Vec<String>,
}

/// Which rows `fetch_metrics` returns.
#[derive(Debug, Clone, Default)]
pub struct MetricsFilter {
    /// Only rows whose commit time (`timestamp`) is at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only these commands (`SET`, `GET`...); empty means all.
    pub commands: Vec<String>,
    /// Only these commits; empty means all.
    pub commits: Vec<String>,
}

/// A stored value as the JSON the record had.
fn to_json(ty: ColType, v: Val) -> Value {
    match (ty, v) {
        (_, Val::Null) => Value::Null,
        (ColType::Bool, Val::Int(i)) => Value::Bool(i != 0),
        (ColType::Float { .. }, Val::Int(i)) => float(i as f64),
        (_, Val::Float(f)) => float(f),
        (ColType::Json, Val::Text(s)) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        (ColType::Time, Val::Text(s)) => Value::String(parse_time(&s).map_or(s, |t| rfc3339(&t))),
        (_, Val::Time(t)) => Value::String(rfc3339(&t)),
        (_, Val::Bool(b)) => Value::Bool(b),
        (_, Val::Int(i)) => Value::from(i),
        (_, Val::Text(s)) => Value::String(s),
        (_, Val::Json(j)) => j,
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Checks a record's values and, with `names`, its field names (records of one shape share
/// them, so they are checked once per shape).
fn validate(file: &str, index: usize, record: &Map<String, Value>, names: bool) -> Result<()> {
    let invalid = |reason: String| Error::InvalidRecord {
        file: file.to_owned(),
        index,
        reason,
    };
    for key in record.keys().filter(|_| names) {
        if !ident::valid_column(key) {
            return Err(Error::InvalidField {
                file: file.to_owned(),
                index,
                field: key.clone(),
            });
        }
        if METRICS_INTERNAL.contains(&key.as_str()) {
            return Err(invalid(format!(
                "field `{key}` is a column the store manages itself; rename the field"
            )));
        }
    }
    match record.get("timestamp") {
        Some(Value::String(s)) if parse_time(s).is_some() => {}
        Some(v) => {
            return Err(invalid(format!(
                "`timestamp` is {v}, not an RFC 3339 time; it must be the commit time"
            )));
        }
        None => return Err(invalid("no `timestamp` (the commit time)".to_owned())),
    }
    for required in ["commit", "command"] {
        match record.get(required) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return Err(invalid(format!(
                    "`{required}` is missing or not a non-empty string"
                )));
            }
        }
    }
    Ok(())
}

/// One file's push in progress, in one transaction: the table's columns as evolved so far,
/// the position of the next record in the file (for [`record_key`]) and what was done.
pub(crate) struct FileState {
    table: String,
    file: String,
    /// `test_type` of every row, when the push names one.
    test_type: Option<Value>,
    types: Columns,
    position: usize,
    pub(crate) outcome: PushOutcome,
}

/// Starts pushing one file: the table made, the schema locked against other pushers, its
/// columns read.
pub(crate) fn begin(
    tx: &mut Tx<'_>,
    table: &str,
    file: &str,
    test_type: Option<&str>,
) -> Result<FileState> {
    migrations::ensure(tx, Kind::Metrics, table)?;
    // Pushers of the same database evolve columns one at a time.
    schema::lock_schema(tx)?;
    let types = schema::read_columns(tx, table)?;
    Ok(FileState {
        table: table.to_owned(),
        file: file.to_owned(),
        test_type: test_type.map(Value::from),
        types,
        position: 0,
        outcome: PushOutcome::default(),
    })
}

pub(crate) fn push(
    tx: &mut Tx<'_>,
    table: &str,
    file: &str,
    records: &[Map<String, Value>],
    test_type: Option<&str>,
) -> Result<PushOutcome> {
    let mut state = begin(tx, table, file, test_type)?;
    state.push(tx, records)?;
    Ok(state.outcome)
}

impl FileState {
    /// The next records of the file: validated, columns added or widened for them, inserted
    /// (records already stored are counted, not inserted again).
    pub(crate) fn push(&mut self, tx: &mut Tx<'_>, records: &[Map<String, Value>]) -> Result<()> {
        let (table, file, first) = (self.table.as_str(), self.file.as_str(), self.position);
        let batch = Batch::new(records, self.test_type.as_ref(), |i, record, new_shape| {
            validate(file, first + i, record, new_shape)
        })?;
        let (types, added, widened) = rows::plan_columns(file, first, &batch, &self.types)?;
        for (name, ty) in &added {
            schema::add_column(tx, table, name, *ty)?;
            self.outcome.columns_added.push(name.clone());
        }
        for (name, from, to) in &widened {
            schema::widen_column(tx, table, name, *to)?;
            self.outcome.columns_widened.push(format!(
                "{name}: {} → {}",
                from.describe(),
                to.describe()
            ));
        }
        self.types = types;
        if !records.is_empty() {
            let (inserted, present) = rows::insert(tx, table, &self.types, &batch, first)?;
            self.outcome.inserted += inserted;
            self.outcome.already_present += present;
        }
        self.position += records.len();
        Ok(())
    }
}

/// Columns that are the store's business, not the record's.
const HIDDEN: &[&str] = &["id", "created_at", "record_key", "benchmark_threads"];

pub(crate) fn fetch(
    tx: &mut Tx<'_>,
    table: &str,
    filter: &MetricsFilter,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Map<String, Value>>> {
    migrations::ensure(tx, Kind::Metrics, table)?;
    let columns = schema::read_columns(tx, table)?;
    // `benchmark_threads` stands in for `valkey_benchmark_threads`; `run_details` holds fields.
    let read = |name: &str| {
        wanted(name)
            || name == DETAILS_COLUMN
            || (name == "benchmark_threads" && wanted("valkey_benchmark_threads"))
    };
    let dialect = tx.dialect();
    let mut select = Vec::new();
    let mut types = Vec::new();
    let mut names = Vec::new();
    for (name, ty) in &columns {
        if !ident::valid_column(name)
            || (HIDDEN.contains(&name.as_str()) && name != "benchmark_threads")
            || !read(name)
        {
            continue;
        }
        // Types the decoder does not know come back as text.
        select.push(if *ty == ColType::Other && dialect == Dialect::Postgres {
            format!("{}::text", q(name))
        } else {
            q(name)
        });
        types.push(*ty);
        names.push(name.clone());
    }
    let mut params = Vec::new();
    let mut sql = format!("SELECT {} FROM {} WHERE 1 = 1", select.join(", "), q(table));
    if let Some(since) = filter.since {
        params.push(Val::Time(since));
        sql.push_str(&format!(" AND \"timestamp\" >= ${}", params.len()));
    }
    for (column, values) in [("command", &filter.commands), ("commit", &filter.commits)] {
        if values.is_empty() {
            continue;
        }
        let mut holes = Vec::new();
        for v in values {
            params.push(Val::text(v));
            holes.push(format!("${}", params.len()));
        }
        sql.push_str(&format!(" AND {} IN ({})", q(column), holes.join(", ")));
    }
    sql.push_str(" ORDER BY \"timestamp\", id");
    let rows = tx.query(&sql, &params)?;
    // Rows of one commit share their commit time, and most rows their JSON fields: per
    // column, the last text converted is reused.
    let mut last: Vec<Option<(String, Value)>> = vec![None; names.len()];
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut map = Map::with_capacity(names.len());
            let mut threads = Value::Null;
            // Every column read is wanted but the details object, whose fields are checked.
            let mut check = false;
            for (((name, ty), v), last) in names.iter().zip(&types).zip(row).zip(&mut last) {
                let v = match (*ty, v) {
                    (ty @ (ColType::Time | ColType::Json), Val::Text(s)) => match last {
                        Some((text, value)) if *text == s => value.clone(),
                        _ => {
                            let value = to_json(ty, Val::Text(s.clone()));
                            *last = Some((s, value.clone()));
                            value
                        }
                    },
                    (ty, v) => to_json(ty, v),
                };
                if name == "benchmark_threads" {
                    threads = v;
                } else {
                    check |= name == DETAILS_COLUMN && !v.is_null();
                    map.insert(name.clone(), v);
                }
            }
            let mut map = flatten(map);
            if check && map.keys().any(|k| !wanted(k)) {
                map.retain(|k, _| wanted(k));
            }
            // Rows written by upstream may have only `benchmark_threads`.
            if map
                .get("valkey_benchmark_threads")
                .is_none_or(Value::is_null)
                && !threads.is_null()
            {
                map.insert("valkey_benchmark_threads".to_owned(), threads);
            }
            map
        })
        .collect())
}

pub(crate) fn commits_by_time(
    tx: &mut Tx<'_>,
    table: &str,
) -> Result<Vec<(String, DateTime<Utc>)>> {
    migrations::ensure(tx, Kind::Metrics, table)?;
    let rows = tx.query(
        &format!(
            "SELECT \"commit\", MAX(\"timestamp\") AS t FROM {} GROUP BY \"commit\" ORDER BY t DESC, \"commit\"",
            q(table)
        ),
        &[],
    )?;
    rows.into_iter()
        .map(|r| {
            let commit = r[0].as_str().unwrap_or_default().to_owned();
            let time = match &r[1] {
                Val::Time(t) => Some(*t),
                Val::Text(s) => parse_time(s),
                _ => None,
            }
            .ok_or_else(|| Error::Corrupt {
                table: table.to_owned(),
                reason: format!("commit `{commit}` has no readable `timestamp`"),
            })?;
            Ok((commit, time))
        })
        .collect()
}
