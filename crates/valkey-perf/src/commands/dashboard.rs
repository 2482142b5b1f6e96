//! `valkey-perf dashboard`: one self-contained HTML page from the database (docs/design.md §9), written
//! to `--output`, or served on `--serve ADDR` and rebuilt when the stored results change.
//!
//! This file reads the database and serves HTTP; shaping and rendering are `dashboard`'s.

use super::db::DbArgs;
use crate::dashboard::{Input, render};
use crate::exit::{Code, usage};
use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use store::{MetricsFilter, TableId};

/// Flags of `valkey-perf dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The HTML file to write (self-contained: open it from disk, no network needed).
    #[arg(
        long,
        value_name = "FILE.html",
        default_value = "results/dashboard.html"
    )]
    pub output: PathBuf,
    /// Only commits whose commit time is on or after this date (`2025-01-31` or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only these commands (repeat or comma-separate: `--command SET,GET`).
    #[arg(long, value_name = "CMD", value_delimiter = ',')]
    pub command: Vec<String>,
    /// Also serve the page over HTTP on this address (e.g. `127.0.0.1:8080`), rebuilding it
    /// when the stored results change, until Ctrl-C. Binds exactly the address given.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,
    /// With --serve: how often to look for new results, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub poll: u64,
}

fn parse_since(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| {
            usage(format!(
                "--since `{s}` is not a date; use `2025-01-31` or `2025-01-31T12:00:00Z`"
            ))
        })
}

/// Reads the rows and renders the page; returns it with a fingerprint of the data.
fn build(
    args: &DashboardArgs,
    table: &TableId,
    since: Option<DateTime<Utc>>,
) -> Result<(String, String)> {
    let mut db = args.db.open()?;
    let filter = MetricsFilter {
        since,
        commands: args.command.clone(),
        commits: Vec::new(),
    };
    let rows = db
        .fetch_metrics(table, &filter)
        .with_context(|| format!("reading `{}`", table.metrics_table()))?;
    let tag = TableId::parse("tag").expect("a valid table id");
    let tag_rows = if *table == tag {
        Vec::new()
    } else {
        db.fetch_metrics(&tag, &filter)
            .with_context(|| format!("reading `{}`", tag.metrics_table()))?
    };
    // A failed scenario run (`status: failed`) has no numbers to draw.
    let measured = |rows: Vec<crate::compare::RecordMap>| -> Vec<crate::compare::RecordView> {
        rows.into_iter()
            .map(crate::compare::RecordView::from_map)
            .filter(|r| !r.failed())
            .collect()
    };
    let (rows, tag_rows) = (measured(rows), measured(tag_rows));
    let mut hash = Sha256::new();
    for r in rows.iter().chain(&tag_rows) {
        hash.update(serde_json::to_vec(r.fields())?);
    }
    let fingerprint = format!("{:x}", hash.finalize());
    let input = Input {
        rows,
        tag_rows,
        source: format!(
            "{} (table `{}`)",
            store::redact_url(&args.db.db),
            table.metrics_table()
        ),
        generated_at: Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    Ok((render(&input)?, fingerprint))
}

fn write_page(args: &DashboardArgs, page: &str) -> Result<()> {
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    }
    crate::util::write_atomic(&args.output, page.as_bytes()).with_context(|| {
        format!(
            "cannot write `{}`: check the directory is writable or pass another --output",
            args.output.display()
        )
    })
}

/// Runs `valkey-perf dashboard`.
pub fn run(args: DashboardArgs) -> Result<Code> {
    let table = args.db.table()?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let (page, mut fingerprint) = build(&args, &table, since)?;
    write_page(&args, &page)?;
    eprintln!("dashboard: {} bytes", page.len());
    let Some(addr) = args.serve.clone() else {
        crate::util::outln(format_args!("{}", args.output.display()));
        return Ok(Code::Success);
    };
    crate::process::install_signal_handlers()?;
    let listener = TcpListener::bind(&addr)
        .map_err(|e| usage(format!("--serve `{addr}`: cannot listen there: {e}")))?;
    listener
        .set_nonblocking(true)
        .context("configuring the listener")?;
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    // stdout: the address to open, then nothing else, so callers can read it.
    crate::util::outln(format_args!("http://{local}/"));
    std::io::stdout().flush().ok();
    let mut page = page;
    let mut checked = Instant::now();
    while !crate::process::interrupted() {
        if checked.elapsed() >= Duration::from_secs(args.poll.max(1)) {
            checked = Instant::now();
            match build(&args, &table, since) {
                Ok((new_page, new_fp)) if new_fp != fingerprint => {
                    write_page(&args, &new_page)?;
                    page = new_page;
                    fingerprint = new_fp;
                    eprintln!("dashboard: the results changed; page rebuilt");
                }
                Ok(_) => {}
                // A database that is briefly unreachable keeps the last page served.
                Err(e) => eprintln!("warning: rebuilding the dashboard: {e:#}"),
            }
        }
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = respond(stream, &page) {
                    eprintln!("warning: answering a request: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e).context("accepting a connection"),
        }
    }
    eprintln!("dashboard: stopped");
    Ok(Code::Interrupted)
}

/// Answers one HTTP/1.x request: the page for `GET /` (and `/index.html`), 404 otherwise.
fn respond(stream: TcpStream, page: &str) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Drain the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body, kind) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET" | "HEAD", "/" | "/index.html") => ("200 OK", page, "text/html; charset=utf-8"),
        _ => ("404 Not Found", "not found\n", "text/plain; charset=utf-8"),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(body.as_bytes())?;
    }
    out.flush()
}
