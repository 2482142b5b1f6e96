//! Servers under valgrind's callgrind (`benchmark_mode: "instructions"`): the command line that
//! wraps a server, the measured window (instrumentation switched on before the load and off,
//! with a dump, after it, through `callgrind_control`), and reading the dumps' instruction
//! totals. Instruction counts do not swing with the machine's load, unlike time.
//!
//! May import `process` only.

use crate::process::{self, run_bounded};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long one `callgrind_control` call may take (it waits for the server to answer).
const CONTROL_DEADLINE: Duration = Duration::from_secs(60);

/// The programs this mode needs, with the package that has them.
pub const PROGRAMS: [&str; 2] = ["valgrind", "callgrind_control"];

/// Checks that valgrind and callgrind_control are on PATH; the error names the package.
pub fn check_installed() -> Result<()> {
    for program in PROGRAMS {
        let found = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()));
        if !found {
            bail!(
                "`{program}` is not on PATH, and instructions mode runs every server under valgrind's callgrind; install it (Debian: apt-get install valgrind)"
            );
        }
    }
    Ok(())
}

/// `valgrind --tool=callgrind ... <binary>`: collection off until the window opens, children
/// followed through exec (a wrapper script's server is counted), dumps into `out_dir`. Threads
/// are summed (io-threads count).
pub fn wrap(binary: &Path, out_dir: &Path) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=callgrind",
        "--instr-atstart=no",
        "--trace-children=yes",
        "--child-silent-after-fork=yes",
        "--dump-line=no",
    ])
    .arg(format!(
        "--callgrind-out-file={}",
        out_dir.join("callgrind.out.%p").display()
    ))
    .arg(binary);
    cmd
}

fn control(args: &[&str], pid: u32) -> Result<()> {
    let mut cmd = Command::new("callgrind_control");
    cmd.args(args).arg(pid.to_string());
    let line = process::command_line(&cmd);
    let done = run_bounded(cmd, CONTROL_DEADLINE, None, &mut || false)
        .with_context(|| format!("running `{line}`"))?;
    if !done.status.success() || done.stdout.contains("Error") {
        bail!(process::failure_message(
            "",
            &line,
            done.status,
            &format!("{}{}", done.stdout, done.stderr),
            None,
        ));
    }
    Ok(())
}

/// Opens the measured window on every server process.
pub fn start_window(pids: &[u32]) -> Result<()> {
    for &pid in pids {
        control(&["-i", "on"], pid)?;
    }
    Ok(())
}

/// Closes the window: dumps each server's counts since the window opened and switches
/// collection off. Returns the dump of each process.
pub fn end_window(pids: &[u32], out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dumps = Vec::new();
    for &pid in pids {
        let before = dumps_of(out_dir, pid);
        control(&["-d"], pid)?;
        control(&["-i", "off"], pid)?;
        let after = dumps_of(out_dir, pid);
        let new = after
            .into_iter()
            .find(|p| !before.contains(p))
            .with_context(|| {
                format!(
                    "callgrind wrote no dump for process {pid} into `{}`",
                    out_dir.display()
                )
            })?;
        dumps.push(new);
    }
    Ok(dumps)
}

/// `callgrind.out.<pid>.<n>` files in `dir`, newest dump number first.
fn dumps_of(dir: &Path, pid: u32) -> Vec<PathBuf> {
    let prefix = format!("callgrind.out.{pid}.");
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// The instructions a dump counts: its `totals:` line (the `summary:` line of a later dump
/// can be garbage, the totals are the counts since the previous dump).
pub fn total_instructions(dump: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(dump)
        .with_context(|| format!("reading the callgrind dump `{}`", dump.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("`{}` has no `totals:` line", dump.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_totals_and_orders_dumps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("callgrind.out.42.2");
        std::fs::write(
            &p,
            "events: Ir\nsummary: 18446744073709528405\ntotals: 17612011\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("callgrind.out.42.1"), "totals: 1\n").unwrap();
        std::fs::write(dir.path().join("callgrind.out.42"), "").unwrap();
        assert_eq!(total_instructions(&p).unwrap(), 17_612_011);
        assert_eq!(dumps_of(dir.path(), 42)[0], p);
        assert_eq!(dumps_of(dir.path(), 42).len(), 2);
    }
}
