//! `read_from_replicas` on a cluster of 3 primaries with a replica each, counted on every
//! node: with `yes` the reads land on the replicas and none on the primaries; with `all` on
//! both; the seeding writes only the primaries, and every read hits (the replicas had the
//! seeded data before the reads began).

use crate::support::{Bins, Resp, Scratch};
use serde_json::{Value, json};
use std::time::Duration;
use valkey_perf::model::ServerTopology;
use valkey_perf::server::{Deployment, StartOptions};

const KEYS: u64 = 3000;
const REQUESTS: u64 = 6000;

/// A field of `INFO <section>` as text, if present.
fn info_field(client: &mut Resp, section: &str, field: &str) -> Option<String> {
    let info = client.call(&["INFO", section]).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// `calls` of one command in `INFO commandstats` (0 when it never ran).
fn calls(client: &mut Resp, command: &str) -> u64 {
    info_field(client, "commandstats", &format!("cmdstat_{command}"))
        .and_then(|v| {
            v.strip_prefix("calls=")
                .and_then(|r| r.split(',').next())
                .map(str::to_string)
        })
        .map_or(0, |n| n.parse().unwrap())
}

struct Node {
    client: Resp,
    primary: bool,
}

/// Runs GET with `rfr` against the cluster; returns the GETs each node served and the
/// SETs clients sent to it (its own SET count minus what replication applied).
fn run_reads(cluster: &Deployment, nodes: &mut [Node], rfr: &str) -> Vec<(bool, u64)> {
    for n in nodes.iter_mut() {
        n.client.call(&["CONFIG", "RESETSTAT"]).unwrap();
    }
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [REQUESTS], "keyspacelen": [KEYS], "data_sizes": [16], "pipelines": [4],
        "clients": [6], "commands": ["GET"], "cluster_mode": "yes", "cluster_replicas": 1,
        "read_from_replicas": rfr, "warmup": 0
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
        .arg("--cluster")
        .args(["--port", &cluster.endpoint().port.to_string()])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let text =
        std::fs::read_to_string(scratch.results().join("running-server/metrics.json")).unwrap();
    let records: Value = serde_json::from_str(&text).unwrap();
    let r = valkey_perf::model::flatten_details(records[0].as_object().unwrap().clone());
    assert_eq!(r["read_from_replicas"], rfr);
    assert_eq!(r["cluster_redirects"], 0, "{r:?}");
    assert_eq!(r["errors"], 0, "{r:?}");

    let mut out = Vec::new();
    let (mut sets_on_primaries, mut gets) = (0, 0);
    for n in nodes.iter_mut() {
        let get = calls(&mut n.client, "get");
        gets += get;
        if n.primary {
            sets_on_primaries += calls(&mut n.client, "set");
        }
        // No request was sent where it had to be redirected (a write to a replica, a read
        // of another primary's slot).
        assert_eq!(
            info_field(&mut n.client, "errorstats", "errorstat_MOVED"),
            None,
            "a node answered MOVED"
        );
        // Every read found its key: the replicas had the seeded data.
        let misses: u64 = info_field(&mut n.client, "stats", "keyspace_misses")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(misses, 0, "a read missed on a {} node", role(n.primary));
        out.push((n.primary, get));
    }
    assert_eq!(
        sets_on_primaries, KEYS,
        "the seeding wrote the keyspace to the primaries"
    );
    assert_eq!(gets, REQUESTS);
    out
}

fn role(primary: bool) -> &'static str {
    if primary { "primary" } else { "replica" }
}

#[test]
fn reads_go_to_replicas_or_to_every_node() {
    let Some(bins) = Bins::get() else { return };
    let logs = tempfile::tempdir().unwrap();
    let topology = ServerTopology {
        cluster: true,
        cluster_nodes: 3,
        cluster_replicas: 1,
        tls: false,
        io_threads: 1,
        server_cpus: None,
        custom_configs: vec![],
        config_set: Default::default(),
        callgrind: false,
        modules: Vec::new(),
        config_file: None,
    };
    let mut cluster = Deployment::start(
        &topology,
        &StartOptions {
            binary: bins.new.clone(),
            bind: "127.0.0.1".into(),
            host: "127.0.0.1".into(),
            port: None,
            log_dir: logs.path().to_path_buf(),
            tls: None,
            callgrind_dir: None,
        },
    )
    .unwrap();
    let mut nodes = Vec::new();
    for addr in cluster.addresses().unwrap() {
        let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        let mut client = Resp::connect(port).unwrap();
        let primary = info_field(&mut client, "replication", "role").as_deref() == Some("master");
        nodes.push(Node { client, primary });
    }
    assert_eq!(nodes.iter().filter(|n| n.primary).count(), 3);
    assert_eq!(nodes.len(), 6);

    for (primary, gets) in run_reads(&cluster, &mut nodes, "yes") {
        if primary {
            assert_eq!(gets, 0, "rfr yes: a primary served reads");
        } else {
            assert!(gets > 0, "rfr yes: a replica served no reads");
        }
    }
    for (primary, gets) in run_reads(&cluster, &mut nodes, "all") {
        assert!(gets > 0, "rfr all: a {} served no reads", role(primary));
    }
    for (primary, gets) in run_reads(&cluster, &mut nodes, "no") {
        if !primary {
            assert_eq!(gets, 0, "rfr no: a replica served reads");
        }
    }
    cluster.stop();
}

#[test]
fn read_from_replicas_needs_a_cluster_with_replicas() {
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "commands": ["GET"], "read_from_replicas": "yes"
    }, {
        "requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "commands": ["GET"], "cluster_mode": "yes", "read_from_replicas": "all"
    }, {
        "requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "commands": ["GET"], "cluster_mode": "yes", "read_from_replicas": "sometimes"
    }]));
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .args(["config", "validate"])
        .arg(&config)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for want in [
        "config[0] `read_from_replicas`",
        "cluster_mode",
        "config[1] `read_from_replicas`",
        "`cluster_replicas` is 0",
        "config[2] `read_from_replicas`",
        "\"sometimes\"",
    ] {
        assert!(stderr.contains(want), "stderr lacks `{want}`:\n{stderr}");
    }
    // A valid one shows where the reads go, on read commands only.
    let good = scratch.config(&json!([{
        "requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "commands": ["SET", "GET"], "cluster_mode": "yes", "cluster_replicas": 1,
        "read_from_replicas": "yes"
    }]));
    let out = assert_cmd::Command::cargo_bin("valkey-perf")
        .unwrap()
        .args(["config", "validate", "--format", "json"])
        .arg(&good)
        .assert()
        .success();
    let cases: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(cases[0]["command"], "SET");
    assert_eq!(cases[0]["read_from_replicas"], "no");
    assert_eq!(cases[1]["read_from_replicas"], "yes");
}

/// A replica takes over its primary (CLUSTER FAILOVER) in the middle of a run: the clients
/// bound to the old primary follow the slots to the new one, and no request is lost.
#[test]
fn clients_follow_their_slots_through_a_failover() {
    let Some(bins) = Bins::get() else { return };
    let logs = tempfile::tempdir().unwrap();
    let topology = ServerTopology {
        cluster: true,
        cluster_nodes: 3,
        cluster_replicas: 1,
        tls: false,
        io_threads: 1,
        server_cpus: None,
        custom_configs: vec![],
        config_set: Default::default(),
        callgrind: false,
        modules: Vec::new(),
        config_file: None,
    };
    let mut cluster = Deployment::start(
        &topology,
        &StartOptions {
            binary: bins.new.clone(),
            bind: "127.0.0.1".into(),
            host: "127.0.0.1".into(),
            port: None,
            log_dir: logs.path().to_path_buf(),
            tls: None,
            callgrind_dir: None,
        },
    )
    .unwrap();
    // A replica to promote, and the primary it follows.
    let mut replica = None;
    for addr in cluster.addresses().unwrap() {
        let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        let mut c = Resp::connect(port).unwrap();
        if info_field(&mut c, "replication", "role").as_deref() == Some("slave") {
            replica = Some((port, c));
            break;
        }
    }
    let (replica_port, mut replica) = replica.expect("the cluster has a replica");
    let old_primary: u16 = info_field(&mut replica, "replication", "master_port")
        .unwrap()
        .parse()
        .unwrap();

    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "duration": 4, "keyspacelen": [KEYS], "data_sizes": [16], "pipelines": [4],
        "clients": [6], "commands": ["SET"], "cluster_mode": "yes", "cluster_replicas": 1,
        "warmup": 0
    }]));
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"));
    cmd.env("TMPDIR", scratch.tmp())
        .env_remove("RUST_LOG")
        .env_remove("VALKEY_PERF_PASSWORD")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--results-dir")
        .arg(scratch.results())
        .arg("--use-running-server")
        .arg("--cluster")
        .args(["--port", &cluster.endpoint().port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut run = crate::support::ChildGuard::spawn(cmd);
    // Once the load reaches the old primary, promote its replica.
    let mut primary = Resp::connect(old_primary).unwrap();
    crate::support::wait_for("SETs on the old primary", Duration::from_secs(30), || {
        let info = primary.call(&["INFO", "commandstats"]).unwrap();
        info.contains("cmdstat_set:").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    replica.call(&["CLUSTER", "FAILOVER"]).unwrap();
    crate::support::wait_for(
        "the replica to become primary",
        Duration::from_secs(20),
        || {
            (info_field(&mut replica, "replication", "role").as_deref() == Some("master"))
                .then_some(())
        },
    );
    // From now on its SETs come from clients, not from replication.
    replica.call(&["CONFIG", "RESETSTAT"]).unwrap();
    let status = run.wait(Duration::from_secs(60));
    let mut stderr = String::new();
    if let Some(mut e) = run.child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "valkey-perf failed: {stderr}");
    let text =
        std::fs::read_to_string(scratch.results().join("running-server/metrics.json")).unwrap();
    let records: Value = serde_json::from_str(&text).unwrap();
    let r = valkey_perf::model::flatten_details(records[0].as_object().unwrap().clone());
    assert_eq!(r["errors"], 0, "requests were lost in the failover: {r:?}");
    assert!(
        r["cluster_redirects"].as_u64().unwrap() > 0,
        "the clients never followed the slots: {r:?}"
    );
    // The new primary served the clients' writes after the failover.
    let mut promoted = Resp::connect(replica_port).unwrap();
    assert!(
        calls(&mut promoted, "set") > 0,
        "the promoted node served no SET"
    );
    cluster.stop();
}
