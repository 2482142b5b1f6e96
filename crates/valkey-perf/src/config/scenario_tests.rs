//! The scenario shape (`test_groups`): upstream-format fixtures expand to the ids upstream
//! forms, bad ones are refused naming the group, the scenario and the key.

use super::*;
use crate::model::{BenchmarkMode, Phase, ScenarioKind};
use serde_json::json;

fn load(value: serde_json::Value) -> ConfigFile {
    load_text(&value.to_string(), "t.json", &MachineFacts::default())
        .unwrap_or_else(|e| panic!("rejected: {e:#}"))
}

fn error_of(value: serde_json::Value) -> String {
    match load_text(&value.to_string(), "t.json", &MachineFacts::default()) {
        Ok(_) => panic!("accepted: {value}"),
        Err(e) => format!("{e:#}"),
    }
}

/// Every stream's `test_id`, in case order.
fn test_ids(file: &ConfigFile) -> Vec<String> {
    file.cases
        .iter()
        .flat_map(|c| {
            let s = c.scenario().expect("a scenario case");
            s.streams.iter().map(|st| s.test_id(st)).collect::<Vec<_>>()
        })
        .collect()
}

/// A config written after upstream's format: numbered and named groups, a mixed scenario
/// whose options apply to its reads, option variants with and without a flag.
fn upstream_fixture() -> serde_json::Value {
    json!([{
        "test_name": "Module Framework Test",
        "seed": false,
        "keyspacelen": [1000],
        "cluster_mode": [false, true],
        "cluster_nodes": 2,
        "io-threads": 2,
        "test_groups": [
            {"group": 1, "description": "Basic", "scenarios": [
                {"id": "a", "type": "write", "flush_before": true, "clients": 10,
                 "sequential": true, "setup_commands": ["FT.CREATE idx ON HASH PREFIX 1 doc: SCHEMA title TEXT"],
                 "command": "HSET doc:{tag}:__rand_int__ title \"some title\"", "requests": 1000},
                {"id": "b", "type": "read", "description": "Basic search query", "clients": 10,
                 "duration": 30, "warmup": 5, "command": "FT.SEARCH idx \"hello world\"",
                 "options": {"": "_plain", "NOCONTENT": "_nc"}},
                {"id": "j", "type": "mixed", "duration": 10,
                 "writes": [{"id": "a", "command": "HSET doc:x field v", "clients": 3}],
                 "reads": [{"id": "b", "command": "FT.SEARCH idx q1", "clients": 7},
                           {"id": "c", "command": "FT.SEARCH idx q2", "clients": 7}],
                 "options": {"NOCONTENT": "_nc"}}
            ]},
            {"group": "P1", "scenarios": [
                {"id": "a", "type": "read", "command": "GET key:__rand_int__"}
            ]}
        ]
    }])
}

#[test]
fn upstream_scenarios_expand_to_upstream_ids() {
    let file = load(upstream_fixture());
    // Two topologies (cluster_mode [false, true]), each with every scenario variant.
    assert_eq!(file.cases.len(), 2 * 5);
    let per_topology = [
        "1_a",
        "1_b_plain",
        "1_b_nc",
        "1_j_nc_write_a",
        "1_j_nc_read_b",
        "1_j_nc_read_c",
        "P1_a",
    ];
    let ids = test_ids(&file);
    assert_eq!(ids[..7], per_topology);
    assert_eq!(ids[7..], per_topology);
    assert!(!file.cases[0].topology.cluster && file.cases[5].topology.cluster);

    let case = |n: usize| file.cases[n].scenario().unwrap().clone();
    let a = case(0);
    assert_eq!(a.kind, ScenarioKind::Write);
    assert!(a.flush_before && a.sequential);
    assert_eq!(
        a.streams[0].args,
        ["HSET", "doc:{tag}:__rand_int__", "title", "some title"]
    );
    assert_eq!(
        a.setup_commands[0][..3],
        ["FT.CREATE".to_string(), "idx".into(), "ON".into()]
    );
    assert_eq!(a.test_name.as_deref(), Some("Module Framework Test"));
    assert_eq!(file.cases[0].mode, BenchmarkMode::Requests(1000));
    assert_eq!(file.cases[0].clients, 10);
    assert_eq!(file.cases[0].seed, None, "seed: false means a random seed");

    // An option's arguments are appended; its description says so (as upstream).
    let (plain, nc) = (case(1), case(2));
    assert_eq!(plain.streams[0].args, ["FT.SEARCH", "idx", "hello world"]);
    assert_eq!(
        nc.streams[0].args,
        ["FT.SEARCH", "idx", "hello world", "NOCONTENT"]
    );
    assert_eq!(
        nc.description.as_deref(),
        Some("Basic search query + NOCONTENT")
    );
    assert_eq!(file.cases[1].mode, BenchmarkMode::Duration(30));
    assert_eq!(file.cases[1].warmup_secs, 5);

    // Mixed: the option goes to every read, not to the write.
    let j = case(3);
    let phases: Vec<Phase> = j.streams.iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        [Phase::MixedWrite, Phase::MixedRead, Phase::MixedRead]
    );
    assert_eq!(j.streams[0].args, ["HSET", "doc:x", "field", "v"]);
    assert_eq!(j.streams[1].args, ["FT.SEARCH", "idx", "q1", "NOCONTENT"]);
    assert_eq!(file.cases[3].clients, 17);

    // Without requests or duration a scenario runs 60 s, as upstream; keyspacelen applies.
    assert_eq!(file.cases[4].mode, BenchmarkMode::Duration(60));
    assert_eq!(file.cases[4].keyspacelen, 1000);
}

#[test]
fn bad_scenarios_are_refused_naming_group_scenario_and_key() {
    let groups = |scenarios: serde_json::Value| json!([{"test_groups": [{"group": 1, "scenarios": scenarios}]}]);
    let cases: Vec<(serde_json::Value, &[&str])> = vec![
        (
            groups(json!([{"id": "a", "type": "reed", "command": "GET k"}])),
            &[
                "`test_groups[0].scenarios[0].type`",
                "(group 1, scenario `a`)",
                "did you mean \"read\"?",
            ],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "comand": "GET k"}])),
            &[
                "`test_groups[0].scenarios[0].comand`",
                "did you mean `command`?",
            ],
        ),
        (
            groups(json!([{"id": "a", "type": "read"}])),
            &["`test_groups[0].scenarios[0].command`", "missing"],
        ),
        (
            groups(json!([{"type": "read", "command": "GET k"}])),
            &["`test_groups[0].scenarios[0].id`", "missing"],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET \"k"}])),
            &["`test_groups[0].scenarios[0].command`", "unclosed quote"],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET k", "clients": 0}])),
            &[
                "`test_groups[0].scenarios[0].clients`",
                "value 0 is not a positive integer",
            ],
        ),
        (
            groups(json!([{"id": "m", "type": "mixed", "requests": 100,
                "reads": [{"command": "GET k", "requests": 0}]}])),
            &[
                "`test_groups[0].scenarios[0].reads[0].requests`",
                "not a positive integer",
            ],
        ),
        (
            groups(json!([{"id": "m", "type": "mixed", "duration": 5,
                "reads": [{"command": "GET k", "duration": 90000}]}])),
            &[
                "`test_groups[0].scenarios[0].reads[0].duration`",
                "value 90000 is too large; use at most 86400 (24 hours)",
            ],
        ),
        (
            groups(json!([{"id": "m", "type": "mixed", "duration": 5,
                "writes": [{"command": "SET k v", "clientz": 2}]}])),
            &[
                "`test_groups[0].scenarios[0].writes[0].clientz`",
                "did you mean `clients`?",
            ],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET k"},
                          {"id": "a", "type": "read", "command": "GET j"}])),
            &["scenario id `1_a` occurs twice"],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET k",
                "options": {"X": "_s", "Y": "_s"}}])),
            &["two options have the id suffix \"_s\""],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET k",
                "populate_with": "SET k v"}])),
            &[
                "`test_groups[0].scenarios[0].populate_with`",
                "has no `__rand_int__`",
            ],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET k",
                "dataset": "datasets/x.csv"}])),
            &["`test_groups[0].scenarios[0].dataset`", "cannot be read"],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET __field:k__"}])),
            &[
                "`test_groups[0].scenarios[0].command`",
                "uses `__field:k__` but the scenario has no `dataset`",
            ],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET k", "maxdocs": 10}])),
            &["`test_groups[0].scenarios[0].maxdocs`", "there is none"],
        ),
        (
            groups(json!([{"id": "a", "type": "read", "command": "GET k",
                "cluster_execution": "both"}])),
            &[
                "`test_groups[0].scenarios[0].cluster_execution`",
                "is not \"single\" or \"parallel\"",
            ],
        ),
        (
            json!([{"commands": ["SET"], "test_groups": [{"group": 1, "scenarios": [
                {"id": "a", "type": "read", "command": "GET k"}]}]}]),
            &["config[0] `commands`", "either `commands` or `test_groups`"],
        ),
        (
            json!([{"test_groups": [{"group": 1, "scenarios": []}]}]),
            &["`test_groups[0].scenarios`", "missing or empty"],
        ),
        (
            json!([{"test_groups": [{"scenarios": [{"id": "a", "type": "read", "command": "GET k"}]}]}]),
            &["`test_groups[0].group`", "missing"],
        ),
        (
            json!([{"test_groups": [], "custom-server-config-file": "valkey.conf"}]),
            &[
                "`test_groups`",
                "list is empty",
                "`custom-server-config-file`",
                "does not exist",
            ],
        ),
    ];
    for (value, wants) in cases {
        let msg = error_of(value.clone());
        for want in wants {
            assert!(msg.contains(want), "{value}\nmissing `{want}` in:\n{msg}");
        }
    }
}

#[test]
fn every_problem_of_a_scenario_config_is_reported_at_once() {
    let msg = error_of(json!([{"test_groups": [{"group": 1, "scenarios": [
        {"id": "a", "type": "reed", "command": "GET k"},
        {"id": "b", "type": "read", "command": "GET k", "pipeline": "4"}
    ]}], "keyspacelen": 0}]));
    for want in [
        "`keyspacelen`",
        "scenarios[0].type",
        "scenarios[1].pipeline",
        "without quotes",
    ] {
        assert!(msg.contains(want), "missing `{want}` in:\n{msg}");
    }
}

#[test]
fn upstream_host_keys_are_warnings_naming_what_was_done() {
    let file = load(json!([{
        "port": 6379, "cluster_ports": [6379, 6380], "bind_ip": "127.0.0.1", "monitoring": {},
        "socket_timeout": 300,
        "test_groups": [{"group": 1, "scenarios": [{"id": "a", "type": "read", "command": "GET k"}]}]
    }]));
    let texts: Vec<String> = file
        .warnings
        .iter()
        .map(|w| w.warning.to_string())
        .collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(
        texts[0].contains("`port`") && texts[0].contains("free port"),
        "{texts:?}"
    );
    assert_eq!(
        file.cases[0].scenario().unwrap().setup_timeout_secs,
        Some(300)
    );
}

#[test]
fn the_shipped_example_expands_to_its_scenarios() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs/scenarios-example.json");
    let file = super::load(&path, &MachineFacts::here()).unwrap();
    assert_eq!(
        test_ids(&file),
        [
            "1_hget",
            "1_set_ex",
            "1_set_ex_get",
            "2_mix_write_w",
            "2_mix_read_r"
        ]
    );
    let set_get = file.cases[2].scenario().unwrap();
    assert_eq!(
        set_get.streams[0].args,
        ["SET", "key:__rand_int__", "__data__", "EX", "3600", "GET"]
    );
}

#[test]
fn cpu_allocation_is_resolved_per_topology_as_upstream_allocates() {
    let file = load(json!([{
        "cluster_mode": [false, true], "cluster_nodes": 2,
        "cpu_allocation": {"cores_per_server": 1, "cores_per_client": 1},
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "r", "type": "read", "command": "GET k"},
            {"id": "m", "type": "mixed", "duration": 5,
             "writes": [{"command": "SET k v"}], "reads": [{"command": "GET k"}]}
        ]}]
    }]));
    let cpus = |n: usize| {
        let c = &file.cases[n];
        (
            c.topology.server_cpus.as_ref().unwrap().canonical(),
            c.client_cpus.as_ref().unwrap().canonical(),
        )
    };
    // Standalone: the server on CPU 0, each load process on the next CPU.
    assert_eq!(cpus(0), ("0".into(), "1".into()));
    assert_eq!(
        cpus(1),
        ("0".into(), "1-2".into()),
        "two streams, two processes' cores"
    );
    // Two cluster nodes: CPUs 0-1 for the servers, the load after them.
    assert_eq!(cpus(2), ("0-1".into(), "2".into()));
    assert_eq!(cpus(3), ("0-1".into(), "2-3".into()));

    let explicit = load(json!([{
        "cpu_allocation": {"cores_per_server": 2, "cores_per_client": 2,
                           "servers": ["4-5"], "clients": ["8-9", "10-11"]},
        "test_groups": [{"group": 1, "scenarios": [{"id": "r", "type": "read", "command": "GET k"}]}]
    }]));
    let c = &explicit.cases[0];
    assert_eq!(c.topology.server_cpus.as_ref().unwrap().canonical(), "4-5");
    assert_eq!(c.client_cpus.as_ref().unwrap().canonical(), "8-9");

    for (bad, want) in [
        (
            json!({"cores_per_server": 1}),
            "`cpu_allocation.cores_per_client`",
        ),
        (
            json!({"cores_per_server": 0, "cores_per_client": 1}),
            "value 0 is not a positive integer",
        ),
        (
            json!({"cores_per_server": 1, "cores_per_client": 1, "cores": 2}),
            "unknown key",
        ),
        (
            json!({"cores_per_server": 1, "cores_per_client": 1, "servers": ["0-1"]}),
            "which share 1",
        ),
    ] {
        let msg = error_of(json!([{"cpu_allocation": bad, "test_groups": [{"group": 1,
            "scenarios": [{"id": "r", "type": "read", "command": "GET k"}]}]}]));
        assert!(msg.contains(want), "missing `{want}` in:\n{msg}");
    }
    let both = error_of(
        json!([{"cpu_allocation": {"cores_per_server": 1, "cores_per_client": 1},
        "server_cpu_range": "0", "test_groups": [{"group": 1,
        "scenarios": [{"id": "r", "type": "read", "command": "GET k"}]}]}]),
    );
    assert!(
        both.contains("either `cpu_allocation` or `server_cpu_range`"),
        "{both}"
    );
}

/// The streams of the one mixed case of `scenario`, with the case's mode.
fn mixed_case(scenario: serde_json::Value) -> (BenchmarkMode, Vec<crate::model::Stream>) {
    let file =
        load(json!([{"keyspacelen": 100, "test_groups": [{"group": 1, "scenarios": [scenario]}]}]));
    assert_eq!(file.cases.len(), 1);
    let case = &file.cases[0];
    (case.mode, case.scenario().unwrap().streams.clone())
}

/// Upstream's `TestNormalizeMixedConfigs` (tests/test_client_runner_logic.py): a stream's own
/// `duration` or `requests` wins over the scenario's, a duration over any request count.
#[test]
fn mixed_streams_take_their_own_bounds_as_upstream_normalizes_them() {
    use BenchmarkMode::{Duration, Requests};
    // test_sub_scenario_duration_overrides_parent
    let (mode, streams) = mixed_case(json!({"id": "j", "type": "mixed", "duration": 60,
        "writes": [{"id": "w1", "command": "HSET k f v", "clients": 1, "duration": 10}],
        "reads": [{"id": "r1", "command": "FT.SEARCH idx q", "clients": 1}]}));
    assert_eq!(streams[0].mode, Some(Duration(10)));
    assert_eq!(streams[1].mode, Some(Duration(60)));
    assert_eq!(
        mode,
        Duration(60),
        "the case lasts as long as its longest stream"
    );
    // test_parent_requests_propagates_to_subs: one bound, the case's.
    let (mode, streams) = mixed_case(json!({"id": "j", "type": "mixed", "requests": 500000,
        "writes": [{"id": "w1", "command": "HSET k f v", "clients": 1}],
        "reads": [{"id": "r1", "command": "GET k", "clients": 1}]}));
    assert_eq!(mode, Requests(500000));
    assert!(streams.iter().all(|s| s.mode.is_none()), "{streams:?}");
    // test_sub_scenario_requests_overrides_parent
    let (mode, streams) = mixed_case(json!({"id": "j", "type": "mixed", "requests": 500000,
        "writes": [{"id": "w1", "command": "HSET k f v", "clients": 1, "requests": 10}],
        "reads": [{"id": "r1", "command": "FT.SEARCH idx q", "clients": 1}]}));
    assert_eq!(streams[0].mode, Some(Requests(10)));
    assert_eq!(streams[1].mode, Some(Requests(500000)));
    assert_eq!(mode, Requests(500000));
    // Upstream's command builder: a duration (here the scenario's) wins over requests.
    let (mode, streams) = mixed_case(json!({"id": "j", "type": "mixed", "duration": 5,
        "writes": [{"command": "SET k v", "requests": 1000}],
        "reads": [{"command": "GET k", "duration": 7}]}));
    assert_eq!(streams[0].mode, Some(Duration(5)));
    assert_eq!(streams[1].mode, Some(Duration(7)));
    assert_eq!(mode, Duration(7));
    // Neither the scenario nor its object sets a bound: a stream's own `requests` holds, the
    // other stream takes upstream's default duration.
    let (mode, streams) = mixed_case(json!({"id": "j", "type": "mixed",
        "writes": [{"command": "SET k v", "requests": 1000}],
        "reads": [{"command": "GET k"}]}));
    assert_eq!(streams[0].mode, Some(Requests(1000)));
    assert_eq!(streams[1].mode, Some(Duration(60)));
    assert_eq!(mode, Duration(60));
    // Streams that all set the same bound leave it to the case.
    let (mode, streams) = mixed_case(json!({"id": "j", "type": "mixed",
        "writes": [{"command": "SET k v", "duration": 20}],
        "reads": [{"command": "GET k", "duration": 20}]}));
    assert_eq!(mode, Duration(20));
    assert!(streams.iter().all(|s| s.mode.is_none()), "{streams:?}");
}

/// Upstream's `validate_config` ignores the basic shape's keys in a `test_groups` object.
#[test]
fn basic_keys_in_the_scenario_shape_are_ignored_with_a_warning() {
    let file = load(
        json!([{"keyspacelen": 100, "data_sizes": [16, 64], "pipelines": [1],
        "clients": [50], "per_second_sampling": true, "benchmark_mode": "instructions",
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "a", "type": "read", "command": "GET k", "requests": 10}]}]}]),
    );
    assert_eq!(file.cases.len(), 1);
    let case = &file.cases[0];
    assert!(
        !case.sampling && !case.topology.callgrind,
        "ignored keys change nothing"
    );
    let messages: Vec<&str> = file
        .warnings
        .iter()
        .map(|w| w.warning.message.as_str())
        .collect();
    for (key, instead) in [
        ("data_sizes", "set `data_size` per scenario"),
        ("pipelines", "set `pipeline` per scenario"),
        ("clients", "set `clients` per scenario"),
        ("per_second_sampling", "not available for scenarios"),
        ("benchmark_mode", "not available for scenarios"),
    ] {
        assert!(
            messages.iter().any(|m| m.contains(&format!("`{key}`"))
                && m.contains("does not apply to the `test_groups` shape and is ignored")
                && m.contains(instead)),
            "no warning for {key}: {messages:#?}"
        );
    }
    // `commands` would drop measurements asked for: still refused.
    let e = error_of(
        json!([{"commands": ["SET"], "test_groups": [{"group": 1, "scenarios": [
        {"id": "a", "type": "read", "command": "GET k"}]}]}]),
    );
    assert!(
        e.contains("`commands`: not part of the `test_groups` shape"),
        "{e}"
    );
}

#[test]
fn a_dataset_that_is_not_a_regular_file_is_refused_unread() {
    let e = error_of(json!([{"test_groups": [{"group": 1, "scenarios": [
        {"id": "d", "type": "read", "command": "GET k", "dataset": "/dev/zero"}]}]}]));
    assert!(e.contains("`/dev/zero` is not a regular file"), "{e}");
    // A large data set is checked from its first lines only.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut text = String::from("title,body\n");
    while text.len() < 3 * 1024 * 1024 {
        text.push_str("a title,some body text that fills the file\n");
    }
    std::fs::write(&path, text).unwrap();
    let ok = load(json!([{"test_groups": [{"group": 1, "scenarios": [
        {"id": "d", "type": "read", "command": "HSET doc __field:title__",
         "dataset": path.display().to_string()}]}]}]));
    assert_eq!(ok.cases.len(), 1);
}
