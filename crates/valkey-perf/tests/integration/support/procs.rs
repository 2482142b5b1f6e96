//! `/proc` scans and server logs: which server processes a test started, and the check that
//! none of them is left running.

use std::path::{Path, PathBuf};

/// The pid a valkey-server log names in its start banner (`... pid=12345, just started`).
pub fn pid_in_server_log(log: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(log).ok()?;
    let at = text.find(" pid=")? + " pid=".len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The server log files of one target's results directory.
pub fn server_logs(target_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(target_dir.join("servers")) else {
        return Vec::new();
    };
    let mut logs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// Live processes (not zombies) whose executable is `binary`, with their working directory
/// (`None` when it cannot be read).
pub fn processes_of(binary: &Path) -> Vec<(u32, Option<String>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A zombie's exe link cannot be read, so only running processes match.
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        if exe != binary {
            continue;
        }
        let cwd = std::fs::read_link(entry.path().join("cwd"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        found.push((pid, cwd));
    }
    found
}

/// Whether `pid` is a running (non-zombie) process executing `binary`.
pub fn is_running_binary(pid: u32, binary: &Path) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary)
}

/// Fails the test if a process of `binary` started for this test is still alive. "Started for
/// this test" is decided two ways, both robust against other tests running servers of the same
/// binary in parallel:
/// - by PID: every server log valkey-perf wrote names its server's pid in the start banner;
/// - by working directory: valkey-perf gives each server a data dir below its `TMPDIR`, which
///   the test points at its own scratch area, and valkey-server chdirs into `--dir`; so a server
///   of this test has its cwd below `scratch_root` (even after the dir was deleted, when the
///   kernel appends ` (deleted)`).
pub fn assert_no_server_left(binary: &Path, logged_pids: &[u32], scratch_root: &Path) {
    let root = scratch_root.to_string_lossy().into_owned();
    let by_pid: Vec<u32> = logged_pids
        .iter()
        .copied()
        .filter(|&pid| is_running_binary(pid, binary))
        .collect();
    assert!(
        by_pid.is_empty(),
        "server processes still running after valkey-perf exited: {by_pid:?}"
    );
    let by_cwd: Vec<(u32, Option<String>)> = processes_of(binary)
        .into_iter()
        .filter(|(_, cwd)| cwd.as_ref().is_some_and(|c| c.starts_with(&root)))
        .collect();
    assert!(
        by_cwd.is_empty(),
        "processes of `{}` working below this test's scratch dir are still running: {by_cwd:?}",
        binary.display()
    );
}
