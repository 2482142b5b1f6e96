//! Records as rows, without copying them: the idempotency key, a batch's records seen through
//! their shapes, the column plan (columns to add or widen), values as bound to their column,
//! and the insert.
//!
//! A record's shape is its field names in order. Every record `run` writes into one file has
//! the same shape, so a batch looks its field names up once per shape, not once per record:
//! a record is matched to its shape by comparing names, never by hashing them. The rows are the
//! records themselves, borrowed; only the values bound to a statement are made.
//!
//! This module owns how a record's values reach a row. It does not validate records (beyond
//! the values' fit to their columns) and does not change the schema: `metrics` does both, with
//! the plan made here.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::conn::{Dialect, Tx, Val, parse_time};
use crate::details::field;
use crate::error::{Error, Result};
use crate::ident::q;
use crate::schema::{ColType, Columns, FLOAT, INT, TEXT};

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

static NULL: Value = Value::Null;

/// What a duet record's key takes after its other values (see [`record_key`]).
const DUET_MARK: &str = "duet";

/// The idempotency key of a record: SHA-256 over the JSON array of its [`KEY_FIELDS`] values
/// (null where absent), in hex.
///
/// Upstream records have no `run_started_at` (nor `run_index`): for them the key also takes the
/// record's `timestamp` and its position in the file, so re-pushing the same file matches row
/// for row, while two runs of the same case in one file stay two rows. (Two different upstream
/// files of the same commit and case would collide position by position; upstream writes one
/// file per commit directory, so that only happens when the same results are pushed again.)
///
/// A duet run (`duet: true`, both targets at once) is not the solo measurement of its case:
/// its key also takes the marker [`DUET_MARK`], after every other value. A record that is not
/// a duet's (no `duet` field, or `false`) adds nothing, so rows stored before keep their key.
pub(crate) fn record_key(record: &Map<String, Value>, position: usize) -> String {
    // The compact JSON of the array, written value by value (the same text as the array's).
    let mut text = String::with_capacity(256);
    let mut put = |v: &Value| {
        text.push(if text.is_empty() { '[' } else { ',' });
        // Writing to a String cannot fail.
        let _ = write!(text, "{v}");
    };
    for f in KEY_FIELDS {
        put(match *f {
            "benchmark_threads" => effective_threads(record),
            f => field(record, f),
        }
        .unwrap_or(&NULL));
    }
    if field(record, "run_started_at").is_none_or(Value::is_null) {
        put(record.get("timestamp").unwrap_or(&NULL));
        put(&Value::from(position));
    }
    if field(record, "duet") == Some(&Value::Bool(true)) {
        put(&Value::from(DUET_MARK));
    }
    text.push(']');
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(64);
    for b in Sha256::digest(text.as_bytes()) {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 15)]));
    }
    key
}

/// The column `benchmark_threads`: records say `valkey_benchmark_threads`, upstream's column
/// is `benchmark_threads`.
fn effective_threads(record: &Map<String, Value>) -> Option<&Value> {
    field(record, "benchmark_threads").or_else(|| field(record, "valkey_benchmark_threads"))
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

/// A JSON value as bound for a column of type `ty` (checked by [`fit`] first). SQLite keeps
/// JSON as its text, written here straight from the record.
fn to_val(dialect: Dialect, ty: ColType, v: &Value) -> Val {
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
        (ColType::Json, v) => match dialect {
            Dialect::Sqlite => Val::Text(v.to_string()),
            Dialect::Postgres => Val::Json(v.clone()),
        },
        (ColType::Time, Value::String(s)) => parse_time(s).map_or(Val::Null, Val::Time),
        (_, v) => Val::Text(as_text(v)),
    }
}

/// The derived columns: `benchmark_threads` on every row (see [`effective_threads`]), and
/// `test_type` when the push names one (it then replaces a record's own).
const THREADS: &str = "benchmark_threads";
const TEST_TYPE: &str = "test_type";

/// One shape: its field names in order and, per field, the id of its column name (`None`
/// where a derived column takes the place of the field).
struct Shape<'a> {
    fields: Vec<&'a str>,
    ids: Vec<Option<usize>>,
}

impl Shape<'_> {
    fn matches(&self, record: &Map<String, Value>) -> bool {
        self.fields.len() == record.len()
            && self.fields.iter().zip(record.keys()).all(|(a, b)| a == b)
    }
}

/// Consecutive records of one file, borrowed, with the columns they fill.
pub(crate) struct Batch<'a> {
    records: &'a [Map<String, Value>],
    test_type: Option<&'a Value>,
    /// Every column name the batch fills, by id: the derived ones first, then the fields in
    /// the order met.
    names: Vec<&'a str>,
    shapes: Vec<Shape<'a>>,
    /// Each record's shape.
    shape_of: Vec<usize>,
}

impl<'a> Batch<'a> {
    /// The batch of `records`. `check(index, record, new_shape)` is called for each record in
    /// order, `new_shape` telling whether it is the first of its shape (so field names need
    /// checking only then); its error stops the batch.
    pub(crate) fn new(
        records: &'a [Map<String, Value>],
        test_type: Option<&'a Value>,
        mut check: impl FnMut(usize, &Map<String, Value>, bool) -> Result<()>,
    ) -> Result<Batch<'a>> {
        let mut names = vec![THREADS];
        if test_type.is_some() {
            names.push(TEST_TYPE);
        }
        let mut ids: HashMap<&str, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut shapes: Vec<Shape<'a>> = Vec::new();
        let mut shape_of = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let known = shape_of
                .last()
                .copied()
                .filter(|&s: &usize| shapes[s].matches(record))
                .or_else(|| shapes.iter().position(|s| s.matches(record)));
            check(index, record, known.is_none())?;
            let shape = known.unwrap_or_else(|| {
                let fields: Vec<&str> = record.keys().map(String::as_str).collect();
                let ids = fields
                    .iter()
                    .map(|&f| match f {
                        THREADS => None,
                        TEST_TYPE if test_type.is_some() => None,
                        f => Some(*ids.entry(f).or_insert_with(|| {
                            names.push(f);
                            names.len() - 1
                        })),
                    })
                    .collect();
                shapes.push(Shape { fields, ids });
                shapes.len() - 1
            });
            shape_of.push(shape);
        }
        Ok(Batch {
            records,
            test_type,
            names,
            shapes,
            shape_of,
        })
    }

    /// The value of each derived column (by id) for a record.
    fn derived(&self, record: &'a Map<String, Value>) -> [(usize, &'a Value); 2] {
        [
            (0, effective_threads(record).unwrap_or(&NULL)),
            // Without a test type, id 1 is a field's: its value comes with the fields.
            (1, self.test_type.unwrap_or(&NULL)),
        ]
    }

    /// Every (column name id, value) of the record `index`.
    fn values(&self, index: usize) -> impl Iterator<Item = (usize, &'a Value)> + '_ {
        let record = &self.records[index];
        let shape = &self.shapes[self.shape_of[index]];
        let derived = self.derived(record);
        shape
            .ids
            .iter()
            .zip(record.values())
            .filter_map(|(id, v)| id.map(|id| (id, v)))
            .chain(
                derived
                    .into_iter()
                    .take(if self.test_type.is_some() { 2 } else { 1 }),
            )
    }
}

/// The columns one batch needs: every column's type after the push, the columns to add, and
/// the columns to widen (name, old type, new type).
pub(crate) type ColumnPlan = (
    Columns,
    Vec<(String, ColType)>,
    Vec<(String, ColType, ColType)>,
);

/// Decides every column's type for the batch's records (the first at `first` in `file`): new
/// columns to add, existing ones to widen.
pub(crate) fn plan_columns(
    file: &str,
    first: usize,
    batch: &Batch<'_>,
    existing: &Columns,
) -> Result<ColumnPlan> {
    // Each name's type so far: the column's, then widened by the values met.
    let mut seen: Vec<Option<ColType>> = batch
        .names
        .iter()
        .map(|n| existing.get(*n).copied())
        .collect();
    for index in 0..batch.records.len() {
        for (id, v) in batch.values(index) {
            if v.is_null() {
                continue;
            }
            let ty = &mut seen[id];
            let current = *ty.get_or_insert_with(|| infer(v));
            match fit(current, v) {
                Ok(None) => {}
                Ok(Some(wider)) => *ty = Some(wider),
                Err(why) => {
                    return Err(Error::InvalidRecord {
                        file: file.to_owned(),
                        index: first + index,
                        reason: format!(
                            "field `{}` {why}; push it to another `--table` or rename the field",
                            batch.names[id]
                        ),
                    });
                }
            }
        }
    }
    let mut seen: Vec<(&str, Option<ColType>)> = batch.names.iter().copied().zip(seen).collect();
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

/// Where a column's value is in a record of one shape.
#[derive(Debug, Clone, Copy)]
enum Source {
    Field(usize),
    Derived(usize),
    Absent,
}

/// Inserts the batch (its first record at `first` in its file), skipping keys already stored;
/// returns (inserted, already present). On SQLite one single-row statement, prepared once,
/// runs per record; on PostgreSQL multi-row statements of at most [`MAX_PARAMS`] parameters
/// save round trips.
pub(crate) fn insert(
    tx: &mut Tx<'_>,
    table: &str,
    types: &Columns,
    batch: &Batch<'_>,
    first: usize,
) -> Result<(u64, u64)> {
    let dialect = tx.dialect();
    // The batch's names that have a column, in name order, with their types.
    let mut columns: Vec<usize> = (0..batch.names.len())
        .filter(|&id| types.contains_key(batch.names[id]))
        .collect();
    columns.sort_unstable_by_key(|&id| batch.names[id]);
    let column_types: Vec<ColType> = columns.iter().map(|&id| types[batch.names[id]]).collect();
    // Per shape, where each column's value is.
    let derived = if batch.test_type.is_some() { 2 } else { 1 };
    let sources: Vec<Vec<Source>> = batch
        .shapes
        .iter()
        .map(|shape| {
            let mut by_id = vec![Source::Absent; batch.names.len()];
            for (p, id) in shape.ids.iter().enumerate() {
                if let Some(id) = id {
                    by_id[*id] = Source::Field(p);
                }
            }
            for (id, s) in by_id.iter_mut().enumerate().take(derived) {
                *s = Source::Derived(id);
            }
            columns.iter().map(|&id| by_id[id]).collect()
        })
        .collect();
    let width = columns.len() + 1;
    let mut params = Vec::with_capacity(batch.records.len() * width);
    let mut values: Vec<&Value> = Vec::new();
    for (index, record) in batch.records.iter().enumerate() {
        values.clear();
        values.extend(record.values());
        let derived = batch.derived(record);
        for (source, ty) in sources[batch.shape_of[index]].iter().zip(&column_types) {
            let v = match *source {
                Source::Field(p) => values[p],
                Source::Derived(id) => derived[id].1,
                Source::Absent => &NULL,
            };
            params.push(to_val(dialect, *ty, v));
        }
        params.push(Val::Text(record_key(record, first + index)));
    }
    let head = format!(
        "INSERT INTO {} ({}, record_key) VALUES ",
        q(table),
        columns
            .iter()
            .map(|&id| q(batch.names[id]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let statement = |rows: usize| {
        let tuples: Vec<String> = (0..rows)
            .map(|row| {
                let holes: Vec<String> = (row * width + 1..=(row + 1) * width)
                    .map(|n| match dialect {
                        // The key is binary on PostgreSQL (see migrations/metrics_v2.rs).
                        Dialect::Postgres if n % width == 0 => format!("decode(${n}, 'hex')"),
                        _ => format!("${n}"),
                    })
                    .collect();
                format!("({})", holes.join(", "))
            })
            .collect();
        format!(
            "{head}{} ON CONFLICT (record_key) DO NOTHING",
            tuples.join(", ")
        )
    };
    let inserted = match dialect {
        Dialect::Sqlite => tx.exec_rows(&statement(1), &params, width)?,
        Dialect::Postgres => {
            let per_statement = (MAX_PARAMS / width).max(1);
            let mut inserted = 0;
            for chunk in params.chunks(per_statement * width) {
                inserted += tx.exec(&statement(chunk.len() / width), chunk)?;
            }
            inserted
        }
    };
    let rows = batch.records.len() as u64;
    Ok((inserted, rows - inserted))
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
    fn a_duet_run_has_its_own_key_and_a_solo_run_keeps_its_old_one() {
        let solo = rec(
            json!({"commit": "a", "command": "SET", "run_index": 0, "run_started_at": "2026-01-01T00:00:00Z"}),
        );
        // The key every version has given this record: no duet value in the array.
        let mut parts = vec![json!("a"), json!("SET")];
        parts.extend(std::iter::repeat_n(Value::Null, 14));
        parts.extend([json!(0), json!("2026-01-01T00:00:00Z")]);
        let old = |parts: Vec<Value>| -> String {
            let digest = Sha256::digest(Value::Array(parts).to_string().as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect()
        };
        assert_eq!(record_key(&solo, 0), old(parts.clone()));
        let mut not_duet = solo.clone();
        not_duet.insert("duet".into(), json!(false));
        assert_eq!(record_key(&not_duet, 0), record_key(&solo, 0));
        // The same case, commit, run and start as a duet: another measurement, another key,
        // whether `duet` is a column or inside the run details.
        let mut duet = solo.clone();
        duet.insert("duet".into(), json!(true));
        assert_ne!(record_key(&duet, 0), record_key(&solo, 0));
        parts.push(json!("duet"));
        assert_eq!(record_key(&duet, 0), old(parts));
        let mut nested = solo.clone();
        nested.insert(crate::details::DETAILS_COLUMN.into(), json!({"duet": true}));
        assert_eq!(record_key(&nested, 0), record_key(&duet, 0));
    }

    #[test]
    fn key_is_the_hash_of_the_json_array_of_key_values() {
        // Rows stored by earlier versions keep their key: SHA-256 of the array's compact JSON.
        let upstream = rec(
            json!({"commit": "a", "command": "SET", "timestamp": "2026-01-01T00:00:00Z",
                "data_size": 64, "valkey_benchmark_threads": 2}),
        );
        let mut parts = vec![json!("a"), json!("SET"), json!(64)];
        parts.extend(std::iter::repeat_n(Value::Null, 8));
        parts.push(json!(2));
        parts.extend(std::iter::repeat_n(Value::Null, 6));
        parts.extend([json!("2026-01-01T00:00:00Z"), json!(3)]);
        let digest = Sha256::digest(Value::Array(parts).to_string().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(record_key(&upstream, 3), hex);
    }

    #[test]
    fn shapes_are_found_once_and_derived_columns_win() {
        let a = rec(json!({"commit": "a", "benchmark_threads": 9, "valkey_benchmark_threads": 2}));
        let b = rec(json!({"command": "GET", "test_type": "mine"}));
        let records = [a.clone(), a.clone(), b.clone(), a];
        let mut new_shapes = Vec::new();
        let tt = json!("nightly");
        let batch = Batch::new(&records, Some(&tt), |i, _, new| {
            if new {
                new_shapes.push(i);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(new_shapes, [0, 2]);
        let named = |i| -> Vec<(&str, Value)> {
            let mut v: Vec<_> = batch
                .values(i)
                .map(|(id, v)| (batch.names[id], v.clone()))
                .collect();
            v.sort_by_key(|(n, _)| *n);
            v
        };
        assert_eq!(
            named(0),
            [
                ("benchmark_threads", json!(9)),
                ("commit", json!("a")),
                ("test_type", json!("nightly")),
                ("valkey_benchmark_threads", json!(2)),
            ]
        );
        assert_eq!(
            named(2),
            [
                ("benchmark_threads", Value::Null),
                ("command", json!("GET")),
                ("test_type", json!("nightly")),
            ]
        );
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
