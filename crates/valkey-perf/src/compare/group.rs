//! Reading `metrics.json` files loosely and grouping their records into cases.
//!
//! Records are kept as JSON maps, not parsed into `model::Record`: files written by the upstream
//! Python tool lack many fields, and unknown fields must survive. Only the case parameters
//! ([`crate::model::fields::case_fields`]) decide which runs belong together; machine facts
//! (`env_*`), timestamps, versions, run index and seed never do.

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub use super::view::RecordMap;
use super::view::RecordView;

/// A record whose fields can be looked up by name: a map as read, or a [`RecordView`].
pub trait Fields {
    fn field(&self, name: &str) -> Option<&Value>;
}

impl Fields for RecordMap {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Fields for RecordView {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// Reads a `metrics.json` file: a JSON array of objects.
pub fn load_records(path: &Path) -> anyhow::Result<Vec<RecordMap>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`: check the path", path.display()))?;
    parse_records(&text).with_context(|| {
        format!(
            "`{}` is not a valid metrics.json (an array of records written by valkey-perf or \
             valkey-perf-benchmark)",
            path.display()
        )
    })
}

/// Parses the text of a `metrics.json` file. Errors carry the line and column. A record's
/// nested `run_details` object is flattened back into the record (see
/// [`crate::model::flatten_details`]), so every reader sees the same field names.
pub fn parse_records(text: &str) -> anyhow::Result<Vec<RecordMap>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "malformed JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let Value::Array(items) = value else {
        bail!("expected a JSON array of records at the top level");
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(map) => Ok(crate::model::flatten_details(map)),
            other => bail!(
                "record {i} is not a JSON object but {}",
                json_type_name(&other)
            ),
        })
        .collect()
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A field value in canonical text form: numbers as `f64` display (so `50000` and `50000.0`
/// agree), objects with sorted keys. `None` for absent or null.
pub fn canonical(value: Option<&Value>) -> Option<String> {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let b: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(b.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    match value? {
        Value::Null => None,
        Value::Number(n) => Some(n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string())),
        Value::String(s) => Some(s.clone()),
        other => Some(sorted(other).to_string()),
    }
}

/// A case parameter and its value (absent fields are not listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub name: String,
    pub value: Value,
}

/// A case field that was left out of pairing because only one file has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredField {
    pub name: String,
    /// `"baseline"` or `"new"`: the side whose records have it.
    pub only_in: String,
}

/// Runs of one case, from both sides.
#[derive(Debug, Clone)]
pub struct Group {
    pub params: Vec<Param>,
    pub baseline: Vec<usize>,
    pub new: Vec<usize>,
}

/// The result of grouping two record sets.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// Case fields used for pairing.
    pub fields: Vec<String>,
    pub ignored: Vec<IgnoredField>,
    /// Groups in order of first appearance (baseline first).
    pub groups: Vec<Group>,
}

impl Grouping {
    /// The records of the case with these parameters, baseline's then new's, when both sides
    /// have it.
    pub fn sides_of<'r>(
        &self,
        params: &[Param],
        baseline: &'r [RecordView],
        new: &'r [RecordView],
    ) -> Option<[Vec<&'r RecordView>; 2]> {
        let g = self
            .groups
            .iter()
            .find(|g| g.params == params && !g.baseline.is_empty() && !g.new.is_empty())?;
        Some([
            g.baseline.iter().map(|&i| &baseline[i]).collect(),
            g.new.iter().map(|&i| &new[i]).collect(),
        ])
    }
}

fn present<R: Fields>(records: &[R], field: &str) -> bool {
    records.iter().any(|r| canonical(r.field(field)).is_some())
}

/// Groups records of both sides by case parameters.
///
/// A case field that one side never has (e.g. `keyspacelen` in upstream files) is ignored for
/// pairing and reported, so that files from the two tools still pair; a field absent on both
/// sides is simply absent.
pub fn group<R: Fields>(baseline: &[R], new: &[R]) -> Grouping {
    let mut fields = Vec::new();
    let mut ignored = Vec::new();
    for field in crate::model::fields::case_fields() {
        match (present(baseline, field), present(new, field)) {
            (true, true) => fields.push(field.to_string()),
            (true, false) => ignored.push(IgnoredField {
                name: field.to_string(),
                only_in: "baseline".into(),
            }),
            (false, true) => ignored.push(IgnoredField {
                name: field.to_string(),
                only_in: "new".into(),
            }),
            (false, false) => {}
        }
    }

    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Vec<Option<String>>, usize> = HashMap::new();
    for (side, records) in [(0, baseline), (1, new)] {
        for (i, record) in records.iter().enumerate() {
            let key: Vec<Option<String>> = fields
                .iter()
                .map(|f| canonical(record.field(f.as_str())))
                .collect();
            let g = *index.entry(key).or_insert_with(|| {
                let params = fields
                    .iter()
                    .filter_map(|f| {
                        let v = record.field(f.as_str())?;
                        (!v.is_null()).then(|| Param {
                            name: f.clone(),
                            value: v.clone(),
                        })
                    })
                    .collect();
                groups.push(Group {
                    params,
                    baseline: Vec::new(),
                    new: Vec::new(),
                });
                groups.len() - 1
            });
            if side == 0 {
                groups[g].baseline.push(i);
            } else {
                groups[g].new.push(i);
            }
        }
    }
    Grouping {
        fields,
        ignored,
        groups,
    }
}

/// Splits parameters into those identical in every group (the fixed configuration) and the
/// names of those that vary.
pub fn fixed_and_varying(groups: &[Group], fields: &[String]) -> (Vec<Param>, Vec<String>) {
    let mut fixed = Vec::new();
    let mut varying = Vec::new();
    for field in fields {
        let values: Vec<Option<&Param>> = groups
            .iter()
            .map(|g| g.params.iter().find(|p| &p.name == field))
            .collect();
        let first = values.first().and_then(|p| canonical(p.map(|p| &p.value)));
        let all_same = values
            .iter()
            .all(|p| canonical(p.map(|p| &p.value)) == first);
        match (all_same, values.first().copied().flatten()) {
            (true, Some(param)) => fixed.push(param.clone()),
            (true, None) => {}
            (false, _) => varying.push(field.clone()),
        }
    }
    (fixed, varying)
}

/// A short human label for a group from its varying parameters (`INCR data_size=32`).
pub fn label(params: &[Param], varying: &[String]) -> String {
    let parts: Vec<String> = params
        .iter()
        .filter(|p| varying.contains(&p.name))
        .map(|p| {
            let v = match &p.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if p.name == "command" {
                v
            } else {
                format!("{}={v}", p.name)
            }
        })
        .collect();
    if parts.is_empty() {
        // A single case (or all cases alike): name it by its command.
        params
            .iter()
            .find(|p| p.name == "command")
            .and_then(|p| p.value.as_str().map(str::to_string))
            .unwrap_or_else(|| "all runs".to_string())
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> RecordMap {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse_records("[\n {\"a\": 1,}\n]").unwrap_err();
        assert!(err.to_string().contains("line 2 column"), "{err}");
        let err = parse_records("{}").unwrap_err();
        assert!(err.to_string().contains("array"), "{err}");
        let err = parse_records("[1]").unwrap_err();
        assert!(err.to_string().contains("record 0"), "{err}");
    }

    #[test]
    fn env_and_versions_do_not_split_groups() {
        let a = vec![
            rec(json!({"command": "GET", "data_size": 64, "env_os": "x", "run_index": 0})),
            rec(json!({"command": "SET", "data_size": 64, "env_os": "x"})),
        ];
        let b = vec![
            rec(
                json!({"command": "GET", "data_size": 64.0, "env_os": "y", "run_index": 3,
                       "server_version": "9", "keyspacelen": 10}),
            ),
            rec(json!({"command": "LPUSH", "data_size": 64, "keyspacelen": 10})),
        ];
        let g = group(&a, &b);
        assert_eq!(g.groups.len(), 3);
        assert_eq!(g.groups[0].baseline, vec![0]);
        assert_eq!(g.groups[0].new, vec![0]);
        assert_eq!(
            g.ignored,
            vec![IgnoredField {
                name: "keyspacelen".into(),
                only_in: "new".into()
            }]
        );
        let (fixed, varying) = fixed_and_varying(&g.groups, &g.fields);
        assert_eq!(fixed.len(), 1);
        assert_eq!(fixed[0].name, "data_size");
        assert_eq!(varying, vec!["command".to_string()]);
        assert_eq!(label(&g.groups[0].params, &varying), "GET");
    }

    #[test]
    fn object_key_order_and_null_do_not_matter() {
        let x = json!({"a": 1, "b": 2});
        let y = json!({"b": 2, "a": 1});
        assert_eq!(canonical(Some(&x)), canonical(Some(&y)));
        assert_eq!(canonical(Some(&Value::Null)), None);
    }
}
