//! Streams run together (`run_together`): one process, a histogram each, one start, and with
//! one duration one end; command templates with placeholders reach the server as written.

use crate::support::{self, Cluster, Server};
use crate::tcp;
use loadgen::{CommandSpec, KeyOrder, LoadError, LoadSpec, Stop, Workload};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn template(port: u16, args: &[&str], clients: usize, seed: u64) -> LoadSpec {
    let mut w = Workload::single(
        CommandSpec::Template(args.iter().map(|a| a.to_string()).collect()),
        16,
        Some(1000),
    );
    w.key_order = KeyOrder::Random { seed };
    let mut s = LoadSpec::new(tcp(port), w);
    s.clients = clients;
    s.pipeline = 2;
    s
}

#[test]
fn streams_run_together_start_and_stop_together_with_a_histogram_each() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut write = template(server.port, &["SET", "key:__rand_int__", "__data__"], 2, 1);
    let mut read = template(server.port, &["GET", "key:__rand_int__"], 6, 2);
    for s in [&mut write, &mut read] {
        s.stop = Stop::Duration(Duration::from_millis(1500));
    }
    let never = AtomicBool::new(false);
    let reports = loadgen::run_together(&[write, read], &never).expect("the run starts");
    let [Ok(w), Ok(r)] = &reports[..] else {
        panic!("a stream failed: {reports:?}");
    };
    // Every request of a stream is its own: the server's counts are the streams' counts.
    assert_eq!(server.calls("set"), w.requests);
    assert_eq!(server.calls("get"), r.requests);
    assert!(w.requests > 0 && r.requests > 0);
    // One start instant; with the same duration, the windows end within 100 ms.
    assert!(
        (w.elapsed_s - r.elapsed_s).abs() < 0.1,
        "{} vs {}",
        w.elapsed_s,
        r.elapsed_s
    );
    assert_ne!(w.histogram_v2_base64, r.histogram_v2_base64);
}

#[test]
fn a_failing_stream_fails_alone_with_its_errors_by_kind() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut bad = template(server.port, &["NOSUCHCMD", "k:__rand_int__"], 2, 1);
    let mut good = template(server.port, &["SET", "k:__rand_int__", "v"], 2, 2);
    bad.stop = Stop::Requests(300);
    good.stop = Stop::Requests(400);
    let never = AtomicBool::new(false);
    let reports = loadgen::run_together(&[bad, good], &never).expect("the run starts");
    match &reports[0] {
        Err(LoadError::RunFailed { report, reason }) => {
            assert_eq!(report.errors_by_kind.get("ERR"), Some(&300), "{reason}");
        }
        other => panic!("the refused stream did not fail: {other:?}"),
    }
    assert!(matches!(&reports[1], Ok(r) if r.requests == 400));
    assert_eq!(server.calls("set"), 400);
}

/// In a cluster, a template key without a hash tag is routed by its own slot, and `{tag}`
/// keys by their tag: every request lands on the node that owns it (no MOVED after the first
/// connections).
#[test]
fn cluster_templates_route_keys_with_and_without_tags() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let cluster = Cluster::start(&bin, 3);
    for args in [
        &["SET", "plain:__rand_int__", "v"][..],
        &["SET", "doc:{tag}:__rand_int__", "v"][..],
    ] {
        let mut s = template(cluster.nodes[0].port, args, 6, 3);
        s.address.cluster = true;
        s.stop = Stop::Requests(3000);
        let never = AtomicBool::new(false);
        let r = loadgen::run(&s, &never).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(r.errors, 0, "{args:?}: {:?}", r.errors_by_kind);
        assert_eq!(r.requests, 3000);
        if args[1].contains("{tag}") {
            assert_eq!(
                r.moved, 0,
                "a tagged key is drawn from the client's own node"
            );
        } else {
            // A client learns each other node's address once, from a redirect.
            assert!(r.moved < 100, "{args:?}: {} redirects", r.moved);
        }
    }
    // A redirected request is not executed where it was refused: 6000 SETs in all.
    let total: u64 = cluster.nodes.iter().map(|n| n.calls("set")).sum();
    assert_eq!(total, 6000);
}

/// `keyless_to_home` (upstream's `cluster_execution: "parallel"`): a command without a
/// templated key goes to each client's own primary, so every primary serves its share, even
/// when the client also holds connections to the other nodes (opened here by a keyed command
/// of the same workload); without it, such a command follows its first argument's slot.
#[test]
fn keyless_commands_go_to_the_clients_own_node_when_asked() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let cluster = Cluster::start(&bin, 3);
    for home in [false, true] {
        let before: Vec<u64> = cluster.nodes.iter().map(|n| n.calls("echo")).collect();
        let mut s = template(cluster.nodes[0].port, &["ECHO", "hello"], 6, 4);
        s.workload.commands.push(loadgen::WeightedCommand {
            command: CommandSpec::Template(vec![
                "SET".into(),
                "plain:__rand_int__".into(),
                "v".into(),
            ]),
            weight: 1,
        });
        s.address.cluster = true;
        s.workload.keyless_to_home = home;
        s.stop = Stop::Requests(6000);
        let never = AtomicBool::new(false);
        let r = loadgen::run(&s, &never).unwrap();
        assert_eq!((r.requests, r.errors), (6000, 0));
        let served: Vec<u64> = cluster
            .nodes
            .iter()
            .zip(&before)
            .map(|(n, b)| n.calls("echo") - b)
            .collect();
        let total: u64 = served.iter().sum();
        let top = *served.iter().max().unwrap() as f64 / total as f64;
        if home {
            assert!(
                served.iter().all(|&n| n as f64 > 0.15 * total as f64),
                "{served:?}"
            );
        } else {
            assert!(top > 0.8, "ECHO follows the slot of `hello`: {served:?}");
        }
    }
}
