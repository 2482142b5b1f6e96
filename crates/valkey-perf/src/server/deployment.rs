//! A deployment is what one run talks to: a standalone server or a cluster valkey-perf started
//! (fresh per run), or a running server someone else started (`--use-running-server`,
//! `--mode client`). One API for all three; everything started is stopped on `stop()` or drop.
//!
//! Owns `Deployment`; hands engines a `loadgen::Address`. The top of `server/`: may
//! import every other server file (`cluster`, `standalone`, `control`, `tls`, `process`) and
//! `model`; nothing in `server/` imports it (`mod.rs` re-exports it).

use super::cluster::{self, ClusterHandle, ClusterSpec, parse_cluster_nodes};
use super::control::{self, AuthError, Connector, Control, Frame, info_field};
use super::standalone::{ServerHandle, ServerSpec};
use super::tls::ServerTls;
use super::usage::{Probe, ProbeNode};
use crate::model::case::ServerTopology;
use anyhow::{Context, Result, bail};
use loadgen::{Address, ClientTls};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long forming a cluster may take once its nodes answer PING.
pub const CLUSTER_READY_DEADLINE: Duration = Duration::from_secs(60);

/// How often `check_alive` PINGs a running server valkey-perf did not start.
pub const EXTERNAL_PING_EVERY: Duration = Duration::from_secs(2);

/// The longest a liveness PING of a running server waits: the load's own checks (deadline,
/// Ctrl-C) wait for it.
pub const LIVENESS_PING: Duration = Duration::from_millis(500);

/// Where started servers run and how they are reached (the parts of a start that do not
/// depend on the case).
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub binary: PathBuf,
    /// Address servers listen on: `127.0.0.1`, or `0.0.0.0` in `--mode server`.
    pub bind: String,
    /// Address clients use to reach them.
    pub host: String,
    /// Fixed port of a standalone server (`--port`); `None` picks a free one. Cluster nodes
    /// always pick free ports.
    pub port: Option<u16>,
    /// Directory for server log files.
    pub log_dir: PathBuf,
    /// Certificates for topologies with TLS (see `tls::TlsMaterial`).
    pub tls: Option<ServerTls>,
    /// Instructions mode: every server under callgrind, dumps into this directory.
    pub callgrind_dir: Option<PathBuf>,
    /// Instructions mode: the seed of the servers' own `/dev/urandom` (cluster nodes each
    /// derive theirs from it), the same for every target of a round.
    pub urandom_seed: Option<u64>,
}

/// The server side of a case: a standalone server or a cluster valkey-perf started, or a
/// running server it only drives. One API for all three; everything started is stopped on
/// `stop()` or drop.
pub enum Deployment {
    Standalone(ServerHandle),
    Cluster(ClusterHandle),
    /// A server valkey-perf did not start (`--use-running-server`, `--mode client`): its
    /// address, with the credentials every connection (control and load) authenticates with.
    External {
        target: Address,
        connector: Connector,
        /// When `check_alive` last sent a PING (it is called often during load).
        last_ping: Option<Instant>,
    },
}

impl Deployment {
    /// Starts the servers of `topology` (apply its `config_set` with `apply_config_set`
    /// afterwards). A TLS topology needs
    /// `options.tls`; check the binary first with `standalone::probe_tls`.
    pub fn start(topology: &ServerTopology, options: &StartOptions) -> Result<Deployment> {
        let tls = if topology.tls {
            Some(options.tls.clone().context(
                "this case needs TLS but no certificates were prepared; generate them with \
                 `TlsMaterial::generate` before starting servers",
            )?)
        } else {
            None
        };
        let spec = ServerSpec {
            name: "server".into(),
            binary: options.binary.clone(),
            bind: options.bind.clone(),
            host: options.host.clone(),
            port: if topology.cluster { None } else { options.port },
            io_threads: topology.io_threads,
            cpus: topology.server_cpus.clone(),
            custom_configs: topology.custom_configs.clone(),
            config_file: topology.config_file.clone(),
            // One argument, as the server reads `--loadmodule PATH ARGS` from its command line:
            // arguments that start with `--` (`--use-coordinator`) stay the module's.
            extra_args: topology
                .modules
                .iter()
                .map(|m| {
                    let mut line = format!("--loadmodule {}", m.path.display());
                    for a in &m.args {
                        line.push(' ');
                        line.push_str(a);
                    }
                    line
                })
                .collect(),
            log_dir: options.log_dir.clone(),
            tls,
            callgrind_dir: options.callgrind_dir.clone(),
            urandom_seed: options.urandom_seed,
        };
        Ok(if topology.cluster {
            Deployment::Cluster(ClusterHandle::start(&ClusterSpec {
                node: ServerSpec {
                    name: "cluster".into(),
                    ..spec
                },
                primaries: topology.cluster_nodes,
                replicas_per_primary: topology.cluster_replicas,
                ready_deadline: CLUSTER_READY_DEADLINE,
            })?)
        } else {
            Deployment::Standalone(ServerHandle::start(&spec)?)
        })
    }

    /// Connects to a server valkey-perf did not start and checks that it answers (and, for a
    /// cluster, that its state is ok).
    pub fn connect(target: &Address) -> Result<Deployment> {
        Self::connect_within(target, Duration::from_secs(10))
    }

    /// [`Deployment::connect`], the connection and each reply waited for at most `within`.
    pub fn connect_within(target: &Address, within: Duration) -> Result<Deployment> {
        let connector = Connector::new(target.tls.as_ref())?.with_auth(target.auth.clone());
        let deployment = Deployment::External {
            target: target.clone(),
            connector,
            last_ping: None,
        };
        let addr = format!("{}:{}", target.host, target.port);
        let mut ctl = deployment
            .connector()
            .connect(&target.host, target.port, within)
            .map_err(|e| {
                // Wrong or missing credentials: the server answered; say that, not "no server".
                if e.chain().any(|c| c.is::<AuthError>()) {
                    return e;
                }
                e.context(format!(
                    "no server answers at `{addr}`; start one there (e.g. `valkey-perf run --mode \
                 server`) or fix `--target-ip`/`--port`{}",
                    if target.tls.is_some() {
                        ""
                    } else {
                        " (add `--tls-ca` for a TLS server)"
                    }
                ))
            })?;
        ctl.call(&["PING"])?;
        if target.cluster {
            let info =
                control::parse_info(&ctl.call_text(&["CLUSTER", "INFO"]).with_context(|| {
                    format!("`{addr}` is not in cluster mode; drop `--cluster` or start a cluster")
                })?);
            let state = info_field(&info, "cluster_state").unwrap_or("?");
            if state != "ok" {
                bail!(
                    "the cluster at `{addr}` reports cluster_state:{state}; fix the cluster first"
                );
            }
        }
        Ok(deployment)
    }

    /// True when valkey-perf started (and will stop) these servers; recorded as
    /// `server_restarted`.
    pub fn started_here(&self) -> bool {
        !matches!(self, Deployment::External { .. })
    }

    pub fn is_cluster(&self) -> bool {
        match self {
            Deployment::Standalone(_) => false,
            Deployment::Cluster(_) => true,
            Deployment::External { target, .. } => target.cluster,
        }
    }

    /// Where the load generator connects (a seed node for a cluster).
    pub fn address(&self) -> Address {
        let started = |server: &ServerHandle, cluster: bool| Address {
            cluster,
            tls: tls_of(server.connector()),
            ..Address::tcp(&server.host, server.port)
        };
        match self {
            Deployment::Standalone(s) => started(s, false),
            Deployment::Cluster(c) => started(c.seed(), true),
            Deployment::External { target, .. } => target.clone(),
        }
    }

    /// Every node's address (`host:port`), primaries first.
    pub fn addresses(&self) -> Result<Vec<String>> {
        Ok(self
            .nodes(false)?
            .into_iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect())
    }

    /// How control connections reach the servers (plain or TLS).
    pub fn connector(&self) -> &Connector {
        match self {
            Deployment::Standalone(s) => s.connector(),
            Deployment::Cluster(c) => c.seed().connector(),
            Deployment::External { connector, .. } => connector,
        }
    }

    pub fn control(&self) -> Result<Control> {
        let ep = self.address();
        self.connector()
            .connect(&ep.host, ep.port, Duration::from_secs(10))
    }

    /// `(host, port)` of every node, or only of the primaries.
    fn nodes(&self, primaries_only: bool) -> Result<Vec<(String, u16)>> {
        Ok(match self {
            Deployment::Standalone(s) => vec![(s.host.clone(), s.port)],
            Deployment::Cluster(c) => c
                .nodes
                .iter()
                .filter(|n| !primaries_only || n.role == cluster::Role::Primary)
                .map(|n| (n.server.host.clone(), n.server.port))
                .collect(),
            Deployment::External { target, .. } if target.cluster => {
                let text = self.control()?.call_text(&["CLUSTER", "NODES"])?;
                let mut nodes = parse_cluster_nodes(&text)?;
                nodes.sort_by_key(|n| !n.is_primary());
                nodes
                    .into_iter()
                    .filter(|n| !n.flags.iter().any(|f| f == "fail" || f == "noaddr"))
                    .filter(|n| !primaries_only || n.is_primary())
                    .map(|n| {
                        // A node that does not know its own address reports it empty.
                        let host = if n.host.is_empty() {
                            target.host.clone()
                        } else {
                            n.host
                        };
                        (host, n.port)
                    })
                    .collect()
            }
            Deployment::External { target, .. } => vec![(target.host.clone(), target.port)],
        })
    }

    fn for_each_node(
        &self,
        primaries_only: bool,
        mut f: impl FnMut(&mut Control) -> Result<()>,
    ) -> Result<()> {
        for (host, port) in self.nodes(primaries_only)? {
            let mut ctl = self
                .connector()
                .connect(&host, port, Duration::from_secs(30))?;
            f(&mut ctl)?;
        }
        Ok(())
    }

    /// What [`ReplicationWaiter::wait`] needs: every node's address and the connector.
    pub fn replication_waiter(&self) -> Result<ReplicationWaiter> {
        Ok(ReplicationWaiter {
            connector: self.connector().clone(),
            nodes: self.nodes(false)?,
        })
    }

    /// Empties every database (on every primary of a cluster).
    pub fn flushall(&self) -> Result<()> {
        self.for_each_node(true, |ctl| {
            ctl.call(&["FLUSHALL"])?;
            Ok(())
        })
    }

    /// Sends one command (a scenario's setup step) where it belongs: on a standalone server
    /// to it; in a cluster to the primary that owns its first key's slot (the server names
    /// the keys: `COMMAND GETKEYS`), or to every primary when it has no key (index creation,
    /// settings). An error reply is an error naming the command, the node and the reply.
    pub fn run_command(&self, args: &[String], timeout: Duration) -> Result<()> {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = args.join(" ");
        let send = |ctl: &mut Control| -> Result<()> {
            let reply = ctl.call_raw(&argv)?;
            if let Some(e) = reply.error_message() {
                bail!("`{line}` failed on `{}`: {e}", ctl.addr());
            }
            Ok(())
        };
        let connect = |host: &str, port: u16| self.connector().connect(host, port, timeout);
        if !self.is_cluster() {
            let ep = self.address();
            return send(&mut connect(&ep.host, ep.port)?);
        }
        let mut getkeys = vec!["COMMAND", "GETKEYS"];
        getkeys.extend(&argv);
        let keys = match self.control()?.call_raw(&getkeys)? {
            Frame::Array(keys) => keys,
            // "The command has no key arguments", or a command the server does not know
            // (sent everywhere, so every node answers for itself).
            _ => Vec::new(),
        };
        let Some(key) = keys
            .first()
            .and_then(|k| k.as_text())
            .map(|k| k.into_owned())
        else {
            return self.for_each_node(true, send);
        };
        let slot = loadgen::key_slot(key.as_bytes());
        let int = |f: &Frame| match f {
            Frame::Integer(n) => Some(*n),
            _ => None,
        };
        let mut ctl = self.control()?;
        let owner = match ctl.call(&["CLUSTER", "SLOTS"])? {
            Frame::Array(ranges) => ranges.iter().find_map(|r| match r {
                Frame::Array(parts) if parts.len() >= 3 => {
                    let lo = int(&parts[0])?;
                    let hi = int(&parts[1])?;
                    let Frame::Array(node) = &parts[2] else {
                        return None;
                    };
                    let port = int(node.get(1)?)?;
                    (lo <= i64::from(slot) && i64::from(slot) <= hi).then(|| {
                        let host = node
                            .first()
                            .and_then(|h| h.as_text())
                            .map(|h| h.into_owned())
                            .filter(|h| !h.is_empty() && h != "?")
                            .unwrap_or_else(|| self.address().host);
                        (host, port as u16)
                    })
                }
                _ => None,
            }),
            _ => None,
        };
        let Some((host, port)) = owner else {
            bail!("no node owns slot {slot} of key `{key}` (for `{line}`)");
        };
        send(&mut connect(&host, port)?)
    }

    /// `CONFIG SET key value` for every entry, on every node.
    pub fn apply_config_set(&self, config: &Map<String, Value>) -> Result<()> {
        if config.is_empty() {
            return Ok(());
        }
        self.for_each_node(false, |ctl| {
            for (key, value) in config {
                let value = config_value(value);
                ctl.call(&["CONFIG", "SET", key, &value]).with_context(|| {
                    format!(
                        "applying `config_sets` entry `{key}` = `{value}`; check the name and value"
                    )
                })?;
            }
            Ok(())
        })
    }

    /// An error (with log tails) when a started server died, or when a running server no
    /// longer accepts connections. Cheap enough to call often during load: a started server
    /// is checked without traffic, a running one is pinged at most every
    /// `EXTERNAL_PING_EVERY`, waiting at most [`LIVENESS_PING`]. A running server that
    /// accepts the connection but does not answer in time is alive (busy or stopped): that is
    /// [`Deployment::responsive`]'s business, not a death.
    pub fn check_alive(&mut self) -> Result<()> {
        match self {
            Deployment::Standalone(s) => s.check_alive(),
            Deployment::Cluster(c) => c.check_alive(),
            Deployment::External { last_ping, .. } => {
                if last_ping.is_some_and(|t| t.elapsed() < EXTERNAL_PING_EVERY) {
                    return Ok(());
                }
                *last_ping = Some(Instant::now());
                match self.ping_within(LIVENESS_PING) {
                    Err(e) if super::deadline::is_unresponsive(&e) => Ok(()),
                    other => other,
                }
            }
        }
    }

    /// `Err(Unresponsive ...)` when the (seed) server accepts connections but does not answer
    /// PING within `within`; a dead one is [`Deployment::check_alive`]'s. For the message of
    /// a run that failed on a live server.
    pub fn responsive(&self, within: Duration) -> Result<()> {
        self.ping_within(within)
    }

    /// PINGs the (seed) server now.
    pub fn ping(&self) -> Result<()> {
        self.ping_within(Duration::from_secs(10))
    }

    /// PINGs the (seed) server, waiting at most `within`.
    fn ping_within(&self, within: Duration) -> Result<()> {
        let ep = self.address();
        self.connector()
            .connect(&ep.host, ep.port, within)
            .and_then(|mut c| c.call(&["PING"]).map(drop))
            .with_context(|| format!("the server at `{ep}` no longer answers PING"))
    }

    /// The server version from `INFO server` (`valkey_version`, else `redis_version`).
    pub fn server_version(&self) -> Result<String> {
        let info = self.control()?.info("server")?;
        info_field(&info, "valkey_version")
            .or_else(|| info_field(&info, "redis_version"))
            .map(str::to_string)
            .context("`INFO server` reports neither `valkey_version` nor `redis_version`")
    }

    /// `CONFIG GET key` on the seed node.
    pub fn config_get(&self, key: &str) -> Result<String> {
        match self.control()?.call(&["CONFIG", "GET", key])? {
            control::Frame::Array(items) if items.len() >= 2 => items[1]
                .as_text()
                .map(|text| text.into_owned())
                .with_context(|| format!("`CONFIG GET {key}` returned a non-text value")),
            other => bail!("`CONFIG GET {key}` returned {other:?}; is `{key}` a server setting?"),
        }
    }

    /// Process ids of the servers valkey-perf started (none for a running server).
    pub fn pids(&self) -> Vec<u32> {
        match self {
            Deployment::Standalone(s) => vec![s.pid()],
            Deployment::Cluster(c) => c.pids(),
            Deployment::External { .. } => Vec::new(),
        }
    }

    /// A [`Probe`] of every node, on connections opened now (before the window it samples),
    /// with the pids of the servers valkey-perf started.
    pub fn probe(&self) -> Result<Probe> {
        let primaries = self.nodes(true)?;
        let mut nodes = Vec::new();
        for (host, port) in self.nodes(false)? {
            let control = self
                .connector()
                .connect(&host, port, Duration::from_secs(10))?;
            nodes.push(ProbeNode {
                addr: format!("{host}:{port}"),
                primary: primaries.iter().any(|(h, p)| *h == host && *p == port),
                control,
            });
        }
        Ok(Probe::new(nodes, self.pids()))
    }

    /// The CPU affinity actually applied, read back from `/proc/<pid>/status`, for
    /// `env_server_cpu_range`: one list when every node has the same, else each node's list
    /// separated by `;`. `None` for a server valkey-perf did not start.
    pub fn cpu_affinity(&self) -> Option<String> {
        let lists: Vec<String> = self
            .pids()
            .into_iter()
            .filter_map(super::process::cpus_allowed)
            .collect();
        let first = lists.first()?;
        if lists.iter().all(|l| l == first) {
            Some(first.clone())
        } else {
            Some(lists.join(";"))
        }
    }

    /// Warnings from starting (e.g. cluster nodes sharing CPUs).
    pub fn warnings(&self) -> &[String] {
        match self {
            Deployment::Cluster(c) => &c.warnings,
            _ => &[],
        }
    }

    /// Server log files, one per process started.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        match self {
            Deployment::Standalone(s) => vec![s.log_path().to_path_buf()],
            Deployment::Cluster(c) => c
                .nodes
                .iter()
                .map(|n| n.server.log_path().to_path_buf())
                .collect(),
            Deployment::External { .. } => Vec::new(),
        }
    }

    /// A one-line description for `--mode server` and logs, e.g.
    /// `cluster (3 primaries, 1 replica each, TLS) at 127.0.0.1:7000 127.0.0.1:7001 ...`.
    pub fn describe(&self) -> String {
        let kind = match self {
            Deployment::Standalone(_) => "standalone server".to_string(),
            Deployment::Cluster(c) => {
                let primaries = c.primaries().count();
                let replicas = c.nodes.len() - primaries;
                format!(
                    "cluster ({primaries} primaries, {} replica(s) each)",
                    replicas.checked_div(primaries).unwrap_or(0)
                )
            }
            Deployment::External { target, .. } if target.cluster => "running cluster".into(),
            Deployment::External { .. } => "running server".into(),
        };
        let tls = if self.address().tls.is_some() {
            " over TLS"
        } else {
            ""
        };
        let addresses = self
            .addresses()
            .map(|a| a.join(" "))
            .unwrap_or_else(|_| self.address().to_string());
        format!("{kind}{tls} at {addresses}")
    }

    /// Stops everything valkey-perf started (nothing for a running server). Idempotent.
    pub fn stop(&mut self) {
        match self {
            Deployment::Standalone(s) => s.stop(),
            Deployment::Cluster(c) => c.stop(),
            Deployment::External { .. } => {}
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits for replicas to catch up with their primaries (after seeding, before reads go to
/// replicas). Owns its addresses, so it can be used while the deployment is borrowed.
pub struct ReplicationWaiter {
    connector: Connector,
    nodes: Vec<(String, u16)>,
}

impl ReplicationWaiter {
    /// Waits until every replica has applied everything its primary had written when this
    /// was called, as `WAIT` does for one connection's writes but for the writes of every
    /// connection: each replica's `slave_repl_offset` reaches its primary's
    /// `master_repl_offset`. Returns how many replicas were waited for.
    pub fn wait(&self, deadline: Duration) -> Result<usize> {
        let info = |host: &str, port: u16| -> Result<Vec<(String, String)>> {
            self.connector
                .connect(host, port, Duration::from_secs(10))?
                .info("replication")
        };
        let mut primaries: Vec<((String, u16), u64)> = Vec::new();
        let mut replicas: Vec<((String, u16), (String, u16))> = Vec::new();
        for (host, port) in &self.nodes {
            let i = info(host, *port)?;
            let field = |k: &str| info_field(&i, k).map(str::to_string);
            match field("role").as_deref() {
                Some("master") => {
                    let offset = field("master_repl_offset")
                        .and_then(|v| v.parse().ok())
                        .with_context(|| {
                            format!("`{host}:{port}` reports no master_repl_offset")
                        })?;
                    primaries.push(((host.clone(), *port), offset));
                }
                Some("slave") => {
                    let master = (
                        field("master_host").unwrap_or_default(),
                        field("master_port")
                            .and_then(|p| p.parse().ok())
                            .unwrap_or_default(),
                    );
                    replicas.push(((host.clone(), *port), master));
                }
                other => bail!("`{host}:{port}` reports the replication role {other:?}"),
            }
        }
        let until = Instant::now() + deadline;
        for ((host, port), master) in &replicas {
            // By address; a primary that names itself differently is found by its port.
            let target = primaries
                .iter()
                .find(|(addr, _)| *addr == *master)
                .or_else(|| primaries.iter().find(|((_, p), _)| *p == master.1))
                .map(|(_, offset)| *offset)
                .with_context(|| {
                    format!(
                        "the replica `{host}:{port}` follows `{}:{}`, which is not a primary of this cluster",
                        master.0, master.1
                    )
                })?;
            loop {
                let i = info(host, *port)?;
                let applied: u64 = info_field(&i, "slave_repl_offset")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if applied >= target {
                    break;
                }
                if Instant::now() >= until {
                    bail!(
                        "the replica `{host}:{port}` applied replication offset {applied} of its primary's {target} within {}s; is replication broken (see its log)?",
                        deadline.as_secs()
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(replicas.len())
    }
}

/// Keeps `deployments` up until Ctrl-C (`--mode server`), checking every second that they
/// are alive; a server that dies ends the wait with its log tail. Stops them all on return.
pub fn hold_until_interrupted(deployments: &mut [Deployment]) -> Result<()> {
    let outcome = loop {
        if super::process::interrupted() {
            break Ok(());
        }
        if let Some(err) = deployments.iter_mut().find_map(|d| d.check_alive().err()) {
            break Err(err.context("a server started by `--mode server` stopped"));
        }
        for _ in 0..10 {
            if super::process::interrupted() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    for d in deployments.iter_mut() {
        d.stop();
    }
    outcome
}

fn tls_of(connector: &Connector) -> Option<ClientTls> {
    connector.tls().map(|t| t.files().clone())
}

/// A `config_sets` value as CONFIG SET expects it: strings as is, booleans as `yes`/`no`,
/// numbers in decimal.
pub fn config_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        other => other.to_string(),
    }
}
