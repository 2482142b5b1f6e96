//! Child processes valkey-perf starts: servers, load generators, git and make.
//!
//! Every child gets its own process group, so terminal Ctrl-C reaches only valkey-perf, which
//! then stops its children deliberately. Stopping is SIGTERM to the group, a grace period,
//! SIGKILL, then reap. On Linux a parent-death signal means even a SIGKILLed valkey-perf leaves
//! no orphan. Nothing here ever signals a process it did not start.

use crate::exit::{Code, Failure};
use crate::model::case::CpuSet;
use crate::util::tail_of_file;
use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How many interrupt signals (SIGINT/SIGTERM) valkey-perf has received. Set by the handlers
/// [`install_signal_handlers`] installs; read everywhere work can stop early (see [`Cancel`]).
pub static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// True once the user asked valkey-perf to stop.
pub fn interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}

/// The one cancellation token. It is raised by Ctrl-C / SIGTERM (through the handlers
/// [`install_signal_handlers`] installs) or by whoever holds a clone and calls [`Cancel::raise`]
/// (a caller stopping a build, a test).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks every holder of this token to stop.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once this token was raised or the user interrupted valkey-perf.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst) || interrupted()
    }
}

/// Grace period between SIGTERM and SIGKILL; none after a second Ctrl-C.
fn grace() -> Duration {
    if INTERRUPTS.load(Ordering::SeqCst) >= 2 {
        Duration::ZERO
    } else {
        Duration::from_secs(5)
    }
}

/// Installs SIGINT/SIGTERM handlers that only count signals (async-signal-safe).
pub fn install_signal_handlers() -> Result<()> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // SAFETY: the handler only performs an atomic add, which is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(sig, || {
                INTERRUPTS.fetch_add(1, Ordering::SeqCst);
            })
        }
        .context("installing the Ctrl-C handler")?;
    }
    Ok(())
}

/// Prepares `cmd` to start in its own process group, die with its parent, and optionally run
/// on the given CPUs.
pub fn prepare(cmd: &mut Command, cpus: Option<&CpuSet>) {
    cmd.process_group(0);
    let cpu_list: Option<Vec<usize>> = cpus.map(|c| c.cpus.iter().copied().collect());
    // SAFETY: the closure runs between fork and exec; it only calls async-signal-safe libc
    // functions (prctl, sched_setaffinity) on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(list) = &cpu_list {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &cpu in list {
                    libc::CPU_SET(cpu, &mut set);
                }
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// The command line of `cmd` as a user would type it (arguments quoted only when needed).
pub fn command_line(cmd: &Command) -> String {
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

/// SIGTERM to the group led by `child`, up to `grace` for it to exit, then SIGKILL to the
/// group, then reap. The group is ours: every member was started by valkey-perf.
fn stop_group(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let pgid = Pid::from_raw(child.id() as i32);
    let mut status = child.try_wait().ok().flatten();
    if status.is_none() {
        let _ = killpg(pgid, Signal::SIGTERM);
        // A stopped process (SIGSTOP, a debugger) acts on SIGTERM only once continued.
        let _ = killpg(pgid, Signal::SIGCONT);
        let deadline = Instant::now() + grace;
        while status.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            status = child.try_wait().ok().flatten();
        }
    }
    // Anything else left in the group (a fork of the child) goes too.
    let _ = killpg(pgid, Signal::SIGKILL);
    if status.is_none() {
        status = child.wait().ok();
    }
    status
}

/// Describes how a child ended: `exit status 3` or `killed by signal SIGKILL`.
pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exit status {code}")
    } else if let Some(sig) = status.signal() {
        match Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {s}"),
            Err(_) => format!("killed by signal {sig}"),
        }
    } else {
        format!("{status}")
    }
}

/// A long-lived child (a server) owned by valkey-perf. Stopped on `stop()` or drop.
#[derive(Debug)]
pub struct ManagedChild {
    name: String,
    child: Child,
    log_path: PathBuf,
    exited: Option<ExitStatus>,
}

impl ManagedChild {
    /// Starts `cmd` with stdout and stderr appended to `log_path`.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        log_path: &Path,
        cpus: Option<&CpuSet>,
    ) -> Result<ManagedChild> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("opening log file `{}`", log_path.display()))?;
        let log_err = log
            .try_clone()
            .with_context(|| format!("opening log file `{}`", log_path.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        prepare(&mut cmd, cpus);
        let line = command_line(&cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: `{line}`"))?;
        tracing::debug!(pid = child.id(), "started {name}: {line}");
        Ok(ManagedChild {
            name: name.to_string(),
            child,
            log_path: log_path.to_path_buf(),
            exited: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines of this child's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_of_file(&self.log_path, lines)
    }

    /// `Some(status)` when the child has exited (it is reaped then).
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
            }
        }
        self.exited
    }

    /// Stops the child's whole process group: SIGTERM, grace period, SIGKILL, reap.
    /// Idempotent.
    pub fn stop(&mut self) {
        if self.try_exit_status().is_some() {
            return;
        }
        self.exited = stop_group(&mut self.child, grace());
        tracing::debug!(pid = self.child.id(), "stopped {}", self.name);
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a bounded child run produced.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The CPUs the child was allowed to run on, read back right after it started.
    pub cpus_allowed: Option<String>,
}

/// Why a bounded child run did not finish normally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("`{command}` did not finish within {deadline:?} and was stopped{}", tail_note(.stderr_tail))]
    Timeout {
        command: String,
        deadline: Duration,
        stderr_tail: String,
    },
    #[error("interrupted while `{command}` was running")]
    Interrupted { command: String },
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` could not be read: {source}")]
    Io {
        command: String,
        source: std::io::Error,
    },
}

fn tail_note(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; last stderr lines:\n{tail}")
    }
}

/// Where a bounded child's stdout and stderr go.
pub enum Sink<'a> {
    /// Captured into [`Finished`].
    Capture,
    /// Both appended to this (already open) log file; [`Finished`] holds empty strings.
    Log(&'a File),
}

/// Runs `cmd` to completion with a deadline, capturing stdout and stderr (through temp files,
/// so a chatty child never blocks on a full pipe). Ctrl-C or the deadline stops its process
/// group. `abort` is polled too: returning true stops the child early.
pub fn run_bounded(
    mut cmd: Command,
    deadline: Duration,
    cpus: Option<&CpuSet>,
    abort: &mut dyn FnMut() -> bool,
) -> Result<Finished, RunError> {
    run_child(&mut cmd, Sink::Capture, Some(deadline), cpus, abort)
}

/// The general form of [`run_bounded`]: output captured or logged, deadline optional. A
/// stopped child gets SIGTERM, a short grace period, then SIGKILL (its whole group).
pub fn run_child(
    cmd: &mut Command,
    sink: Sink<'_>,
    deadline: Option<Duration>,
    cpus: Option<&CpuSet>,
    abort: &mut dyn FnMut() -> bool,
) -> Result<Finished, RunError> {
    let command = command_line(cmd);
    let io_err = |source| RunError::Io {
        command: command.clone(),
        source,
    };
    let (mut out, mut err) = match sink {
        Sink::Capture => (
            tempfile::tempfile().map_err(io_err)?,
            tempfile::tempfile().map_err(io_err)?,
        ),
        Sink::Log(file) => (
            file.try_clone().map_err(io_err)?,
            file.try_clone().map_err(io_err)?,
        ),
    };
    let captured = matches!(sink, Sink::Capture);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().map_err(io_err)?))
        .stderr(Stdio::from(err.try_clone().map_err(io_err)?));
    prepare(cmd, cpus);
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
        command: command.clone(),
        source,
    })?;
    let started = Instant::now();
    // `spawn` returns after exec, so the affinity set before exec is in place now.
    let cpus_allowed = cpus_allowed(child.id());
    let pgid = Pid::from_raw(child.id() as i32);
    let kill = |child: &mut Child| {
        stop_group(child, grace().min(Duration::from_secs(2)));
    };
    let read = |f: &mut File| {
        if captured {
            read_all(f).unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                kill(&mut child);
                return Err(io_err(e));
            }
        }
        if interrupted() || abort() {
            kill(&mut child);
            return Err(RunError::Interrupted { command });
        }
        if let Some(deadline) = deadline.filter(|d| started.elapsed() > *d) {
            kill(&mut child);
            return Err(RunError::Timeout {
                command,
                deadline,
                stderr_tail: crate::util::tail_of_text(&read(&mut err), 10),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    // The group may still hold grandchildren; they are ours and go now.
    let _ = killpg(pgid, Signal::SIGKILL);
    Ok(Finished {
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
        cpus_allowed,
    })
}

fn read_all(file: &mut File) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The CPUs a process may run on, read back from `/proc/<pid>/status` (`Cpus_allowed_list`).
pub fn cpus_allowed(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

/// Runs `cmd` (git, make) in its own process group until it exits. Returns an error only when
/// it cannot be started or when `cancel` is raised (then the group is stopped and the error
/// carries exit code 130); a non-zero exit is returned in [`Finished::status`] for the caller
/// to judge.
pub fn run_until_done(cmd: &mut Command, sink: Sink<'_>, cancel: &Cancel) -> Result<Finished> {
    let line = command_line(cmd);
    match run_child(cmd, sink, None, None, &mut || cancel.is_raised()) {
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
pub fn failure_message(
    what: &str,
    cmd_line: &str,
    status: ExitStatus,
    tail: &str,
    log: Option<&Path>,
) -> String {
    let mut msg = format!("`{cmd_line}` failed with {}", describe_status(status));
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

/// The file in a temp dir of valkey-perf's (server data, TLS material) that names its owner:
/// the pid and the start time of the valkey-perf process that made it.
const OWNER_FILE: &str = "valkey-perf.owner";

/// The prefixes of the temp dirs [`sweep_dead_owners`] looks at.
pub const OWNED_DIR_PREFIXES: [&str; 2] = ["valkey-perf-data-", "valkey-perf-tls-"];

/// This process's identity as an owner: `<pid> <start time in clock ticks since boot>`, so a
/// pid reused by another process never passes for the owner.
fn owner_id(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesized command name: field 3 (state) onwards; start time is field 22.
    let (_, rest) = stat.rsplit_once(')')?;
    let start = rest.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

/// Marks `dir` (a temp dir this process made) as this process's, so that after a SIGKILL
/// or an abort the next invocation can tell it was left behind ([`sweep_dead_owners`]).
pub fn mark_owned(dir: &Path) -> Result<()> {
    let id = owner_id(std::process::id()).context("reading this process's start time")?;
    std::fs::write(dir.join(OWNER_FILE), id)
        .with_context(|| format!("marking `{}` as this run's", dir.display()))
}

/// Whether the owner named in `dir`'s owner file is gone. `false` when the dir has no
/// owner file (made by another program, or the instant before it was marked).
fn owner_is_dead(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(OWNER_FILE)) else {
        return false;
    };
    let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse().ok()) else {
        return false;
    };
    owner_id(pid).is_none_or(|now| now != text.trim())
}

/// Removes the temp dirs (server data dirs with their `nodes.conf`, TLS material) that a
/// valkey-perf killed by SIGKILL or an abort left in `tmp`: those whose owner process is gone.
/// A live run's dirs, and dirs without an owner mark, are left alone. Returns what was
/// removed.
pub fn sweep_dead_owners(tmp: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let ours = OWNED_DIR_PREFIXES.iter().any(|p| name.starts_with(p));
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if ours && is_dir && owner_is_dead(&path) && std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_run_captures_output_and_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let done = run_bounded(cmd, Duration::from_secs(10), None, &mut || false).unwrap();
        assert_eq!(done.stdout, "out\n");
        assert_eq!(done.stderr, "err\n");
        assert_eq!(done.status.code(), Some(3));
    }

    #[test]
    fn bounded_run_stops_a_hung_child_at_the_deadline() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo starting >&2; sleep 30"]);
        let started = Instant::now();
        let err = run_bounded(cmd, Duration::from_millis(300), None, &mut || false).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let msg = err.to_string();
        assert!(msg.contains("did not finish within"), "{msg}");
        assert!(msg.contains("starting"), "{msg}");
    }

    #[test]
    fn managed_child_stop_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("child.log");
        let mut cmd = Command::new("sh");
        // A shell that ignores SIGTERM and has a grandchild: both must go.
        cmd.args(["-c", "trap '' TERM; sleep 60 & echo $! ; wait"]);
        let mut child = ManagedChild::spawn("test child", cmd, &log, None).unwrap();
        let pid = child.pid();
        let grandchild = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().next() {
                break line.trim().parse::<i32>().unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        INTERRUPTS.store(0, Ordering::SeqCst);
        child.stop();
        assert!(child.try_exit_status().is_some());
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        // The grandchild was reparented; give the kernel a moment to reap it via init.
        let gone = (0..200).any(|_| {
            let alive = std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
            if alive {
                std::thread::sleep(Duration::from_millis(10));
            }
            !alive
        });
        assert!(gone, "grandchild {grandchild} survived");
    }

    #[test]
    fn pinned_child_reports_its_cpus() {
        let cpus = CpuSet::parse("0").unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "grep Cpus_allowed_list /proc/self/status"]);
        let done = run_bounded(cmd, Duration::from_secs(10), Some(&cpus), &mut || false).unwrap();
        assert!(done.stdout.trim().ends_with(":\t0"), "{}", done.stdout);
    }

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
        let cancel = Cancel::new();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let done = run_until_done(&mut cmd, Sink::Capture, &cancel).unwrap();
        assert_eq!(done.stdout, "out\n");
        assert_eq!(done.stderr, "err\n");
        assert_eq!(describe_status(done.status), "exit status 3");
    }

    #[test]
    fn cancel_stops_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let cancel = Cancel::new();
        let flag = cancel.clone();
        let raiser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            flag.raise();
        });
        let started = Instant::now();
        let mut cmd = Command::new("sh");
        // A grandchild (`sleep 30 &`) that would outlive a plain kill of `sh`.
        cmd.arg("-c").arg(format!(
            "echo $$ > '{}'; sleep 30 & sleep 30; wait",
            pid_file.display()
        ));
        let err = run_until_done(&mut cmd, Sink::Capture, &cancel)
            .expect_err("a cancelled run must fail");
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
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn sweeps_only_dirs_whose_owner_is_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let mine = tmp.path().join("valkey-perf-data-live");
        let dead = tmp.path().join("valkey-perf-data-dead");
        let unmarked = tmp.path().join("valkey-perf-data-unmarked");
        let other = tmp.path().join("someone-else");
        for d in [&mine, &dead, &unmarked, &other] {
            std::fs::create_dir(d).unwrap();
        }
        mark_owned(&mine).unwrap();
        // A child that has exited and been reaped: its pid names no process now.
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        std::fs::write(dead.join(OWNER_FILE), format!("{pid} 12345")).unwrap();
        std::fs::write(dead.join("nodes.conf"), "x").unwrap();
        std::fs::write(other.join(OWNER_FILE), format!("{pid} 12345")).unwrap();
        let removed = sweep_dead_owners(tmp.path());
        assert_eq!(removed, vec![dead.clone()]);
        assert!(mine.exists() && unmarked.exists() && other.exists() && !dead.exists());
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
