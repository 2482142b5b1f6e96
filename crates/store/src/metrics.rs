//! Metrics rows: pushing records (one transaction per file, its records in batches) and
//! reading them back.
//!
//! This module owns the mapping between JSON records and rows: column evolution (new fields
//! become columns, a value that needs a wider type widens the column), the idempotency key,
//! and the JSON form rows are read back in. It does not find or parse `metrics.json` files.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::conn::{Dialect, Tx, Val, parse_time, rfc3339};
use crate::details::{DETAILS_COLUMN, field, flatten};
use crate::error::{Error, Result};
use crate::ident::{self, q};
use crate::migrations::{self, Kind};
use crate::schema::{self, ColType, Columns, FLOAT, INT, METRICS_INTERNAL, TEXT};

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

/// The fields that identify one measurement: the commit, the case parameters, and which run.
/// `benchmark_threads` is the record's `valkey_benchmark_threads` (or `benchmark_threads`).
///
/// Fixed on purpose, not derived from valkey-perf's table of record fields: [`record_key`]
/// hashes these values in this order and every stored row keeps its key, so a field added to
/// the list would give rows already stored a different key and the next push would duplicate
/// them.
const KEY_FIELDS: &[&str] = &[
    "commit",
    "command",
    "data_size",
    "pipeline",
    "clients",
    "requests",
    "duration",
    "keyspacelen",
    "cluster_mode",
    "tls",
    "io_threads",
    "benchmark_threads",
    "engine",
    "test_id",
    "test_phase",
    "architecture",
    "run_index",
    "run_started_at",
];

/// The idempotency key of a record: SHA-256 over the JSON array of its [`KEY_FIELDS`] values
/// (null where absent).
///
/// Upstream records have no `run_started_at` (nor `run_index`): for them the key also takes the
/// record's `timestamp` and its position in the file, so re-pushing the same file matches row
/// for row, while two runs of the same case in one file stay two rows. (Two different upstream
/// files of the same commit and case would collide position by position; upstream writes one
/// file per commit directory, so that only happens when the same results are pushed again.)
pub(crate) fn record_key(record: &Map<String, Value>, position: usize) -> String {
    let mut parts: Vec<Value> = KEY_FIELDS
        .iter()
        .map(|f| match *f {
            "benchmark_threads" => effective_threads(record),
            f => field(record, f).cloned().unwrap_or(Value::Null),
        })
        .collect();
    if field(record, "run_started_at").is_none_or(Value::is_null) {
        parts.push(record.get("timestamp").cloned().unwrap_or(Value::Null));
        parts.push(Value::from(position));
    }
    let digest = Sha256::digest(Value::Array(parts).to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn effective_threads(record: &Map<String, Value>) -> Value {
    field(record, "benchmark_threads")
        .or_else(|| field(record, "valkey_benchmark_threads"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The type a new column gets from its first non-null value.
fn infer(v: &Value) -> ColType {
    match v {
        Value::Bool(_) => ColType::Bool,
        Value::Number(n) if n.is_i64() => INT,
        Value::Number(_) => FLOAT,
        Value::String(_) | Value::Null => TEXT,
        Value::Array(_) | Value::Object(_) => ColType::Json,
    }
}

/// Text a value takes in a text column.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `v` fits a column of type `ty`: `Ok(None)` if it does, `Ok(Some(wider))` if the
/// column must first be widened, `Err(why)` if no widening helps.
fn fit(ty: ColType, v: &Value) -> Result<Option<ColType>, String> {
    let fits = Ok(None);
    match (ty, v) {
        (_, Value::Null) => fits,
        (ColType::Json, _) => fits,
        (ColType::Bool, Value::Bool(_)) => fits,
        (ColType::Int { bits }, Value::Number(n)) => match n.as_i64() {
            Some(i) if bits >= 64 || (i >= -(1 << (bits - 1)) && i < (1 << (bits - 1))) => fits,
            Some(_) => Ok(Some(INT)),
            // A float, or an integer beyond i64: integer → decimal.
            None => Ok(Some(FLOAT)),
        },
        (
            ColType::Float {
                bounded: Some((p, s)),
            },
            Value::Number(n),
        ) => {
            // NUMERIC(p, s) holds |x| < 10^(p − s); beyond that it would overflow.
            let limit = 10f64.powi(i32::try_from(p.saturating_sub(s)).unwrap_or(i32::MAX));
            if n.as_f64().is_some_and(|x| x.abs() < limit) {
                fits
            } else {
                Ok(Some(FLOAT))
            }
        }
        (ColType::Float { bounded: None }, Value::Number(_)) => fits,
        (ColType::Text { max_chars }, v) => match max_chars {
            Some(max) if as_text(v).chars().count() > max as usize => Ok(Some(TEXT)),
            _ => fits,
        },
        (ColType::Time, Value::String(s)) if parse_time(s).is_some() => fits,
        (ColType::Time, _) => Err("is not an RFC 3339 time".to_owned()),
        (ColType::Other, _) => {
            Err("goes to a column of a type valkey-perf does not write".to_owned())
        }
        (ty, v) => Err(format!(
            "is {} but the column holds {}",
            kind_name(v),
            ty.describe()
        )),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A JSON value as bound for a column of type `ty` (checked by [`fit`] first).
fn to_val(ty: ColType, v: &Value) -> Val {
    match (ty, v) {
        (_, Value::Null) => Val::Null,
        (ColType::Bool, Value::Bool(b)) => Val::Bool(*b),
        (ColType::Int { .. }, Value::Number(n)) if n.is_i64() => {
            Val::Int(n.as_i64().unwrap_or_default())
        }
        (ColType::Int { .. } | ColType::Float { .. }, Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Val::Int(i)
            } else {
                Val::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        (ColType::Json, v) => Val::Json(v.clone()),
        (ColType::Time, Value::String(s)) => parse_time(s).map_or(Val::Null, Val::Time),
        (_, v) => Val::Text(as_text(v)),
    }
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

/// The columns one record fills: its own fields plus `benchmark_threads` and `test_type`.
fn row_of(record: &Map<String, Value>, test_type: Option<&str>) -> BTreeMap<String, Value> {
    let mut row: BTreeMap<String, Value> =
        record.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // Records say `valkey_benchmark_threads`; upstream's column is `benchmark_threads`.
    row.insert("benchmark_threads".to_owned(), effective_threads(record));
    if let Some(t) = test_type {
        row.insert("test_type".to_owned(), Value::String(t.to_owned()));
    }
    row
}

fn validate(file: &str, index: usize, record: &Map<String, Value>) -> Result<()> {
    let invalid = |reason: String| Error::InvalidRecord {
        file: file.to_owned(),
        index,
        reason,
    };
    for key in record.keys() {
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

/// The columns one file needs: every column's type after the push, the columns to add, and
/// the columns to widen (name, old type, new type).
type ColumnPlan = (
    Columns,
    Vec<(String, ColType)>,
    Vec<(String, ColType, ColType)>,
);

/// Decides every column's type for these records: new columns to add, existing ones to
/// widen. One pass over the records' fields (a hash lookup each), whatever their number.
fn plan_columns(
    file: &str,
    first: usize,
    rows: &[BTreeMap<String, Value>],
    existing: &Columns,
) -> Result<ColumnPlan> {
    // Each field's type so far: the column's, then widened by the values met.
    let mut seen: HashMap<&str, Option<ColType>> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        for (name, v) in row {
            let ty = seen
                .entry(name.as_str())
                .or_insert_with(|| existing.get(name.as_str()).copied());
            if v.is_null() {
                continue;
            }
            let current = *ty.get_or_insert_with(|| infer(v));
            match fit(current, v) {
                Ok(None) => {}
                Ok(Some(wider)) => *ty = Some(wider),
                Err(why) => {
                    return Err(Error::InvalidRecord {
                        file: file.to_owned(),
                        index: first + index,
                        reason: format!(
                            "field `{name}` {why}; push it to another `--table` or rename the field"
                        ),
                    });
                }
            }
        }
    }
    let mut seen: Vec<(&str, Option<ColType>)> = seen.into_iter().collect();
    seen.sort_unstable_by_key(|(name, _)| *name);
    let mut types = existing.clone();
    let mut added = Vec::new();
    let mut widened: Vec<(String, ColType, ColType)> = Vec::new();
    for (name, ty) in seen {
        // A field that is null in every record so far gets its column when a value
        // arrives: its type cannot be known before.
        let Some(ty) = ty else { continue };
        match existing.get(name).copied() {
            None => added.push((name.to_owned(), ty)),
            Some(old) if old != ty => widened.push((name.to_owned(), old, ty)),
            Some(_) => {}
        }
        types.insert(name.to_owned(), ty);
    }
    Ok((types, added, widened))
}

/// Parameters per statement: under both PostgreSQL's 65 535 and SQLite's 32 766.
const MAX_PARAMS: usize = 30_000;

/// One file's push in progress, in one transaction: the table's columns as evolved so far,
/// the position of the next record in the file (for [`record_key`]) and what was done.
pub(crate) struct FileState {
    table: String,
    file: String,
    test_type: Option<String>,
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
        test_type: test_type.map(str::to_owned),
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
        let (table, file) = (self.table.as_str(), self.file.as_str());
        for (i, record) in records.iter().enumerate() {
            validate(file, self.position + i, record)?;
        }
        let rows: Vec<BTreeMap<String, Value>> = records
            .iter()
            .map(|r| row_of(r, self.test_type.as_deref()))
            .collect();
        let (types, added, widened) = plan_columns(file, self.position, &rows, &self.types)?;
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
            insert(
                tx,
                table,
                &self.types,
                &rows,
                records,
                self.position,
                &mut self.outcome,
            )?;
        }
        self.position += records.len();
        Ok(())
    }
}

/// Inserts `rows` (the records from `first` on in their file) in statements of at most
/// [`MAX_PARAMS`] parameters, skipping keys already stored.
fn insert(
    tx: &mut Tx<'_>,
    table: &str,
    types: &Columns,
    rows: &[BTreeMap<String, Value>],
    records: &[Map<String, Value>],
    first: usize,
    outcome: &mut PushOutcome,
) -> Result<()> {
    // The batch's fields that have a column, in name order, with their types.
    let mut columns: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.keys())
        .map(String::as_str)
        .collect::<HashSet<_>>()
        .into_iter()
        .filter(|c| types.contains_key(*c))
        .collect();
    columns.sort_unstable();
    let column_types: Vec<ColType> = columns.iter().map(|c| types[*c]).collect();
    let width = columns.len() + 1;
    let head = format!(
        "INSERT INTO {} ({}, record_key) VALUES ",
        q(table),
        columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
    );
    let per_statement = (MAX_PARAMS / width).max(1);
    for (chunk_no, chunk) in rows.chunks(per_statement).enumerate() {
        let mut params = Vec::with_capacity(chunk.len() * width);
        let mut tuples = Vec::with_capacity(chunk.len());
        for (i, row) in chunk.iter().enumerate() {
            let index = chunk_no * per_statement + i;
            let start = params.len();
            // Both in name order: one walk of the row's fields per row.
            let mut fields = row.iter().peekable();
            for (c, ty) in columns.iter().zip(&column_types) {
                while fields.next_if(|(k, _)| k.as_str() < *c).is_some() {}
                let v = match fields.peek() {
                    Some((k, v)) if k.as_str() == *c => v,
                    _ => &Value::Null,
                };
                params.push(to_val(*ty, v));
            }
            params.push(Val::Text(record_key(&records[index], first + index)));
            let key_hole = params.len();
            tuples.push(format!(
                "({})",
                (start + 1..=params.len())
                    .map(|n| match tx.dialect() {
                        // The key is binary on PostgreSQL (see migrations/metrics_v2.rs).
                        Dialect::Postgres if n == key_hole => format!("decode(${n}, 'hex')"),
                        _ => format!("${n}"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let sql = format!(
            "{head}{} ON CONFLICT (record_key) DO NOTHING",
            tuples.join(", ")
        );
        let inserted = tx.exec(&sql, &params)?;
        outcome.inserted += inserted;
        outcome.already_present += chunk.len() as u64 - inserted;
    }
    Ok(())
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
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut map = Map::with_capacity(names.len());
            let mut threads = Value::Null;
            for ((name, ty), v) in names.iter().zip(&types).zip(row) {
                let v = to_json(*ty, v);
                if name == "benchmark_threads" {
                    threads = v;
                } else {
                    map.insert(name.clone(), v);
                }
            }
            let mut map = flatten(map);
            if map.keys().any(|k| !wanted(k)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn key_uses_run_start_or_position() {
        let ours = rec(
            json!({"commit": "a", "command": "SET", "run_index": 0, "run_started_at": "2026-01-01T00:00:00Z", "timestamp": "t"}),
        );
        assert_eq!(
            record_key(&ours, 0),
            record_key(&ours, 5),
            "position is not part of the key when the run start is known"
        );
        let upstream =
            rec(json!({"commit": "a", "command": "SET", "timestamp": "2026-01-01T00:00:00Z"}));
        assert_ne!(record_key(&upstream, 0), record_key(&upstream, 1));
        let mut other_threads = ours.clone();
        other_threads.insert("valkey_benchmark_threads".into(), json!(4));
        assert_ne!(record_key(&ours, 0), record_key(&other_threads, 0));
    }

    #[test]
    fn fitting_and_widening() {
        assert_eq!(fit(INT, &json!(3)), Ok(None));
        assert_eq!(fit(INT, &json!(3.5)), Ok(Some(FLOAT)));
        assert_eq!(
            fit(ColType::Int { bits: 32 }, &json!(5_000_000_000_i64)),
            Ok(Some(INT))
        );
        assert_eq!(
            fit(ColType::Int { bits: 32 }, &json!(-2_147_483_648_i64)),
            Ok(None)
        );
        assert_eq!(
            fit(ColType::Text { max_chars: Some(3) }, &json!("abcd")),
            Ok(Some(TEXT))
        );
        assert_eq!(
            fit(
                ColType::Float {
                    bounded: Some((15, 6))
                },
                &json!(2e9)
            ),
            Ok(Some(FLOAT))
        );
        assert_eq!(
            fit(
                ColType::Float {
                    bounded: Some((15, 6))
                },
                &json!(1408450.62)
            ),
            Ok(None)
        );
        assert!(fit(ColType::Bool, &json!(1)).is_err());
        assert!(fit(INT, &json!("x")).is_err());
        assert!(fit(ColType::Time, &json!("later")).is_err());
        assert_eq!(fit(TEXT, &json!({"a": 1})), Ok(None));
    }
}
