//! Small helpers shared by several layers.

use std::path::Path;

/// The last `lines` lines of a text file, for error messages ("log tail"). Empty when the
/// file cannot be read.
pub fn tail_of_file(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => tail_of_text(&String::from_utf8_lossy(&bytes), lines),
        Err(_) => String::new(),
    }
}

/// The last `lines` lines of `text`.
pub fn tail_of_text(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Set once stdout was found closed (the reader of a pipe went away, as in `| head -1`).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes one line to stdout. `println!` panics when stdout is a pipe whose reader has gone
/// (`valkey-perf run --dry-run | head -1`); here a closed stdout only ends the output: the
/// work goes on (servers are stopped, files written) and later lines are dropped. Any other
/// write error is reported once on stderr.
pub fn outln(args: std::fmt::Arguments<'_>) {
    write_stdout(args, b"\n");
}

/// [`outln`] without the line break (for text that ends in one already).
pub fn out(args: std::fmt::Arguments<'_>) {
    write_stdout(args, b"");
}

fn write_stdout(args: std::fmt::Arguments<'_>, end: &[u8]) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(end))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("warning: writing to stdout failed ({e}); further output is dropped");
        }
    }
}

/// What is wrong with a place valkey-perf writes into, by the error's number or, for an error
/// that wraps another (the temp files of atomic writes name their path that way), its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwritable {
    /// Read-only, or no permission.
    ReadOnly,
    /// Full disk or quota.
    Full,
}

/// Whether `e` says a place cannot take writes (and which way), else `None`.
pub fn unwritable_kind(e: &std::io::Error) -> Option<Unwritable> {
    use std::io::ErrorKind as K;
    match (e.raw_os_error(), e.kind()) {
        (Some(libc::EACCES | libc::EPERM | libc::EROFS), _)
        | (None, K::PermissionDenied | K::ReadOnlyFilesystem) => Some(Unwritable::ReadOnly),
        (Some(libc::ENOSPC | libc::EDQUOT), _) | (None, K::StorageFull | K::QuotaExceeded) => {
            Some(Unwritable::Full)
        }
        _ => None,
    }
}

/// Whether an error chain holds an I/O error of a place that cannot take writes (full disk,
/// read-only): every later write there fails the same way.
pub fn is_unwritable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(unwritable_kind)
            .is_some()
    })
}

/// An I/O error as a message that says what to do about it: a read-only or unwritable place,
/// a full disk, the open-files limit (with its current value). Other errors as they are.
pub fn io_hint(e: &std::io::Error) -> String {
    match unwritable_kind(e) {
        Some(Unwritable::ReadOnly) => {
            format!("{e}; fix its permissions or choose another --results-dir")
        }
        Some(Unwritable::Full) => {
            format!("{e}; free some space on that file system or choose another --results-dir")
        }
        None if is_too_many_open_files(e) => too_many_open_files(e),
        None => e.to_string(),
    }
}

/// Whether an error chain was caused by running out of file descriptors (EMFILE / ENFILE).
pub fn is_too_many_open_files(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The message for EMFILE / ENFILE: the limit and how to raise it.
pub fn too_many_open_files(e: &std::io::Error) -> String {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let limit = if known {
        format!(" (the limit is {})", limit.rlim_cur)
    } else {
        String::new()
    };
    format!(
        "too many open files{limit}: {e}; raise the limit (`ulimit -n 65536`) or use fewer clients"
    )
}

/// Makes sure this process (and the servers and load generators it starts, which inherit
/// the limit) may open `needed` files: raises the soft limit towards the hard one when it is
/// lower, and says what to do when even the hard limit is too low.
pub fn ensure_open_files(needed: u64) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Ok(());
    }
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    // The servers valkey-perf starts want about 10 000 descriptors of their own.
    let wanted = limit.rlim_max.min(needed.max(16_384));
    if wanted >= needed {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given; raising the soft limit up to the
        // hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(());
        }
    }
    Err(format!(
        "this run needs about {needed} open files (a connection per client, per cluster node), \
         but the limit is {} (hard limit {}); raise it (`ulimit -n {}`) or use fewer clients",
        limit.rlim_cur,
        limit.rlim_max,
        needed.max(65_536)
    ))
}

/// `text` cut to at most `max` bytes (on a character boundary), with how much was left out,
/// for messages that quote input of unbounded size.
pub fn truncated(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_hints_say_what_to_do() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(
            io_hint(&full).contains("free some space"),
            "{}",
            io_hint(&full)
        );
        let ro = std::io::Error::from_raw_os_error(libc::EROFS);
        assert!(io_hint(&ro).contains("fix its permissions or choose another --results-dir"));
        // Wrapped (as tempfile wraps the errors of its files with their path): the kind tells.
        for (errno, hint) in [
            (libc::ENOSPC, "free some space"),
            (libc::EDQUOT, "free some space"),
            (libc::EROFS, "fix its permissions"),
        ] {
            let inner = std::io::Error::from_raw_os_error(errno);
            let wrapped = std::io::Error::new(inner.kind(), format!("{inner} at path \"x\""));
            assert_eq!(wrapped.raw_os_error(), None);
            assert!(io_hint(&wrapped).contains(hint), "{}", io_hint(&wrapped));
            let chain = anyhow::Error::new(wrapped).context("writing `x`");
            assert!(is_unwritable(&chain), "{chain:#}");
        }
        assert!(!is_unwritable(&anyhow::Error::new(
            std::io::Error::from_raw_os_error(libc::ECONNREFUSED)
        )));
        let fds = std::io::Error::from_raw_os_error(libc::EMFILE);
        let msg = io_hint(&fds);
        assert!(
            msg.contains("too many open files (the limit is") && msg.contains("ulimit -n"),
            "{msg}"
        );
    }

    #[test]
    fn truncates_long_text_on_a_char_boundary() {
        assert_eq!(truncated("short", 10), "short");
        let long = "é".repeat(100);
        let cut = truncated(&long, 5);
        assert!(cut.starts_with("éé…"), "{cut}");
        assert!(cut.ends_with("(196 more bytes)"), "{cut}");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_of_text("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_of_text("a", 5), "a");
        assert_eq!(tail_of_text("", 5), "");
    }
}
