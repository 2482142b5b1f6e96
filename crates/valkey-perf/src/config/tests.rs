//! Config validation corpus and expansion order.

use super::*;
use crate::model::case::CpuSet;
use crate::model::{BenchmarkMode, Builtin};

fn facts() -> MachineFacts {
    MachineFacts {
        online_cpus: Some(CpuSet::parse("0-1").unwrap()),
        cpus_may_be_remote: false,
        host_facts_are_warnings: false,
    }
}

const BASE: &str = r#""requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1], "commands": ["SET"]"#;

fn with(extra: &str) -> String {
    format!("[{{{BASE}{extra}}}]")
}

fn error_of(text: &str) -> String {
    match load_text(text, "test.json", &facts()) {
        Ok(_) => panic!("config was accepted: {text}"),
        Err(e) => {
            assert_eq!(crate::exit::code_of(&e), crate::exit::Code::Usage);
            format!("{e:#}")
        }
    }
}

#[test]
fn bad_configs_are_rejected_with_a_precise_message() {
    let corpus: Vec<(String, &[&str])> = vec![
        ("not json".into(), &["not valid JSON at line 1", "JSON array of objects"]),
        ("{}".into(), &["single object", "wrap it in [ ]"]),
        ("[]".into(), &["empty list", "at least one config object"]),
        ("[1]".into(), &["config[0]", "is not an object"]),
        ("\"x\"".into(), &["JSON array of objects"]),
        (with(r#", "pipeline": [1]"#), &["config[0] `pipeline`", "unknown key", "did you mean `pipelines`?"]),
        (with(r#", "io_threads": [2]"#), &["`io_threads`", "did you mean `io-threads`?"]),
        (with(r#", "zzzzzzzzz": 1"#), &["unknown key", "known keys:"]),
        (with(r#", "duration": 10"#), &["`duration`", "both `requests` and `duration`", "keep exactly one"]),
        (r#"[{"keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["neither `requests` nor `duration`", "\"requests\": [100000]"]),
        (r#"[{"requests": [0], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["config[0] `requests`", "value 0 is not a positive integer", "≥ 1"]),
        (r#"[{"requests": ["100"], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["`requests`", "without quotes"]),
        (r#"[{"requests": [], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["`requests`", "list is empty"]),
        (r#"[{"requests": [1.5], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["value 1.5 is not a positive integer"]),
        (r#"[{"requests": [-3], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["value -3 is not a positive integer"]),
        (r#"[{"duration": [10], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["`duration`", "is a list", "one number of seconds"]),
        (r#"[{"duration": 0, "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["`duration`", "value 0"]),
        (r#"[{"requests": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["`keyspacelen`", "missing"]),
        (r#"[{"requests": [1], "keyspacelen": [1], "pipelines": [1], "commands": ["SET"]}]"#.into(), &["`data_sizes`", "missing"]),
        (r#"[{"requests": [1], "keyspacelen": [1], "data_sizes": [1], "commands": ["SET"]}]"#.into(), &["`pipelines`", "missing"]),
        (r#"[{"requests": [1], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1]}]"#.into(), &["`commands`", "missing"]),
        (r#"[{"requests": [1], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": []}]"#.into(), &["`commands`", "list is empty"]),
        (r#"[{"requests": [1], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["GETT"]}]"#.into(), &["command \"GETT\" is not supported", "did you mean \"GET\"?"]),
        (format!(r#"[{{"requests": [1], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["{}"]}}]"#, "X".repeat(1_000_000)), &["command \"XXXXXXXXXX", "… (999940 more bytes)\" is not supported"]),
        (r#"[{"requests": [1], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["FLUSHALL"]}]"#.into(), &["\"FLUSHALL\" is not supported", "supported: SET GET"]),
        (r#"[{"requests": [1], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": [42]}]"#.into(), &["value 42 is not a command name"]),
        (with(r#", "clients": [0]"#), &["`clients`", "value 0"]),
        (with(r#", "cluster_mode": "maybe""#), &["`cluster_mode`", "\"maybe\" is not a switch", "\"yes\" or \"no\""]),
        (with(r#", "cluster_mode": []"#), &["`cluster_mode`", "list is empty"]),
        (with(r#", "tls_mode": 1"#), &["`tls_mode`", "is not a switch"]),
        (with(r#", "tls_mode": ["yes"]"#), &["`tls_mode`", "is not a switch"]),
        (with(r#", "warmup": -1"#), &["`warmup`", "not a whole number ≥ 0"]),
        (with(r#", "warmup": "10""#), &["`warmup`", "not a whole number ≥ 0"]),
        (with(r#", "io-threads": [0]"#), &["`io-threads`", "value 0"]),
        (with(r#", "io-threads": [1000]"#), &["`io-threads`", "at most 256"]),
        (with(r#", "benchmark-threads": 0"#), &["`benchmark-threads`", "value 0"]),
        (with(r#", "server_cpu_range": "0-""#), &["`server_cpu_range`", "is not a CPU id or range"]),
        (with(r#", "server_cpu_range": "3-1""#), &["`server_cpu_range`", "runs backwards"]),
        (with(r#", "server_cpu_range": 0"#), &["`server_cpu_range`", "write it in quotes"]),
        (with(r#", "client_cpu_range": """#), &["`client_cpu_range`", "empty CPU range"]),
        (with(r#", "server_cpu_range": "0-1", "client_cpu_range": "1""#), &["`client_cpu_range`", "CPUs 1 are in both", "separate CPUs"]),
        (with(r#", "server_cpu_range": "0", "client_cpu_range": "7""#), &["`client_cpu_range`", "CPUs 7 do not exist on this machine", "online: 0-1"]),
        (with(r#", "cluster_nodes": 0"#), &["`cluster_nodes`", "value 0"]),
        (with(r#", "cluster_replicas": -1"#), &["`cluster_replicas`", "not a whole number ≥ 0"]),
        (with(r#", "custom-server-configs": ["a"]"#), &["`custom-server-configs`", "is not an object"]),
        (with(r#", "custom-server-configs": {"port": 7000}"#), &["`custom-server-configs`", "setting `port` cannot be set here", "free port"]),
        (with(r#", "custom-server-configs": {"maxmemory": [1]}"#), &["setting `maxmemory` has value [1]", "string or a number"]),
        (with(r#", "custom-server-configs": {"Max Memory": "1"}"#), &["setting name `Max Memory`", "lowercase"]),
        (with(r#", "config_sets": {"a": "b"}"#), &["`config_sets`", "is not a list"]),
        (with(r#", "config_sets": []"#), &["`config_sets`", "list is empty"]),
        (with(r#", "config_sets": [{"io-threads": 2}]"#), &["`config_sets`", "`io-threads` cannot be set here"]),
        (with(r#", "seed": true"#), &["`seed`", "not a seed"]),
        (with(r#", "seed": -5"#), &["`seed`", "not a seed"]),
    ];
    assert!(corpus.len() >= 30);
    for (text, fragments) in &corpus {
        let msg = error_of(text);
        assert!(msg.contains("test.json"), "no file name in: {msg}");
        for f in *fragments {
            assert!(
                msg.contains(f),
                "expected {f:?} in error for {text}:\n{msg}"
            );
        }
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = r#"[{"requests": [0], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]},
                  {"requests": [1], "keyspacelen": [1], "data_sizes": [1], "pipelines": [1], "commands": ["NOPE"], "colour": 1}]"#;
    let msg = error_of(text);
    assert!(msg.contains("config[0] `requests`"), "{msg}");
    assert!(msg.contains("config[1] `commands`"), "{msg}");
    assert!(msg.contains("config[1] `colour`"), "{msg}");
}

#[test]
fn remote_server_cpus_are_a_warning_in_client_mode() {
    let facts = MachineFacts {
        online_cpus: Some(CpuSet::parse("0-1").unwrap()),
        cpus_may_be_remote: true,
        host_facts_are_warnings: false,
    };
    let file = load_text(
        &with(r#", "server_cpu_range": "8-9", "client_cpu_range": "1""#),
        "t.json",
        &facts,
    )
    .unwrap();
    assert_eq!(file.warnings.len(), 1);
    assert!(
        file.warnings[0]
            .warning
            .message
            .contains("the server runs elsewhere")
    );
}

#[test]
fn upstream_shapes_are_accepted() {
    let text = r#"[{"requests": [10000000], "keyspacelen": [10000000], "data_sizes": [16, 64, 256],
        "pipelines": [1, 10, 100], "commands": ["SET", "GET"], "cluster_mode": "yes", "tls_mode": "yes",
        "warmup": 10, "io-threads": [1, 4, 8], "server_cpu_range": "0", "client_cpu_range": "1"}]"#;
    let file = load_text(text, "t.json", &facts()).unwrap();
    assert_eq!(file.cases.len(), 3 * 3 * 3 * 2);
    assert!(
        file.cases
            .iter()
            .all(|c| c.topology.cluster && c.topology.tls)
    );
    assert_eq!(file.cases[0].clients, 50, "clients default to 50");
}

#[test]
fn expansion_follows_the_documented_order() {
    let text = r#"[{"requests": [100, 200], "keyspacelen": [10], "data_sizes": [16, 32], "pipelines": [1, 4],
        "clients": [5], "commands": ["SET", "GET"], "cluster_mode": ["no", "yes"], "io-threads": [1, 2],
        "config_sets": [{}, {"maxmemory-policy": "allkeys-lru"}]},
        {"duration": 3, "keyspacelen": [1], "data_sizes": [8], "pipelines": [1], "commands": ["PING"]}]"#;
    let file = load_text(text, "t.json", &facts()).unwrap();
    let cases = &file.cases;
    assert_eq!(cases.len(), 2 * 2 * 2 * 2 * 2 * 2 * 2 + 1);
    // Commands vary fastest, then clients, pipelines, data sizes, keyspace, requests.
    assert_eq!(
        (cases[0].builtin().unwrap(), cases[1].builtin().unwrap()),
        (Builtin::Set, Builtin::Get)
    );
    assert_eq!((cases[0].pipeline, cases[2].pipeline), (1, 4));
    assert_eq!((cases[0].data_size, cases[4].data_size), (16, 32));
    assert_eq!(cases[0].mode, BenchmarkMode::Requests(100));
    assert_eq!(cases[8].mode, BenchmarkMode::Requests(200));
    // Server-start dimensions are outermost: io-threads, then config_sets, then cluster_mode.
    assert_eq!(
        (cases[0].topology.io_threads, cases[16].topology.io_threads),
        (1, 2)
    );
    assert!(cases[0].topology.config_set.is_empty());
    assert!(!cases[32].topology.config_set.is_empty());
    assert!(!cases[63].topology.cluster);
    assert!(cases[64].topology.cluster);
    let last = cases.last().unwrap();
    assert_eq!(
        (last.config_index, last.mode),
        (1, BenchmarkMode::Duration(3))
    );
}

#[test]
fn memory_mode_takes_keys_and_sizes_and_refuses_load_settings() {
    let ok = r#"[{"benchmark_mode": "memory", "keyspacelen": [1000, 2000], "data_sizes": [8, 64], "commands": ["SET"]}]"#;
    let file = load_text(ok, "memory.json", &facts()).unwrap();
    assert_eq!(file.cases.len(), 4);
    for c in &file.cases {
        assert!(c.memory);
        assert_eq!(c.mode, BenchmarkMode::Requests(c.keyspacelen));
        assert_eq!((c.pipeline, c.clients), (1000, 1));
        assert!(c.label().starts_with("memory SET d="), "{}", c.label());
    }
    let e = error_of(
        r#"[{"benchmark_mode": "memory", "requests": [5], "pipelines": [1], "keyspacelen": [10], "data_sizes": [8], "commands": ["GET"], "cluster_mode": "yes"}]"#,
    );
    for want in [
        "config[0] `requests`: memory mode writes each of the `keyspacelen` keys once",
        "config[0] `pipelines`",
        "memory mode measures string keys written by SET, not GET",
        "memory mode measures one standalone server",
    ] {
        assert!(e.contains(want), "missing {want:?} in {e}");
    }
    let e = error_of(
        r#"[{"benchmark_mode": "memroy", "keyspacelen": [10], "data_sizes": [8], "commands": ["SET"]}]"#,
    );
    assert!(e.contains("\"memory\" (bytes of overhead per key)"), "{e}");
}

#[test]
fn profiling_sets_take_one_enabled_cpu_set() {
    let ok = with(
        r#", "profiling_sets": [{"enabled": false}, {"enabled": true, "mode": "cpu", "sampling_freq": 99, "delay": 2}]"#,
    );
    let file = load_text(&ok, "p.json", &facts()).unwrap();
    let p = file.cases[0].profiling.unwrap();
    assert_eq!((p.sampling_freq, p.delay_secs), (99, 2));
    let none = with(r#", "profiling_sets": [{"enabled": false}]"#);
    assert!(
        load_text(&none, "p.json", &facts()).unwrap().cases[0]
            .profiling
            .is_none()
    );
    let e = error_of(&with(
        r#", "profiling_sets": [{"enabled": true, "mode": "wall-time"}, {"enabled": true, "freq": 9}]"#,
    ));
    for want in [
        "entry 0: mode \"wall-time\" is not supported; use \"cpu\"",
        "entry 1: unknown key `freq`",
        "2 entries are enabled; enable one",
    ] {
        assert!(e.contains(want), "missing {want:?} in {e}");
    }
}

#[test]
fn values_past_their_bound_are_refused_naming_the_key_the_value_and_the_limit() {
    let max = u64::MAX;
    for (extra, want) in [
        (
            r#", "clients": [18446744073709551615]"#.to_string(),
            format!("`clients`: value {max} is too large; use at most 10000"),
        ),
        (
            r#", "data_sizes": [9223372036854775807]"#.to_string(),
            "`data_sizes`: value 9223372036854775807 is too large; use at most 536870912".into(),
        ),
        (
            r#", "pipelines": [100001]"#.to_string(),
            "`pipelines`: value 100001 is too large; use at most 10000".into(),
        ),
        (
            format!(r#", "warmup": {max}"#),
            format!("`warmup`: value {max} is too large; use at most 86400 (24 hours)"),
        ),
        (
            format!(r#", "cluster_mode": "yes", "cluster_nodes": {max}"#),
            format!("`cluster_nodes`: value {max} is too large; use at most 1000"),
        ),
        (
            r#", "cluster_mode": "yes", "cluster_replicas": 4294967297"#.to_string(),
            "`cluster_replicas`: value 4294967297 is too large; use at most 16".into(),
        ),
    ] {
        let e = error_of(&with(&extra));
        assert!(e.contains(&want), "{extra}: missing {want:?} in {e}");
    }
    let e = error_of(&format!(
        r#"[{{"duration": {max}, "keyspacelen": [100], "data_sizes": [16], "pipelines": [1], "commands": ["SET"]}}]"#
    ));
    assert!(
        e.contains(&format!(
            "`duration`: value {max} is too large; use at most 86400"
        )),
        "{e}"
    );
    // The bounds themselves are accepted.
    let ok = with(r#", "clients": [10000], "data_sizes": [536870912], "warmup": 86400"#);
    load_text(&ok, "t.json", &facts()).unwrap();
}

#[test]
fn the_cases_are_counted_before_any_is_built() {
    let list: Vec<String> = (1..=200).map(|n| n.to_string()).collect();
    let list = list.join(",");
    let text = format!(
        r#"[{{"requests": [{list}], "keyspacelen": [{list}], "data_sizes": [{list}], "pipelines": [{list}], "commands": ["SET"]}}]"#
    );
    assert!(text.len() < 4000);
    let e = error_of(&text);
    assert!(
        e.contains("config[0]: expands into 1600000000 cases (`requests` 200 × `keyspacelen` 200 × `data_sizes` 200 × `pipelines` 200); a config file may hold at most 100000 cases"),
        "{e}"
    );
    // Objects under the bound each, over it together.
    let one = format!(
        r#"{{"requests": [{list}], "keyspacelen": [{list}], "data_sizes": [1], "pipelines": [1], "commands": ["SET"]}}"#
    );
    let e = error_of(&format!("[{one}, {one}, {one}]"));
    assert!(
        e.contains("the file expands into 120000 cases over 3 config objects"),
        "{e}"
    );
    assert_eq!(
        load_text(&format!("[{one}]"), "t.json", &facts())
            .unwrap()
            .cases
            .len(),
        40_000
    );
}

#[test]
fn deep_json_is_said_to_be_nested_too_deeply() {
    let deep = format!("[{}{}]", "[".repeat(200), "]".repeat(200));
    let e = error_of(&deep);
    assert!(e.contains("nested too deeply at line 1"), "{e}");
    assert!(e.contains("at most 128 levels"), "{e}");
    assert!(!e.contains("not valid JSON"), "{e}");
}

#[test]
fn only_close_names_are_suggested() {
    assert_eq!(suggest("foo", &["port", "seed"]), None);
    assert_eq!(
        suggest("pipeline", &["pipelines", "port"]),
        Some("pipelines")
    );
    assert_eq!(suggest("cleints", &["clients"]), Some("clients"));
    assert_eq!(suggest("prot", &["port"]), Some("port"));
    let e = error_of(&with(r#", "foo": 1"#));
    assert!(!e.contains("did you mean"), "{e}");
    assert!(e.contains("known keys: "), "{e}");
}

/// Upstream's `TestCustomServerConfigFileValidation` (tests/test_benchmark_config.py): a string
/// path is accepted in the basic shape, anything else refused.
#[test]
fn custom_server_config_file_is_taken_in_the_basic_shape() {
    let upstream_path = "/etc/valkey/extra.conf";
    let validate = MachineFacts {
        host_facts_are_warnings: true,
        ..facts()
    };
    let file = load_text(
        &with(&format!(
            r#", "custom-server-config-file": "{upstream_path}""#
        )),
        "t.json",
        &validate,
    )
    .unwrap();
    assert_eq!(
        file.cases[0].topology.config_file.as_deref(),
        Some(std::path::Path::new(upstream_path))
    );
    assert!(
        file.warnings[0]
            .warning
            .message
            .contains("does not exist on this machine"),
        "{:?}",
        file.warnings
    );
    // `run` checks the file exists; one that does is taken.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("extra.conf");
    std::fs::write(&conf, "maxmemory-policy allkeys-lru\n").unwrap();
    let text = with(&format!(
        r#", "custom-server-config-file": {}"#,
        serde_json::Value::from(conf.display().to_string())
    ));
    let file = load_text(&text, "t.json", &facts()).unwrap();
    assert_eq!(
        file.cases[0].topology.config_file.as_deref(),
        Some(conf.as_path())
    );
    for bad in [r#"42"#, r#"["/path"]"#, r#"{"path": "x"}"#, "null", "true"] {
        let e = error_of(&with(&format!(r#", "custom-server-config-file": {bad}"#)));
        assert!(
            e.contains("`custom-server-config-file`: value") && e.contains("is not a file path"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn a_config_file_that_never_ends_is_not_read_whole() {
    let e = load(Path::new("/dev/zero"), &facts()).unwrap_err();
    let e = format!("{e:#}");
    assert!(e.contains("larger than 16 MiB"), "{e}");
}
