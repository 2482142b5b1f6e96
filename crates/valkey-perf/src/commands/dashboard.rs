//! `valkey-perf dashboard`: one self-contained HTML page from the database (docs/design.md §9), written
//! to `--output`, or served on `--serve ADDR` and rebuilt when the stored results change.
//!
//! This file reads the database and serves HTTP (a thread per connection, at most
//! [`MAX_CONNECTIONS`] at once, each with its own deadline, so an idle or slow client delays
//! no other); shaping and rendering are `dashboard`'s.

use super::db::DbArgs;
use crate::dashboard::{Batch, Collector, Input, charted_field, render_shaped};
use crate::exit::{Code, usage};
use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
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

/// Commits read from the database per query: rows are shaped batch by batch, so memory holds
/// the numbers the charts draw, never the whole table's records.
const COMMITS_PER_BATCH: usize = 50;

/// Connections reading batches at once, at most: each has its own page cache.
const MAX_READERS: usize = 2;

/// The page cache of each reading connection, in KiB: the rows are read once, so a small
/// cache (for the indexes) measured no slower than 64 MiB, and two of those raised the peak
/// memory by 55 MB.
const READER_CACHE_KIB: u32 = 16 * 1024;

/// Another connection for reading batches.
fn open_reader(args: &DashboardArgs) -> Result<store::Db> {
    let mut db = args.db.open()?;
    db.limit_page_cache(READER_CACHE_KIB)
        .context("configuring the database connection")?;
    Ok(db)
}

/// Reads one batch of commits' rows and shapes them; with `--serve`, also the digest of the
/// rows, for the fingerprint.
fn read_batch(
    db: &mut store::Db,
    table: &TableId,
    filter: &MetricsFilter,
    args: &DashboardArgs,
) -> Result<(Batch, Vec<u8>)> {
    let rows = db
        .fetch_metric_fields(table, filter, &charted_field)
        .with_context(|| format!("reading `{}`", table.metrics_table()))?;
    let mut batch = Batch::default();
    let mut hash = Sha256::new();
    // A failed scenario run (`status: failed`) has no numbers to draw.
    for r in rows.into_iter().map(crate::compare::RecordView::from_map) {
        if r.failed() {
            continue;
        }
        // The fingerprint only tells `--serve` when to rebuild.
        if args.serve.is_some() {
            hash.update(serde_json::to_vec(r.fields())?);
        }
        batch.add(&r);
    }
    Ok((batch, hash.finalize().to_vec()))
}

/// Keeps freed memory for the next allocations instead of handing it back to the kernel at
/// once: each reading thread frees a batch's rows and then allocates the next batch's, and
/// with glibc's defaults the memory goes back in between, so every batch faults its pages
/// in anew (a fifth of the build's processor time went to page faults).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it takes the allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

/// Reads the rows and renders the page; returns it with a fingerprint of the data.
fn build(
    args: &DashboardArgs,
    table: &TableId,
    since: Option<DateTime<Utc>>,
) -> Result<(String, String)> {
    let mut db = args.db.open()?;
    let filter = |commits: Vec<String>| MetricsFilter {
        since,
        commands: args.command.clone(),
        commits,
    };
    let reading = || format!("reading `{}`", table.metrics_table());
    // A failed scenario run (`status: failed`) has no numbers to draw.
    let measured = |rows: Vec<crate::compare::RecordMap>| -> Vec<crate::compare::RecordView> {
        rows.into_iter()
            .map(crate::compare::RecordView::from_map)
            .filter(|r| !r.failed())
            .collect()
    };
    let mut commits: Vec<String> = db
        .commits_by_time(table)
        .with_context(reading)?
        .into_iter()
        .filter(|(_, t)| since.is_none_or(|s| *t >= s))
        .map(|(c, _)| c)
        .collect();
    commits.sort();
    let mut hash = Sha256::new();
    let mut collector = Collector::default();
    // Each reading thread takes the next batch, reads it on its own connection, shapes it
    // and frees its rows itself (freeing them on another thread would contend with its
    // allocations for the allocator's lock); this one merges the shaped batches in order.
    let readers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_READERS);
    db.limit_page_cache(READER_CACHE_KIB)
        .context("configuring the database connection")?;
    let batches: Vec<&[String]> = commits.chunks(COMMITS_PER_BATCH).collect();
    let next = AtomicUsize::new(0);
    let (done, received) = std::sync::mpsc::sync_channel(0);
    std::thread::scope(|s| -> Result<()> {
        let mut first = Some(&mut db);
        for _ in 0..readers {
            let shared = first.take();
            let (done, next, batches, filter) = (done.clone(), &next, &batches, &filter);
            s.spawn(move || {
                // The other readers open their connections here, while the first one reads;
                // one that cannot (a server at its connection limit) leaves the batches to
                // the others.
                let mut own = None;
                let db = match shared {
                    Some(db) => db,
                    None => match open_reader(args) {
                        Ok(db) => own.insert(db),
                        Err(e) => {
                            tracing::debug!("no second connection to read with: {e:#}");
                            return;
                        }
                    },
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(commits) = batches.get(i) else {
                        return;
                    };
                    let shaped = read_batch(db, table, &filter(commits.to_vec()), args);
                    let failed = shaped.is_err();
                    // A closed channel: the merging side stopped on an error.
                    if done.send((i, shaped)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(done);
        let mut waiting = std::collections::BTreeMap::new();
        let mut want = 0;
        for (i, shaped) in received {
            waiting.insert(i, shaped);
            while let Some(shaped) = waiting.remove(&want) {
                let (batch, digest) = shaped?;
                hash.update(digest);
                collector.merge(batch);
                want += 1;
            }
        }
        Ok(())
    })?;
    let tag = TableId::parse("tag").expect("a valid table id");
    let tag_rows = if *table == tag {
        Vec::new()
    } else {
        measured(
            db.fetch_metric_fields(&tag, &filter(Vec::new()), &charted_field)
                .with_context(|| format!("reading `{}`", tag.metrics_table()))?,
        )
    };
    for r in &tag_rows {
        hash.update(serde_json::to_vec(r.fields())?);
    }
    let fingerprint = format!("{:x}", hash.finalize());
    let input = Input {
        rows: Vec::new(),
        tag_rows,
        source: format!(
            "{} (table `{}`)",
            store::redact_url(&args.db.db),
            table.metrics_table()
        ),
        generated_at: Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    let page = render_shaped(&input, collector, |prev, newest| {
        let rows = measured(
            db.fetch_metrics(table, &filter(vec![prev.to_string(), newest.to_string()]))
                .with_context(reading)?,
        );
        let of = |sha: &str| -> Vec<crate::compare::RecordView> {
            rows.iter()
                .filter(|r| {
                    !crate::history::is_reference(r)
                        && crate::compare::group::canonical(r.get("commit")).as_deref() == Some(sha)
                })
                .cloned()
                .collect()
        };
        Ok((of(prev), of(newest)))
    })?;
    Ok((page, fingerprint))
}

fn write_page(args: &DashboardArgs, page: &str) -> Result<()> {
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    }
    crate::util::write_atomic(&args.output, page.as_bytes())
        // A page to share or serve: readable by all, as any file written with `>` (the
        // temporary file it was renamed from is private).
        .and_then(|()| {
            std::fs::set_permissions(
                &args.output,
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )
        })
        .with_context(|| {
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
    keep_freed_memory();
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
    let page = Arc::new(RwLock::new(Arc::new(page)));
    let active = Arc::new(AtomicUsize::new(0));
    let mut checked = Instant::now();
    while !crate::process::interrupted() {
        if checked.elapsed() >= Duration::from_secs(args.poll.max(1)) {
            checked = Instant::now();
            match build(&args, &table, since) {
                Ok((new_page, new_fp)) if new_fp != fingerprint => {
                    write_page(&args, &new_page)?;
                    *page.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new_page);
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
                let current = page.read().unwrap_or_else(|e| e.into_inner()).clone();
                serve_connection(stream, current, &active);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            // A client that gave up between connecting and being accepted, or a moment
            // without file descriptors: the server goes on.
            Err(e) => {
                eprintln!("warning: accepting a connection: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    eprintln!("dashboard: stopped");
    Ok(Code::Interrupted)
}

/// Connections answered at once; one more is told to come back (503) and closed.
const MAX_CONNECTIONS: usize = 128;
/// The time a client has to send its request, in all: a slow client is dropped, not waited
/// for, and never delays another (each connection has its own thread).
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// The longest request head read; a longer one is refused.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Answers one connection on a thread of its own, within [`MAX_CONNECTIONS`].
fn serve_connection(stream: TcpStream, page: Arc<String>, active: &Arc<AtomicUsize>) {
    if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        active.fetch_sub(1, Ordering::SeqCst);
        let _ = busy(stream);
        return;
    }
    let active = Arc::clone(active);
    let spawned = std::thread::Builder::new()
        .name("dashboard-http".into())
        .spawn(move || {
            if let Err(e) = respond(stream, &page) {
                tracing::debug!("answering a request: {e}");
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        eprintln!("warning: cannot start a thread for a connection: {e}");
    }
}

/// 503 to a client beyond [`MAX_CONNECTIONS`].
fn busy(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    let body = "busy; try again\n";
    write!(
        stream,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads a request head (up to the blank line) by [`REQUEST_DEADLINE`] in all, at most
/// [`MAX_HEAD_BYTES`]; returns its first line.
fn read_request_line(stream: &mut TcpStream) -> std::io::Result<String> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD_BYTES {
            return Err(std::io::Error::other("request head too long"));
        }
    }
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    Ok(String::from_utf8_lossy(&head[..line_end])
        .trim()
        .to_string())
}

/// Answers one HTTP/1.x request: the page for `GET /` (and `/index.html`), 404 otherwise.
fn respond(mut stream: TcpStream, page: &str) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let request = read_request_line(&mut stream)?;
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body, kind) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET" | "HEAD", "/" | "/index.html") => ("200 OK", page, "text/html; charset=utf-8"),
        _ => ("404 Not Found", "not found\n", "text/plain; charset=utf-8"),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}
