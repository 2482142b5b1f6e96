//! Advisory file locks (`flock`) that serialize concurrent valkey-perf invocations working on the
//! same mirror or the same build-cache key. The lock is released when the guard is dropped or
//! the process dies, so a killed invocation never leaves a stale lock behind.

use crate::exit::{Code, Failure};
use crate::process::Cancel;
use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::thread;
use std::time::Duration;

/// An exclusive lock, held until dropped.
pub(crate) struct Lock {
    _held: Flock<File>,
}

/// Takes the exclusive lock on `path` (created if missing). When another process holds it,
/// calls `on_wait` once and waits, checking `cancel` so Ctrl-C still works while waiting.
pub(crate) fn exclusive(
    path: &Path,
    cancel: &Cancel,
    on_wait: impl FnOnce(),
) -> anyhow::Result<Lock> {
    let mut on_wait = Some(on_wait);
    let mut file = open(path)?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Ok(Lock { _held: held }),
            Err((f, Errno::EWOULDBLOCK)) => {
                file = f;
                if let Some(f) = on_wait.take() {
                    f();
                }
                if cancel.is_raised() {
                    return Err(Failure::new(
                        Code::Interrupted,
                        format!(
                            "interrupted while waiting for the lock `{}`",
                            path.display()
                        ),
                    ));
                }
                thread::sleep(Duration::from_millis(50));
            }
            Err((_, errno)) => {
                return Err(
                    anyhow::Error::new(errno).context(format!("cannot lock `{}`", path.display()))
                );
            }
        }
    }
}

fn open(path: &Path) -> anyhow::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory `{}`", dir.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock file `{}`", path.display()))
}
