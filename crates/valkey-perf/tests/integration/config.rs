//! `valkey-perf config`: the binary's exit codes, stdout and stderr for valid, invalid and
//! missing config files, and the schema it prints.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn valkey_perf() -> Command {
    Command::cargo_bin("valkey-perf").unwrap()
}

/// Writes `text` as `name` into a fresh temporary directory.
fn config_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn validate_quick_config_prints_the_case_count_and_table() {
    let out = valkey_perf()
        .args(["config", "validate"])
        .arg(workspace().join("configs/quick.json"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "is valid: 6 cases from 2 config objects",
        ))
        .stdout(predicate::str::contains("requests/duration"))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    // Count line, header, rule, then one row per case.
    assert_eq!(text.lines().count(), 3 + 6, "{text}");
}

#[test]
fn validate_json_prints_the_cases() {
    let out = valkey_perf()
        .args(["config", "validate", "--format", "json"])
        .arg(workspace().join("configs/quick.json"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let cases: Value = serde_json::from_slice(&out).expect("stdout is JSON");
    let cases = cases.as_array().expect("a list of cases");
    assert_eq!(cases.len(), 6);
    assert_eq!(cases[0]["command"], "SET");
    assert_eq!(cases[0]["pipeline"], 1);
    assert_eq!(cases[5]["command"], "LPUSH");
    assert_eq!(cases[5]["pipeline"], 16);
    assert_eq!(cases[5]["config_index"], 1);
}

#[test]
fn every_shipped_config_validates() {
    for name in [
        "benchmark-configs.json",
        "benchmark-configs-cluster-tls.json",
    ] {
        valkey_perf()
            .args(["config", "validate"])
            .arg(workspace().join("configs").join(name))
            .assert()
            .success();
    }
}

#[test]
fn an_invalid_config_exits_2_naming_index_key_and_fix() {
    let (_dir, path) = config_file(
        "bad.json",
        r#"[{"requests": [1000], "keyspacelen": [10], "data_sizes": [16], "pipelines": [1], "commands": ["SET"]},
            {"requests": [1000], "keyspacelen": [10], "data_sizes": [16], "pipeline": [1], "commands": ["GETT"]}]"#,
    );
    valkey_perf()
        .args(["config", "validate"])
        .arg(&path)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(path.display().to_string()))
        .stderr(predicate::str::contains(
            "config[1] `pipeline`: unknown key; did you mean `pipelines`?",
        ))
        .stderr(predicate::str::contains(
            "config[1] `commands`: command \"GETT\" is not supported; did you mean \"GET\"?",
        ));
}

#[test]
fn a_missing_config_exits_2_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.json");
    valkey_perf()
        .args(["config", "validate"])
        .arg(&path)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!(
            "cannot read config file `{}`",
            path.display()
        )));
}

#[test]
fn schema_prints_the_shipped_schema() {
    let shipped =
        std::fs::read_to_string(workspace().join("schema/benchmark-config.schema.json")).unwrap();
    valkey_perf()
        .args(["config", "schema"])
        .assert()
        .success()
        .stdout(shipped);
}

#[test]
fn validate_table_snapshot() {
    let (_dir, path) = config_file(
        "small.json",
        r#"[
  {"requests": [100000], "keyspacelen": [1000], "data_sizes": [16, 1024], "pipelines": [1],
   "clients": [50], "commands": ["SET", "GET"], "config_sets": [{}, {"maxmemory-policy": "allkeys-lru"}]},
  {"duration": 30, "keyspacelen": [10000000], "data_sizes": [64], "pipelines": [16],
   "commands": "MSET", "cluster_mode": "yes", "cluster_replicas": 1, "tls_mode": "yes",
   "io-threads": [1, 2], "warmup": 5}
]"#,
    );
    let out = valkey_perf()
        .args(["config", "validate"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    insta::with_settings!({filters => vec![(r"`[^`]*small\.json`", "`[DIR]/small.json`")]}, {
        insta::assert_snapshot!("validate_table", text);
    });
}

/// A config written for a 192-CPU runner checks anywhere: CPUs missing here are warnings for
/// `config validate`, errors with `--strict` (as for `run`).
#[test]
fn cpus_of_another_machine_are_warnings_unless_strict() {
    let (_dir, path) = config_file(
        "arm.json",
        r#"[{"requests": [1000], "keyspacelen": [10], "data_sizes": [16], "pipelines": [1],
             "commands": ["SET"], "server_cpu_range": "144-191", "client_cpu_range": "48-95"}]"#,
    );
    let out = valkey_perf()
        .args(["config", "validate"])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 case"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for want in [
        "`server_cpu_range`",
        "`client_cpu_range`",
        "do not exist on this machine",
        "--strict",
    ] {
        assert!(stderr.contains(want), "missing `{want}` in {stderr}");
    }
    valkey_perf()
        .args(["config", "validate", "--strict"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`server_cpu_range`: CPUs 144-191 do not exist",
        ));
}

/// A config in the shape of upstream's module configs (test_groups with a data set, a module,
/// cpu_allocation for a big runner, upstream's port keys) validates anywhere: what this machine
/// lacks is a warning, the scenarios expand to upstream's ids; `--strict` refuses those host
/// facts as `run` would.
#[test]
fn upstream_module_config_shape_validates_with_host_warnings() {
    let path = workspace()
        .join("crates/valkey-perf/tests/fixtures/upstream-configs/module-test-arm-shape.json");
    let out = valkey_perf()
        .args(["config", "validate"])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("4 cases"));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for id in ["1_a: write", "1_b: read"] {
        assert!(stdout.contains(id), "missing `{id}` in:\n{stdout}");
    }
    for want in [
        "`port`",
        "`cluster_ports`",
        "`bind_ip`",
        "libsearch.so` does not exist",
        "search_terms.csv` cannot be read here",
        "`cpu_allocation`",
    ] {
        assert!(stderr.contains(want), "missing `{want}` in:\n{stderr}");
    }
    let out = valkey_perf()
        .args(["config", "validate", "--strict"])
        .arg(&path)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for want in [
        "modules[0].path",
        "scenarios[0].dataset",
        "`cpu_allocation`",
    ] {
        assert!(stderr.contains(want), "missing `{want}` in:\n{stderr}");
    }
}
