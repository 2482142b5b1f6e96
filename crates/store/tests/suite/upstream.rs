//! PostgreSQL only: taking over a database created by upstream's Python tool, and connecting.
//! (Upstream only ever wrote PostgreSQL, so there is no upstream SQLite database to adopt.)

use serde_json::{Value, json};
use store::{Candidate, CommitFilter, Db, MetricsFilter, Selection, Status, TableId};

use crate::support::{Backend, Fixture, chain, record, upstream_fixture};

/// The tables as upstream creates them (written from upstream's
/// `benchmark_commits` DDL, and `benchmark_metrics` as its push derives columns from records:
/// `INTEGER`, `DECIMAL(15,6)`, `VARCHAR(50)`, `BOOLEAN`, `TEXT` for a null first value).
const UPSTREAM_DDL: &str = r#"
CREATE TABLE benchmark_metrics (
    "id" SERIAL PRIMARY KEY,
    "created_at" TIMESTAMPTZ DEFAULT NOW(),
    "architecture" VARCHAR(50),
    "avg_latency_ms" DECIMAL(15,6),
    "benchmark_mode" VARCHAR(50),
    "benchmark_threads" INTEGER,
    "clients" INTEGER,
    "cluster_mode" BOOLEAN,
    "command" VARCHAR(255) NOT NULL,
    "commit" VARCHAR(255) NOT NULL,
    "data_size" INTEGER,
    "duration" INTEGER,
    "env_aslr" VARCHAR(50),
    "env_benchmark_tool_version" VARCHAR(50),
    "env_cpu_governor" VARCHAR(50),
    "env_cpu_model" VARCHAR(50),
    "env_idle_states" VARCHAR(50),
    "env_kernel_version" VARCHAR(50),
    "env_numa_nodes" VARCHAR(50),
    "env_os" VARCHAR(50),
    "env_thp" VARCHAR(50),
    "env_turbo_boost" VARCHAR(50),
    "io_threads" INTEGER,
    "max_latency_ms" DECIMAL(15,6),
    "min_latency_ms" DECIMAL(15,6),
    "p50_latency_ms" DECIMAL(15,6),
    "p95_latency_ms" DECIMAL(15,6),
    "p99_latency_ms" DECIMAL(15,6),
    "pipeline" INTEGER,
    "repository" TEXT,
    "requests" INTEGER,
    "rps" DECIMAL(15,6),
    "test_type" VARCHAR(50),
    "timestamp" TIMESTAMPTZ NOT NULL,
    "tls" BOOLEAN,
    "warmup" INTEGER
);
CREATE INDEX IF NOT EXISTS "idx_benchmark_metrics_commit" ON benchmark_metrics ("commit");
CREATE INDEX IF NOT EXISTS "idx_benchmark_metrics_timestamp" ON benchmark_metrics ("timestamp");
CREATE INDEX IF NOT EXISTS "idx_benchmark_metrics_command" ON benchmark_metrics ("command");
CREATE INDEX IF NOT EXISTS "idx_benchmark_metrics_config"
    ON benchmark_metrics ("commit", "command", "data_size", "pipeline", "clients");

CREATE TABLE IF NOT EXISTS benchmark_commits (
    id SERIAL PRIMARY KEY,
    sha VARCHAR(40) NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    status VARCHAR(20) NOT NULL CHECK (status IN ('in_progress', 'complete')),
    config JSONB NOT NULL,
    architecture VARCHAR(50),
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    CONSTRAINT unique_sha_config_arch UNIQUE(sha, config, architecture)
);
CREATE INDEX IF NOT EXISTS idx_commits_sha ON benchmark_commits(sha);
CREATE INDEX IF NOT EXISTS idx_commits_status ON benchmark_commits(status);
CREATE INDEX IF NOT EXISTS idx_commits_timestamp ON benchmark_commits(timestamp);
CREATE INDEX IF NOT EXISTS idx_commits_config ON benchmark_commits USING GIN(config);
"#;

/// Upstream's Grafana per-command panel query, verbatim, wrapped only to read `numeric` as
/// `float8` in the test.
const GRAFANA: &str = "SELECT time, rps::float8 FROM (\
    SELECT timestamp AS time, AVG(rps) AS rps FROM benchmark_metrics \
    WHERE command='SET' AND pipeline=10 AND io_threads=9 \
    GROUP BY timestamp, command, data_size, pipeline, clients, requests, cluster_mode, tls, io_threads, architecture \
    ORDER BY timestamp) g";

fn count(c: &mut postgres::Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
}

#[test]
fn upstream_database_is_adopted() {
    let Some(f) = Fixture::new(Backend::Postgres, "upstream::upstream_database_is_adopted") else {
        return;
    };
    let pg = f.pg.as_ref().unwrap();
    let mut c = pg.client("postgres").unwrap();
    c.batch_execute(UPSTREAM_DDL).unwrap();
    // Two rows as upstream's push writes them (the first two records of a real upstream file,
    // `test_type` added at push time), and two commit rows as its `mark` writes them.
    let upstream_rows = upstream_fixture("run-a-metrics.json");
    for r in &upstream_rows[..2] {
        c.execute(
            "INSERT INTO benchmark_metrics (\"timestamp\", \"commit\", repository, command, data_size, pipeline, clients, \
               rps, avg_latency_ms, min_latency_ms, p50_latency_ms, p95_latency_ms, p99_latency_ms, max_latency_ms, \
               cluster_mode, tls, requests, benchmark_mode, warmup, architecture, env_os, test_type) \
             VALUES ($1::text::timestamptz, $2, NULL, $3, $4::int4, $5::int4, $6::int4, $7::text::numeric, \
               $8::text::numeric, $9::text::numeric, $10::text::numeric, $11::text::numeric, $12::text::numeric, \
               $13::text::numeric, $14, $15, $16::int4, $17, $18::int4, $19, $20, 'core')",
            &[
                &r["timestamp"].as_str(),
                &r["commit"].as_str(),
                &r["command"].as_str(),
                &(r["data_size"].as_i64().unwrap() as i32),
                &(r["pipeline"].as_i64().unwrap() as i32),
                &(r["clients"].as_i64().unwrap() as i32),
                &r["rps"].to_string(),
                &r["avg_latency_ms"].to_string(),
                &r["min_latency_ms"].to_string(),
                &r["p50_latency_ms"].to_string(),
                &r["p95_latency_ms"].to_string(),
                &r["p99_latency_ms"].to_string(),
                &r["max_latency_ms"].to_string(),
                &r["cluster_mode"].as_bool(),
                &r["tls"].as_bool(),
                &(r["requests"].as_i64().unwrap() as i32),
                &r["benchmark_mode"].as_str(),
                &(r["warmup"].as_i64().unwrap() as i32),
                &r["architecture"].as_str(),
                &r["env_os"].as_str(),
            ],
        )
        .unwrap();
    }
    let cfg: Value = json!([{"requests": [50000], "data_sizes": [32, 256], "pipelines": [4], "clients": [25], "commands": ["INCR", "LPUSH", "HSET"], "io-threads": 1}]);
    let old = Candidate {
        sha: "a".repeat(40),
        commit_time: chrono::Utc::now() - chrono::Duration::days(2),
    };
    let stuck = Candidate {
        sha: "b".repeat(40),
        commit_time: chrono::Utc::now() - chrono::Duration::days(1),
    };
    let new = Candidate {
        sha: "c".repeat(40),
        commit_time: chrono::Utc::now(),
    };
    for (cand, status) in [(&old, "complete"), (&stuck, "in_progress")] {
        c.execute(
            "INSERT INTO benchmark_commits (sha, status, config, timestamp, architecture) VALUES ($1, $2, $3, $4, 'x86_64')",
            &[&cand.sha, &status, &cfg, &cand.commit_time],
        )
        .unwrap();
    }

    let db = f.open();
    // Nothing lost, and the migration is recorded once.
    assert_eq!(count(&mut c, "benchmark_metrics"), 2);
    assert_eq!(count(&mut c, "benchmark_commits"), 2);
    drop(db);
    let mut db = f.open();
    // Two versions for each of the two tables, each recorded once.
    assert_eq!(count(&mut c, "valkey_perf_migrations"), 4);
    let checks: Vec<String> = c
        .query(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'benchmark_commits'::regclass AND contype = 'c'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert!(checks[0].contains("failed"), "{checks:?}");

    // Commits: upstream's rows read back; failed is now allowed; determine and query work.
    let core = TableId::core();
    let rows = db.query(&core, &CommitFilter::default()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1].sha.as_str(), rows[1].status, rows[1].attempts),
        (old.sha.as_str(), Status::Complete, 0)
    );
    assert_eq!(rows[1].config, cfg);
    assert!(
        rows[1].config_hash.is_some(),
        "the migration fills config_hash"
    );
    db.mark(
        &core,
        std::slice::from_ref(&stuck),
        Status::Failed,
        &cfg,
        "x86_64",
        Some("segfault"),
    )
    .unwrap();
    let sel = Selection {
        config: &cfg,
        architecture: "x86_64",
        max_commits: 3,
        max_attempts: 3,
        subset_detection: true,
    };
    let cands = [new.clone(), stuck.clone(), old.clone()];
    assert_eq!(
        db.determine(&core, &cands, &sel).unwrap(),
        [new.sha.clone(), stuck.sha.clone()]
    );
    let failed = db
        .query(
            &core,
            &CommitFilter {
                status: Some(Status::Failed),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (failed[0].attempts, failed[0].last_error.as_deref()),
        (1, Some("segfault"))
    );
    assert_eq!(
        db.claim(&core, &cands, &sel, "r1").unwrap(),
        [new.sha.clone(), stuck.sha.clone()]
    );

    // Metrics: push an upstream file (no run start time: keyed by position) twice. Its first
    // two records are the rows upstream wrote: recognised, not stored again.
    let first = db
        .push_records(&core, "HEAD/metrics.json", &upstream_rows, None, false)
        .unwrap();
    assert_eq!((first.inserted, first.already_present), (16, 2));
    let again = db
        .push_records(&core, "HEAD/metrics.json", &upstream_rows, None, false)
        .unwrap();
    assert_eq!((again.inserted, again.already_present), (0, 18));
    assert_eq!(count(&mut c, "benchmark_metrics"), 18);

    // Our records, for two commits, appear in upstream's Grafana panel query.
    let t1 = "2026-05-01T10:00:00Z";
    let t2 = "2026-05-02T10:00:00Z";
    let ours: Vec<_> = (0..3).map(|i| record("1111", t1, "SET", i)).collect();
    let out = db
        .push_records(&core, "1111/metrics.json", &ours, Some("core"), false)
        .unwrap();
    assert_eq!(out.inserted, 3);
    assert!(
        out.columns_added.contains(&"config_set".to_owned()),
        "{out:?}"
    );
    let mut long = record("2222", t2, "SET", 0);
    let long_os = "Debian GNU/Linux 12 (bookworm) on a machine with a rather long description";
    long.insert("env_os".into(), json!(long_os));
    let out = db
        .push_records(&core, "2222/metrics.json", &[long], None, false)
        .unwrap();
    assert_eq!(
        out.columns_widened,
        ["env_os: text of at most 50 characters → text"]
    );
    let panel: Vec<(chrono::DateTime<chrono::Utc>, f64)> = c
        .query(GRAFANA, &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(panel.len(), 2, "{panel:?}");
    assert_eq!(panel[0].0.to_rfc3339(), "2026-05-01T10:00:00+00:00");
    assert!(
        (panel[0].1 - (1408450.62 + 1.0)).abs() < 1e-6,
        "mean of the 3 runs: {panel:?}"
    );
    assert!((panel[1].1 - 1408450.62).abs() < 1e-6, "{panel:?}");

    // Reading back: upstream rows with their JSON types, ours with theirs.
    let head = db
        .fetch_metrics(
            &core,
            &MetricsFilter {
                commits: vec!["HEAD".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(head.len(), 18);
    assert_eq!(head[0]["data_size"], json!(32));
    assert_eq!(head[0]["rps"], upstream_rows[0]["rps"]);
    assert_eq!(head[0]["cluster_mode"], json!(false));
    let mine = db
        .fetch_metrics(
            &core,
            &MetricsFilter {
                commits: vec!["2222".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(mine[0]["env_os"], long_os);
    assert_eq!(mine[0]["run_index"], 0);
    assert_eq!(mine[0]["config_set"], json!({}));
    let order: Vec<String> = db
        .commits_by_time(&core)
        .unwrap()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(order, ["HEAD", "2222", "1111"]);
}

#[test]
fn wrong_password_is_clear_and_never_shown() {
    let Some(f) = Fixture::new(
        Backend::Postgres,
        "upstream::wrong_password_is_clear_and_never_shown",
    ) else {
        return;
    };
    let pg = f.pg.as_ref().unwrap();
    let wrong = "Wr0ng-Passw0rd-xyzzy";
    let url = format!(
        "postgres://postgres:{wrong}@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port()
    );
    let err = Db::open(&url, None).unwrap_err();
    let shown = format!("{}\n{err:?}", chain(&err));
    assert!(!shown.contains(wrong), "{shown}");
    assert!(shown.contains("password authentication failed"), "{shown}");
    assert!(
        shown.contains("postgres://postgres:***@127.0.0.1"),
        "{shown}"
    );

    // A good connection does not show its password either, and `prefer` falls back to plain
    // TCP on a server without TLS while `require` refuses it.
    let good = format!(
        "postgres://postgres:{}@127.0.0.1:{}/postgres",
        pg.password(),
        pg.port()
    );
    let db = Db::open(&good, None).unwrap();
    assert!(!format!("{db:?} {}", db.location()).contains(pg.password()));
    let err = Db::open(&format!("{good}?sslmode=require"), None).unwrap_err();
    let shown = format!("{}\n{err:?}", chain(&err));
    assert!(!shown.contains(pg.password()), "{shown}");
    assert!(shown.contains("sslmode"), "{shown}");
    let err = Db::open(&format!("{good}?sslmode=verify-full"), None).unwrap_err();
    assert!(chain(&err).contains("--db-ca"), "{}", chain(&err));
}

/// A CA and a server certificate for 127.0.0.1 signed by it, as PEM: (ca, cert, key).
fn test_pki() -> (String, String, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "valkey-perf store test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn tls_modes() {
    let (ca, cert, key) = test_pki();
    let options = store::test_support::PgOptions {
        tls: Some(store::test_support::TlsFiles {
            cert_pem: cert,
            key_pem: key,
        }),
    };
    let Some(pg) =
        store::test_support::PgInstance::start_or_skip_with("upstream::tls_modes", &options)
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let (other_ca, _, _) = test_pki();
    let other_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_file, &other_ca).unwrap();
    let base = format!(
        "postgres://postgres:{}@127.0.0.1:{}/postgres",
        pg.password(),
        pg.port()
    );
    let mut admin = pg.client("postgres").unwrap();
    let encrypted = |admin: &mut postgres::Client| -> Vec<bool> {
        admin
            .query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'valkey-perf'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };

    // verify-full with the right CA: connected, over TLS.
    let db = Db::open(&format!("{base}?sslmode=verify-full"), Some(&ca_file))
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(encrypted(&mut admin), [true]);
    drop(db);
    // verify-full with a CA that did not sign the server's certificate: refused.
    let err = Db::open(&format!("{base}?sslmode=verify-full"), Some(&other_file)).unwrap_err();
    let shown = chain(&err);
    assert!(shown.contains("certificate"), "{shown}");
    assert!(!shown.contains(pg.password()), "{shown}");
    // require and prefer encrypt without checking; disable does not encrypt.
    for (mode, want) in [("require", true), ("prefer", true), ("disable", false)] {
        let db = Db::open(&format!("{base}?sslmode={mode}"), None)
            .unwrap_or_else(|e| panic!("{mode}: {}", chain(&e)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(encrypted(&mut admin), [want], "{mode}");
        drop(db);
        // Wait for the backend of the closed connection to go.
        for _ in 0..100 {
            if encrypted(&mut admin).is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
