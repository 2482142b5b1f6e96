//! The database flags shared by `push`, `commits` and `detect-regression` (docs/design.md §8): `--db`
//! (a SQLite path, `sqlite:PATH`, or `postgres://...`), `--db-ca` and `--table`.

use crate::exit::{Code, Failure, usage};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use store::{Db, TableId};

/// Where results and commit tracking live.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database: a SQLite file path or `sqlite:PATH` (created when missing),
    /// `postgres://USER@HOST:PORT/DB?sslmode=disable|prefer|require|verify-full`, or a libpq
    /// `host=... user=... dbname=...` string (the password from the URL or string, PGPASSWORD
    /// or ~/.pgpass).
    // `hide_env_values`: the environment's value may hold a password; help never shows it.
    // `global`: a command group's subcommands take it after their name too.
    #[arg(
        long,
        value_name = "URL",
        default_value = "results/valkey-perf.db",
        env = "VALKEY_PERF_DB",
        hide_env_values = true,
        global = true
    )]
    pub db: String,
    /// CA certificate for `sslmode=verify-full`.
    #[arg(long, value_name = "FILE", global = true)]
    pub db_ca: Option<PathBuf>,
    /// Table set: `core` (benchmark_metrics, benchmark_commits), `tag` (release tags), or an id
    /// (benchmark_metrics_<id>, benchmark_commits_<id>).
    #[arg(
        long,
        value_name = "core|tag|ID",
        default_value = "core",
        global = true
    )]
    pub table: String,
}

impl DbArgs {
    /// The table set, checked before anything is opened.
    pub fn table(&self) -> Result<TableId> {
        TableId::parse(&self.table).map_err(|e| usage(format!("--table `{}`: {e}", self.table)))
    }

    /// Opens (and migrates) the database. The URL in messages never shows a password.
    pub fn open(&self) -> Result<Db> {
        Db::open(&self.db, self.db_ca.as_deref()).map_err(|e| {
            let what = format!("opening the database `{}`", store::redact_url(&self.db));
            if e.is_connection() {
                // Unreachable is not an internal error: exit 4, as a server that did not start.
                anyhow::Error::new(e).context(Failure {
                    code: Code::ServerStart,
                    message: what,
                })
            } else {
                anyhow::Error::new(e).context(what)
            }
        })
    }
}
