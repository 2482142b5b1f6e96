//! A cluster valkey-perf starts: `primaries` primaries plus `replicas_per_primary` replicas
//! each, every node a `ServerHandle` on its own free port with its own data dir and log,
//! formed through the cluster protocol (CLUSTER MEET, ADDSLOTSRANGE, REPLICATE) over the same
//! control connections as everything else (so TLS clusters work alike). Ready only when every
//! node reports `cluster_state:ok` with all 16384 slots served and every replica is attached.
//!
//! Owns the node processes. Does not know about cases, engines or records.
//!
//! May import, inside `server/`, `standalone` (each node is a `ServerHandle`), `control` and
//! `process`; from the rest of the crate only `exit`, `model` and `util`. Only `deployment`
//! builds on it.

use super::control::{Control, info_field, parse_info};
use super::standalone::{ServerHandle, ServerSpec, free_port};
use crate::exit::{Code, Failure};
use crate::model::case::{CpuSet, format_cpu_list};
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

/// Number of hash slots in a Valkey cluster.
pub const SLOTS: u32 = 16384;

/// Everything needed to start a cluster (inert).
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Template for every node: binary, addresses, io-threads, custom configs, TLS, log dir.
    /// `name` is the prefix of node names; `cpus` is the server CPU set for the whole cluster;
    /// `port` must be `None` (each node picks a free port).
    pub node: ServerSpec,
    pub primaries: u32,
    pub replicas_per_primary: u32,
    /// How long forming the cluster may take, after every node answers PING.
    pub ready_deadline: Duration,
}

/// What a node is in the cluster valkey-perf formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    /// A replica of the primary at this index in `ClusterHandle::nodes`.
    ReplicaOf(usize),
}

/// One running cluster node.
pub struct ClusterNode {
    pub server: ServerHandle,
    pub role: Role,
    /// The node's cluster id (CLUSTER MYID).
    pub id: String,
    pub bus_port: u16,
}

/// A running cluster owned by valkey-perf. Every node is stopped on `stop()` or drop.
pub struct ClusterHandle {
    pub nodes: Vec<ClusterNode>,
    /// Things the user should know (CPU set shared by nodes).
    pub warnings: Vec<String>,
}

/// How the server CPU set is assigned to `nodes` nodes: split into disjoint contiguous parts
/// when there is at least one CPU per node, else shared by all (with a warning).
pub fn split_cpus(cpus: &CpuSet, nodes: usize) -> (Vec<CpuSet>, Option<String>) {
    let ids: Vec<usize> = cpus.cpus.iter().copied().collect();
    if nodes == 0 {
        return (Vec::new(), None);
    }
    if ids.len() < nodes {
        let warning = format!(
            "server CPU range `{}` has {} CPU(s) for {nodes} cluster nodes, so the nodes share \
             them; give `server_cpu_range` at least {nodes} CPUs to pin each node to its own",
            cpus.spec,
            ids.len()
        );
        return (vec![cpus.clone(); nodes], Some(warning));
    }
    let base = ids.len() / nodes;
    let extra = ids.len() % nodes;
    let mut parts = Vec::with_capacity(nodes);
    let mut start = 0;
    for i in 0..nodes {
        let len = base + usize::from(i < extra);
        let part: Vec<usize> = ids[start..start + len].to_vec();
        start += len;
        parts.push(CpuSet {
            spec: format_cpu_list(part.iter().copied()),
            cpus: part.into_iter().collect(),
        });
    }
    (parts, None)
}

/// The slot ranges `(first, last)` for `primaries` primaries, as even as possible.
pub fn slot_ranges(primaries: u32) -> Vec<(u32, u32)> {
    let n = primaries.max(1);
    let base = SLOTS / n;
    let extra = SLOTS % n;
    let mut start = 0;
    (0..n)
        .map(|i| {
            let len = base + u32::from(i < extra);
            let range = (start, start + len - 1);
            start += len;
            range
        })
        .collect()
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub flags: Vec<String>,
    /// The primary's id for a replica.
    pub primary_id: Option<String>,
    pub connected: bool,
}

impl NodeLine {
    pub fn is_primary(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }
}

/// Parses `CLUSTER NODES` output. Lines look like
/// `<id> <ip:port@cport[,hostname]> <flags> <primary|-> <ping> <pong> <epoch> <link> <slots>...`.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeLine>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            bail!("malformed CLUSTER NODES line {line:?}");
        }
        let addr = fields[1].split(['@', ',']).next().unwrap_or("");
        let (host, port) = addr
            .rsplit_once(':')
            .with_context(|| format!("no `host:port` in CLUSTER NODES line {line:?}"))?;
        let port = port
            .parse()
            .with_context(|| format!("bad port in CLUSTER NODES line {line:?}"))?;
        out.push(NodeLine {
            id: fields[0].to_string(),
            host: host.to_string(),
            port,
            flags: fields[2].split(',').map(str::to_string).collect(),
            primary_id: (fields[3] != "-").then(|| fields[3].to_string()),
            connected: fields[7] == "connected",
        });
    }
    Ok(out)
}

impl ClusterHandle {
    /// Starts every node, forms the cluster and waits until it is fully ready (exit code 4 on
    /// failure, with each node's log tail).
    pub fn start(spec: &ClusterSpec) -> Result<ClusterHandle> {
        if spec.primaries == 0 {
            bail!("a cluster needs at least one primary; set `cluster_nodes` to 1 or more");
        }
        let per_shard = 1 + spec.replicas_per_primary as usize;
        let total = spec.primaries as usize * per_shard;
        let mut warnings = Vec::new();
        let cpus: Vec<Option<CpuSet>> = match &spec.node.cpus {
            Some(set) => {
                let (parts, warning) = split_cpus(set, total);
                // Reported by the caller (`Deployment::warnings`), once per start.
                warnings.extend(warning);
                parts.into_iter().map(Some).collect()
            }
            None => vec![None; total],
        };
        let mut handle = ClusterHandle {
            nodes: Vec::with_capacity(total),
            warnings,
        };
        // Primaries first (indexes 0..primaries), then replicas, so `ReplicaOf` points back.
        for (i, node_cpus) in cpus.into_iter().enumerate() {
            let role = if i < spec.primaries as usize {
                Role::Primary
            } else {
                Role::ReplicaOf((i - spec.primaries as usize) % spec.primaries as usize)
            };
            let node = start_node(spec, i, node_cpus, role)?;
            handle.nodes.push(node);
        }
        handle
            .form(spec)
            .map_err(|e| handle.failure(&format!("{e:#}")))?;
        Ok(handle)
    }

    fn form(&mut self, spec: &ClusterSpec) -> Result<()> {
        let seed = &self.nodes[0];
        let mut seed_ctl = seed.server.control()?;
        for node in &self.nodes[1..] {
            seed_ctl.call(&[
                "CLUSTER",
                "MEET",
                &node.server.host,
                &node.server.port.to_string(),
                &node.bus_port.to_string(),
            ])?;
        }
        let ranges = slot_ranges(spec.primaries);
        for (node, (first, last)) in self.nodes.iter().zip(&ranges) {
            node.server.control()?.call(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &first.to_string(),
                &last.to_string(),
            ])?;
        }
        let started = Instant::now();
        let deadline = spec.ready_deadline;
        // Replicas can only follow a primary they know; wait for the gossip first.
        let total = self.nodes.len();
        self.poll(
            started,
            deadline,
            "every node to know every other node",
            |_, ctl| {
                let nodes = parse_cluster_nodes(&ctl.call_text(&["CLUSTER", "NODES"])?)?;
                let known = nodes
                    .iter()
                    .filter(|n| !n.flags.iter().any(|f| f == "handshake" || f == "noaddr"))
                    .count();
                Ok((known == total)
                    .then_some(())
                    .ok_or_else(|| format!("knows {known} of {total} nodes")))
            },
        )?;
        for node in &self.nodes {
            if let Role::ReplicaOf(p) = node.role {
                let primary_id = self.nodes[p].id.clone();
                node.server
                    .control()?
                    .call(&["CLUSTER", "REPLICATE", &primary_id])?;
            }
        }
        let replicas = spec.replicas_per_primary;
        self.poll(started, deadline, "the cluster to be ready", |role, ctl| {
            let info = parse_info(&ctl.call_text(&["CLUSTER", "INFO"])?);
            let state = info_field(&info, "cluster_state").unwrap_or("?");
            let slots_ok = info_field(&info, "cluster_slots_ok").unwrap_or("?");
            if state != "ok" || slots_ok != SLOTS.to_string() {
                return Ok(Err(format!(
                    "cluster_state:{state} cluster_slots_ok:{slots_ok}"
                )));
            }
            let repl = ctl.info("replication")?;
            Ok(match role {
                Role::Primary => {
                    let attached = info_field(&repl, "connected_slaves").unwrap_or("?");
                    if attached == replicas.to_string() {
                        Ok(())
                    } else {
                        Err(format!("connected_slaves:{attached}, expected {replicas}"))
                    }
                }
                Role::ReplicaOf(_) => {
                    let link = info_field(&repl, "master_link_status").unwrap_or("?");
                    if link == "up" {
                        Ok(())
                    } else {
                        Err(format!("master_link_status:{link}"))
                    }
                }
            })
        })
    }

    /// Polls `check` on every node until all pass, with the overall deadline. `check` returns
    /// `Ok(Err(why))` for "not yet".
    fn poll(
        &mut self,
        started: Instant,
        deadline: Duration,
        what: &str,
        mut check: impl FnMut(Role, &mut Control) -> Result<Result<(), String>>,
    ) -> Result<()> {
        loop {
            if super::process::interrupted() {
                return Err(Failure::new(
                    Code::Interrupted,
                    "interrupted while forming the cluster",
                ));
            }
            let mut pending = Vec::new();
            for node in &mut self.nodes {
                node.server.check_alive()?;
                let verdict = node
                    .server
                    .control()
                    .and_then(|mut ctl| check(node.role, &mut ctl))
                    .unwrap_or_else(|e| Err(format!("{e:#}")));
                if let Err(why) = verdict {
                    pending.push(format!(
                        "{} (port {}): {why}",
                        node.server.name, node.server.port
                    ));
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if started.elapsed() > deadline {
                bail!(
                    "timed out after {}s waiting for {what}; not yet:\n  {}",
                    deadline.as_secs(),
                    pending.join("\n  ")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A server-start failure carrying the message and every node's log tail.
    fn failure(&self, what: &str) -> anyhow::Error {
        let mut msg = format!("cluster did not come up: {what}");
        for node in &self.nodes {
            msg.push_str(&format!(
                "\n--- last lines of `{}`:\n{}",
                node.server.log_path().display(),
                crate::util::tail_of_file(node.server.log_path(), 8)
            ));
        }
        Failure::new(Code::ServerStart, msg)
    }

    /// The primaries, in slot order.
    pub fn primaries(&self) -> impl Iterator<Item = &ClusterNode> {
        self.nodes.iter().filter(|n| n.role == Role::Primary)
    }

    /// The first primary: the seed address for cluster-aware clients.
    pub fn seed(&self) -> &ServerHandle {
        &self.nodes[0].server
    }

    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.server.pid()).collect()
    }

    /// An error naming every node that died, with its log tail.
    pub fn check_alive(&mut self) -> Result<()> {
        let dead: Vec<String> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.server.check_alive().err().map(|e| format!("{e:#}")))
            .collect();
        if dead.is_empty() {
            Ok(())
        } else {
            bail!("{}", dead.join("\n"))
        }
    }

    /// Stops every node. Idempotent.
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            node.server.stop();
        }
    }
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_node(
    spec: &ClusterSpec,
    index: usize,
    cpus: Option<CpuSet>,
    role: Role,
) -> Result<ClusterNode> {
    let tls_cluster = spec.node.tls.is_some();
    let mut last_err = None;
    // The bus port is chosen here, so a clash on it is retried here.
    for _ in 0..3 {
        let bus_port = free_port()?;
        let mut node = spec.node.clone();
        node.name = format!("{}-node-{index}", spec.node.name);
        node.cpus = cpus.clone();
        node.port = None;
        // Each node its own bytes (a node id is drawn from them), the same for every target.
        node.urandom_seed = spec
            .node
            .urandom_seed
            .map(|s| s ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // A relative cluster config file lands in the node's own data dir (`--dir`).
        node.extra_args.extend(
            [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                &bus_port.to_string(),
                "--cluster-node-timeout",
                "5000",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        if tls_cluster {
            node.extra_args.extend(
                ["--tls-cluster", "yes", "--tls-replication", "yes"]
                    .iter()
                    .map(|s| s.to_string()),
            );
        }
        match ServerHandle::start(&node) {
            Ok(server) => {
                let id = server
                    .control()
                    .and_then(|mut c| c.call_text(&["CLUSTER", "MYID"]))
                    .with_context(|| {
                        format!("asking {} for its cluster id (`CLUSTER MYID`)", node.name)
                    })?;
                return Ok(ClusterNode {
                    server,
                    role,
                    id,
                    bus_port,
                });
            }
            Err(e) if format!("{e:#}").contains("Address already in use") => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("cluster node {index} did not start")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_split_evenly_and_completely() {
        let r = slot_ranges(3);
        assert_eq!(r, vec![(0, 5461), (5462, 10922), (10923, 16383)]);
        assert_eq!(slot_ranges(1), vec![(0, 16383)]);
        let total: u32 = slot_ranges(7).iter().map(|(a, b)| b - a + 1).sum();
        assert_eq!(total, SLOTS);
    }

    #[test]
    fn cpus_split_when_large_enough_else_shared_with_a_warning() {
        let set = CpuSet::parse("0-6").unwrap();
        let (parts, warning) = split_cpus(&set, 3);
        assert!(warning.is_none());
        let specs: Vec<_> = parts.iter().map(CpuSet::canonical).collect();
        assert_eq!(specs, vec!["0-2", "3-4", "5-6"]);
        let (parts, warning) = split_cpus(&CpuSet::parse("0-1").unwrap(), 3);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.canonical() == "0-1"));
        assert!(warning.unwrap().contains("share"));
    }

    #[test]
    fn parses_cluster_nodes() {
        let text = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-a slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f :30012@31012 master,noaddr - 0 0 0 disconnected
";
        let nodes = parse_cluster_nodes(text).unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].port, 30004);
        assert_eq!(nodes[0].host, "127.0.0.1");
        assert!(!nodes[0].is_primary());
        assert_eq!(
            nodes[0].primary_id.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        assert!(nodes[1].is_primary() && nodes[1].connected);
        assert_eq!(nodes[2].host, "");
        assert!(!nodes[2].connected);
        assert!(parse_cluster_nodes("garbage").is_err());
    }
}
