//! Cluster mode binds each client to one primary: connections equal clients, keys come from
//! the node's slots, and reads after a sequential seeding all hit.

use crate::support::{self, Cluster};
use crate::{go, spec, tcp};
use loadgen::{Builtin, KeyOrder, Stop};
use std::time::{Duration, Instant};

fn info_sum(cluster: &Cluster, section: &str, field: &str) -> u64 {
    cluster
        .nodes
        .iter()
        .map(|n| n.info_field(section, field).parse::<u64>().unwrap_or(0))
        .sum()
}

#[test]
fn cluster_clients_have_one_connection_each_and_reads_hit_every_key() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let cluster = Cluster::start(&bin, 3);
    let keyspace = 20_000;
    let mut seed = spec(tcp(cluster.nodes[0].port), Builtin::Set, keyspace, keyspace);
    seed.address.cluster = true;
    seed.workload.key_order = KeyOrder::Sequential;
    let r = go(&seed);
    assert_eq!(r.errors, 0, "{:?}", r.errors_by_kind);
    let keys: u64 = cluster
        .nodes
        .iter()
        .map(|n| match n.call(&["DBSIZE"]) {
            resp::Frame::Integer(k) => k as u64,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(keys, keyspace, "the seeding wrote every key once");

    for (command, keys_per_request) in [(Builtin::Get, 1), (Builtin::Mget(3), 3)] {
        for n in &cluster.nodes {
            n.call(&["CONFIG", "RESETSTAT"]);
        }
        let clients = 12;
        let mut s = spec(tcp(cluster.nodes[0].port), command, 0, keyspace);
        s.address.cluster = true;
        s.clients = clients;
        s.pipeline = 10;
        s.stop = Stop::Duration(Duration::from_millis(1500));
        s.seeded = true;
        let (r, seen) = std::thread::scope(|sc| {
            let h = sc.spawn(|| go(&s));
            // Each INFO comes over a connection of its own, counted too (one per node).
            let own = cluster.nodes.len() as u64;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut seen = Vec::new();
            while !h.is_finished() && Instant::now() < deadline {
                seen.push(info_sum(&cluster, "clients", "connected_clients") - own);
            }
            (h.join().unwrap(), seen)
        });
        assert_eq!(r.errors, 0, "{command}: {:?}", r.errors_by_kind);
        assert_eq!(
            r.moved + r.ask,
            0,
            "{command}: no redirect without a change"
        );
        assert!(
            seen.contains(&(clients as u64)),
            "{command}: the servers never saw exactly {clients} connections: {seen:?}"
        );
        // The discovery connection may still be open while the first clients connect.
        assert!(
            seen.iter().all(|&c| c <= clients as u64 + 1),
            "{command}: more connections than clients: {seen:?}"
        );
        let hits = info_sum(&cluster, "stats", "keyspace_hits");
        let misses = info_sum(&cluster, "stats", "keyspace_misses");
        assert_eq!(misses, 0, "{command}: every read hits");
        assert_eq!(hits, r.requests * keys_per_request, "{command}: hits");
        assert_eq!(r.miss_rate, Some(0.0), "{command}");
        // Every primary got a third of the clients' reads, so a share of the load.
        let calls: Vec<u64> = cluster
            .nodes
            .iter()
            .map(|n| n.calls(command.command_name()))
            .collect();
        assert_eq!(calls.iter().sum::<u64>(), r.requests, "{command}");
        assert!(calls.iter().all(|&c| c > 0), "{command}: {calls:?}");
    }
}
