//! Running `git` and `make` as children: each in its own process group, stopped (SIGTERM to the
//! group, a grace period, SIGKILL, reap) when the cancel flag is raised, with its output either
//! captured or written to a log file.
//!
//! This module knows nothing about git or builds; it only runs commands and describes failures.

use crate::exit::{Code, Failure};
use anyhow::Context;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a cancelled child group gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Where a child's stdout and stderr go.
pub(crate) enum Sink<'a> {
    /// Both are captured into [`Finished`].
    Capture,
    /// Both are appended to this (already open) log file.
    Log(&'a File),
}

/// A child that ran to completion (successfully or not).
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// The command line of `cmd` as a user would type it (arguments with spaces are quoted).
pub(crate) fn command_line(cmd: &Command) -> String {
    let mut parts = vec![quote(&cmd.get_program().to_string_lossy())];
    parts.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    parts.join(" ")
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@^{}+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// "exit status 2" or "signal 9 (SIGKILL)".
pub(crate) fn status_text(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("signal {sig} ({s})"),
            Err(_) => format!("signal {sig}"),
        },
        _ => status.to_string(),
    }
}

/// Runs `cmd` in its own process group until it exits. Returns an error only when it cannot be
/// started or when `cancel` is raised (then the group is stopped and the error carries exit
/// code 130); a non-zero exit is returned in [`Finished::status`] for the caller to judge.
pub(crate) fn run(
    cmd: &mut Command,
    sink: Sink<'_>,
    cancel: &AtomicBool,
) -> anyhow::Result<Finished> {
    let line = command_line(cmd);
    cmd.stdin(Stdio::null()).process_group(0);
    match sink {
        Sink::Capture => {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        Sink::Log(file) => {
            let out = file
                .try_clone()
                .context("cannot duplicate the log file handle")?;
            let err = file
                .try_clone()
                .context("cannot duplicate the log file handle")?;
            cmd.stdout(out).stderr(err);
        }
    }
    let mut child = cmd.spawn().with_context(|| {
        format!("cannot start `{line}`; check that the program is installed and on PATH")
    })?;
    // Pipes are drained on threads so a chatty child never blocks on a full pipe while we poll.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);

    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("cannot wait for `{line}`"))?
        {
            break status;
        }
        if cancel.load(Ordering::Relaxed) {
            stop_group(&mut child);
            return Err(Failure::new(
                Code::Interrupted,
                format!("interrupted while running `{line}`; it was stopped"),
            ));
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let join = |h: Option<thread::JoinHandle<Vec<u8>>>| {
        h.map(|h| String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned())
            .unwrap_or_default()
    };
    Ok(Finished {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// SIGTERM to the child's process group, a grace period, SIGKILL, then reap.
fn stop_group(child: &mut Child) {
    let Ok(raw) = i32::try_from(child.id()) else {
        return;
    };
    // The child leads its own group (process_group(0)), so its pid is the group id.
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The leader is gone; make sure nothing else of its group lingers.
            let _ = killpg(group, Signal::SIGKILL);
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

/// The message for a child that exited unsuccessfully: what failed (may be empty), the command
/// line, the status, the tail of its output, and where the full log is when there is one.
pub(crate) fn failure_message(
    what: &str,
    cmd_line: &str,
    status: ExitStatus,
    tail: &str,
    log: Option<&Path>,
) -> String {
    let mut msg = format!("`{cmd_line}` failed with {}", status_text(status));
    if !what.is_empty() {
        msg = format!("{what}: {msg}");
    }
    let tail = tail.trim_end();
    if !tail.is_empty() {
        msg.push_str("\n--- last lines of output ---\n");
        msg.push_str(tail);
        msg.push_str("\n---");
    }
    if let Some(log) = log {
        msg.push_str(&format!("\nfull log: `{}`", log.display()));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_only_when_needed() {
        let mut cmd = Command::new("make");
        cmd.args(["-j2", "BUILD_TLS=yes", "a b", "it's"]);
        assert_eq!(
            command_line(&cmd),
            r"make -j2 BUILD_TLS=yes 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn captures_output_and_status() {
        let cancel = AtomicBool::new(false);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let done = run(&mut cmd, Sink::Capture, &cancel).unwrap();
        assert_eq!(done.stdout, "out\n");
        assert_eq!(done.stderr, "err\n");
        assert_eq!(status_text(done.status), "exit status 3");
    }

    #[test]
    fn cancel_stops_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let raiser = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            flag.store(true, Ordering::Relaxed);
        });
        let started = Instant::now();
        let mut cmd = Command::new("sh");
        // A grandchild (`sleep 30 &`) that would outlive a plain kill of `sh`.
        cmd.arg("-c").arg(format!(
            "echo $$ > '{}'; sleep 30 & sleep 30; wait",
            pid_file.display()
        ));
        let err = run(&mut cmd, Sink::Capture, &cancel)
            .err()
            .expect("a cancelled run must fail");
        raiser.join().unwrap();
        assert_eq!(crate::exit::code_of(&err), Code::Interrupted);
        assert!(started.elapsed() < Duration::from_secs(10));
        let group: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed orphans stay zombies until init reaps them; only live members count.
        let deadline = Instant::now() + Duration::from_secs(5);
        while live_members(group) > 0 {
            assert!(
                Instant::now() < deadline,
                "process group {group} survived the cancel"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Processes of process group `group` that are not zombies, from `/proc/<pid>/stat`.
    fn live_members(group: i32) -> usize {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        let group = group.to_string();
        entries
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                // After the parenthesized command name: state, ppid, pgrp, ...
                let Some((_, rest)) = stat.rsplit_once(')') else {
                    return false;
                };
                let fields: Vec<&str> = rest.split_whitespace().collect();
                fields.len() > 2 && fields[0] != "Z" && fields[2] == group
            })
            .count()
    }
}
