//! The shipped JSON Schema against the shipped config files and against validation itself, so
//! the schema, `KNOWN_KEYS`, `Builtin::CONFIG` and `configs/` cannot drift apart.

use super::SCHEMA;
use super::*;
use crate::model::Builtin;
use serde_json::{Value, json};
use std::path::PathBuf;

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("schema/benchmark-config.schema.json is not JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).expect("the schema does not compile")
}

/// Every schema error for `instance`, one per line.
fn schema_errors(v: &jsonschema::Validator, instance: &Value) -> String {
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn shipped_configs() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list `{}`: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn config_object_schema() -> Value {
    schema()["$defs"]["configObject"].clone()
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("schema fails its meta-schema: {e}");
    }
}

#[test]
fn shipped_configs_match_the_schema_and_load() {
    let files = shipped_configs();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "benchmark-configs.json",
        "benchmark-configs-cluster-tls.json",
        "quick.json",
    ] {
        assert!(names.iter().any(|n| n == want), "configs/{want} is missing");
    }
    let v = validator();
    // The shipped files describe the benchmark machine, whose CPUs may not exist here.
    let anywhere = MachineFacts::default();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let instance: Value = serde_json::from_str(&text).unwrap();
        let errors = schema_errors(&v, &instance);
        assert!(
            errors.is_empty(),
            "`{}` fails the schema:\n{errors}",
            path.display()
        );
        let file = load(path, &anywhere)
            .unwrap_or_else(|e| panic!("`{}` does not load: {e:#}", path.display()));
        assert!(!file.cases.is_empty(), "`{}` has no cases", path.display());
    }
}

#[test]
fn quick_config_loads_on_this_machine() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/quick.json");
    let file = load(&path, &MachineFacts::here()).unwrap();
    assert_eq!(file.cases.len(), 6);
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
}

#[test]
fn schema_commands_equal_the_supported_commands() {
    let schema = schema();
    let enumerated: Vec<&str> = schema["$defs"]["command"]["enum"]
        .as_array()
        .expect("$defs.command.enum is a list")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let supported: Vec<&str> = Builtin::CONFIG.iter().map(|c| c.command_name()).collect();
    assert_eq!(enumerated, supported);
}

#[test]
fn schema_properties_equal_known_keys() {
    let object = config_object_schema();
    let properties: Vec<&str> = object["properties"]
        .as_object()
        .expect("configObject.properties is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(properties, KNOWN_KEYS);
    assert_eq!(object["additionalProperties"], json!(false));
    for (key, prop) in object["properties"].as_object().unwrap() {
        assert!(
            prop["description"].as_str().is_some_and(|d| !d.is_empty()),
            "property `{key}` has no description"
        );
    }
}

#[test]
fn schema_forbids_the_settings_validation_forbids() {
    let s = schema();
    let managed = s["$defs"]["serverSettings"]["propertyNames"]["not"]["enum"]
        .as_array()
        .unwrap();
    assert!(!managed.is_empty());
    for name in managed {
        let name = name.as_str().unwrap();
        let text = json!([{
            "requests": 1, "keyspacelen": 1, "data_sizes": 1, "pipelines": 1, "commands": "SET",
            "custom-server-configs": { name: "1" }
        }])
        .to_string();
        let err = load_text(&text, "t.json", &MachineFacts::default())
            .err()
            .unwrap_or_else(|| panic!("validation accepts the managed setting `{name}`"));
        assert!(format!("{err:#}").contains(&format!("setting `{name}` cannot be set here")));
    }
}

/// Objects on which the schema and validation must give the same verdict.
#[test]
fn schema_and_validation_agree() {
    let base = json!({
        "requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "commands": ["SET"]
    });
    let with = |extra: Value| {
        let mut o = base.as_object().unwrap().clone();
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
        Value::Object(o)
    };
    let good = [
        base.clone(),
        with(json!({"requests": 5, "commands": "GET", "pipelines": 16})),
        with(json!({"requests": null, "duration": 30})),
        with(
            json!({"cluster_mode": "yes", "tls_mode": true, "cluster_nodes": 5, "cluster_replicas": 1}),
        ),
        with(json!({"cluster_mode": ["no", "yes"], "io-threads": [1, 4]})),
        with(json!({"warmup": 0, "benchmark-threads": 2, "clients": [10, 50]})),
        with(json!({"server_cpu_range": "0-1", "client_cpu_range": "2,3"})),
        with(json!({"server_cpu_range": "144-191,48-95"})),
        with(
            json!({"custom-server-configs": {"maxmemory": 1000, "maxmemory-policy": "allkeys-lru"}}),
        ),
        with(json!({"config_sets": [{}, {"hz": "100"}]})),
        // A module's settings (valkey-search's) are named `module.setting`.
        with(json!({"config_sets": [{"search.reader-threads": 4}]})),
        with(json!({"seed": 42})),
        with(json!({"seed": false})),
    ];
    let bad = [
        with(json!({"pipeline": [1]})),
        with(json!({"duration": 10})),
        with(json!({"requests": null})),
        with(json!({"requests": [0]})),
        with(json!({"requests": []})),
        with(json!({"requests": ["100"]})),
        with(json!({"requests": [1.5]})),
        with(json!({"requests": null, "duration": [10]})),
        with(json!({"keyspacelen": null})),
        with(json!({"data_sizes": null})),
        with(json!({"pipelines": null})),
        with(json!({"commands": null})),
        with(json!({"commands": []})),
        with(json!({"commands": ["GETT"]})),
        with(json!({"commands": [42]})),
        with(json!({"clients": [0]})),
        with(json!({"cluster_mode": "maybe"})),
        with(json!({"cluster_mode": []})),
        with(json!({"tls_mode": 1})),
        with(json!({"tls_mode": ["yes"]})),
        with(json!({"warmup": -1})),
        with(json!({"warmup": "10"})),
        with(json!({"io-threads": [0]})),
        with(json!({"io-threads": [1000]})),
        with(json!({"benchmark-threads": 0})),
        with(json!({"server_cpu_range": "0-"})),
        with(json!({"server_cpu_range": 0})),
        with(json!({"client_cpu_range": ""})),
        with(json!({"cluster_nodes": 0})),
        with(json!({"cluster_nodes": 1001})),
        with(json!({"cluster_replicas": -1})),
        with(json!({"custom-server-configs": ["a"]})),
        with(json!({"custom-server-configs": {"maxmemory": [1]}})),
        with(json!({"custom-server-configs": {"Max Memory": "1"}})),
        with(json!({"config_sets": {"a": "b"}})),
        with(json!({"config_sets": []})),
        with(json!({"config_sets": [{"io-threads": 2}]})),
        with(json!({"seed": true})),
        with(json!({"seed": -5})),
    ];
    let v = validator();
    let facts = MachineFacts::default();
    for object in good {
        let file = json!([object]);
        let errors = schema_errors(&v, &file);
        assert!(errors.is_empty(), "schema rejects {file}:\n{errors}");
        if let Err(e) = load_text(&file.to_string(), "t.json", &facts) {
            panic!("validation rejects {file}: {e:#}");
        }
    }
    for object in bad {
        let file = json!([object]);
        assert!(!v.is_valid(&file), "schema accepts {file}");
        assert!(
            load_text(&file.to_string(), "t.json", &facts).is_err(),
            "validation accepts {file}"
        );
    }
    for file in [json!([]), json!({}), json!([1]), json!("x")] {
        assert!(!v.is_valid(&file), "schema accepts {file}");
    }
}

#[test]
fn scenario_schema_properties_equal_scenario_keys() {
    let object = schema()["$defs"]["scenarioConfigObject"].clone();
    let properties: Vec<&str> = object["properties"]
        .as_object()
        .expect("scenarioConfigObject.properties is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(properties, scenario::SCENARIO_CONFIG_KEYS);
    for (key, prop) in object["properties"].as_object().unwrap() {
        assert!(
            prop["description"].as_str().is_some_and(|d| !d.is_empty()),
            "property `{key}` has no description"
        );
    }
}

#[test]
fn scenario_schema_and_validation_agree() {
    let scenario = |extra: Value| {
        let mut s = json!({"id": "a", "type": "read", "command": "GET key:__rand_int__"});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!([{"keyspacelen": 100, "test_groups": [{"group": 1, "scenarios": [s]}]}])
    };
    let good = [
        scenario(json!({})),
        scenario(json!({"options": {"": "", "NOCONTENT": "_nc"}, "clients": 4, "pipeline": 2})),
        scenario(json!({"type": "write", "populate_with": "SET k:__rand_int__ v", "requests": 10})),
        scenario(json!({"type": "mixed", "command": null, "duration": 3,
            "writes": [{"id": "w", "command": "SET k v", "clients": 2}],
            "reads": [{"command": "GET k"}]})),
        scenario(
            json!({"setup_commands": ["FT.CREATE idx SCHEMA t TEXT"], "flush_before": true,
            "seed": false, "cluster_execution": "single"}),
        ),
    ];
    let bad = [
        scenario(json!({"type": "reed"})),
        scenario(json!({"comand": "GET k"})),
        scenario(json!({"clients": 0})),
        scenario(json!({"options": {"X": 1}})),
        scenario(json!({"cluster_execution": "both"})),
        scenario(json!({"id": "a b"})),
        json!([{"test_groups": [{"group": 1, "scenarios": []}]}]),
        json!([{"test_groups": [], "commands": ["SET"]}]),
    ];
    let v = validator();
    for file in good {
        let mut file = file;
        // `command: null` in the fixture means "no command key".
        if let Some(s) = file[0]["test_groups"][0]["scenarios"][0].as_object_mut() {
            s.retain(|_, v| !v.is_null());
        }
        let errors = schema_errors(&v, &file);
        assert!(errors.is_empty(), "schema rejects {file}:\n{errors}");
        if let Err(e) = load_text(&file.to_string(), "t.json", &MachineFacts::default()) {
            panic!("validation rejects {file}: {e:#}");
        }
    }
    for file in bad {
        assert!(!v.is_valid(&file), "schema accepts {file}");
        assert!(
            load_text(&file.to_string(), "t.json", &MachineFacts::default()).is_err(),
            "validation accepts {file}"
        );
    }
}
