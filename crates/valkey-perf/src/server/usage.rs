//! What the servers used in the measured window (docs/design.md §5.6): CPU time, the commands they
//! processed, the measured command's time per call, and their memory and keys after the load.
//!
//! CPU time comes from `/proc/<pid>/stat` for servers valkey-perf started (the kernel's
//! account of every thread of the process, including threads that exited) and from `INFO cpu`
//! deltas for a running server, whose processes are not ours to read. Everything else comes
//! from one `INFO cpu stats commandstats memory keyspace` per node at each edge of the window,
//! on connections opened before it, so the window's own overhead is one command per node and
//! edge. The per-thread view (`/proc/<pid>/task/*/stat`) is here too.
//!
//! May import `control` and `process`; `deployment` builds [`Probe`]s.

use super::control::{Control, info_field};
use anyhow::{Context, Result, bail};
use std::time::Instant;

/// CPU time of one process, or one thread, in clock ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuTicks {
    /// Process id (for a thread: its thread id).
    pub id: u32,
    /// The thread's name (`comm`), e.g. `valkey-server`, `io_thd_1`, `bio_close_file`.
    pub name: String,
    pub user: u64,
    pub sys: u64,
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` CPU times (`CLK_TCK`).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if tck > 0 { tck as f64 } else { 100.0 }
}

/// Parses a `/proc/<pid>/stat` (or `task/<tid>/stat`) line: `pid (comm) state ppid ...`,
/// where `comm` may hold spaces and parentheses, so fields are counted after its last `)`.
/// `utime` and `stime` are fields 14 and 15 (proc(5)).
pub fn parse_stat(text: &str) -> Option<CpuTicks> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let id = text[..open].trim().parse().ok()?;
    let name = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // `rest[0]` is field 3 (state), so field n is `rest[n - 3]`.
    Some(CpuTicks {
        id,
        name,
        user: rest.get(11)?.parse().ok()?,
        sys: rest.get(12)?.parse().ok()?,
    })
}

/// CPU time of process `pid`, all threads (alive and exited) together.
pub fn process_cpu(pid: u32) -> Result<CpuTicks> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading `{path}` (server gone?)"))?;
    parse_stat(&text).with_context(|| format!("`{path}` does not parse: {text:?}"))
}

/// CPU time of every live thread of process `pid` (`/proc/<pid>/task/*/stat`), by thread id.
pub fn thread_cpu(pid: u32) -> Result<Vec<CpuTicks>> {
    let dir = format!("/proc/{pid}/task");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading `{dir}`"))? {
        let path = entry?.path().join("stat");
        // A thread may exit between listing and reading.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Some(t) = parse_stat(&text) {
            out.push(t);
        }
    }
    out.sort_by_key(|t| t.id);
    Ok(out)
}

/// One node a [`Probe`] asks.
pub struct ProbeNode {
    pub addr: String,
    /// Primaries count the client's requests; replicas replay them.
    pub primary: bool,
    pub control: Control,
}

/// Samples the servers of a deployment: INFO of every node, and `/proc` CPU times of the
/// processes valkey-perf started (none for a running server).
pub struct Probe {
    nodes: Vec<ProbeNode>,
    pids: Vec<u32>,
}

/// The INFO sections one sample reads.
const SECTIONS: [&str; 5] = ["cpu", "stats", "commandstats", "memory", "keyspace"];

/// One node's INFO at one moment.
#[derive(Debug, Clone)]
pub struct NodeSample {
    pub addr: String,
    pub primary: bool,
    pub info: Vec<(String, String)>,
}

/// Everything a [`Probe`] read at one moment.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub nodes: Vec<NodeSample>,
    /// `/proc` CPU times of the processes valkey-perf started.
    pub processes: Vec<CpuTicks>,
}

impl Probe {
    pub fn new(nodes: Vec<ProbeNode>, pids: Vec<u32>) -> Probe {
        Probe { nodes, pids }
    }

    /// The connections and process ids, for a sampler of its own.
    pub fn into_parts(self) -> (Vec<ProbeNode>, Vec<u32>) {
        (self.nodes, self.pids)
    }

    /// Reads every node's INFO and every process's CPU time.
    pub fn sample(&mut self) -> Result<Sample> {
        let mut args = vec!["INFO"];
        args.extend(SECTIONS);
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for n in &mut self.nodes {
            let text = n.control.call_text(&args)?;
            nodes.push(NodeSample {
                addr: n.addr.clone(),
                primary: n.primary,
                info: super::control::parse_info(&text),
            });
        }
        let processes = self
            .pids
            .iter()
            .map(|&pid| process_cpu(pid))
            .collect::<Result<Vec<_>>>()?;
        Ok(Sample {
            at: Instant::now(),
            nodes,
            processes,
        })
    }
}

pub use crate::model::{CpuSource, WindowUsage};

fn num(info: &[(String, String)], key: &str, addr: &str) -> Result<f64> {
    let text = info_field(info, key)
        .with_context(|| format!("`INFO` of `{addr}` has no `{key}`; is it a Valkey server?"))?;
    text.parse()
        .with_context(|| format!("`INFO` of `{addr}`: `{key}:{text}` is not a number"))
}

/// `calls` and `usec` of `cmdstat_<command>`; zeros before its first call.
fn command_stats(info: &[(String, String)], command: &str) -> (u64, u64) {
    let key = format!("cmdstat_{}", command.to_ascii_lowercase());
    let Some(stats) = info_field(info, &key) else {
        return (0, 0);
    };
    let field = |name: &str| -> u64 {
        stats
            .split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("calls"), field("usec"))
}

/// Keys over every `dbN:keys=...` line.
fn keys_of(info: &[(String, String)]) -> u64 {
    info.iter()
        .filter(|(k, _)| k.starts_with("db") && k[2..].bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|(_, v)| {
            v.split(',')
                .find_map(|kv| kv.strip_prefix("keys="))?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// What the servers used between `start` and `end` (taken by the same [`Probe`]), for the
/// measured command `command` (as the server names it, e.g. `GET`).
pub fn window_usage(start: &Sample, end: &Sample, command: &str) -> Result<WindowUsage> {
    let (mut info_user, mut info_sys) = (0.0, 0.0);
    let (mut commands, mut calls, mut usec) = (0u64, 0u64, 0u64);
    let (mut used, mut rss, mut keys) = (0u64, 0u64, 0u64);
    let mut weighted_ratio = 0.0;
    for e in &end.nodes {
        let Some(s) = start.nodes.iter().find(|s| s.addr == e.addr) else {
            bail!(
                "`{}` answered at the end of the window but not at its start",
                e.addr
            );
        };
        info_user +=
            num(&e.info, "used_cpu_user", &e.addr)? - num(&s.info, "used_cpu_user", &s.addr)?;
        info_sys += num(&e.info, "used_cpu_sys", &e.addr)? - num(&s.info, "used_cpu_sys", &s.addr)?;
        let node_used = num(&e.info, "used_memory", &e.addr)? as u64;
        used += node_used;
        rss += num(&e.info, "used_memory_rss", &e.addr)? as u64;
        if let Ok(r) = num(&e.info, "mem_fragmentation_ratio", &e.addr) {
            weighted_ratio += r * node_used as f64;
        }
        if e.primary {
            let processed = |n: &NodeSample| num(&n.info, "total_commands_processed", &n.addr);
            commands += (processed(e)? - processed(s)?).max(0.0) as u64;
            let (c1, u1) = command_stats(&e.info, command);
            let (c0, u0) = command_stats(&s.info, command);
            calls += c1.saturating_sub(c0);
            usec += u1.saturating_sub(u0);
            keys += keys_of(&e.info);
        }
    }
    let (user, sys, source) = if end.processes.is_empty() {
        (info_user, info_sys, CpuSource::Info)
    } else {
        let tck = ticks_per_second();
        let (mut user, mut sys) = (0u64, 0u64);
        for e in &end.processes {
            let Some(s) = start.processes.iter().find(|s| s.id == e.id) else {
                bail!(
                    "server process {} was not there at the start of the window",
                    e.id
                );
            };
            user += e.user.saturating_sub(s.user);
            sys += e.sys.saturating_sub(s.sys);
        }
        (user as f64 / tck, sys as f64 / tck, CpuSource::Proc)
    };
    Ok(WindowUsage {
        server_cpu_user_s: round(user, 4),
        server_cpu_sys_s: round(sys, 4),
        server_cpu_source: source,
        server_cpu_info_s: round(info_user + info_sys, 4),
        server_commands: commands,
        server_cpu_us_per_request: (commands > 0)
            .then(|| round((user + sys) * 1e6 / commands as f64, 3)),
        server_calls: calls,
        usec_per_call: (calls > 0).then(|| round(usec as f64 / calls as f64, 3)),
        used_memory: used,
        used_memory_rss: rss,
        mem_fragmentation_ratio: (used > 0 && weighted_ratio > 0.0)
            .then(|| round(weighted_ratio / used as f64, 2)),
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_past_odd_thread_names() {
        let line = "4242 (io thd (1)) S 1 4242 4242 0 -1 4194560 1226 0 0 0 1513 287 0 0 20 0 4 0 \
                    8873 245403648 2417 18446744073709551615";
        let t = parse_stat(line).unwrap();
        assert_eq!(
            (t.id, t.name.as_str(), t.user, t.sys),
            (4242, "io thd (1)", 1513, 287)
        );
        assert!(parse_stat("4242 (x) S 1 2").is_none());
    }

    #[test]
    fn own_process_has_cpu_time_and_threads() {
        let me = std::process::id();
        let p = process_cpu(me).unwrap();
        assert_eq!(p.id, me);
        let threads = thread_cpu(me).unwrap();
        assert!(threads.iter().any(|t| t.id == me), "{threads:?}");
    }

    fn node(addr: &str, primary: bool, text: &str) -> NodeSample {
        NodeSample {
            addr: addr.into(),
            primary,
            info: super::super::control::parse_info(text),
        }
    }

    fn sample(nodes: Vec<NodeSample>) -> Sample {
        Sample {
            at: Instant::now(),
            nodes,
            processes: Vec::new(),
        }
    }

    #[test]
    fn a_window_sums_cpu_over_nodes_and_counts_requests_on_primaries() {
        let start = sample(vec![
            node(
                "a:1",
                true,
                "used_cpu_sys:1.0\r\nused_cpu_user:2.0\r\ntotal_commands_processed:100\r\ncmdstat_get:calls=10,usec=50,usec_per_call=5.00\r\nused_memory:1000\r\nused_memory_rss:2000\r\nmem_fragmentation_ratio:2.00\r\n",
            ),
            node(
                "b:2",
                false,
                "used_cpu_sys:0.5\r\nused_cpu_user:0.5\r\ntotal_commands_processed:7\r\nused_memory:3000\r\nused_memory_rss:3000\r\nmem_fragmentation_ratio:1.00\r\n",
            ),
        ]);
        let end = sample(vec![
            node(
                "a:1",
                true,
                "used_cpu_sys:1.5\r\nused_cpu_user:3.0\r\ntotal_commands_processed:1100\r\ncmdstat_get:calls=1010,usec=2050,usec_per_call=2.03\r\nused_memory:1000\r\nused_memory_rss:2000\r\nmem_fragmentation_ratio:2.00\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n",
            ),
            node(
                "b:2",
                false,
                "used_cpu_sys:0.75\r\nused_cpu_user:0.75\r\ntotal_commands_processed:1007\r\nused_memory:3000\r\nused_memory_rss:3000\r\nmem_fragmentation_ratio:1.00\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n",
            ),
        ]);
        let u = window_usage(&start, &end, "GET").unwrap();
        assert_eq!(u.server_cpu_source, CpuSource::Info);
        assert_eq!((u.server_cpu_user_s, u.server_cpu_sys_s), (1.25, 0.75));
        assert_eq!(u.server_cpu_info_s, 2.0);
        assert_eq!(
            u.server_commands, 1000,
            "the replica's replayed commands do not count"
        );
        assert_eq!(u.server_cpu_us_per_request, Some(2000.0));
        assert_eq!((u.server_calls, u.usec_per_call), (1000, Some(2.0)));
        assert_eq!((u.used_memory, u.used_memory_rss, u.keys), (4000, 5000, 5));
        assert_eq!(u.mem_fragmentation_ratio, Some(1.25));
        let missing = sample(vec![node("a:1", true, "used_cpu_sys:1.0\r\n")]);
        let err = window_usage(&missing, &missing, "GET").unwrap_err();
        assert!(format!("{err:#}").contains("`used_cpu_user`"), "{err:#}");
    }
}
