//! Upstream's `cpu_allocation`: the key's checks and how it resolves to server and client
//! CPUs for a topology.

use super::checker::{Checker, show, suggest};
use crate::model::case::CpuSet;
use serde_json::Value;
use std::collections::BTreeSet;

/// Upstream's `cpu_allocation`: `cores_per_server` CPUs for each server node from CPU 0 up, and
/// `cores_per_client` CPUs for each load process after the servers' (or the explicit
/// `servers` / `clients` range lists, one per node). Which CPUs that is depends on the number
/// of nodes, so it is resolved per topology.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuAllocation {
    pub cores_per_server: u64,
    pub cores_per_client: u64,
    pub servers: Option<Vec<CpuSet>>,
    pub clients: Option<Vec<CpuSet>>,
}

impl CpuAllocation {
    /// Every server node's CPUs together (the cluster splits them evenly across its nodes).
    pub fn server_cpus(&self, nodes: u64) -> CpuSet {
        let cpus: BTreeSet<usize> = match &self.servers {
            Some(ranges) => ranges.iter().flat_map(|r| r.cpus.iter().copied()).collect(),
            None => (0..(nodes * self.cores_per_server) as usize).collect(),
        };
        cpu_set(cpus)
    }

    /// The load generator's CPUs: `cores_per_client` for each of its `processes` (upstream
    /// runs one per stream of a mixed scenario), from the first client range on.
    pub fn client_cpus(&self, nodes: u64, processes: u64) -> CpuSet {
        let start = match &self.clients {
            Some(ranges) => ranges
                .first()
                .and_then(|r| r.cpus.first().copied())
                .unwrap_or(0),
            None => (nodes * self.cores_per_server) as usize,
        };
        cpu_set((start..start + (processes * self.cores_per_client) as usize).collect())
    }
}

fn cpu_set(cpus: BTreeSet<usize>) -> CpuSet {
    let spec = crate::model::case::format_cpu_list(cpus.iter().copied());
    CpuSet { spec, cpus }
}

/// Checks `cpu_allocation` (as upstream: both `cores_per_server` and `cores_per_client`,
/// positive; not together with `server_cpu_range` / `client_cpu_range`).
pub(super) fn cpu_allocation(c: &mut Checker<'_>) -> Option<CpuAllocation> {
    let key = "cpu_allocation";
    let v = c.obj.get(key)?;
    let Value::Object(m) = v else {
        c.err(
            key,
            format!(
                "value {} is not an object; write {{\"cores_per_server\": 1, \"cores_per_client\": 1}}",
                show(v)
            ),
        );
        return None;
    };
    for other in ["server_cpu_range", "client_cpu_range"] {
        if c.obj.contains_key(other) {
            c.err(
                key,
                format!("give either `cpu_allocation` or `{other}`, not both"),
            );
        }
    }
    let known = ["cores_per_server", "cores_per_client", "servers", "clients"];
    for k in m.keys() {
        if !known.contains(&k.as_str()) {
            let hint = suggest(k, &known)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("its keys: {}", known.join(", ")));
            c.err(&format!("{key}.{k}"), format!("unknown key; {hint}"));
        }
    }
    let mut count = |name: &str| match m.get(name) {
        Some(v) => c.positive(&format!("{key}.{name}"), v, "1"),
        None => {
            c.err(
                &format!("{key}.{name}"),
                "missing; `cpu_allocation` needs both `cores_per_server` and `cores_per_client`",
            );
            None
        }
    };
    let cores_per_server = count("cores_per_server");
    let cores_per_client = count("cores_per_client");
    let mut ranges = |name: &str| -> Option<Vec<CpuSet>> {
        let v = m.get(name)?;
        let Value::Array(items) = v else {
            c.err(
                &format!("{key}.{name}"),
                format!(
                    "value {} is not a list of CPU ranges, e.g. [\"0-1\", \"2-3\"]",
                    show(v)
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item.as_str().map(CpuSet::parse) {
                Some(Ok(set)) => out.push(set),
                Some(Err(e)) => c.err(
                    &format!("{key}.{name}"),
                    format!("value {}: {e}", show(item)),
                ),
                None => c.err(
                    &format!("{key}.{name}"),
                    format!("value {} is not a CPU range string", show(item)),
                ),
            }
        }
        (!out.is_empty()).then_some(out)
    };
    let servers = ranges("servers");
    let clients = ranges("clients");
    Some(CpuAllocation {
        cores_per_server: cores_per_server?,
        cores_per_client: cores_per_client?,
        servers,
        clients,
    })
}
