//! Column types: the logical type of a record field's column, how a JSON value fits it, when a
//! later value widens it, and how each backend spells it. No database access.

use crate::conn::Dialect;

/// A column's logical type: what a value means, independent of the backend's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColType {
    Bool,
    /// An integer column of this many bits (upstream creates `INTEGER`, we create `BIGINT`).
    Int {
        bits: u8,
    },
    /// A decimal or floating-point column; `Some((precision, scale))` for a bounded `NUMERIC`.
    Float {
        bounded: Option<(u32, u32)>,
    },
    /// Text, `Some(n)` for upstream's `VARCHAR(n)`.
    Text {
        max_chars: Option<u32>,
    },
    /// JSON (JSONB on PostgreSQL, text on SQLite).
    Json,
    /// A point in time (TIMESTAMPTZ on PostgreSQL, fixed-width UTC text on SQLite).
    Time,
    /// Anything else (read back as text, written only as text).
    Other,
}

pub(crate) const INT: ColType = ColType::Int { bits: 64 };
pub(crate) const FLOAT: ColType = ColType::Float { bounded: None };
pub(crate) const TEXT: ColType = ColType::Text { max_chars: None };

impl ColType {
    /// The type a new or widened column is declared with.
    pub(crate) fn ddl(self, dialect: Dialect) -> &'static str {
        match (dialect, self) {
            (Dialect::Postgres, ColType::Bool) => "BOOLEAN",
            (Dialect::Postgres, ColType::Int { bits: 16 }) => "SMALLINT",
            (Dialect::Postgres, ColType::Int { bits: 32 }) => "INTEGER",
            (Dialect::Postgres, ColType::Int { .. }) => "BIGINT",
            // Unbounded NUMERIC keeps the JSON value's decimal digits exactly; upstream's
            // DECIMAL(15,6) rounds to 6 places and overflows at 10^9.
            (Dialect::Postgres, ColType::Float { .. }) => "NUMERIC",
            (Dialect::Postgres, ColType::Json) => "JSONB",
            (Dialect::Postgres, ColType::Time) => "TIMESTAMPTZ",
            (Dialect::Postgres, ColType::Text { .. } | ColType::Other) => "TEXT",
            // SQLite: the declared type only picks an affinity
            // (<https://www.sqlite.org/datatype3.html#affinity_name_examples>); the logical
            // type lives in `valkey_perf_columns`.
            (Dialect::Sqlite, ColType::Bool) => "BOOLEAN",
            (Dialect::Sqlite, ColType::Int { .. }) => "INTEGER",
            (Dialect::Sqlite, ColType::Float { .. }) => "REAL",
            (Dialect::Sqlite, _) => "TEXT",
        }
    }

    pub(crate) fn tag(self) -> &'static str {
        match self {
            ColType::Bool => "bool",
            ColType::Int { .. } => "int",
            ColType::Float { .. } => "float",
            ColType::Text { .. } => "text",
            ColType::Json => "json",
            ColType::Time => "time",
            ColType::Other => "other",
        }
    }

    pub(crate) fn from_tag(tag: &str) -> ColType {
        match tag {
            "bool" => ColType::Bool,
            "int" => INT,
            "float" => FLOAT,
            "text" => TEXT,
            "json" => ColType::Json,
            "time" => ColType::Time,
            _ => ColType::Other,
        }
    }

    pub(crate) fn from_sqlite_decl(decl: &str) -> ColType {
        let d = decl.to_ascii_uppercase();
        if d.contains("BOOL") {
            ColType::Bool
        } else if d.contains("INT") {
            INT
        } else if ["REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL"]
            .iter()
            .any(|k| d.contains(k))
        {
            FLOAT
        } else if d.contains("TIME") {
            ColType::Time
        } else if d.contains("JSON") {
            ColType::Json
        } else {
            TEXT
        }
    }

    pub(crate) fn from_pg(
        data_type: &str,
        max_chars: Option<i64>,
        precision: Option<i64>,
        scale: Option<i64>,
    ) -> ColType {
        match data_type {
            "boolean" => ColType::Bool,
            "smallint" => ColType::Int { bits: 16 },
            "integer" => ColType::Int { bits: 32 },
            "bigint" => INT,
            "numeric" => ColType::Float {
                bounded: precision
                    .zip(scale)
                    .and_then(|(p, s)| Some((u32::try_from(p).ok()?, u32::try_from(s).ok()?))),
            },
            "real" | "double precision" => FLOAT,
            "text" => TEXT,
            "character varying" | "character" => ColType::Text {
                max_chars: max_chars.and_then(|n| u32::try_from(n).ok()),
            },
            "json" | "jsonb" => ColType::Json,
            "timestamp with time zone" | "timestamp without time zone" => ColType::Time,
            _ => ColType::Other,
        }
    }

    /// How the column is shown in messages.
    pub(crate) fn describe(self) -> String {
        match self {
            ColType::Bool => "boolean".to_owned(),
            ColType::Int { bits } => format!("{bits}-bit integer"),
            ColType::Float {
                bounded: Some((p, s)),
            } => format!("decimal({p},{s})"),
            ColType::Float { bounded: None } => "decimal".to_owned(),
            ColType::Text { max_chars: Some(n) } => format!("text of at most {n} characters"),
            ColType::Text { max_chars: None } => "text".to_owned(),
            ColType::Json => "JSON".to_owned(),
            ColType::Time => "timestamp".to_owned(),
            ColType::Other => "unknown type (read as text)".to_owned(),
        }
    }
}
