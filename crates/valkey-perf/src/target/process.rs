//! Running `git` and `make` as children: each in its own process group, stopped (SIGTERM to the
//! group, a grace period, SIGKILL, reap) when the cancel flag is raised, with its output either
//! captured or written to a log file.
//!
//! The process handling itself is `crate::process`, shared with servers and engines; this
//! module adapts it to the cancel flag and describes failures.

use crate::exit::{Code, Failure};
use crate::process::{RunError, run_child};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) use crate::process::{Finished, Sink, command_line, describe_status as status_text};

/// Runs `cmd` in its own process group until it exits. Returns an error only when it cannot be
/// started or when `cancel` is raised (then the group is stopped and the error carries exit
/// code 130); a non-zero exit is returned in [`Finished::status`] for the caller to judge.
pub(crate) fn run(
    cmd: &mut Command,
    sink: Sink<'_>,
    cancel: &AtomicBool,
) -> anyhow::Result<Finished> {
    let line = command_line(cmd);
    match run_child(cmd, sink, None, None, &mut || {
        cancel.load(Ordering::Relaxed)
    }) {
        Ok(done) => Ok(done),
        Err(RunError::Interrupted { .. }) => Err(Failure::new(
            Code::Interrupted,
            format!("interrupted while running `{line}`; it was stopped"),
        )),
        Err(RunError::Spawn { source, .. }) => Err(anyhow::Error::new(source).context(format!(
            "cannot start `{line}`; check that the program is installed and on PATH"
        ))),
        Err(e) => Err(e.into()),
    }
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
    use std::thread;
    use std::time::{Duration, Instant};

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
        let err = run(&mut cmd, Sink::Capture, &cancel).expect_err("a cancelled run must fail");
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
