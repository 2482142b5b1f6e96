//! Identifiers: which table ids and column names are allowed, and how they are quoted.
//!
//! Every table and column name that reaches generated SQL is validated here and goes through
//! [`q`]; nothing else in the crate builds an identifier.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Which pair of tables an operation uses: `core`, `tag`, or a custom id.
///
/// | id | metrics table | commits table |
/// | --- | --- | --- |
/// | `core` | `benchmark_metrics` | `benchmark_commits` |
/// | `tag` | `benchmark_tags_metrics` | `benchmark_tags_commits` |
/// | other | `benchmark_metrics_<id>` | `benchmark_commits_<id>` |
///
/// Upstream has no commits table for release tags (tags are pushed, never tracked); we name it
/// after the metrics table so `commits --table tag` is possible and cannot collide with a
/// custom id (`benchmark_commits_tag` would be id `tag` under the general rule).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableId(String);

impl TableId {
    /// The default, upstream's `--table core`.
    pub fn core() -> TableId {
        TableId("core".to_owned())
    }

    /// Validates an id: `core`, `tag`, or `^[a-z][a-z0-9_]{0,30}$`.
    pub fn parse(id: &str) -> Result<TableId> {
        let ok = id.len() <= 31
            && id.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(TableId(id.to_owned()))
        } else {
            Err(Error::InvalidTableId(id.to_owned()))
        }
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The metrics table's name.
    pub fn metrics_table(&self) -> String {
        match self.0.as_str() {
            "core" => "benchmark_metrics".to_owned(),
            "tag" => "benchmark_tags_metrics".to_owned(),
            id => format!("benchmark_metrics_{id}"),
        }
    }

    /// The per-second samples table's name.
    pub fn timeseries_table(&self) -> String {
        match self.0.as_str() {
            "core" => "benchmark_timeseries".to_owned(),
            "tag" => "benchmark_tags_timeseries".to_owned(),
            id => format!("benchmark_timeseries_{id}"),
        }
    }

    /// The commits table's name.
    pub fn commits_table(&self) -> String {
        match self.0.as_str() {
            "core" => "benchmark_commits".to_owned(),
            "tag" => "benchmark_tags_commits".to_owned(),
            id => format!("benchmark_commits_{id}"),
        }
    }
}

impl FromStr for TableId {
    type Err = Error;
    fn from_str(s: &str) -> Result<TableId> {
        TableId::parse(s)
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` may be a column: `^[a-z][a-z0-9_]{0,62}$` (63 bytes is PostgreSQL's
/// identifier limit, `NAMEDATALEN - 1`).
pub(crate) fn valid_column(name: &str) -> bool {
    name.len() <= 63
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Quotes a validated identifier. Every table and column name in generated SQL goes through
/// here, so reserved words (`timestamp`, `commit`) and future names are always safe.
pub(crate) fn q(name: &str) -> String {
    debug_assert!(
        valid_column(name),
        "identifier `{name}` should have been validated"
    );
    format!("\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ids() {
        let t = |s: &str| TableId::parse(s).unwrap();
        assert_eq!(t("core").metrics_table(), "benchmark_metrics");
        assert_eq!(t("core").commits_table(), "benchmark_commits");
        assert_eq!(t("tag").metrics_table(), "benchmark_tags_metrics");
        assert_eq!(t("tag").commits_table(), "benchmark_tags_commits");
        assert_eq!(t("search").metrics_table(), "benchmark_metrics_search");
        assert_eq!(t("search").commits_table(), "benchmark_commits_search");
        let long = "a".repeat(31);
        assert!(TableId::parse(&long).is_ok());
        for bad in ["", "Core", "1x", "a-b", "x\"; drop", &"a".repeat(32)] {
            assert!(TableId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn column_names() {
        assert!(valid_column("env_kernel_version"));
        assert!(valid_column(&"a".repeat(63)));
        assert!(!valid_column(&"a".repeat(64)));
        for bad in [
            "",
            "_x",
            "X",
            "a b",
            "x\"; DROP TABLE benchmark_metrics; --",
            "é",
        ] {
            assert!(!valid_column(bad), "{bad}");
        }
    }
}
