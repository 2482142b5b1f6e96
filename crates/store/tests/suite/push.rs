//! Pushing records: idempotency, column evolution, refusal of bad files, and reading back.

use serde_json::{Value, json};
use store::{Error, MetricsFilter, TableId};

use crate::both;
use crate::support::{Backend, Fixture, chain, record};

const T1: &str = "2026-05-01T10:00:00+02:00";
const T2: &str = "2026-05-02T10:00:00Z";
const T3: &str = "2026-05-03T10:00:00Z";

fn rows(db: &mut store::Db) -> Vec<serde_json::Map<String, Value>> {
    db.fetch_metrics(&TableId::core(), &MetricsFilter::default())
        .unwrap()
}

fn push_twice_adds_nothing(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let file: Vec<_> = ["SET", "GET"]
        .iter()
        .flat_map(|c| (0..3).map(move |i| record("aaa", T1, c, i)))
        .collect();
    let first = db
        .push_records(&core, "aaa/metrics.json", &file, None, false)
        .unwrap();
    assert_eq!((first.inserted, first.already_present), (6, 0));
    let second = db
        .push_records(&core, "aaa/metrics.json", &file, None, false)
        .unwrap();
    assert_eq!((second.inserted, second.already_present), (0, 6));
    assert_eq!(rows(&mut db).len(), 6);

    // A dry run reports what it would do and writes nothing, not even a new column.
    let mut new = record("bbb", T2, "SET", 0);
    new.insert("dry_only".into(), json!(1));
    let dry = db
        .push_records(&core, "bbb/metrics.json", &[new.clone()], None, true)
        .unwrap();
    assert_eq!((dry.inserted, dry.already_present), (1, 0));
    assert_eq!(dry.columns_added, ["dry_only"]);
    assert_eq!(rows(&mut db).len(), 6);
    let real = db
        .push_records(&core, "bbb/metrics.json", &[new], None, false)
        .unwrap();
    assert_eq!(
        real.columns_added,
        ["dry_only"],
        "the dry run must not have created the column"
    );

    // A reopened database (a second runner, a later invocation) sees the same keys.
    drop(db);
    let mut db = f.open();
    let again = db
        .push_records(&core, "aaa/metrics.json", &file, Some("core"), false)
        .unwrap();
    assert_eq!((again.inserted, again.already_present), (0, 6));
    assert_eq!(rows(&mut db).len(), 7);
}
both!(push_twice_adds_nothing);

fn new_field_adds_column(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    db.push_records(&core, "a", &[record("aaa", T1, "SET", 0)], None, false)
        .unwrap();
    let mut r = record("bbb", T2, "SET", 0);
    r.insert("server_cpu_pct".into(), json!(87.5));
    r.insert("errors_by_kind".into(), json!({"timeout": 2, "moved": 0}));
    r.insert("numa_pinned".into(), json!(true));
    r.insert("always_null".into(), Value::Null);
    let out = db.push_records(&core, "b", &[r], None, false).unwrap();
    assert_eq!(out.inserted, 1);
    assert_eq!(
        out.columns_added,
        ["errors_by_kind", "numa_pinned", "server_cpu_pct"]
    );

    let rows = rows(&mut db);
    let old = rows.iter().find(|r| r["commit"] == "aaa").unwrap();
    let new = rows.iter().find(|r| r["commit"] == "bbb").unwrap();
    assert_eq!(new["server_cpu_pct"], json!(87.5));
    assert_eq!(new["errors_by_kind"], json!({"timeout": 2, "moved": 0}));
    assert_eq!(new["numa_pinned"], json!(true));
    assert_eq!(old["server_cpu_pct"], Value::Null);
    assert!(
        !new.contains_key("always_null"),
        "an all-null field has no type yet, so no column"
    );

    if f.backend == Backend::Postgres {
        // Nested values are JSONB on PostgreSQL, queryable as such.
        let mut c = f.pg.as_ref().unwrap().client("postgres").unwrap();
        let row = c
            .query_one("SELECT (errors_by_kind->>'timeout')::int AS n, pg_typeof(errors_by_kind)::text AS t FROM benchmark_metrics WHERE \"commit\" = 'bbb'", &[])
            .unwrap();
        assert_eq!(row.get::<_, i32>("n"), 2);
        assert_eq!(row.get::<_, String>("t"), "jsonb");
    }
}
both!(new_field_adds_column);

fn float_widens_integer_column(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let mut a = record("aaa", T1, "SET", 0);
    a.insert("queue_depth".into(), json!(3));
    let out = db.push_records(&core, "a", &[a], None, false).unwrap();
    assert!(
        out.columns_added.contains(&"queue_depth".to_owned()),
        "{out:?}"
    );
    let mut b = record("bbb", T2, "SET", 0);
    b.insert("queue_depth".into(), json!(3.25));
    // `warmup` is a fixed integer column: a float widens it as well.
    b.insert("warmup".into(), json!(0.5));
    let out = db.push_records(&core, "b", &[b], None, false).unwrap();
    assert_eq!(out.inserted, 1);
    assert_eq!(
        out.columns_widened,
        [
            "queue_depth: 64-bit integer → decimal",
            "warmup: 64-bit integer → decimal"
        ]
    );
    let rows = rows(&mut db);
    let depth = |c: &str| {
        rows.iter().find(|r| r["commit"] == c).unwrap()["queue_depth"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(depth("aaa"), 3.0);
    assert_eq!(depth("bbb"), 3.25);
    // A later integer still fits the widened column.
    let mut c = record("ccc", T3, "SET", 0);
    c.insert("queue_depth".into(), json!(7));
    let out = db.push_records(&core, "c", &[c], None, false).unwrap();
    assert!(out.columns_widened.is_empty());
    if f.backend == Backend::Postgres {
        let mut c = f.pg.as_ref().unwrap().client("postgres").unwrap();
        let ty: String = c
            .query_one(
                "SELECT data_type::text FROM information_schema.columns WHERE table_name = 'benchmark_metrics' AND column_name = 'queue_depth'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(ty, "numeric");
    }
}
both!(float_widens_integer_column);

fn bad_files_write_nothing(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    db.push_records(&core, "good", &[record("aaa", T1, "SET", 0)], None, false)
        .unwrap();

    let evil = "x\"; DROP TABLE benchmark_metrics; --";
    let mut bad = record("bbb", T2, "SET", 1);
    bad.insert(evil.into(), json!(1));
    // The bad record is the second: the first must not be written either.
    let file = [record("bbb", T2, "SET", 0), bad];
    let err = db
        .push_records(&core, "bbb/metrics.json", &file, None, false)
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidField { index: 1, .. }),
        "{err:?}"
    );
    let msg = chain(&err);
    assert!(msg.contains(&format!("`{evil}`")), "{msg}");
    assert!(msg.contains("`bbb/metrics.json`"), "{msg}");
    assert!(msg.contains("nothing from this file was written"), "{msg}");

    // A value the column cannot hold (text into an integer column) is refused the same way.
    let mut clash = record("ccc", T3, "SET", 1);
    clash.insert("pipeline".into(), json!("ten"));
    let file = [record("ccc", T3, "SET", 0), clash];
    let err = db
        .push_records(&core, "ccc/metrics.json", &file, None, false)
        .unwrap_err();
    let msg = chain(&err);
    assert!(
        msg.contains("record 1 of `ccc/metrics.json`") && msg.contains("`pipeline`"),
        "{msg}"
    );

    // A record without its commit time is refused, naming the field.
    let mut no_time = record("ddd", T3, "SET", 0);
    no_time.remove("timestamp");
    let err = db
        .push_records(&core, "ddd", &[no_time], None, false)
        .unwrap_err();
    assert!(chain(&err).contains("`timestamp`"), "{}", chain(&err));

    let rows = rows(&mut db);
    assert_eq!(rows.len(), 1, "only the good file's row: {rows:?}");
    assert_eq!(rows[0]["commit"], "aaa");
}
both!(bad_files_write_nothing);

fn records_round_trip(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let mut r = record("aaa", "2024-10-25T00:36:32+02:00", "GET", 0);
    r.insert("valkey_benchmark_threads".into(), json!(4));
    r.insert("config_set".into(), json!({"io-threads": "4", "save": ""}));
    db.push_records(&core, "a", &[r.clone()], Some("core"), false)
        .unwrap();
    db.push_records(
        &core,
        "b",
        &[record("bbb", T2, "SET", 0), record("bbb", T2, "SET", 1)],
        None,
        false,
    )
    .unwrap();
    db.push_records(&core, "c", &[record("ccc", T1, "SET", 0)], None, false)
        .unwrap();

    let got = db
        .fetch_metrics(
            &core,
            &MetricsFilter {
                commits: vec!["aaa".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    for (k, v) in &r {
        let want = match k.as_str() {
            // Times come back as RFC 3339 in UTC.
            "timestamp" => json!("2024-10-24T22:36:32Z"),
            _ => v.clone(),
        };
        assert_eq!(g.get(k), Some(&want), "field `{k}`");
    }
    assert_eq!(g["test_type"], "core");
    assert!(
        !g.contains_key("benchmark_threads")
            && !g.contains_key("record_key")
            && !g.contains_key("id")
    );
    if f.backend == Backend::Postgres {
        // Both thread columns are filled (upstream dashboards read `benchmark_threads`).
        let mut c = f.pg.as_ref().unwrap().client("postgres").unwrap();
        let n: i64 = c
            .query_one(
                "SELECT benchmark_threads FROM benchmark_metrics WHERE \"commit\" = 'aaa'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(n, 4);
    }

    // Filters, and commit order by commit time (not push order).
    let since = chrono::DateTime::parse_from_rfc3339(T1)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let set_since = db
        .fetch_metrics(
            &core,
            &MetricsFilter {
                since: Some(since),
                commands: vec!["SET".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        set_since
            .iter()
            .map(|r| r["commit"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ccc", "bbb", "bbb"]
    );
    let order: Vec<String> = db
        .commits_by_time(&core)
        .unwrap()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(order, ["bbb", "ccc", "aaa"]);

    // Other table ids get their own tables, created on first use.
    let tag = TableId::parse("tag").unwrap();
    let custom = TableId::parse("search_v2").unwrap();
    db.push_records(&tag, "t", &[record("v9.0.0", T1, "SET", 0)], None, false)
        .unwrap();
    db.push_records(&custom, "s", &[record("ddd", T1, "SET", 0)], None, false)
        .unwrap();
    assert_eq!(db.commits_by_time(&tag).unwrap()[0].0, "v9.0.0");
    assert_eq!(db.commits_by_time(&custom).unwrap()[0].0, "ddd");
    assert_eq!(db.commits_by_time(&core).unwrap().len(), 3);
}
both!(records_round_trip);

/// Only the fields asked for come back, columns and fields nested in `run_details` alike.
fn only_the_fields_asked_for(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let mut r = record("aaa", T1, "GET", 0);
    r.insert("valkey_benchmark_threads".into(), json!(4));
    r.insert("reference_for".into(), json!("bbb"));
    db.push_records(&core, "a", &[r], None, false).unwrap();
    let wanted =
        |f: &str| ["commit", "rps", "reference_for", "valkey_benchmark_threads"].contains(&f);
    let got = db
        .fetch_metric_fields(&core, &MetricsFilter::default(), &wanted)
        .unwrap();
    assert_eq!(got.len(), 1);
    let mut keys: Vec<&str> = got[0].keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["commit", "reference_for", "rps", "valkey_benchmark_threads"]
    );
    assert_eq!(got[0]["reference_for"], "bbb");
    assert_eq!(got[0]["valkey_benchmark_threads"], 4);
}
both!(only_the_fields_asked_for);

/// The server-side fields `run` writes (CPU per request, memory after the run) become typed
/// columns and read back as written.
fn server_usage_fields_round_trip(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let mut timed = record("aaa", T1, "GET", 0);
    for (k, v) in [
        ("server_cpu_user_s", json!(1.2345)),
        ("server_cpu_sys_s", json!(0.5)),
        ("server_cpu_source", json!("proc")),
        ("server_cpu_info_s", json!(1.7351)),
        ("server_commands", json!(412_345)),
        ("server_cpu_us_per_request", json!(4.206)),
        ("server_calls", json!(412_300)),
        ("usec_per_call", json!(0.912)),
        ("used_memory", json!(5_123_456_789_u64)),
        ("used_memory_rss", json!(6_000_000_000_u64)),
        ("mem_fragmentation_ratio", json!(1.17)),
        ("keys", json!(100_000)),
    ] {
        timed.insert(k.into(), v);
    }
    let out = db
        .push_records(&core, "aaa/metrics.json", &[timed.clone()], None, false)
        .unwrap();
    assert_eq!(out.inserted, 1, "{out:?}");
    assert!(out.columns_widened.is_empty(), "{out:?}");
    let rows = rows(&mut db);
    for (k, v) in timed
        .iter()
        .filter(|(k, _)| k.starts_with("server_") || k.starts_with("used_memory"))
    {
        assert_eq!(&rows[0][k], v, "`{k}`");
    }
    for k in ["usec_per_call", "mem_fragmentation_ratio", "keys"] {
        assert_eq!(rows[0][k], timed[k], "`{k}`");
    }
}
both!(server_usage_fields_round_trip);

/// Per-second samples go into `benchmark_timeseries`, one row per record and second, and a
/// second push adds nothing.
fn timeseries_rows_are_keyed_by_record_and_second(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let rec = record("aaa", T1, "GET", 0);
    let samples: Vec<serde_json::Map<String, Value>> = (1..=3)
        .map(|s| {
            crate::support::obj(json!({
                "second": s, "timestamp": format!("2026-11-27T17:36:3{s}.123Z"),
                "ops_per_sec": 1000 * s, "threads": [{"tid": 1, "name": "valkey-server"}],
                "command_latency": {"p50_usec": 2, "p99_usec": 8, "p999_usec": 16},
            }))
        })
        .collect();
    assert_eq!(
        db.push_timeseries(&core, "a.jsonl", &rec, &samples, false)
            .unwrap(),
        3
    );
    assert_eq!(
        db.push_timeseries(&core, "a.jsonl", &rec, &samples, false)
            .unwrap(),
        0
    );
    let rows = db.fetch_timeseries(&core).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].1, 2);
    assert_eq!(rows[1].2["ops_per_sec"], json!(2000));
    assert_eq!(rows[2].2["command_latency"]["p99_usec"], json!(8));
    if f.backend == Backend::Postgres {
        let mut c = f.pg.as_ref().unwrap().client("postgres").unwrap();
        let row = c
            .query_one(
                "SELECT max((sample->'command_latency'->>'p999_usec')::int) AS p FROM benchmark_timeseries",
                &[],
            )
            .unwrap();
        assert_eq!(row.get::<_, i32>("p"), 16);
    }
}
both!(timeseries_rows_are_keyed_by_record_and_second);

/// A file pushed in batches is one transaction: a column widened by a later batch holds the
/// earlier values too, a bad record in a later batch leaves nothing of the file, and the keys
/// are those of a push in one piece (positions run across batches).
fn batches_are_one_file(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let file: Vec<_> = (0..6)
        .map(|i| {
            let mut r = record("aaa", T1, "SET", i);
            // An integer column until the last batch brings a fraction.
            r.insert(
                "batched_value".into(),
                json!(if i == 5 { json!(2.5) } else { json!(i) }),
            );
            r
        })
        .collect();
    let mut push = db.begin_push(&core, "aaa/metrics.json", None).unwrap();
    for batch in file.chunks(2) {
        push.push(batch).unwrap();
    }
    let outcome = push.finish(false).unwrap();
    assert_eq!((outcome.inserted, outcome.already_present), (6, 0));
    assert!(outcome.columns_added.contains(&"batched_value".to_string()));
    assert!(
        outcome
            .columns_widened
            .iter()
            .any(|w| w.starts_with("batched_value: ")),
        "{outcome:?}"
    );
    let again = db
        .push_records(&core, "aaa/metrics.json", &file, None, false)
        .unwrap();
    assert_eq!((again.inserted, again.already_present), (0, 6), "same keys");
    let mut values: Vec<f64> = rows(&mut db)
        .iter()
        .map(|r| r["batched_value"].as_f64().unwrap())
        .collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, [0.0, 1.0, 2.0, 2.5, 3.0, 4.0]);

    // A bad record in the third batch: nothing of the file is stored, no column either.
    let mut bad: Vec<_> = (0..6)
        .map(|i| {
            let mut r = record("bbb", T2, "GET", i);
            r.insert("only_in_bad_file".into(), json!(i));
            r
        })
        .collect();
    bad[5].remove("timestamp");
    let mut push = db.begin_push(&core, "bbb/metrics.json", None).unwrap();
    let mut result = Ok(());
    for batch in bad.chunks(2) {
        result = push.push(batch);
        if result.is_err() {
            break;
        }
    }
    let err = result.unwrap_err();
    assert!(err.to_string().contains("record 5"), "{err}");
    drop(push);
    assert_eq!(rows(&mut db).len(), 6);
    assert!(
        rows(&mut db)
            .iter()
            .all(|r| !r.contains_key("only_in_bad_file"))
    );
}
both!(batches_are_one_file);

/// A duet run (both targets at once) and a solo run of the same case, commit, run index and
/// start are two measurements: two rows, each pushed once, the duet's marked as such.
fn duet_and_solo_runs_are_two_rows(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let solo = record("aaa", T1, "SET", 0);
    let mut duet = solo.clone();
    duet.insert("duet".into(), json!(true));
    let file = [solo, duet];
    let first = db
        .push_records(&core, "aaa/metrics.json", &file, None, false)
        .unwrap();
    assert_eq!((first.inserted, first.already_present), (2, 0));
    let again = db
        .push_records(&core, "aaa/metrics.json", &file, None, false)
        .unwrap();
    assert_eq!((again.inserted, again.already_present), (0, 2));
    let stored = rows(&mut db);
    let duets = stored
        .iter()
        .filter(|r| r.get("duet") == Some(&json!(true)));
    assert_eq!((stored.len(), duets.count()), (2, 1), "{stored:?}");
}
both!(duet_and_solo_runs_are_two_rows);
