//! `read_from_replicas` on a cluster of 3 primaries with a replica each, counted on every
//! node: with `yes` the reads land on the replicas and none on the primaries; with `all` on
//! both; the seeding writes only the primaries, and every read hits (the replicas had the
//! seeded data before the reads began).

use crate::support::{
    Bins, ChildGuard, Resp, Scratch, TestCluster, config_validate, small_object, stderr_of,
    stdout_of, wait_for,
};
use serde_json::{Value, json};
use std::time::Duration;

const KEYS: u64 = 3000;
const REQUESTS: u64 = 6000;

struct Node {
    client: Resp,
    primary: bool,
}

/// Runs GET with `rfr` against the cluster; returns the GETs each node served and the
/// SETs clients sent to it (its own SET count minus what replication applied).
fn run_reads(cluster: &TestCluster, nodes: &mut [Node], rfr: &str) -> Vec<(bool, u64)> {
    for n in nodes.iter_mut() {
        n.client.call(&["CONFIG", "RESETSTAT"]).unwrap();
    }
    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "requests": [REQUESTS], "keyspacelen": [KEYS], "data_sizes": [16], "pipelines": [4],
        "clients": [6], "commands": ["GET"], "cluster_mode": "yes", "cluster_replicas": 1,
        "read_from_replicas": rfr, "warmup": 0
    }]));
    scratch
        .run_against(&config, cluster.port())
        .arg("--cluster")
        .assert()
        .success();
    let r = &scratch.records()[0];
    assert_eq!(r["read_from_replicas"], rfr);
    assert_eq!(r["cluster_redirects"], 0, "{r:?}");
    assert_eq!(r["errors"], 0, "{r:?}");

    let mut out = Vec::new();
    let (mut sets_on_primaries, mut gets) = (0, 0);
    for n in nodes.iter_mut() {
        let get = n.client.calls("get");
        gets += get;
        if n.primary {
            sets_on_primaries += n.client.calls("set");
        }
        // No request was sent where it had to be redirected (a write to a replica, a read
        // of another primary's slot).
        assert_eq!(
            n.client.info_field("errorstats", "errorstat_MOVED"),
            None,
            "a node answered MOVED"
        );
        // Every read found its key: the replicas had the seeded data.
        let misses = n.client.info_u64("stats", "keyspace_misses");
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
    let cluster = TestCluster::start(&bins.new, 1);
    let mut nodes = Vec::new();
    for port in cluster.node_ports() {
        let mut client = Resp::connect(port).unwrap();
        let primary = client.info_field("replication", "role").as_deref() == Some("master");
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
}

#[test]
fn read_from_replicas_needs_a_cluster_with_replicas() {
    let scratch = Scratch::new();
    let config = scratch.config(&json!([
        small_object(json!({"read_from_replicas": "yes"})),
        small_object(json!({"cluster_mode": "yes", "read_from_replicas": "all"})),
        small_object(json!({"cluster_mode": "yes", "read_from_replicas": "sometimes"})),
    ]));
    let out = config_validate(&config).assert().code(2);
    let stderr = stderr_of(&out);
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
    let good = scratch.config(&json!([small_object(json!({
        "commands": ["SET", "GET"], "cluster_mode": "yes", "cluster_replicas": 1,
        "read_from_replicas": "yes"
    }))]));
    let out = config_validate(&good)
        .args(["--format", "json"])
        .assert()
        .success();
    let cases: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(cases[0]["command"], "SET");
    assert_eq!(cases[0]["read_from_replicas"], "no");
    assert_eq!(cases[1]["read_from_replicas"], "yes");
}

/// A replica takes over its primary (CLUSTER FAILOVER) in the middle of a run: the clients
/// bound to the old primary follow the slots to the new one, and no request is lost.
#[test]
fn clients_follow_their_slots_through_a_failover() {
    let Some(bins) = Bins::get() else { return };
    let cluster = TestCluster::start(&bins.new, 1);
    // A replica to promote, and the primary it follows.
    let mut replica = None;
    for port in cluster.node_ports() {
        let mut c = Resp::connect(port).unwrap();
        if c.info_field("replication", "role").as_deref() == Some("slave") {
            replica = Some((port, c));
            break;
        }
    }
    let (replica_port, mut replica) = replica.expect("the cluster has a replica");
    let old_primary: u16 = replica
        .info_field("replication", "master_port")
        .unwrap()
        .parse()
        .unwrap();

    let scratch = Scratch::new();
    let config = scratch.config(&json!([{
        "duration": 4, "keyspacelen": [KEYS], "data_sizes": [16], "pipelines": [4],
        "clients": [6], "commands": ["SET"], "cluster_mode": "yes", "cluster_replicas": 1,
        "warmup": 0
    }]));
    let mut cmd = scratch.run_against_std(&config, cluster.port());
    cmd.arg("--cluster")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut run = ChildGuard::spawn(cmd);
    // Once the load reaches the old primary, promote its replica.
    let mut primary = Resp::connect(old_primary).unwrap();
    wait_for("SETs on the old primary", Duration::from_secs(30), || {
        let info = primary.call(&["INFO", "commandstats"]).unwrap();
        info.contains("cmdstat_set:").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    replica.call(&["CLUSTER", "FAILOVER"]).unwrap();
    wait_for(
        "the replica to become primary",
        Duration::from_secs(20),
        || (replica.info_field("replication", "role").as_deref() == Some("master")).then_some(()),
    );
    // From now on its SETs come from clients, not from replication.
    replica.call(&["CONFIG", "RESETSTAT"]).unwrap();
    let status = run.wait(Duration::from_secs(60));
    let mut stderr = String::new();
    if let Some(mut e) = run.child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "valkey-perf failed: {stderr}");
    let r = &scratch.records()[0];
    assert_eq!(r["errors"], 0, "requests were lost in the failover: {r:?}");
    assert!(
        r["cluster_redirects"].as_u64().unwrap() > 0,
        "the clients never followed the slots: {r:?}"
    );
    // The new primary served the clients' writes after the failover.
    let mut promoted = Resp::connect(replica_port).unwrap();
    assert!(promoted.calls("set") > 0, "the promoted node served no SET");
}
