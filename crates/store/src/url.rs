//! Parsing `--db` values: which backend, where, which TLS mode and which password.
//!
//! This module owns the URL grammar, password lookup (URL, `PGPASSWORD`, `~/.pgpass`) and
//! redaction. It does not connect: see [`crate::conn`].

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where the database lives, after parsing `--db`.
pub(crate) enum Target {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres(Box<PgTarget>),
}

/// `sslmode` as libpq defines it, minus `allow` and `verify-ca` (refused with a hint).
/// <https://www.postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-PROTECTION>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, without certificate checks; plain otherwise (libpq's default).
    Prefer,
    /// TLS, without certificate checks (libpq's `require` without a root certificate).
    Require,
    /// TLS, the chain checked against the given CA and the host name against the certificate.
    VerifyFull,
}

pub(crate) struct PgTarget {
    pub config: postgres::Config,
    pub ssl: SslMode,
    /// The URL as typed with the password replaced, for messages.
    pub redacted: String,
}

/// libpq's connection keywords: a `--db` value that starts with `KEYWORD=` is a libpq
/// key=value connection string, not a file name.
/// <https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-PARAMKEYWORDS>
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "target_session_attrs",
    "channel_binding",
];

/// Parses a `--db` value. A value without a `scheme:` prefix is a SQLite path, unless it is
/// a libpq `key=value` connection string (it starts with a libpq keyword and `=`).
pub(crate) fn parse(url: &str) -> Result<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return parse_postgres(url).map(|t| Target::Postgres(Box::new(t)));
    }
    if is_keyword_string(url) {
        return parse_keywords(url).map(|t| Target::Postgres(Box::new(t)));
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        // `sqlite:///abs/path` and `sqlite://rel/path` are common spellings; `//` is not part
        // of the path in either.
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(invalid(url, "no file after `sqlite:`; write `sqlite:PATH`"));
        }
        return Ok(Target::Sqlite(PathBuf::from(path)));
    }
    if url.contains("://") {
        return Err(invalid(
            url,
            "unknown scheme; use a file path, `sqlite:PATH` or `postgres://user@host:port/db`",
        ));
    }
    if url.is_empty() {
        return Err(invalid(
            url,
            "empty; use a file path, `sqlite:PATH` or `postgres://...`",
        ));
    }
    Ok(Target::Sqlite(PathBuf::from(url)))
}

fn invalid(url: &str, reason: &str) -> Error {
    Error::InvalidUrl {
        url: redact(url),
        reason: reason.to_owned(),
    }
}

fn parse_postgres(url: &str) -> Result<PgTarget> {
    // `sslmode` is taken out before handing the URL to the driver: it knows only `disable`,
    // `prefer` and `require`, and we need `verify-full` too.
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut ssl = SslMode::Prefer;
    let mut rest = Vec::new();
    for pair in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("sslmode", v)) => ssl = ssl_mode(url, v)?,
            _ => rest.push(pair),
        }
    }
    let driver_url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    pg_target(url, &driver_url, ssl)
}

/// Whether `--db` is a libpq key=value string: it starts with `KEYWORD =`.
fn is_keyword_string(db: &str) -> bool {
    let Some((key, _)) = db.split_once('=') else {
        return false;
    };
    LIBPQ_KEYWORDS.contains(&key.trim())
}

/// Splits a libpq key=value string into its pairs: `key = value` separated by spaces, a value
/// either single-quoted (`\'` and `\\` escaped) or running to the next space. `None` when it
/// is malformed; the caller's message then names no value.
fn keyword_pairs(db: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = db.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=')?;
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next()? {
                    '\'' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next()?);
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return None;
        }
        pairs.push((key, value));
    }
}

/// A libpq key=value string: `sslmode` taken out as for a URL, the rest to the driver.
fn parse_keywords(db: &str) -> Result<PgTarget> {
    let pairs = keyword_pairs(db).ok_or_else(|| {
        invalid(
            db,
            "is not a libpq connection string; write `host=H port=P user=U dbname=D` (quote values with spaces in '...') or a `postgres://` URL",
        )
    })?;
    let mut ssl = SslMode::Prefer;
    let mut rest = Vec::new();
    for (key, value) in pairs {
        if key == "sslmode" {
            ssl = ssl_mode(db, &value)?;
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            rest.push(format!("{key}='{quoted}'"));
        }
    }
    pg_target(db, &rest.join(" "), ssl)
}

fn ssl_mode(db: &str, value: &str) -> Result<SslMode> {
    match value {
        "disable" => Ok(SslMode::Disable),
        "prefer" => Ok(SslMode::Prefer),
        "require" => Ok(SslMode::Require),
        "verify-full" => Ok(SslMode::VerifyFull),
        other => Err(invalid(
            db,
            &format!(
                "unsupported `sslmode={other}`: use `disable`, `prefer`, `require` or `verify-full` (with a CA file)"
            ),
        )),
    }
}

/// The driver's config from `driver` (a URL or key=value string without `sslmode`), with
/// libpq's defaults for the user and the password; `db` is what was typed, for messages.
fn pg_target(db: &str, driver: &str, ssl: SslMode) -> Result<PgTarget> {
    let url = db;
    let mut config = postgres::Config::from_str(driver).map_err(|e| {
        // The driver's parse errors name the option, never its value.
        invalid(url, &format!("{e}"))
    })?;
    if config.get_hosts().is_empty() {
        return Err(invalid(
            url,
            "no host; write `postgres://user@host:port/db`",
        ));
    }
    if config.get_user().is_none() {
        // libpq's default: `PGUSER`, else the operating-system user.
        if let Some(user) = std::env::var("PGUSER")
            .ok()
            .or_else(|| std::env::var("USER").ok())
            .filter(|u| !u.is_empty())
        {
            config.user(&user);
        } else {
            return Err(invalid(
                url,
                "no user; write `postgres://user@host:port/db`",
            ));
        }
    }
    if config.get_password().is_none() {
        if let Some(pw) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
            config.password(pw);
        } else if let Some(file) = pgpass_path()
            && file.exists()
        {
            let text = std::fs::read_to_string(&file).map_err(|source| Error::ReadFile {
                path: file.clone(),
                source,
            })?;
            if let Some(pw) = pgpass_lookup(&text, &PgPassKey::of(&config)) {
                config.password(pw);
            }
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("valkey-perf");
    }
    Ok(PgTarget {
        config,
        ssl,
        redacted: redact(url),
    })
}

/// Replaces the password of a `scheme://user:password@host/...` URL with `***`, and the
/// value of `password=` in a query or a libpq key=value string; anything else is returned
/// unchanged. A password may hold any character as typed (`/`, `@`, `?`): the user part runs
/// to the last `@`.
pub fn redact(url: &str) -> String {
    if is_keyword_string(url) {
        return redact_keywords(url);
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // Host names hold no `@`: everything before the last one is the user part.
    let authority_end = match rest.rfind('@') {
        Some(at) => {
            at + 1
                + rest[at + 1..]
                    .find(['/', '?'])
                    .unwrap_or(rest.len() - at - 1)
        }
        None => rest.find(['/', '?']).unwrap_or(rest.len()),
    };
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some(("password", _)) => "password=***".to_owned(),
                    _ => p.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// A libpq key=value string with the value of `password` replaced by `***`; a string that
/// does not split into pairs shows only up to its first `password`.
fn redact_keywords(db: &str) -> String {
    match keyword_pairs(db) {
        Some(pairs) => pairs
            .iter()
            .map(|(k, v)| match k.as_str() {
                "password" => "password=***".to_owned(),
                _ if v.is_empty() || v.contains([' ', '\'', '\\']) => {
                    format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
                }
                _ => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => match db.find("password") {
            Some(at) => format!("{}password=***", &db[..at]),
            None => db.to_owned(),
        },
    }
}

fn pgpass_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass"))
}

/// What a `.pgpass` line is matched against.
pub(crate) struct PgPassKey {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
}

impl PgPassKey {
    fn of(config: &postgres::Config) -> PgPassKey {
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            // libpq matches a socket directory as `localhost`.
            _ => "localhost".to_owned(),
        };
        let user = config.get_user().unwrap_or_default().to_owned();
        PgPassKey {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            database: config
                .get_dbname()
                .map_or_else(|| user.clone(), str::to_owned),
            user,
        }
    }
}

/// Finds the password for `key` in the text of a `.pgpass` file: lines of
/// `hostname:port:database:username:password`, `*` matching anything, `\:` and `\\` escaping,
/// the first matching line winning.
/// <https://www.postgresql.org/docs/15/libpq-pgpass.html>
pub(crate) fn pgpass_lookup(text: &str, key: &PgPassKey) -> Option<String> {
    let port = key.port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() != 5 {
            continue;
        }
        let matches = |field: &str, value: &str| field == "*" || field == value;
        if matches(&fields[0], &key.host)
            && matches(&fields[1], &port)
            && matches(&fields[2], &key.database)
            && matches(&fields[3], &key.user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("never empty").push(next);
                }
            }
            // The password is the last field and may itself contain unescaped colons in
            // files written by hand; libpq stops splitting after the fourth colon.
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(
            redact("postgres://bob:s3cr%3At@db.example:5432/perf?sslmode=require"),
            "postgres://bob:***@db.example:5432/perf?sslmode=require"
        );
        assert_eq!(redact("postgres://bob@h/db"), "postgres://bob@h/db");
        assert_eq!(
            redact("postgres://h/db?user=x&password=hunter2"),
            "postgres://h/db?user=x&password=***"
        );
        assert_eq!(redact("results/x.db"), "results/x.db");
    }

    #[test]
    fn redact_covers_passwords_with_url_delimiters() {
        for pw in ["S3cr/etPW", "p@ss/w?rd", "a:b"] {
            let url = format!("postgres://bob:{pw}@db.example:5432/perf?sslmode=require");
            let shown = redact(&url);
            assert!(!shown.contains(pw), "{shown}");
            assert_eq!(
                shown,
                "postgres://bob:***@db.example:5432/perf?sslmode=require"
            );
        }
    }

    #[test]
    fn keyword_strings_are_postgres_and_redacted() {
        let db =
            "host=db.example port=5433 user=bob password='S3cr/et pw' dbname=perf sslmode=disable";
        let Target::Postgres(t) = parse(db).unwrap() else {
            panic!("{db} parsed as a SQLite file");
        };
        assert_eq!(t.ssl, SslMode::Disable);
        assert_eq!(t.config.get_user(), Some("bob"));
        assert_eq!(t.config.get_password(), Some(&b"S3cr/et pw"[..]));
        assert_eq!(t.config.get_dbname(), Some("perf"));
        assert_eq!(t.config.get_ports(), &[5433]);
        assert!(!t.redacted.contains("S3cr"), "{}", t.redacted);
        assert_eq!(
            t.redacted,
            "host=db.example port=5433 user=bob password=*** dbname=perf sslmode=disable"
        );
        // Malformed: refused, with no value shown.
        let err = parse("host=h password='unclosed")
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("unclosed"), "{err}");
        assert!(err.contains("libpq"), "{err}");
        // A plain file name with `=` that is not a libpq keyword stays a file.
        assert!(matches!(parse("runs=3.db").unwrap(), Target::Sqlite(_)));
    }

    #[test]
    fn sqlite_spellings() {
        for (input, want) in [
            ("results/valkey-perf.db", "results/valkey-perf.db"),
            ("sqlite:results/x.db", "results/x.db"),
            ("sqlite:///tmp/x.db", "/tmp/x.db"),
        ] {
            match parse(input).unwrap() {
                Target::Sqlite(p) => assert_eq!(p, PathBuf::from(want)),
                Target::Postgres(_) => panic!("{input} parsed as postgres"),
            }
        }
        assert!(parse("mysql://x").is_err());
        assert!(parse("sqlite:").is_err());
    }

    #[test]
    fn postgres_sslmodes() {
        let t = |u: &str| match parse(u).unwrap() {
            Target::Postgres(p) => p,
            Target::Sqlite(_) => panic!(),
        };
        assert_eq!(t("postgres://u:p@h:1/d").ssl, SslMode::Prefer);
        assert_eq!(
            t("postgres://u:p@h:1/d?sslmode=disable").ssl,
            SslMode::Disable
        );
        let vf = t("postgresql://u:p@h:1/d?sslmode=verify-full&connect_timeout=3");
        assert_eq!(vf.ssl, SslMode::VerifyFull);
        assert_eq!(
            vf.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        let err = parse("postgres://u:pw123@h/d?sslmode=verify-ca")
            .err()
            .unwrap();
        assert!(err.to_string().contains("verify-ca"));
        assert!(!err.to_string().contains("pw123"));
    }

    #[test]
    fn pgpass_matching() {
        let text = "# comment\n\
                    other:5432:*:bob:nope\n\
                    db\\:x:*:perf:bob:first\\:pw\n\
                    *:5432:*:bob:wild:card\n";
        let key = |host: &str| PgPassKey {
            host: host.into(),
            port: 5432,
            database: "perf".into(),
            user: "bob".into(),
        };
        assert_eq!(
            pgpass_lookup(text, &key("db:x")).as_deref(),
            Some("first:pw")
        );
        assert_eq!(pgpass_lookup(text, &key("h")).as_deref(), Some("wild:card"));
        let mut k = key("h");
        k.user = "alice".into();
        assert_eq!(pgpass_lookup(text, &k), None);
    }
}
