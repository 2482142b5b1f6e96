//! The read commands SISMEMBER, ZSCORE, ZRANGE and XRANGE on both engines (the native one and
//! redis-benchmark, standing in for valkey-benchmark through its custom-command form), against
//! a running server whose own counters are read: every read and every seeding write is counted
//! exactly in `INFO commandstats`, and every read hits.

use crate::support::{Bins, Resp, Scratch, ServerGuard};
use serde_json::{Value, json};
use std::time::Duration;

const KEYSPACE: u64 = 500;
const REQUESTS: u64 = 3000;

/// `calls` of one command in `INFO commandstats` (0 when it never ran).
fn calls(client: &mut Resp, command: &str) -> u64 {
    let info = client.call(&["INFO", "commandstats"]).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

fn records(scratch: &Scratch) -> Vec<Value> {
    let path = scratch.results().join("running-server/metrics.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            Value::Object(valkey_perf::model::flatten_details(
                r.as_object().unwrap().clone(),
            ))
        })
        .collect()
}

/// Runs the four reads (SISMEMBER last, so its set is still there afterwards) on `engine`
/// and checks the server's counters.
fn reads_on(engine: &str) {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let mut client = Resp::connect(server.port).unwrap();
    client.call(&["CONFIG", "RESETSTAT"]).unwrap();
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [REQUESTS],
        "keyspacelen": [KEYSPACE],
        "data_sizes": [16],
        // redis-benchmark sends whole pipelines; with 1 it sends exactly `requests`.
        "pipelines": [if engine == "native" { 4 } else { 1 }],
        "clients": [4],
        "commands": ["ZSCORE", "ZRANGE", "XRANGE", "SISMEMBER"],
        "warmup": 0
    }]));
    let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .env_remove("VALKEY_PERF_PASSWORD")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--results-dir")
        .arg(scratch.results())
        .arg("--use-running-server")
        .args(["--port", &server.port.to_string()])
        .timeout(Duration::from_secs(120));
    if engine != "native" {
        cmd.args(["--valkey-benchmark-path", crate::support::REDIS_BENCHMARK]);
    }
    cmd.assert().success();

    // Seeding: every member the reads name, and at least the 100 elements a range reads.
    assert_eq!(calls(&mut client, "sadd"), KEYSPACE, "{engine}");
    assert_eq!(
        calls(&mut client, "zadd"),
        2 * KEYSPACE,
        "{engine}: ZSCORE's and ZRANGE's"
    );
    assert_eq!(calls(&mut client, "xadd"), KEYSPACE, "{engine}");
    for read in ["sismember", "zscore", "zrange", "xrange"] {
        assert_eq!(calls(&mut client, read), REQUESTS, "{engine}: {read}");
    }
    assert_eq!(
        client.info_u64("stats", "keyspace_misses"),
        0,
        "{engine}: a read found no key"
    );
    assert!(client.info_u64("stats", "keyspace_hits") >= 4 * REQUESTS);
    // The set SISMEMBER read holds every member `element:<n>` of the keyspace, named as
    // __rand_int__ names them (12 digits), so every read asked for a member that exists.
    assert_eq!(
        client.call(&["SCARD", "myset"]).unwrap(),
        KEYSPACE.to_string()
    );
    for n in [0, KEYSPACE - 1] {
        let member = format!("element:{n:012}");
        assert_eq!(client.call(&["SISMEMBER", "myset", &member]).unwrap(), "1");
    }

    let recs = records(&scratch);
    assert_eq!(recs.len(), 4);
    let commands: Vec<&str> = recs
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["ZSCORE", "ZRANGE", "XRANGE", "SISMEMBER"]);
    for r in &recs {
        assert_eq!(r["engine"], engine, "{r}");
        assert!(r["rps"].as_f64().unwrap() > 0.0, "{r}");
        // No "not seeded" or "unexpected replies" finding (a short run's "noisy" and a busy
        // machine's "client bound" say nothing about hits).
        let warnings = r["warnings"].as_array().cloned().unwrap_or_default();
        let about_data: Vec<&Value> = warnings
            .iter()
            .filter(|w| ["not_seeded", "ran_empty", "load"].contains(&w["kind"].as_str().unwrap()))
            .collect();
        assert!(about_data.is_empty(), "{about_data:?}");
        if engine == "native" {
            // Every sampled reply had the shape of a hit (1, a score, 100 elements).
            assert_eq!(r["miss_rate"], json!(0.0), "{r}");
            assert_eq!(r["errors"], 0, "{r}");
        } else {
            let line = r["engine_command_line"].as_str().unwrap();
            assert!(
                !line.contains(" -t "),
                "a custom command, not a test: {line}"
            );
        }
    }
}

#[test]
fn reads_hit_seeded_members_and_ranges_native() {
    reads_on("native");
}

#[test]
fn reads_hit_seeded_members_and_ranges_valkey_benchmark() {
    reads_on("valkey-benchmark");
}
