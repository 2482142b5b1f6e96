//! Test inputs and lookups: small config objects, server topologies, and finding one record
//! among those a run wrote.

use serde_json::{Value, json};
use valkey_perf::model::ServerTopology;

/// The record with `test_id` among `records`; fails the test naming what there is.
pub fn record<'a>(records: &'a [Value], test_id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["test_id"] == test_id)
        .unwrap_or_else(|| panic!("no record `{test_id}` in {records:#?}"))
}

/// The rps entries of a `detect-regression` report's `regressions`.
pub fn rps_regressions(report: &Value) -> Vec<&Value> {
    report["regressions"]
        .as_array()
        .map_or_else(Vec::new, |all| {
            all.iter().filter(|r| r["metric"] == "rps").collect()
        })
}

/// A small config object of the basic shape (1000 GETs on 100 keys, 16-byte values, no
/// pipelining), with the keys of `extra` added or replaced.
pub fn small_object(extra: Value) -> Value {
    let mut object = json!({
        "requests": [1000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [1],
        "commands": ["GET"]
    });
    for (key, value) in extra.as_object().expect("`extra` is an object") {
        object[key] = value.clone();
    }
    object
}

/// A standalone server topology with default settings (no TLS, one I/O thread, unpinned).
pub fn standalone_topology() -> ServerTopology {
    ServerTopology {
        cluster: false,
        cluster_nodes: 3,
        cluster_replicas: 0,
        tls: false,
        io_threads: 1,
        server_cpus: None,
        custom_configs: Vec::new(),
        config_set: serde_json::Map::new(),
        callgrind: false,
        modules: Vec::new(),
        config_file: None,
    }
}

/// A cluster topology of `primaries` primaries with `replicas` replicas each, otherwise as
/// [`standalone_topology`].
pub fn cluster_topology(primaries: u32, replicas: u32) -> ServerTopology {
    ServerTopology {
        cluster: true,
        cluster_nodes: primaries,
        cluster_replicas: replicas,
        ..standalone_topology()
    }
}
