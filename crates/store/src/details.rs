//! A record's per-run details (`run_details`): stored as one JSON column, so upstream's scripts,
//! which group runs by every scalar column, see only the case parameters; read back flattened.

use serde_json::{Map, Value};

/// The object of a record that holds valkey-perf's per-run details (`run_index`, `seed`,
/// `ref`, `reference_for`...). It is stored as one JSON column, so upstream's scripts, which
/// group runs by every scalar column, see only the case parameters; it is read back flattened.
pub const DETAILS_COLUMN: &str = "run_details";

/// A field of a record, at the top level or (when absent or null there) in its
/// [`DETAILS_COLUMN`] object: the key of a record does not depend on where a field is written.
pub(crate) fn field<'a>(record: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    match record.get(name) {
        Some(v) if !v.is_null() => Some(v),
        top => record
            .get(DETAILS_COLUMN)
            .and_then(|d| d.get(name))
            .filter(|v| !v.is_null())
            .or(top),
    }
}

/// A row read back as the record valkey-perf reads: the [`DETAILS_COLUMN`] object's fields
/// moved to the top level where that is absent or null (rows pushed by older versions have
/// them as columns).
pub(crate) fn flatten(mut map: Map<String, Value>) -> Map<String, Value> {
    match map.remove(DETAILS_COLUMN) {
        Some(Value::Object(details)) => {
            for (k, v) in details {
                match map.get(&k) {
                    Some(old) if !old.is_null() => {}
                    _ => {
                        map.insert(k, v);
                    }
                }
            }
        }
        Some(Value::Null) | None => {}
        Some(other) => {
            map.insert(DETAILS_COLUMN.to_owned(), other);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::record_key;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn nested_details_key_and_read_back_as_flat_ones() {
        let flat = rec(json!({"commit": "a", "command": "SET", "timestamp": "t",
            "run_index": 1, "run_started_at": "2026-01-01T00:00:00Z", "ref": "unstable"}));
        let nested = rec(json!({"commit": "a", "command": "SET", "timestamp": "t",
            "run_details": {"run_index": 1, "run_started_at": "2026-01-01T00:00:00Z",
                "ref": "unstable"}}));
        // Keys of rows pushed before details were nested stay valid.
        assert_eq!(record_key(&flat, 0), record_key(&nested, 7));
        // Read back flat; a null column (an older push's) does not hide the nested value.
        let mut row = nested.clone();
        row.insert("run_index".into(), Value::Null);
        assert_eq!(flatten(row), flat);
    }
}
