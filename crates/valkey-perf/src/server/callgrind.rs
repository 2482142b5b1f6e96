//! Servers under valgrind's callgrind (`benchmark_mode: "instructions"`): the command line that
//! wraps a server, the measured window (instrumentation switched on before the load and off,
//! with a dump, after it, through `callgrind_control`), and reading the dumps' instruction
//! totals. Instruction counts do not swing with the machine's load, unlike time, once two
//! things are kept apart: the work of the server's timers, which follows wall time (counted
//! as background), and the random hash seed each server draws at start (fixed per round by
//! giving the server a `/dev/urandom` of its own).
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
/// are summed (io-threads count). With `entropy`, the server runs in a private mount namespace
/// where `/dev/urandom` is that file (see [`fixed_entropy`]).
pub fn wrap(binary: &Path, out_dir: &Path, entropy: Option<&Path>) -> Command {
    let mut cmd = match entropy {
        Some(file) => {
            let mut cmd = private_urandom(file);
            cmd.arg("valgrind");
            cmd
        }
        None => Command::new("valgrind"),
    };
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

/// How many bytes a server may read from its fixed `/dev/urandom` (Valkey reads 64 at start
/// for the seed of its random generator, which seeds the hash functions, the run id and the
/// cluster node id).
const ENTROPY_BYTES: usize = 4096;

/// `unshare --mount sh -c 'mount --bind FILE /dev/urandom && exec "$@"'`: the command that
/// follows runs (by exec, so with the same process id) in a mount namespace of its own where
/// `/dev/urandom` reads `file`. Root only: in a user namespace of its own, a server could not be
/// reached by `callgrind_control` (valgrind's gdb server is then out of its reach).
fn private_urandom(file: &Path) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--",
        "sh",
        "-c",
        r#"mount --bind "$0" /dev/urandom && exec "$@""#,
    ])
    .arg(file);
    cmd
}

/// Writes the bytes a server reads as `/dev/urandom`: a SplitMix64 stream from `seed`. Two
/// servers given the same seed draw the same hash seed, so their tables lay keys out alike and
/// walk them in the same number of instructions; without this, each run's random hash seed
/// moves the count per request by about 0.3 %.
pub fn write_entropy(file: &Path, seed: u64) -> Result<()> {
    let mut state = seed;
    let mut bytes = Vec::with_capacity(ENTROPY_BYTES);
    while bytes.len() < ENTROPY_BYTES {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    std::fs::write(file, bytes).with_context(|| format!("writing `{}`", file.display()))
}

/// Whether servers can be given a fixed `/dev/urandom` here (`unshare` and a bind mount in a
/// private mount namespace, as root). Probed once per process by doing it; the error says
/// what failed.
pub fn fixed_entropy() -> &'static std::result::Result<(), String> {
    static PROBED: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    PROBED.get_or_init(|| probe_fixed_entropy().map_err(|e| format!("{e:#}")))
}

fn probe_fixed_entropy() -> Result<()> {
    const MARK: &str = "valkey-perf fixed entropy";
    if !nix::unistd::geteuid().is_root() {
        bail!("a bind mount over /dev/urandom needs root");
    }
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let file = dir.path().join("urandom");
    std::fs::write(&file, MARK).with_context(|| format!("writing `{}`", file.display()))?;
    let mut cmd = private_urandom(&file);
    cmd.args(["head", "-c", &MARK.len().to_string(), "/dev/urandom"]);
    let line = process::command_line(&cmd);
    let done = run_bounded(cmd, Duration::from_secs(10), None, &mut || false)
        .with_context(|| format!("running `{line}`"))?;
    if !done.status.success() || done.stdout != MARK {
        bail!("`{line}` failed ({}): {}", done.status, done.stderr.trim());
    }
    Ok(())
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

/// What a window's dump counts: every instruction, and the part done by the server's timers
/// and its fast expire cycle (`background`), whose amount follows the window's wall time rather
/// than its requests: on a busy machine a slower window runs more of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowCount {
    pub total: u64,
    pub background: u64,
}

impl WindowCount {
    /// The instructions the requests cost: the total less the background.
    pub fn requests(&self) -> u64 {
        self.total.saturating_sub(self.background)
    }
}

/// The server's timer procedures (all run from the event loop's timer events) and the caller
/// from which the active expire cycle runs once per event-loop pass (its slow cycle runs
/// inside `serverCron`).
const TIMERS: [&str; 4] = [
    "serverCron",
    "clientsTimeProc",
    "evictionTimeProc",
    "moduleTimerHandler",
];
const FAST_EXPIRE: (&str, &str) = ("beforeSleep", "activeExpireCycle");

/// Reads a dump: its `totals:` line (the `summary:` line of a later dump can be garbage, the
/// totals are the counts since the previous dump), and the inclusive cost of every call into
/// [`TIMERS`] and of the fast expire cycle.
pub fn window_count(dump: &Path) -> Result<WindowCount> {
    let text = std::fs::read_to_string(dump)
        .with_context(|| format!("reading the callgrind dump `{}`", dump.display()))?;
    parse_dump(&text).with_context(|| format!("reading the callgrind dump `{}`", dump.display()))
}

fn parse_dump(text: &str) -> Result<WindowCount> {
    let mut names: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    // Position columns before the costs, and the column of `Ir` among the costs.
    let (mut positions, mut ir) = (1, 0);
    let (mut caller, mut callee) = ("", "");
    let mut total = None;
    let mut background = 0u64;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(v) = line.strip_prefix("positions:") {
            positions = v.split_whitespace().count();
        } else if let Some(v) = line.strip_prefix("events:") {
            ir = v
                .split_whitespace()
                .position(|e| e == "Ir")
                .context("the dump counts no `Ir` event")?;
        } else if let Some(v) = line.strip_prefix("totals:") {
            total = v.split_whitespace().nth(ir).and_then(|v| v.parse().ok());
        } else if let Some(v) = line.strip_prefix("fn=") {
            caller = name_of(v, &mut names);
        } else if let Some(v) = line.strip_prefix("cfn=") {
            callee = name_of(v, &mut names);
        } else if line.starts_with("calls=") {
            // The next line is the call's position and its inclusive cost.
            let cost = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(positions + ir))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            if TIMERS.contains(&callee) || (caller, callee) == FAST_EXPIRE {
                background += cost;
            }
        }
    }
    let total = total.context("the dump has no `totals:` line")?;
    Ok(WindowCount { total, background })
}

/// A function's name from `(id) name` (which defines the id), `(id)` (which refers to it) or
/// a plain `name` (dumps without name compression).
fn name_of<'a>(field: &'a str, names: &mut std::collections::HashMap<&'a str, &'a str>) -> &'a str {
    let Some(rest) = field.strip_prefix('(') else {
        return field.trim();
    };
    let Some((id, name)) = rest.split_once(')') else {
        return field.trim();
    };
    let name = name.trim();
    if name.is_empty() {
        names.get(id).copied().unwrap_or("")
    } else {
        names.insert(id, name);
        name
    }
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
        let count = window_count(&p).unwrap();
        assert_eq!(count.total, 17_612_011);
        assert_eq!(count.background, 0);
        assert_eq!(dumps_of(dir.path(), 42)[0], p);
        assert_eq!(dumps_of(dir.path(), 42).len(), 2);
    }

    /// The shape of a real dump (compressed names, `--dump-line=no`): timers and the fast
    /// expire cycle are background wherever they are called from or named; the slow expire
    /// cycle inside `serverCron` is counted once, with it; a call of a timer's name from
    /// another function that is not `beforeSleep` still counts, as timers run only as timers.
    #[test]
    fn timers_and_the_fast_expire_cycle_are_background() {
        let dump = "\
positions: line
events: Ir
summary: 1000000
totals: 1000000

fn=(1) 0x000000000045be40
0 50
cfn=(2) serverCron
calls=3 0
0 14817
cfn=(3) clientsTimeProc
calls=3 0
0 1498

fn=(2)
0 4000
cfn=(4) databasesCron
calls=3 0
0 3249

fn=(5) beforeSleep
0 900
cfn=(6) activeExpireCycle
calls=5005 0
0 268748
cfn=(7) handleClientsWithPendingWrites
calls=5005 0
+2 2136518

fn=(4)
cfn=(6)
calls=3 0
0 3249
";
        let count = parse_dump(dump).unwrap();
        assert_eq!(count.total, 1_000_000);
        assert_eq!(count.background, 14_817 + 1_498 + 268_748);
        assert_eq!(count.requests(), 1_000_000 - 285_063);
        assert!(parse_dump("events: Ir\n").is_err());
        assert!(parse_dump("events: Dr\ntotals: 5\n").is_err());
    }

    #[test]
    fn entropy_files_repeat_by_seed() {
        let dir = tempfile::tempdir().unwrap();
        let read = |seed: u64, name: &str| {
            let p = dir.path().join(name);
            write_entropy(&p, seed).unwrap();
            std::fs::read(p).unwrap()
        };
        let a = read(7, "a");
        assert_eq!(a.len(), ENTROPY_BYTES);
        assert_eq!(a, read(7, "b"));
        assert_ne!(a, read(8, "c"));
    }
}
