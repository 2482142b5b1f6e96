//! `key_distribution`: a Zipf run's hot keys get the share of requests the distribution
//! predicts, counted exactly by the server (INCR adds one to a key per request); uniform keys
//! spread evenly; the valkey-benchmark engine and bad values are refused before anything runs.

use crate::support::{
    Bins, REDIS_BENCHMARK, Resp, Scratch, ServerGuard, config_validate, small_object, stderr_of,
    stdout_of,
};
use serde_json::json;

const KEYS: u64 = 100_000;
const REQUESTS: u64 = 200_000;
/// The hottest 1 % of the keys.
const HOT: u64 = KEYS / 100;

/// INCR over the keyspace with `distribution` on a running server; returns the share of the
/// requests that went to the keys 0..HOT, read back from the counters themselves.
fn hot_share(server: &ServerGuard, distribution: &str) -> f64 {
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [REQUESTS], "keyspacelen": [KEYS], "data_sizes": [16],
        "pipelines": [16], "clients": [8], "commands": ["INCR"], "warmup": 0,
        "key_distribution": distribution
    }]));
    scratch.run_against(&config, server.port).assert().success();
    let records = scratch.records();
    assert_eq!(records[0]["key_distribution"], distribution, "{records:?}");

    let mut client = Resp::connect(server.port).unwrap();
    let mut hot = 0u64;
    for k in 0..HOT {
        let v = client.call(&["GET", &format!("counter:{k:012}")]).unwrap();
        hot += if v.is_empty() {
            0
        } else {
            v.parse::<u64>().unwrap()
        };
    }
    // Every request landed on some key of the keyspace.
    assert!(client.call(&["DBSIZE"]).unwrap().parse::<u64>().unwrap() <= KEYS);
    hot as f64 / REQUESTS as f64
}

/// The share of ranks 1..=top among 1..=n under Zipf with exponent `s`.
fn predicted(n: u64, s: f64, top: u64) -> f64 {
    let mass = |k: u64| (k as f64).powf(-s);
    (1..=top).map(mass).sum::<f64>() / (1..=n).map(mass).sum::<f64>()
}

#[test]
fn zipf_hot_keys_get_their_predicted_share() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let want = predicted(KEYS, 0.99, HOT);
    let got = hot_share(&server, "zipf:0.99");
    assert!(
        (got - want).abs() <= 0.02,
        "zipf:0.99: the hottest 1 % of {KEYS} keys got {:.2} % of the requests, predicted {:.2} %",
        got * 100.0,
        want * 100.0
    );
    let uniform = hot_share(&server, "uniform");
    assert!(
        (uniform - 0.01).abs() <= 0.002,
        "uniform: 1 % of the keys got {:.2} % of the requests",
        uniform * 100.0
    );
}

#[test]
fn non_uniform_keys_are_refused_by_valkey_benchmark_and_bad_values_by_the_validator() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let config = scratch.config(&json!([small_object(
        json!({"key_distribution": "zipf:1.2"})
    )]));
    let out = scratch
        .native_run(&config)
        .arg("--server-bin")
        .arg(&bins.new)
        .args(["--valkey-benchmark-path", REDIS_BENCHMARK])
        .assert()
        .code(2);
    let stderr = stderr_of(&out);
    for want in ["config[0]", "key_distribution: zipf:1.2", "--engine native"] {
        assert!(stderr.contains(want), "stderr lacks `{want}`:\n{stderr}");
    }
    assert!(!scratch.results().exists(), "a refused run created results");

    // Every problem at once, each naming its key.
    let bad = scratch.config(&json!([
        small_object(json!({"key_distribution": "zipf:0"})),
        small_object(json!({"key_distribution": 3})),
    ]));
    let out = config_validate(&bad).assert().code(2);
    let stderr = stderr_of(&out);
    for want in [
        "config[0] `key_distribution`",
        "\"zipf:0\"",
        "config[1] `key_distribution`",
        "zipf:<exponent>",
    ] {
        assert!(stderr.contains(want), "stderr lacks `{want}`:\n{stderr}");
    }
    // And a good value shows in the case table.
    let good = scratch.config(&json!([small_object(
        json!({"key_distribution": "zipf:0.99"})
    )]));
    let out = config_validate(&good).assert().success();
    let stdout = stdout_of(&out);
    assert!(stdout.contains("100 zipf:0.99"), "{stdout}");
}
