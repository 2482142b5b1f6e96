//! Commit tracking: which commits are done, failed or being benchmarked, per config and
//! architecture.
//!
//! This module owns the commits table's rows and the rules of `determine`, `mark`, `claim`,
//! `cleanup`, `reset` and `query`. It does not walk git history: callers pass candidates
//! (SHA and commit time) newest first.
//!
//! Rules, where upstream leaves a choice:
//! - A candidate is *done* when a row for the same SHA and architecture is `complete` with an
//!   equal config (JSON equality, key order ignored), or, with subset detection on, with a
//!   config that covers the requested one (see [`covers`]). Subset detection is off for an
//!   empty requested config, as upstream (nothing to compare).
//! - A candidate whose exact-config row is `in_progress` is skipped (someone is on it), and so
//!   is one `failed` with `attempts >= max_attempts` (until [`reset`](crate::Db::reset)).
//! - `attempts` counts failures: marking `failed` adds one; claiming does not.
//! - `cleanup` deletes stale `in_progress` rows that never failed (as upstream's cleanup does,
//!   so determine returns them again) and turns stale `in_progress` rows with earlier failures
//!   back into `failed`, keeping their attempt count, so a crash loop still runs out of
//!   attempts.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::conn::{Dialect, Tx, Val, parse_time};
use crate::error::{Error, Result};
use crate::ident::q;

/// The state of a commit for one config and architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Claimed or marked by a runner that has not finished.
    InProgress,
    /// Benchmarked and pushed.
    Complete,
    /// Did not build or run; retried until `attempts` reaches the limit.
    Failed,
}

impl Status {
    /// The spelling stored in the table and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Complete => "complete",
            Status::Failed => "failed",
        }
    }
}

impl FromStr for Status {
    type Err = Error;
    fn from_str(s: &str) -> Result<Status> {
        match s {
            "in_progress" => Ok(Status::InProgress),
            "complete" => Ok(Status::Complete),
            "failed" => Ok(Status::Failed),
            other => Err(Error::InvalidStatus(other.to_owned())),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A commit that could be benchmarked: its SHA and its commit time (stored as `timestamp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Full SHA.
    pub sha: String,
    /// Commit (not author) time.
    pub commit_time: DateTime<Utc>,
}

/// What `determine` and `claim` look for.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// The benchmark config (upstream stores the config file's JSON: an array of objects or
    /// one object).
    pub config: &'a Value,
    /// e.g. `x86_64`.
    pub architecture: &'a str,
    /// At most this many SHAs are returned.
    pub max_commits: usize,
    /// A commit failed this many times is skipped.
    pub max_attempts: u32,
    /// Count a commit done under a covering config as done.
    pub subset_detection: bool,
}

/// Which rows `query` returns; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct CommitFilter {
    /// Only rows with this status.
    pub status: Option<Status>,
    /// Only rows with exactly this config.
    pub config: Option<Value>,
    /// Only rows of this architecture.
    pub architecture: Option<String>,
}

/// One row of a commits table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitRow {
    /// Full SHA.
    pub sha: String,
    /// Commit time.
    pub timestamp: DateTime<Utc>,
    /// State.
    pub status: Status,
    /// The config as stored.
    pub config: Value,
    /// First 16 hex digits of SHA-256 over the canonical config JSON: a short name for it.
    pub config_hash: Option<String>,
    /// e.g. `x86_64`.
    pub architecture: Option<String>,
    /// How many times the commit was marked `failed`.
    pub attempts: i64,
    /// The error given with the last `failed` mark.
    pub last_error: Option<String>,
    /// The runner that claimed the commit last.
    pub runner_id: Option<String>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A JSON value with object keys sorted at every level: equal configs give equal text.
pub(crate) fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Short stable name of a config (see [`CommitRow::config_hash`]).
pub(crate) fn config_hash(config: &Value) -> String {
    let digest = Sha256::digest(canonical(config).to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn config_param(dialect: Dialect, config: &Value) -> Val {
    match dialect {
        Dialect::Postgres => Val::Json(config.clone()),
        Dialect::Sqlite => Val::Text(canonical(config).to_string()),
    }
}

pub(crate) fn config_from_val(v: &Val, table: &str) -> Result<Value> {
    match v {
        Val::Json(j) => Ok(j.clone()),
        Val::Text(s) => serde_json::from_str(s).map_err(|e| Error::Corrupt {
            table: table.to_owned(),
            reason: format!("config is not JSON ({e})"),
        }),
        other => Err(Error::Corrupt {
            table: table.to_owned(),
            reason: format!("config is {other:?}, not JSON"),
        }),
    }
}

fn time_from_val(v: &Val, table: &str, column: &str) -> Result<Option<DateTime<Utc>>> {
    match v {
        Val::Null => Ok(None),
        Val::Time(t) => Ok(Some(*t)),
        Val::Text(s) => parse_time(s).map(Some).ok_or_else(|| Error::Corrupt {
            table: table.to_owned(),
            reason: format!("`{column}` value `{s}` is not a time"),
        }),
        other => Err(Error::Corrupt {
            table: table.to_owned(),
            reason: format!("`{column}` is {other:?}, not a time"),
        }),
    }
}

/// Whether a completed `stored` config covers the `requested` one, as upstream's subset
/// detection defines it for two objects: every key of `requested` is in `stored` with an
/// equal value, except that for two lists every requested element must be in the stored list.
///
/// Configs are a JSON array of objects or a single object. Two arrays: every requested object
/// is covered by some stored object (upstream's rule). We extend this to mixed shapes: an
/// object is covered by an array when one of its objects covers it, and an array by an object
/// when that object covers each element. Anything else compares by equality.
pub fn covers(stored: &Value, requested: &Value) -> bool {
    match (stored, requested) {
        (Value::Object(s), Value::Object(r)) => r.iter().all(|(k, rv)| match (s.get(k), rv) {
            (Some(Value::Array(sa)), Value::Array(ra)) => ra.iter().all(|x| sa.contains(x)),
            (Some(sv), rv) => sv == rv,
            (None, _) => false,
        }),
        (Value::Array(s), Value::Array(r)) => r.iter().all(|ro| s.iter().any(|so| covers(so, ro))),
        (Value::Array(s), Value::Object(_)) => s.iter().any(|so| covers(so, requested)),
        (Value::Object(_), Value::Array(r)) => r.iter().all(|ro| covers(stored, ro)),
        _ => stored == requested,
    }
}

fn is_empty_config(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// An existing row for a candidate's exact config.
#[derive(Debug, Clone)]
struct Existing {
    id: Val,
    status: Status,
    attempts: i64,
}

struct StoredRow {
    id: Val,
    sha: String,
    status: Status,
    config: Value,
    attempts: i64,
}

/// Every row for these SHAs and this architecture, in ONE query (not one per commit).
fn rows_for(
    tx: &mut Tx<'_>,
    table: &str,
    shas: &[&str],
    architecture: &str,
) -> Result<Vec<StoredRow>> {
    if shas.is_empty() {
        return Ok(Vec::new());
    }
    let list = match tx.dialect() {
        Dialect::Postgres => "SELECT jsonb_array_elements_text($2)",
        Dialect::Sqlite => "SELECT value FROM json_each($2)",
    };
    let rows = tx.query(
        &format!(
            "SELECT id, sha, status, config, attempts FROM {} WHERE architecture = $1 AND sha IN ({list})",
            q(table)
        ),
        &[Val::text(architecture), Val::Json(Value::from(shas.to_vec()))],
    )?;
    rows.into_iter()
        .map(|r| {
            Ok(StoredRow {
                id: r[0].clone(),
                sha: r[1].as_str().unwrap_or_default().to_owned(),
                status: r[2].as_str().unwrap_or_default().parse()?,
                config: config_from_val(&r[3], table)?,
                attempts: r[4].as_i64().unwrap_or(0),
            })
        })
        .collect()
}

/// The candidates that are not done, in the given order, without the `max_commits` limit;
/// each with its exact-config row if there is one.
fn eligible<'c>(
    candidates: &'c [Candidate],
    rows: &[StoredRow],
    sel: &Selection<'_>,
) -> Vec<(&'c Candidate, Option<Existing>)> {
    let mut by_sha: HashMap<&str, Vec<&StoredRow>> = HashMap::new();
    for r in rows {
        by_sha.entry(r.sha.as_str()).or_default().push(r);
    }
    let subset = sel.subset_detection && !is_empty_config(sel.config);
    let mut out = Vec::new();
    for cand in candidates {
        let rows = by_sha.get(cand.sha.as_str()).map_or(&[][..], Vec::as_slice);
        let exact = rows.iter().find(|r| r.config == *sel.config);
        if let Some(r) = exact {
            let skip = match r.status {
                Status::Complete | Status::InProgress => true,
                Status::Failed => r.attempts >= i64::from(sel.max_attempts),
            };
            if skip {
                continue;
            }
        }
        if subset
            && rows
                .iter()
                .any(|r| r.status == Status::Complete && covers(&r.config, sel.config))
        {
            continue;
        }
        out.push((
            cand,
            exact.map(|r| Existing {
                id: r.id.clone(),
                status: r.status,
                attempts: r.attempts,
            }),
        ));
    }
    out
}

pub(crate) fn determine(
    tx: &mut Tx<'_>,
    table: &str,
    candidates: &[Candidate],
    sel: &Selection<'_>,
) -> Result<Vec<String>> {
    let shas: Vec<&str> = candidates.iter().map(|c| c.sha.as_str()).collect();
    let rows = rows_for(tx, table, &shas, sel.architecture)?;
    Ok(eligible(candidates, &rows, sel)
        .into_iter()
        .take(sel.max_commits)
        .map(|(c, _)| c.sha.clone())
        .collect())
}

/// What a `mark` writes besides the status.
pub(crate) struct MarkArgs<'a> {
    pub status: Status,
    pub config: &'a Value,
    pub architecture: &'a str,
    pub error: Option<&'a str>,
    pub runner_id: Option<&'a str>,
}

pub(crate) fn mark(
    tx: &mut Tx<'_>,
    table: &str,
    commits: &[Candidate],
    args: &MarkArgs<'_>,
) -> Result<()> {
    let now = tx.now_sql();
    // `attempts` of the new row is 1 for a failure, else 0; on conflict it is added, so every
    // `failed` mark counts once.
    let sql = format!(
        "INSERT INTO {} AS c (sha, \"timestamp\", status, config, config_hash, architecture, \
           attempts, last_error, runner_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {now}, {now}) \
         ON CONFLICT (sha, config, architecture) DO UPDATE SET \
           status = excluded.status, \
           \"timestamp\" = excluded.\"timestamp\", \
           attempts = c.attempts + excluded.attempts, \
           last_error = COALESCE(excluded.last_error, c.last_error), \
           runner_id = COALESCE(excluded.runner_id, c.runner_id), \
           updated_at = excluded.updated_at",
        q(table)
    );
    let config = config_param(tx.dialect(), args.config);
    let hash = config_hash(args.config);
    for c in commits {
        tx.exec(
            &sql,
            &[
                Val::text(&c.sha),
                Val::Time(c.commit_time),
                Val::text(args.status.as_str()),
                config.clone(),
                Val::text(&hash),
                Val::text(args.architecture),
                Val::Int(i64::from(args.status == Status::Failed)),
                Val::opt_text(args.error),
                Val::opt_text(args.runner_id),
            ],
        )?;
    }
    Ok(())
}

/// Determine and mark `in_progress` in one transaction. Each commit is taken by a
/// compare-and-set that only one transaction can win, on both backends:
/// - no row yet: `INSERT ... ON CONFLICT DO NOTHING` on the unique key (sha, config,
///   architecture); a concurrent inserter of the same key waits for ours to finish and then
///   inserts nothing;
/// - a retryable `failed` row: `UPDATE ... WHERE id = ? AND status = 'failed' AND attempts = ?`;
///   under read committed a concurrent update makes the condition false on re-check.
///
/// A commit lost to another runner is passed over and the next candidate tried. Row locks
/// alone (`FOR UPDATE SKIP LOCKED`) could not cover commits that have no row yet, which is the
/// common case. On SQLite the immediate transaction already serializes claimers.
pub(crate) fn claim(
    tx: &mut Tx<'_>,
    table: &str,
    candidates: &[Candidate],
    sel: &Selection<'_>,
    runner_id: &str,
) -> Result<Vec<String>> {
    let shas: Vec<&str> = candidates.iter().map(|c| c.sha.as_str()).collect();
    let rows = rows_for(tx, table, &shas, sel.architecture)?;
    let now = tx.now_sql();
    let config = config_param(tx.dialect(), sel.config);
    let hash = config_hash(sel.config);
    let insert = format!(
        "INSERT INTO {} (sha, \"timestamp\", status, config, config_hash, architecture, \
           attempts, runner_id, created_at, updated_at) \
         VALUES ($1, $2, 'in_progress', $3, $4, $5, 0, $6, {now}, {now}) \
         ON CONFLICT (sha, config, architecture) DO NOTHING",
        q(table)
    );
    let update = format!(
        "UPDATE {} SET status = 'in_progress', runner_id = $1, updated_at = {now} \
         WHERE id = $2 AND status = $3 AND attempts = $4",
        q(table)
    );
    let mut claimed = Vec::new();
    for (cand, existing) in eligible(candidates, &rows, sel) {
        if claimed.len() >= sel.max_commits {
            break;
        }
        let won = match existing {
            None => tx.exec(
                &insert,
                &[
                    Val::text(&cand.sha),
                    Val::Time(cand.commit_time),
                    config.clone(),
                    Val::text(&hash),
                    Val::text(sel.architecture),
                    Val::text(runner_id),
                ],
            )?,
            Some(e) => tx.exec(
                &update,
                &[
                    Val::text(runner_id),
                    e.id,
                    Val::text(e.status.as_str()),
                    Val::Int(e.attempts),
                ],
            )?,
        };
        if won == 1 {
            claimed.push(cand.sha.clone());
        }
    }
    Ok(claimed)
}

/// `AND config = $n AND architecture = $m` for the given scope, appending the parameters.
fn scope(
    dialect: Dialect,
    config: Option<&Value>,
    architecture: Option<&str>,
    params: &mut Vec<Val>,
) -> String {
    let mut sql = String::new();
    if let Some(c) = config {
        params.push(config_param(dialect, c));
        sql.push_str(&format!(" AND config = ${}", params.len()));
    }
    if let Some(a) = architecture {
        params.push(Val::text(a));
        sql.push_str(&format!(" AND architecture = ${}", params.len()));
    }
    sql
}

/// The setting valkey-perf's own cleanup sets for its transaction to delete its stale claims,
/// which a trigger keeps from every other DELETE (see migrations/commits_v2.rs).
pub(crate) const CLEANUP_SETTING: &str = "valkey_perf.cleanup";

pub(crate) fn cleanup(
    tx: &mut Tx<'_>,
    table: &str,
    stale_after: Duration,
    config: Option<&Value>,
    architecture: Option<&str>,
) -> Result<usize> {
    let mut params = Vec::new();
    let threshold = match tx.dialect() {
        Dialect::Postgres => {
            params.push(Val::Float(stale_after.as_secs_f64()));
            "NOW() - make_interval(secs => $1)"
        }
        Dialect::Sqlite => {
            params.push(Val::Text(format!("-{} seconds", stale_after.as_secs_f64())));
            "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', $1)"
        }
    };
    let scope = scope(tx.dialect(), config, architecture, &mut params);
    let now = tx.now_sql();
    let t = q(table);
    if tx.dialect() == Dialect::Postgres {
        // Our own cleanup may delete our stale claims (see migrations/commits_v2.rs).
        tx.exec(
            &format!("SELECT set_config('{}', 'on', true)", CLEANUP_SETTING),
            &[],
        )?;
    }
    let deleted = tx.exec(
        &format!(
            "DELETE FROM {t} WHERE status = 'in_progress' AND attempts = 0 \
             AND updated_at < {threshold}{scope}"
        ),
        &params,
    )?;
    let reverted = tx.exec(
        &format!(
            "UPDATE {t} SET status = 'failed', updated_at = {now} \
             WHERE status = 'in_progress' AND attempts > 0 AND updated_at < {threshold}{scope}"
        ),
        &params,
    )?;
    Ok(usize::try_from(deleted + reverted).unwrap_or(usize::MAX))
}

pub(crate) fn reset(
    tx: &mut Tx<'_>,
    table: &str,
    sha: &str,
    config: Option<&Value>,
    architecture: Option<&str>,
) -> Result<usize> {
    let mut params = vec![Val::text(sha)];
    let scope = scope(tx.dialect(), config, architecture, &mut params);
    let now = tx.now_sql();
    let n = tx.exec(
        &format!(
            "UPDATE {} SET attempts = 0, updated_at = {now} \
             WHERE sha = $1 AND status = 'failed'{scope}",
            q(table)
        ),
        &params,
    )?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub(crate) fn query(tx: &mut Tx<'_>, table: &str, filter: &CommitFilter) -> Result<Vec<CommitRow>> {
    let mut params = Vec::new();
    let mut sql = format!(
        "SELECT sha, \"timestamp\", status, config, config_hash, architecture, attempts, \
           last_error, runner_id, created_at, updated_at FROM {} WHERE 1 = 1",
        q(table)
    );
    if let Some(s) = filter.status {
        params.push(Val::text(s.as_str()));
        sql.push_str(&format!(" AND status = ${}", params.len()));
    }
    sql.push_str(&scope(
        tx.dialect(),
        filter.config.as_ref(),
        filter.architecture.as_deref(),
        &mut params,
    ));
    sql.push_str(" ORDER BY \"timestamp\" DESC, sha, id");
    let rows = tx.query(&sql, &params)?;
    rows.into_iter()
        .map(|r| {
            let text = |v: &Val| v.as_str().map(str::to_owned);
            Ok(CommitRow {
                sha: text(&r[0]).unwrap_or_default(),
                timestamp: time_from_val(&r[1], table, "timestamp")?.ok_or_else(|| {
                    Error::Corrupt {
                        table: table.to_owned(),
                        reason: "a row has no `timestamp`".to_owned(),
                    }
                })?,
                status: r[2].as_str().unwrap_or_default().parse()?,
                config: config_from_val(&r[3], table)?,
                config_hash: text(&r[4]),
                architecture: text(&r[5]),
                attempts: r[6].as_i64().unwrap_or(0),
                last_error: text(&r[7]),
                runner_id: text(&r[8]),
                created_at: time_from_val(&r[9], table, "created_at")?,
                updated_at: time_from_val(&r[10], table, "updated_at")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn covers_as_upstream() {
        let stored = json!([{"requests": [1000], "data_sizes": [16, 64, 256], "pipelines": [1, 10], "io-threads": 1}]);
        assert!(covers(
            &stored,
            &json!([{"data_sizes": [64], "pipelines": [10], "io-threads": 1}])
        ));
        assert!(covers(&stored, &stored));
        // A different scalar, a list value not contained, a key the stored config lacks.
        assert!(!covers(&stored, &json!([{"io-threads": 9}])));
        assert!(!covers(&stored, &json!([{"data_sizes": [64, 512]}])));
        assert!(!covers(&stored, &json!([{"tls": true}])));
        // Every requested object needs a covering stored object.
        assert!(!covers(
            &stored,
            &json!([{"io-threads": 1}, {"io-threads": 9}])
        ));
        // Mixed shapes (our extension).
        assert!(covers(&stored, &json!({"data_sizes": [16]})));
        assert!(covers(
            &stored[0],
            &json!([{"data_sizes": [16]}, {"pipelines": [1]}])
        ));
        // A scalar stored where a list is requested is not a superset.
        assert!(!covers(&json!({"a": 1}), &json!({"a": [1]})));
    }

    #[test]
    fn canonical_config_ignores_key_order() {
        let a = json!({"b": 1, "a": [{"y": 2, "x": 1}]});
        let b = json!({"a": [{"x": 1, "y": 2}], "b": 1});
        assert_eq!(canonical(&a).to_string(), canonical(&b).to_string());
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_eq!(config_hash(&a).len(), 16);
        assert_ne!(config_hash(&a), config_hash(&json!({"b": 2})));
    }
}
