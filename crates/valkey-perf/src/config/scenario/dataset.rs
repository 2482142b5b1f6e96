//! A scenario's data set (`dataset`, `maxdocs`) and the `__field:NAME__` placeholders that
//! read its columns: the file is read here so that every placeholder is checked against its
//! header before anything starts. A file missing here is a fact about this host.

use super::Defaults;
use super::nested::{At, Nested};
use crate::config::checker::show;
use crate::model::BenchmarkMode;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// A scenario's `dataset` as checked: the file (made absolute), `maxdocs`, and the columns
/// of its header when the file could be read here.
#[derive(Default)]
pub(super) struct DatasetSpec {
    pub path: Option<PathBuf>,
    pub maxdocs: Option<u64>,
    pub columns: Option<Vec<String>>,
}

/// The names in a command's `__field:NAME__` placeholders.
fn field_names(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        let mut rest = a.as_str();
        while let Some(at) = rest.find("__field:") {
            let after = &rest[at + "__field:".len()..];
            match after.find("__") {
                Some(end) => {
                    out.push(after[..end].to_string());
                    rest = &after[end + 2..];
                }
                None => break,
            }
        }
    }
    out
}

/// `dataset` (made absolute) and `maxdocs`, with the file's columns when it can be read here.
/// A file missing here is a fact about this host: an error for `run`, a warning for
/// `config validate` (then the columns are not checked).
pub(super) fn dataset_of(
    n: &mut Nested,
    at: &At,
    obj: &Map<String, Value>,
    defaults: &Defaults,
) -> DatasetSpec {
    let maxdocs = n.with(at, obj, |c| {
        c.obj
            .get("maxdocs")
            .and_then(|v| c.positive("maxdocs", v, "1000"))
    });
    let Some(v) = obj.get("dataset") else {
        if maxdocs.is_some() {
            n.err(at, "maxdocs", "limits the rows of a `dataset`, and there is none; add `dataset` or drop `maxdocs`");
        }
        return DatasetSpec::default();
    };
    let Some(text) = v.as_str().filter(|s| !s.is_empty()) else {
        n.err(
            at,
            "dataset",
            format!("value {} is not a file path", show(v)),
        );
        return DatasetSpec::default();
    };
    let path = std::path::absolute(text).unwrap_or_else(|_| text.into());
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    if path.exists() && !path.is_file() {
        n.err(
            at,
            "dataset",
            format!(
                "`{}` is not a regular file (a device, pipe or directory is read whole by the load generator); give a CSV or TSV file",
                path.display()
            ),
        );
        return DatasetSpec::default();
    }
    match read_head(&path) {
        Ok(content) => match loadgen::Dataset::parse(&content, tsv, Some(1)) {
            Ok(d) => DatasetSpec {
                path: Some(path),
                maxdocs,
                columns: Some(d.columns),
            },
            Err(e) => {
                n.err(
                    at,
                    "dataset",
                    format!("`{}` is not a dataset: {e}; give a CSV (or .tsv) file with a header line naming the columns", path.display()),
                );
                DatasetSpec::default()
            }
        },
        Err(e) if defaults.host_facts_are_warnings => {
            n.warn(
                at,
                "dataset",
                format!(
                    "`{}` cannot be read here ({e}); its columns were not checked",
                    path.display()
                ),
            );
            DatasetSpec {
                path: Some(path),
                maxdocs,
                columns: None,
            }
        }
        Err(e) => {
            n.err(
                at,
                "dataset",
                format!(
                    "`{}` cannot be read: {e}; give an existing CSV or TSV file",
                    path.display()
                ),
            );
            DatasetSpec::default()
        }
    }
}

/// The most of a data set read to check its header (the load generator reads the whole
/// file when the scenario runs).
const HEAD_BYTES: u64 = 1024 * 1024;

/// The first whole lines of a data set, at most [`HEAD_BYTES`]: enough for its header and a
/// first row, however large the file.
fn read_head(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(HEAD_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > HEAD_BYTES {
        let end = bytes.iter().rposition(|&b| b == b'\n').ok_or_else(|| {
            std::io::Error::other(format!(
                "its first line is longer than {} MiB",
                HEAD_BYTES / (1024 * 1024)
            ))
        })?;
        bytes.truncate(end + 1);
    }
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("it is not UTF-8 text"))
}

impl DatasetSpec {
    /// Checks that every `__field:NAME__` in the scenario's command lines (`command` of each
    /// stream, `populate_with`) names a column of the data set.
    pub(super) fn check_fields<'s>(
        &self,
        n: &mut Nested,
        at: &At,
        lines: impl Iterator<Item = (&'static str, &'s Vec<String>)>,
    ) {
        for (key, args) in lines {
            for name in field_names(args) {
                match &self.columns {
                    None if self.path.is_none() => n.err(
                        at,
                        key,
                        format!("uses `__field:{name}__` but the scenario has no `dataset`; add \"dataset\": \"file.csv\" with a `{name}` column"),
                    ),
                    Some(cols) if !cols.contains(&name) => n.err(
                        at,
                        key,
                        format!(
                            "uses `__field:{name}__`, but `{}` has no column `{name}` (its columns: {})",
                            self.path.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                            cols.join(", ")
                        ),
                    ),
                    _ => {}
                }
            }
        }
    }

    /// The scenario's run mode: upstream sends `maxdocs` requests for a dataset scenario
    /// without `requests` or `duration` of its own.
    pub(super) fn mode(&self, obj: &Map<String, Value>, mode: BenchmarkMode) -> BenchmarkMode {
        match (
            obj.contains_key("requests") || obj.contains_key("duration"),
            self.maxdocs,
        ) {
            (false, Some(m)) => BenchmarkMode::Requests(m),
            _ => mode,
        }
    }
}
