//! Shared helpers for the integration tests: locating the real programs they run against.
//!
//! Registry binaries come from `$VALKEY_PERF_DEPS` (default `<workspace>/.deps`, filled by
//! `scripts/install-deps.sh`). A test whose program is missing skips, saying why; under
//! `CI=true` it fails instead.

use std::path::{Path, PathBuf};

/// Where the registry binaries live.
pub fn deps_dir() -> PathBuf {
    std::env::var_os("VALKEY_PERF_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.deps"))
}

/// `path` when it is an executable file; otherwise skip (print why and return `None`), or
/// panic under `CI=true`.
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

/// Debian's `redis-server` (built with TLS).
pub fn redis_server() -> Option<PathBuf> {
    require(
        "/usr/bin/redis-server",
        "install the Debian package `redis-server`",
    )
}

/// Debian's `redis-benchmark`.
pub fn redis_benchmark() -> Option<PathBuf> {
    require(
        "/usr/bin/redis-benchmark",
        "install the Debian package `redis-tools`",
    )
}
