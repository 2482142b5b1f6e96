//! The one error type of this crate.
//!
//! Messages are lowercase, name the thing in backticks and say what to do. A database URL is
//! only ever shown redacted (see [`crate::url::redact`]): no variant holds a password.

use std::path::PathBuf;

/// Everything that can go wrong opening a database, pushing results or tracking commits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `--db` value is neither a path, `sqlite:PATH` nor a usable `postgres://` URL.
    #[error("invalid database url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A file the store needs (CA certificate, `.pgpass`) could not be read.
    #[error("cannot read `{path}`: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The CA file given for `sslmode=verify-full` holds no usable certificate.
    #[error(
        "no usable CA certificate in `{path}`: {reason}; pass a PEM file with the CA that signed the server's certificate"
    )]
    InvalidCa {
        /// The CA file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },

    /// The directory for a SQLite file could not be created.
    #[error("cannot create directory `{path}` for the SQLite database: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// Connecting to PostgreSQL failed (refused, TLS, authentication, unknown database...).
    #[error(
        "cannot connect to PostgreSQL at `{url}`; check host, port, database, user, the password (in the URL, `PGPASSWORD` or `~/.pgpass`) and `sslmode`"
    )]
    Connect {
        /// The URL with any password replaced by `***`.
        url: String,
        /// The driver's error (it never contains the password).
        #[source]
        source: postgres::Error,
    },

    /// A table id is not `core`, `tag` or a name matching `^[a-z][a-z0-9_]{0,30}$`.
    #[error(
        "invalid table id `{0}`: use `core`, `tag` or a name matching `^[a-z][a-z0-9_]{{0,30}}$`"
    )]
    InvalidTableId(String),

    /// A record field cannot become a column name.
    #[error(
        "record {index} of `{file}`: invalid field name `{field}`: field names must match `^[a-z][a-z0-9_]{{0,62}}$`; nothing from this file was written, fix or drop the field and push again"
    )]
    InvalidField {
        /// Which file (as labelled by the caller).
        file: String,
        /// Position of the record in the file, from 0.
        index: usize,
        /// The offending name (shown verbatim inside backticks).
        field: String,
    },

    /// A record is unusable (no commit, no timestamp, a value the column cannot hold...).
    #[error("record {index} of `{file}`: {reason}; nothing from this file was written")]
    InvalidRecord {
        /// Which file (as labelled by the caller).
        file: String,
        /// Position of the record in the file, from 0.
        index: usize,
        /// What is wrong and what to do.
        reason: String,
    },

    /// A status string is not one of `in_progress`, `complete`, `failed`.
    #[error("invalid commit status `{0}`: use `in_progress`, `complete` or `failed`")]
    InvalidStatus(String),

    /// A SQLite statement failed.
    #[error("SQLite: {context}")]
    Sqlite {
        /// What the store was doing.
        context: String,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A PostgreSQL statement failed.
    #[error("PostgreSQL: {context}")]
    Postgres {
        /// What the store was doing.
        context: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },

    /// The claimed SHAs could not be handed over (e.g. stdout closed); nothing was claimed.
    #[error("the claimed commits could not be written out ({0}); nothing was claimed")]
    Announce(#[source] std::io::Error),

    /// A stored value could not be read back (corrupt or foreign data).
    #[error("unexpected data in `{table}`: {reason}")]
    Corrupt {
        /// The table.
        table: String,
        /// What was unexpected.
        reason: String,
    },
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the database could not be reached or the connection was lost (refused,
    /// closed, reset, the server shutting down): nothing about the input is wrong, and no
    /// later statement on this connection can succeed.
    pub fn is_connection(&self) -> bool {
        match self {
            Error::Connect { .. } => true,
            Error::Postgres { source, .. } => {
                source.is_closed()
                    || std::error::Error::source(source)
                        .is_some_and(|e| e.downcast_ref::<std::io::Error>().is_some())
                    || source.code().is_some_and(|c| {
                        c.code().starts_with("08")
                            || *c == postgres::error::SqlState::ADMIN_SHUTDOWN
                            || *c == postgres::error::SqlState::CRASH_SHUTDOWN
                    })
            }
            _ => false,
        }
    }

    /// True for PostgreSQL deadlocks and serialization failures, which a retry resolves.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Error::Postgres { source, .. } => source.code().is_some_and(|c| {
                *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                    || *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
            }),
            _ => false,
        }
    }
}
