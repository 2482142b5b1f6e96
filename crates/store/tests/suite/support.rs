//! Fixtures: a fresh database per test on either backend, and record builders.

use serde_json::{Map, Value, json};
use store::test_support::PgInstance;
use store::{Candidate, Db};

/// Which backend a test variant runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database; dropped (server stopped, files removed) at the end of the test.
pub struct Fixture {
    pub backend: Backend,
    pub url: String,
    pub pg: Option<PgInstance>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// `None` when the backend is unavailable and skipping is allowed (see `PgInstance`).
    pub fn new(backend: Backend, test: &str) -> Option<Fixture> {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => Some(Fixture {
                backend,
                // A subdirectory that does not exist yet: `open` creates it.
                url: format!(
                    "sqlite:{}",
                    dir.path().join("results/valkey-perf.db").display()
                ),
                pg: None,
                _dir: dir,
            }),
            Backend::Postgres => {
                let pg = PgInstance::start_or_skip(test)?;
                Some(Fixture {
                    backend,
                    url: pg.url(),
                    pg: Some(pg),
                    _dir: dir,
                })
            }
        }
    }

    pub fn open(&self) -> Db {
        Db::open(&self.url, None).unwrap_or_else(|e| panic!("open {}: {}", self.url, chain(&e)))
    }
}

/// An error with all its sources, as the binary prints it.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Runs a scenario `fn name(&Fixture)` as two tests, `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            use $crate::support::{Backend, Fixture};

            #[test]
            fn sqlite() {
                if let Some(f) =
                    Fixture::new(Backend::Sqlite, concat!(stringify!($name), "::sqlite"))
                {
                    super::$name(&f);
                }
            }

            #[test]
            fn postgres() {
                if let Some(f) =
                    Fixture::new(Backend::Postgres, concat!(stringify!($name), "::postgres"))
                {
                    super::$name(&f);
                }
            }
        }
    };
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A valkey-perf record (docs/design.md §6.3 field names and types) for one run of one case.
pub fn record(
    commit: &str,
    commit_time: &str,
    command: &str,
    run_index: i64,
) -> Map<String, Value> {
    obj(json!({
        "timestamp": commit_time,
        "commit": commit,
        "ref": "unstable",
        "repository": "valkey-io/valkey",
        "command": command,
        "data_size": 64,
        "pipeline": 10,
        "clients": 50,
        "requests": 100000,
        "benchmark_mode": "requests",
        "keyspacelen": 100000,
        "rps": 1408450.62 + run_index as f64,
        "avg_latency_ms": 0.462,
        "min_latency_ms": 0.088,
        "p50_latency_ms": 0.455,
        "p95_latency_ms": 0.711,
        "p99_latency_ms": 0.839,
        "max_latency_ms": 6.103,
        "cluster_mode": false,
        "tls": false,
        "io_threads": 9,
        "valkey_benchmark_threads": null,
        "warmup": 0,
        "architecture": "x86_64",
        "run_started_at": format!("2026-11-27T17:36:3{run_index}.123Z"),
        "run_index": run_index,
        "engine": "valkey-benchmark",
        "engine_version": "redis-benchmark 7.0.15",
        "seed": 229208,
        "server_version": "9.1.2",
        "server_restarted": true,
        "config_set": {},
        "env_kernel_version": "6.1.0-26-amd64",
        "env_os": "Debian GNU/Linux 12 (bookworm)",
    }))
}

/// `n` candidates `c00`, `c01`, ... (as 40-hex SHAs), newest first, an hour apart.
pub fn candidates(prefix: &str, n: usize) -> Vec<Candidate> {
    let newest = chrono::DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    (0..n)
        .map(|i| Candidate {
            sha: sha(prefix, i),
            commit_time: newest - chrono::Duration::hours(i as i64),
        })
        .collect()
}

/// A fake 40-hex SHA, recognisable in failures: `prefix` then the index.
pub fn sha(prefix: &str, i: usize) -> String {
    let s = format!("{prefix}{i:02}");
    let hex: String = s.bytes().map(|b| format!("{:x}", b % 16)).collect();
    format!("{hex:0<40}")
}

pub fn upstream_fixture(name: &str) -> Vec<Map<String, Value>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upstream")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}
