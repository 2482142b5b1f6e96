//! Scenarios (`test_groups`) on real servers: the server counts exactly the commands each
//! scenario implies (setup, populate, measured), a refused command or setup step fails its
//! scenario and the rest still runs, and a mixed scenario's streams are recorded apart, stop
//! together and add up to what the server served.
//!
//! The tests drive a server they start themselves (`--use-running-server`), so they can read
//! its `INFO commandstats` afterwards.

use crate::support::{
    Bins, REDIS_BENCHMARK, Resp, Scratch, ServerGuard, record, stderr_of, wait_for,
};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn example_config() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/scenarios-example.json")
}

/// The shipped example on both server versions: every scenario's commands, and only those,
/// reach the server, in exactly the numbers the config implies.
#[test]
fn the_example_scenarios_send_exactly_their_commands() {
    let Some(bins) = Bins::get() else { return };
    let example: Value =
        serde_json::from_str(&std::fs::read_to_string(example_config()).unwrap()).unwrap();
    let keyspace = example[0]["keyspacelen"].as_u64().unwrap();
    let group1 = &example[0]["test_groups"][0]["scenarios"];
    let hget_requests = group1[0]["requests"].as_u64().unwrap();
    let set_requests = group1[1]["requests"].as_u64().unwrap();
    for binary in [&bins.base, &bins.new] {
        let server = ServerGuard::start(binary);
        let mut ctl = server.counting_client();
        let scratch = Scratch::new();
        scratch
            .run_against(&example_config(), server.port)
            .assert()
            .success();
        let records = scratch.records();
        let ids: Vec<&str> = records
            .iter()
            .map(|r| r["test_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "1_hget",
                "1_set_ex",
                "1_set_ex_get",
                "2_mix_write_w",
                "2_mix_read_r"
            ]
        );
        for r in &records {
            assert_eq!(r["status"], "success", "{r}");
            assert_eq!(r["errors"], 0, "{r}");
        }
        let completed = |id: &str| record(&records, id)["requests_completed"].as_u64().unwrap();
        // Populate: one HSET per key; measured: the requests asked for.
        assert_eq!(ctl.calls("hset"), keyspace, "{}", binary.display());
        assert_eq!(ctl.calls("hget"), hget_requests);
        assert_eq!(completed("1_hget"), hget_requests);
        // SET: both variants of set_ex, the mixed scenario's populate and its write stream.
        let mix_writes = completed("2_mix_write_w");
        let mix_reads = completed("2_mix_read_r");
        assert_eq!(
            ctl.calls("set"),
            2 * set_requests + keyspace + mix_writes,
            "{}",
            binary.display()
        );
        assert_eq!(ctl.calls("get"), mix_reads);
        assert!(mix_writes > 0 && mix_reads > 0);
        // The TTL variant left keys with a TTL; the hashes hold what populate wrote.
        assert!(ctl.call(&["TTL", "key:000000000007"]).is_ok());
        let hget = record(&records, "1_hget");
        assert_eq!(hget["command"], "HGET doc:__rand_int__ title");
        assert_eq!(hget["test_phase"], "read");
        assert_eq!(hget["group"], 1);
        assert_eq!(hget["scenario"], "hget");
        assert_eq!(hget["group_description"], "Hashes and strings with a TTL");
        assert!(hget["error"].is_null());
        // The servers' own account of the window: exactly the measured HGETs.
        assert_eq!(hget["server_calls"], hget_requests, "{hget}");
        assert!(
            hget["server_cpu_us_per_request"].as_f64().unwrap() > 0.0,
            "{hget}"
        );
        assert!(
            record(&records, "2_mix_read_r")
                .get("server_calls")
                .is_none(),
            "a mixed scenario's window is no one stream's"
        );
        assert_eq!(record(&records, "1_set_ex_get")["scenario"], "set_ex_get");
        assert_eq!(record(&records, "2_mix_read_r")["test_phase"], "mixed_read");
    }
}

/// A command the server refuses: every error reply is counted and named, the scenario's run is
/// marked failed (exit 5), and the next scenario still runs. A setup command the server
/// refuses fails its scenario with the server's reply before any load.
#[test]
fn refused_commands_fail_their_scenario_and_the_rest_runs() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let mut ctl = server.counting_client();
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "keyspacelen": 1000,
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "bad", "type": "write", "command": "NOSUCHCMD key:__rand_int__",
             "clients": 2, "requests": 500},
            {"id": "nosetup", "type": "read", "setup_commands": ["FT.CREATE idx SCHEMA t TEXT"],
             "command": "GET key:__rand_int__", "requests": 100},
            {"id": "good", "type": "write", "command": "SET key:__rand_int__ v",
             "clients": 2, "requests": 700}
        ]}]
    }]));
    let out = scratch.run_against(&config, server.port).assert().code(5);
    let stderr = stderr_of(&out);
    let records = scratch.records();
    let bad = record(&records, "1_bad");
    assert_eq!(bad["status"], "failed", "{bad}");
    assert_eq!(bad["errors_by_kind"], json!({"ERR": 500}), "{bad}");
    let error = bad["error"].as_str().unwrap();
    assert!(error.contains("ERR: 500"), "{error}");
    assert_eq!(ctl.error_count("ERR"), 500 + 1, "500 refused, 1 FT.CREATE");
    let nosetup = record(&records, "1_nosetup");
    assert_eq!(nosetup["status"], "failed");
    let why = nosetup["error"].as_str().unwrap();
    assert!(
        why.contains("FT.CREATE idx SCHEMA t TEXT") && why.contains("unknown command"),
        "{why}"
    );
    assert_eq!(ctl.calls("get"), 0, "no load after a failed setup");
    let good = record(&records, "1_good");
    assert_eq!(good["status"], "success");
    assert_eq!(ctl.calls("set"), 700);
    assert!(stderr.contains("scenario `1_bad`"), "{stderr}");
}

/// A mixed scenario: a record per stream, both windows end within 100 ms of each other, and
/// their rates add up to the server's own `instantaneous_ops_per_sec` within 10 %.
#[test]
fn mixed_streams_are_recorded_apart_and_add_up_to_the_server_rate() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "keyspacelen": 10000,
        "test_groups": [{"group": "m", "scenarios": [
            {"id": "mix", "type": "mixed", "duration": 6, "pipeline": 2,
             "populate_with": "SET key:__rand_int__ xxxxxxxx",
             "writes": [{"command": "SET key:__rand_int__ yyyyyyyy", "clients": 2}],
             "reads": [{"command": "GET key:__rand_int__", "clients": 6}]}
        ]}]
    }]));
    let mut cmd = scratch.run_against_std(&config, server.port);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = crate::support::ChildGuard::spawn(cmd);
    let mut ctl = Resp::connect(server.port).unwrap();
    // The mixed load is on once GETs arrive. The server's rate averages its last ~1.6 s, so
    // it is read from 1.7 s into the 6 s window on, every 250 ms, and averaged: the machine
    // is shared, and one reading is one moment of it.
    wait_for("the mixed load to start", Duration::from_secs(60), || {
        (ctl.calls("get") > 0).then_some(())
    });
    std::thread::sleep(Duration::from_millis(1700));
    let samples: Vec<f64> = (0..14)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(250));
            ctl.info_u64("stats", "instantaneous_ops_per_sec") as f64
        })
        .collect();
    let server_rate = samples.iter().sum::<f64>() / samples.len() as f64;
    let status = child.wait(Duration::from_secs(60));
    assert!(status.success(), "{status}");
    let records = scratch.records();
    assert_eq!(records.len(), 2);
    let w = record(&records, "m_mix_write_w");
    let r = record(&records, "m_mix_read_r");
    assert_eq!(
        (w["test_phase"].as_str(), r["test_phase"].as_str()),
        (Some("mixed_write"), Some("mixed_read"))
    );
    assert_eq!(
        (w["clients"].as_u64(), r["clients"].as_u64()),
        (Some(2), Some(6))
    );
    assert_eq!(w["command"], "SET key:__rand_int__ yyyyyyyy");
    assert_ne!(w["histogram_file"], r["histogram_file"], "a histogram each");
    let ends = (
        w["elapsed_s"].as_f64().unwrap(),
        r["elapsed_s"].as_f64().unwrap(),
    );
    assert!(
        (ends.0 - ends.1).abs() < 0.1,
        "windows end {ends:?} s after the common start"
    );
    let sum = w["rps"].as_f64().unwrap() + r["rps"].as_f64().unwrap();
    assert!(
        (sum - server_rate).abs() <= 0.1 * server_rate,
        "write + read = {sum:.0}/s, server {server_rate:.0}/s ({samples:?})"
    );
}

/// The valkey-benchmark engine runs a scenario as a custom command line; the server counts
/// exactly its requests. A mixed scenario is refused before anything starts, saying why.
#[test]
fn valkey_benchmark_runs_scenarios_as_custom_commands_and_refuses_mixed() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.base);
    let mut ctl = server.counting_client();
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "keyspacelen": 1000,
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "rpush", "type": "write", "command": "RPUSH list:__rand_int__ a b c",
             "populate_with": "SET str:__rand_int__ v", "clients": 4, "requests": 3000}
        ]}]
    }]));
    scratch
        .run_against(&config, server.port)
        .args(["--valkey-benchmark-path", REDIS_BENCHMARK])
        .assert()
        .success();
    assert_eq!(ctl.calls("rpush"), 3000);
    assert_eq!(
        ctl.calls("set"),
        1000,
        "populate goes through valkey-perf itself"
    );
    let records = scratch.records();
    assert_eq!(records[0]["engine"], "valkey-benchmark");
    assert_eq!(records[0]["test_id"], "1_rpush");
    let line = records[0]["engine_command_line"].as_str().unwrap();
    assert!(
        line.ends_with("--csv RPUSH list:__rand_int__ a b c"),
        "{line}"
    );

    let mixed = scratch.config(&json!([{
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "mix", "type": "mixed", "duration": 2,
             "writes": [{"command": "SET k v"}], "reads": [{"command": "GET k"}]}
        ]}]
    }]));
    let out = scratch
        .run_against(&mixed, server.port)
        .args(["--valkey-benchmark-path", REDIS_BENCHMARK])
        .assert()
        .code(2);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("scenario `1_mix` is \"mixed\"") && stderr.contains("--engine native"),
        "{stderr}"
    );
}

/// In a cluster: a keyless setup command (a function library) reaches every primary, a keyed
/// one the primary owning its key; populate fills every key on its owner; the measured
/// command's key need not be its first argument. The function answers an error for a key that
/// populate missed, so a clean record proves every read found its key.
#[test]
fn cluster_scenarios_route_setup_populate_and_load_by_key() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let library = "#!lua name=scen\nredis.register_function('getit', function(keys, args) \
        local v = redis.call('GET', keys[1]) \
        if not v then return redis.error_reply('MISSING ' .. keys[1]) end \
        return v end)";
    let config = scratch.config(&json!([{
        "cluster_mode": true, "cluster_nodes": 3, "keyspacelen": 2000,
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "fcall", "type": "read",
             "setup_commands": [
                 format!("FUNCTION LOAD \"{library}\""),
                 "SET setup:marker 1"
             ],
             "populate_with": "SET key:{tag}:__rand_int__ v",
             "command": "FCALL getit 1 key:{tag}:__rand_int__",
             "clients": 6, "requests": 6000}
        ]}]
    }]));
    scratch
        .native_run(&config)
        .arg("--server-bin")
        .arg(&bins.new)
        .assert()
        .success();
    let records = scratch.records();
    let r = record(&records, "1_fcall");
    assert_eq!(r["status"], "success", "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["requests_completed"], 6000);
    assert_eq!(r["cluster_mode"], true);
    assert_eq!(
        r["cluster_redirects"], 0,
        "every request went to its key's owner: {r}"
    );
    scratch.assert_no_tmp_leftovers();
}

/// `modules` are loaded by every server at start: a module file that is missing is refused
/// before anything starts (exit 2); one the server cannot load stops the run with the server's
/// own log line (exit 4), and no server is left behind.
#[test]
fn modules_are_loaded_at_start_and_a_bad_one_is_exit_4_with_the_servers_line() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let not_a_module = scratch.path().join("notamodule.so");
    std::fs::write(&not_a_module, "not a shared object").unwrap();
    let config = |path: &Path| {
        scratch.config(&json!([{
            "keyspacelen": 100,
            "modules": [{"path": path, "startup_args": ["--use-coordinator"]}],
            "test_groups": [{"group": 1, "scenarios": [
                {"id": "a", "type": "write", "command": "SET k:__rand_int__ v", "requests": 100}
            ]}]
        }]))
    };
    let run = |config: &Path| {
        let mut cmd = scratch.native_run(config);
        cmd.arg("--server-bin").arg(&bins.new);
        cmd
    };
    let missing = scratch.path().join("nowhere/libsearch.so");
    let out = run(&config(&missing)).assert().code(2);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("`modules[0].path`") && stderr.contains("does not exist"),
        "{stderr}"
    );
    let out = run(&config(&not_a_module)).assert().code(4);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("Module") && stderr.contains(&not_a_module.display().to_string()),
        "the server's log line names the module: {stderr}"
    );
    scratch.assert_no_tmp_leftovers();
}

/// Upstream's `cpu_allocation` pins the server and the load generator as upstream allocates
/// (one core for the server from CPU 0, the next for the client) and records what was applied.
#[test]
fn cpu_allocation_pins_server_and_client_as_upstream_allocates() {
    let Some(bins) = Bins::get() else { return };
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipping: needs two CPUs");
        return;
    }
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "keyspacelen": 100,
        "cpu_allocation": {"cores_per_server": 1, "cores_per_client": 1},
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "a", "type": "write", "command": "SET k:__rand_int__ v", "requests": 2000}
        ]}]
    }]));
    scratch
        .native_run(&config)
        .arg("--server-bin")
        .arg(&bins.new)
        .assert()
        .success();
    let records = scratch.records();
    let r = record(&records, "1_a");
    assert_eq!(r["env_server_cpu_range"], "0", "{r}");
    assert_eq!(r["env_client_cpu_range"], "1", "{r}");
}

/// A dataset scenario: `__field:NAME__` filled from a 1,000-row CSV, in key order, so the
/// server holds the CSV's values under their row's key; a column the file lacks is refused
/// before anything starts.
#[test]
fn dataset_fields_come_from_the_csv_and_a_missing_column_is_refused() {
    let Some(bins) = Bins::get() else { return };
    let server = ServerGuard::start(&bins.new);
    let mut ctl = Resp::connect(server.port).unwrap();
    let scratch = Scratch::new();
    let csv = scratch.path().join("terms.csv");
    let mut text = String::from("id,term\n");
    for i in 0..1000 {
        // Commas and quotes inside a field, as CSV quotes them.
        text.push_str(&format!("{i},\"term {i}, \"\"q{}\"\"\"\n", i * 7));
    }
    std::fs::write(&csv, text).unwrap();
    let config = |column: &str| {
        scratch.config(&json!([{
            "keyspacelen": 1000,
            "test_groups": [{"group": 1, "scenarios": [
                {"id": "load", "type": "write", "dataset": csv, "maxdocs": 1000,
                 "sequential": true, "clients": 4, "pipeline": 8,
                 "command": format!("HSET doc:__rand_int__ title \"__field:{column}__\"")}
            ]}]
        }]))
    };
    let out = scratch
        .run_against(&config("nope"), server.port)
        .assert()
        .code(2);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("no column `nope`") && stderr.contains("its columns: id, term"),
        "{stderr}"
    );
    assert_eq!(ctl.calls("hset"), 0, "nothing ran");

    scratch
        .run_against(&config("term"), server.port)
        .assert()
        .success();
    let records = scratch.records();
    let r = record(&records, "1_load");
    assert_eq!(r["requests"], 1000, "maxdocs requests: {r}");
    assert_eq!(ctl.calls("hset"), 1000);
    for i in [0u64, 1, 123, 999] {
        let got = ctl
            .call(&["HGET", &format!("doc:{i:012}"), "title"])
            .unwrap();
        assert_eq!(got, format!("term {i}, \"q{}\"", i * 7));
    }
}

/// `custom-server-config-file`: every server reads the file first, and valkey-perf's own
/// settings win over it (its `port` here is overridden). The file's `maxmemory 1` with
/// `noeviction` makes every write an OOM error reply, which the scenario's record counts.
#[test]
fn a_server_config_file_is_read_at_start_and_its_settings_apply() {
    let Some(bins) = Bins::get() else { return };
    let scratch = Scratch::new();
    let conf = scratch.path().join("valkey.conf");
    std::fs::write(&conf, "port 1\nmaxmemory 1\nmaxmemory-policy noeviction\n").unwrap();
    let config = scratch.config(&json!([{
        "keyspacelen": 100,
        "custom-server-config-file": conf,
        "test_groups": [{"group": 1, "scenarios": [
            {"id": "oom", "type": "write", "command": "SET k:__rand_int__ v", "requests": 300}
        ]}]
    }]));
    scratch
        .native_run(&config)
        .arg("--server-bin")
        .arg(&bins.new)
        .assert()
        .code(5);
    let records = scratch.records();
    let r = record(&records, "1_oom");
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["errors_by_kind"], json!({"OOM": 300}), "{r}");
    scratch.assert_no_tmp_leftovers();
}
