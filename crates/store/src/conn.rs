//! One connection type over SQLite and PostgreSQL, so the rest of the crate has one code path.
//!
//! This module owns connecting, transactions, parameter binding and decoding of result values.
//! It knows nothing about tables. SQL is written once with `$1`-style placeholders; for SQLite
//! they become `?1` (SQLite's numbered parameters,
//! <https://www.sqlite.org/lang_expr.html#parameters>). Everything runs inside a transaction:
//! on SQLite an immediate one (the write lock is taken at `BEGIN`, so a read-then-write step
//! cannot be overtaken by another process), on PostgreSQL a read-committed one.

use std::error::Error as StdError;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::tls;
use crate::url::{PgTarget, SslMode};

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(Box<postgres::Client>),
}

/// How long a SQLite writer waits for another process's write lock before giving up. Claims
/// and pushes hold it for milliseconds; a long value only matters when a process hangs.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The page cache of a SQLite connection, in KiB (a negative `cache_size` is KiB): a push of
/// one large file is one transaction, and with SQLite's default 2 MiB its dirty pages spill
/// into the WAL again and again (the key index's pages are written all over) before the
/// commit. Taken only as pages are used.
const SQLITE_CACHE_KIB: i64 = -64 * 1024;

impl Conn {
    pub(crate) fn open_sqlite(path: &Path) -> Result<Conn> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let ctx = || format!("opening `{}`", path.display());
        let conn = rusqlite::Connection::open(path).map_err(|source| Error::Sqlite {
            context: ctx(),
            source,
        })?;
        conn.busy_timeout(SQLITE_BUSY_TIMEOUT)
            .map_err(|source| Error::Sqlite {
                context: ctx(),
                source,
            })?;
        // WAL lets readers (a dashboard) work while a runner writes.
        // <https://www.sqlite.org/wal.html>
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| conn.pragma_update(None, "cache_size", SQLITE_CACHE_KIB))
            .map_err(|source| Error::Sqlite {
                context: ctx(),
                source,
            })?;
        Ok(Conn::Sqlite(conn))
    }

    pub(crate) fn open_postgres(target: &PgTarget, ca: Option<&Path>) -> Result<Conn> {
        let mut config = target.config.clone();
        let connect_err = |source| Error::Connect {
            url: target.redacted.clone(),
            source,
        };
        let client = match target.ssl {
            SslMode::Disable => config
                .ssl_mode(postgres::config::SslMode::Disable)
                .connect(postgres::NoTls)
                .map_err(connect_err)?,
            SslMode::Prefer | SslMode::Require => {
                let mode = if target.ssl == SslMode::Prefer {
                    postgres::config::SslMode::Prefer
                } else {
                    postgres::config::SslMode::Require
                };
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls::unverified());
                config.ssl_mode(mode).connect(tls).map_err(connect_err)?
            }
            SslMode::VerifyFull => {
                let Some(ca) = ca else {
                    return Err(Error::InvalidUrl {
                        url: target.redacted.clone(),
                        reason: "`sslmode=verify-full` needs the CA certificate that signed the server's: pass it with `--db-ca FILE`".to_owned(),
                    });
                };
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls::verified(ca)?);
                config
                    .ssl_mode(postgres::config::SslMode::Require)
                    .connect(tls)
                    .map_err(connect_err)?
            }
        };
        Ok(Conn::Pg(Box::new(client)))
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Pg(_) => Dialect::Postgres,
        }
    }

    /// Starts a transaction (immediate on SQLite: see the module docs).
    pub(crate) fn begin(&mut self) -> Result<Tx<'_>> {
        match self {
            Conn::Sqlite(c) => c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map(Tx::Sqlite)
                .map_err(|source| Error::Sqlite {
                    context: "starting a transaction".to_owned(),
                    source,
                }),
            Conn::Pg(c) => c
                .transaction()
                .map(Tx::Pg)
                .map_err(|source| Error::Postgres {
                    context: "starting a transaction".to_owned(),
                    source,
                }),
        }
    }
}

pub(crate) enum Tx<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Pg(postgres::Transaction<'c>),
}

/// A value going into or coming out of a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Json(Value),
    Time(DateTime<Utc>),
}

impl Val {
    pub(crate) fn text(s: impl Into<String>) -> Val {
        Val::Text(s.into())
    }

    pub(crate) fn opt_text(s: Option<&str>) -> Val {
        s.map_or(Val::Null, Val::text)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// Timestamps are stored in SQLite as text in this one fixed-width UTC form, so that text order
/// is time order.
pub(crate) fn sqlite_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// SQLite's current time in the [`sqlite_time`] form (`%f` is `SS.SSS`, padded to 6 digits).
pub(crate) const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')";

/// Parses a timestamp as found in records and in SQLite: RFC 3339, or a time without an offset
/// (taken as UTC, as Python's `datetime.isoformat()` writes naive times).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// RFC 3339 in UTC, with as many fractional digits as needed: how timestamps leave the store.
pub(crate) fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn context(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = line.chars().take(160).collect();
    if short.len() < line.len() {
        short.push_str("...");
    }
    format!("running `{short}`")
}

/// `$1` → `?1` (outside of quoted text; the crate never puts `$` in string literals).
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn to_sqlite(v: &Val) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Val::Null => V::Null,
        Val::Bool(b) => V::Integer(i64::from(*b)),
        Val::Int(i) => V::Integer(*i),
        Val::Float(f) => V::Real(*f),
        Val::Text(s) => V::Text(s.clone()),
        Val::Json(j) => V::Text(j.to_string()),
        Val::Time(t) => V::Text(sqlite_time(t)),
    }
}

/// Binding without copying text (JSON and times are written out).
impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            other => ToSqlOutput::Owned(to_sqlite(other)),
        })
    }
}

fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Val {
    use rusqlite::types::ValueRef as V;
    match v {
        V::Null => Val::Null,
        V::Integer(i) => Val::Int(i),
        V::Real(f) => Val::Float(f),
        V::Text(t) | V::Blob(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

impl Tx<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Pg(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement, returning the number of rows it changed.
    pub(crate) fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        match self {
            Tx::Sqlite(tx) => {
                let n = tx
                    .execute(
                        &sqlite_sql(sql),
                        rusqlite::params_from_iter(params.iter().map(to_sqlite)),
                    )
                    .map_err(|source| Error::Sqlite {
                        context: context(sql),
                        source,
                    })?;
                Ok(n as u64)
            }
            Tx::Pg(tx) => {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                tx.execute(sql, &refs).map_err(|source| Error::Postgres {
                    context: context(sql),
                    source,
                })
            }
        }
    }

    /// Runs one statement of `width` parameters once per `width` values of `params`, the
    /// statement prepared once (and kept for the next call with the same text); returns the
    /// number of rows changed in all.
    pub(crate) fn exec_rows(&mut self, sql: &str, params: &[Val], width: usize) -> Result<u64> {
        let mut changed = 0;
        match self {
            Tx::Sqlite(tx) => {
                let err = |source| Error::Sqlite {
                    context: context(sql),
                    source,
                };
                let mut stmt = tx.prepare_cached(&sqlite_sql(sql)).map_err(err)?;
                for row in params.chunks(width) {
                    changed += stmt.execute(rusqlite::params_from_iter(row)).map_err(err)? as u64;
                }
            }
            Tx::Pg(tx) => {
                let err = |source| Error::Postgres {
                    context: context(sql),
                    source,
                };
                let stmt = tx.prepare(sql).map_err(err)?;
                for row in params.chunks(width) {
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        row.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                    changed += tx.execute(&stmt, &refs).map_err(err)?;
                }
            }
        }
        Ok(changed)
    }

    /// Runs one query and decodes every value (see [`Val`]).
    pub(crate) fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>> {
        match self {
            Tx::Sqlite(tx) => {
                let err = |source| Error::Sqlite {
                    context: context(sql),
                    source,
                };
                let mut stmt = tx.prepare(&sqlite_sql(sql)).map_err(err)?;
                let width = stmt.column_count();
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(params.iter().map(to_sqlite)))
                    .map_err(err)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(err)? {
                    let mut vals = Vec::with_capacity(width);
                    for i in 0..width {
                        vals.push(from_sqlite(row.get_ref(i).map_err(err)?));
                    }
                    out.push(vals);
                }
                Ok(out)
            }
            Tx::Pg(tx) => {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let rows = tx.query(sql, &refs).map_err(|source| Error::Postgres {
                    context: context(sql),
                    source,
                })?;
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                row.try_get::<_, PgVal>(i).map(|v| v.0).map_err(|source| {
                                    Error::Postgres {
                                        context: format!(
                                            "decoding column `{}` of {}",
                                            row.columns()[i].name(),
                                            context(sql)
                                        ),
                                        source,
                                    }
                                })
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// Runs statements without parameters (DDL).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.execute_batch(sql).map_err(|source| Error::Sqlite {
                context: context(sql),
                source,
            }),
            Tx::Pg(tx) => tx.batch_execute(sql).map_err(|source| Error::Postgres {
                context: context(sql),
                source,
            }),
        }
    }

    pub(crate) fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().map_err(|source| Error::Sqlite {
                context: "committing".to_owned(),
                source,
            }),
            Tx::Pg(tx) => tx.commit().map_err(|source| Error::Postgres {
                context: "committing".to_owned(),
                source,
            }),
        }
    }

    pub(crate) fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().map_err(|source| Error::Sqlite {
                context: "rolling back".to_owned(),
                source,
            }),
            Tx::Pg(tx) => tx.rollback().map_err(|source| Error::Postgres {
                context: "rolling back".to_owned(),
                source,
            }),
        }
    }

    /// The current time as SQL: the server's clock on PostgreSQL (shared by every runner), the
    /// local clock on SQLite (the file is local anyway).
    pub(crate) fn now_sql(&self) -> &'static str {
        match self.dialect() {
            Dialect::Postgres => "NOW()",
            Dialect::Sqlite => SQLITE_NOW,
        }
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

/// Binding: a [`Val`] takes whatever type PostgreSQL inferred for its placeholder, so one SQL
/// text serves both backends without casts (an integer column of upstream's `INTEGER` gets an
/// `int4`, a `DECIMAL` column gets a `numeric`, and so on).
impl ToSql for Val {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Bool(b) => b.to_sql(ty, out),
            Val::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT8 => i.to_sql(ty, out),
                Type::NUMERIC => numeric::encode(&i.to_string(), out),
                #[expect(clippy::cast_precision_loss, reason = "as the column asks")]
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                #[expect(clippy::cast_precision_loss, reason = "as the column asks")]
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                _ => i.to_string().to_sql(ty, out),
            },
            Val::Float(f) => match *ty {
                // `Display` of an f64 is the shortest text that reads back as the same f64,
                // never in exponent form, so the numeric column holds exactly the JSON value.
                Type::NUMERIC => numeric::encode(&f.to_string(), out),
                #[expect(clippy::cast_possible_truncation, reason = "as the column asks")]
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => f.to_string().to_sql(ty, out),
            },
            Val::Text(s) => s.to_sql(ty, out),
            Val::Json(v) => v.to_sql(ty, out),
            Val::Time(t) => match *ty {
                Type::TIMESTAMP => t.naive_utc().to_sql(ty, out),
                _ => t.to_sql(ty, out),
            },
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Decoding: every type the store's tables use.
struct PgVal(Val);

impl<'a> FromSql<'a> for PgVal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgVal, BoxError> {
        let v = match *ty {
            Type::BOOL => Val::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Val::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Val::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Val::Int(i64::from_sql(ty, raw)?),
            Type::OID => Val::Int(u32::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => Val::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Val::Float(f64::from_sql(ty, raw)?),
            Type::NUMERIC => Val::Float(numeric::decode(raw)?),
            Type::JSON | Type::JSONB => Val::Json(Value::from_sql(ty, raw)?),
            Type::TIMESTAMPTZ => Val::Time(DateTime::<Utc>::from_sql(ty, raw)?),
            Type::TIMESTAMP => Val::Time(NaiveDateTime::from_sql(ty, raw)?.and_utc()),
            _ => Val::Text(String::from_sql(ty, raw)?),
        };
        Ok(PgVal(v))
    }

    fn from_sql_null(_ty: &Type) -> Result<PgVal, BoxError> {
        Ok(PgVal(Val::Null))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::BOOL
                | Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::OID
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::NUMERIC
                | Type::JSON
                | Type::JSONB
                | Type::TIMESTAMPTZ
                | Type::TIMESTAMP
        ) || <String as FromSql>::accepts(ty)
    }
}

/// PostgreSQL's binary `numeric` format: `ndigits`, `weight`, `sign`, `dscale` (each 16 bits,
/// big-endian), then `ndigits` base-10000 digits; the value is
/// Σ digit[i] · 10000^(weight − i). Source: `src/backend/utils/adt/numeric.c`
/// (`numeric_send` / `numeric_recv`) in the PostgreSQL tree.
mod numeric {
    use super::BoxError;
    use postgres::types::IsNull;

    const NEG: u16 = 0x4000;
    const NAN: u16 = 0xC000;

    pub(super) fn decode(raw: &[u8]) -> Result<f64, BoxError> {
        let word = |i: usize| -> Result<u16, BoxError> {
            raw.get(i * 2..i * 2 + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "truncated numeric".into())
        };
        let ndigits = usize::from(word(0)?);
        #[expect(
            clippy::cast_possible_wrap,
            reason = "the weight is a signed 16-bit field"
        )]
        let weight = i32::from(word(1)? as i16);
        let sign = word(2)?;
        match sign {
            NAN => return Ok(f64::NAN),
            0xD000 => return Ok(f64::INFINITY),
            0xF000 => return Ok(f64::NEG_INFINITY),
            _ => {}
        }
        if ndigits == 0 {
            return Ok(0.0);
        }
        // Written out as `0.DDDDDDDD…e(4·(weight+1))` and parsed, so the f64 is the correctly
        // rounded nearest value rather than an accumulation of rounding errors.
        let mut text = String::with_capacity(ndigits * 4 + 12);
        if sign == NEG {
            text.push('-');
        }
        text.push_str("0.");
        for i in 0..ndigits {
            text.push_str(&format!("{:04}", word(4 + i)?));
        }
        text.push_str(&format!("e{}", 4 * (weight + 1)));
        Ok(text.parse()?)
    }

    /// Encodes a plain decimal (`-123.4500`, no exponent) as produced by `Display` for numbers.
    pub(super) fn encode(text: &str, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        let (neg, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
            || int_part.is_empty()
        {
            return Err(format!("not a plain decimal: {text}").into());
        }
        let int_part = int_part.trim_start_matches('0');
        let dscale = u16::try_from(frac_part.len())?;
        // Pad the integer part on the left and the fraction on the right to whole groups of 4.
        let int_pad = (4 - int_part.len() % 4) % 4;
        let frac_pad = (4 - frac_part.len() % 4) % 4;
        let mut all = "0".repeat(int_pad);
        all.push_str(int_part);
        let int_groups = all.len() / 4;
        all.push_str(frac_part);
        all.push_str(&"0".repeat(frac_pad));
        let mut groups: Vec<u16> = all
            .as_bytes()
            .chunks(4)
            .map(|c| {
                std::str::from_utf8(c)
                    .expect("ascii")
                    .parse()
                    .expect("digits")
            })
            .collect();
        let mut weight = i32::try_from(int_groups)? - 1;
        // Leading and trailing zero groups carry no information.
        while groups.first() == Some(&0) {
            groups.remove(0);
            weight -= 1;
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        out.extend_from_slice(&u16::try_from(groups.len())?.to_be_bytes());
        out.extend_from_slice(&i16::try_from(weight)?.to_be_bytes());
        out.extend_from_slice(&(if neg && !groups.is_empty() { NEG } else { 0 }).to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for g in groups {
            out.extend_from_slice(&g.to_be_bytes());
        }
        Ok(IsNull::No)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn round_trip(text: &str) -> f64 {
            let mut buf = bytes::BytesMut::new();
            encode(text, &mut buf).unwrap();
            decode(&buf).unwrap()
        }

        #[test]
        fn numeric_round_trips() {
            for (text, want) in [
                ("0", 0.0),
                ("403225.81", 403_225.81),
                ("-0.000123", -0.000_123),
                ("1408450.62", 1_408_450.62),
                ("10000", 10000.0),
                ("0.30000000000000004", 0.300_000_000_000_000_04),
                ("123456789012.5", 123_456_789_012.5),
            ] {
                assert_eq!(round_trip(text), want, "{text}");
            }
            assert!(encode("1e5", &mut bytes::BytesMut::new()).is_err());
        }

        #[test]
        fn encode_layout() {
            // 403225.81 = 40·10000¹ + 3225·10000⁰ + 8100·10000⁻¹, dscale 2.
            let mut buf = bytes::BytesMut::new();
            encode("403225.81", &mut buf).unwrap();
            let words: Vec<u16> = buf
                .chunks(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .collect();
            assert_eq!(words, [3, 1, 0, 2, 40, 3225, 8100]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_for_sqlite() {
        assert_eq!(
            sqlite_sql("SELECT a FROM t WHERE b = $1 AND c IN ($2, $10)"),
            "SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?10)"
        );
    }

    #[test]
    fn times() {
        let t = parse_time("2024-10-25T00:36:32+02:00").unwrap();
        assert_eq!(sqlite_time(&t), "2024-10-24T22:36:32.000000Z");
        assert_eq!(rfc3339(&t), "2024-10-24T22:36:32Z");
        assert_eq!(
            parse_time("2026-11-27T17:45:18").unwrap(),
            parse_time("2026-11-27T17:45:18Z").unwrap()
        );
        assert_eq!(parse_time(&sqlite_time(&t)), Some(t));
        assert!(parse_time("yesterday").is_none());
    }
}
