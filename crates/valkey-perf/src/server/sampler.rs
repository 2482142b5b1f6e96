//! The 1 Hz sampler (`per_second_sampling: true`, `run --sample`): during the measured window,
//! once a second and on connections of its own, it reads every node's INFO (commands, clients,
//! memory, keyspace hits and misses), the measured command's `LATENCY HISTOGRAM`, and the CPU
//! time of every thread of the servers valkey-perf started, and appends one JSON line per
//! second to a file (`results/<target>/timeseries/<run>.jsonl`).
//!
//! It sends only `INFO` and `LATENCY HISTOGRAM`, so the measured command's own statistics are
//! untouched; its few commands a second do count in the server's total.
//!
//! May import `control` and `usage`.

use super::control::{Frame, info_field, parse_info};
use super::usage::{CpuTicks, ProbeNode, thread_cpu, ticks_per_second};
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Time between samples.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// A cumulative latency histogram of one command on one node: `(bucket upper bound in µs,
/// calls at most that slow)`, ascending, as `LATENCY HISTOGRAM` reports it.
pub type Histogram = Vec<(u64, u64)>;

/// Parses a `LATENCY HISTOGRAM <command>` reply: `[name, [calls, n, histogram_usec, [b, c,
/// ...]]]` (RESP2), or an empty array before the command's first call.
pub fn parse_histogram(reply: &Frame) -> Option<Histogram> {
    let Frame::Array(top) = reply else {
        return None;
    };
    if top.is_empty() {
        return Some(Vec::new());
    }
    let Some(Frame::Array(fields)) = top.get(1) else {
        return None;
    };
    let mut it = fields.iter();
    while let Some(key) = it.next() {
        let value = it.next()?;
        if key.as_text().as_deref() == Some("histogram_usec") {
            let Frame::Array(pairs) = value else {
                return None;
            };
            let mut out = Vec::with_capacity(pairs.len() / 2);
            for pair in pairs.chunks(2) {
                match pair {
                    [Frame::Integer(b), Frame::Integer(c)] => out.push((*b as u64, *c as u64)),
                    _ => return None,
                }
            }
            return Some(out);
        }
    }
    None
}

/// Calls at most `bound` µs slow in a cumulative histogram (a step function over the buckets).
fn at_most(h: &Histogram, bound: u64) -> u64 {
    h.iter()
        .take_while(|(b, _)| *b <= bound)
        .last()
        .map_or(0, |(_, c)| *c)
}

/// The percentiles of the calls between two cumulative histograms of the same node (later
/// minus earlier), as bucket upper bounds in µs; `None` without calls in between.
pub fn interval_percentiles(
    earlier: &Histogram,
    later: &Histogram,
    quantiles: &[f64],
) -> Option<Vec<u64>> {
    let bounds: Vec<u64> = later.iter().map(|(b, _)| *b).collect();
    let counts: Vec<u64> = bounds
        .iter()
        .map(|&b| at_most(later, b).saturating_sub(at_most(earlier, b)))
        .collect();
    let total = *counts.last()?;
    if total == 0 {
        return None;
    }
    Some(
        quantiles
            .iter()
            .map(|q| {
                let want = (q * total as f64).ceil().max(1.0) as u64;
                let i = counts
                    .iter()
                    .position(|&c| c >= want)
                    .unwrap_or(counts.len() - 1);
                bounds[i]
            })
            .collect(),
    )
}

/// Merges the interval counts of several nodes into one cumulative histogram over the union
/// of their buckets.
fn merged_interval(pairs: &[(Histogram, Histogram)]) -> Histogram {
    let mut bounds: Vec<u64> = pairs
        .iter()
        .flat_map(|(_, later)| later.iter().map(|(b, _)| *b))
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    bounds
        .into_iter()
        .map(|b| {
            let c = pairs
                .iter()
                .map(|(e, l)| at_most(l, b).saturating_sub(at_most(e, b)))
                .sum();
            (b, c)
        })
        .collect()
}

/// One node's state at one sample.
struct NodeState {
    info: Vec<(String, String)>,
    histogram: Histogram,
}

/// Everything one sample read.
struct State {
    at: Instant,
    nodes: Vec<NodeState>,
    /// `(pid, threads)` of the processes valkey-perf started.
    threads: Vec<(u32, Vec<CpuTicks>)>,
}

struct Worker {
    nodes: Vec<ProbeNode>,
    pids: Vec<u32>,
    command: String,
}

impl Worker {
    fn read(&mut self) -> Result<State> {
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for n in &mut self.nodes {
            let info = parse_info(
                &n.control
                    .call_text(&["INFO", "stats", "clients", "memory"])?,
            );
            let reply = n.control.call(&["LATENCY", "HISTOGRAM", &self.command])?;
            let histogram = parse_histogram(&reply).with_context(|| {
                format!(
                    "`LATENCY HISTOGRAM {}` on `{}` returned {reply:?}",
                    self.command, n.addr
                )
            })?;
            nodes.push(NodeState { info, histogram });
        }
        let threads = self
            .pids
            .iter()
            .map(|&pid| Ok((pid, thread_cpu(pid)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(State {
            at: Instant::now(),
            nodes,
            threads,
        })
    }

    /// One JSON line for the interval from `a` to `b`.
    fn line(&self, second: u64, a: &State, b: &State) -> Value {
        let dt = b.at.duration_since(a.at).as_secs_f64().max(1e-6);
        let field = |s: &NodeState, k: &str| -> f64 {
            info_field(&s.info, k)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let (mut ops, mut inst, mut clients, mut used, mut rss, mut hits, mut misses) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let mut hist_pairs = Vec::new();
        for ((pa, pb), node) in a.nodes.iter().zip(&b.nodes).zip(&self.nodes) {
            clients += field(pb, "connected_clients");
            used += field(pb, "used_memory");
            rss += field(pb, "used_memory_rss");
            if node.primary {
                ops +=
                    field(pb, "total_commands_processed") - field(pa, "total_commands_processed");
                inst += field(pb, "instantaneous_ops_per_sec");
                hits += field(pb, "keyspace_hits") - field(pa, "keyspace_hits");
                misses += field(pb, "keyspace_misses") - field(pa, "keyspace_misses");
                hist_pairs.push((pa.histogram.clone(), pb.histogram.clone()));
            }
        }
        let merged = merged_interval(&hist_pairs);
        let calls = merged.last().map_or(0, |(_, c)| *c);
        let latency = interval_percentiles(&Vec::new(), &merged, &[0.5, 0.99, 0.999])
            .map(|p| json!({"p50_usec": p[0], "p99_usec": p[1], "p999_usec": p[2]}));
        let tck = ticks_per_second();
        let mut threads = Vec::new();
        let mut cpu_total = 0.0;
        for (pid, later) in &b.threads {
            let earlier = a.threads.iter().find(|(p, _)| p == pid).map(|(_, t)| t);
            for t in later {
                let before = earlier.and_then(|e| e.iter().find(|x| x.id == t.id));
                let (u0, s0) = before.map_or((0, 0), |x| (x.user, x.sys));
                let user = t.user.saturating_sub(u0) as f64 / tck / dt * 100.0;
                let sys = t.sys.saturating_sub(s0) as f64 / tck / dt * 100.0;
                cpu_total += user + sys;
                threads.push(json!({
                    "pid": pid, "tid": t.id, "name": t.name,
                    "user_percent": round1(user), "sys_percent": round1(sys),
                }));
            }
        }
        json!({
            "second": second,
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "interval_s": (dt * 1000.0).round() / 1000.0,
            "ops_per_sec": (ops / dt).round() as u64,
            "instantaneous_ops_per_sec": inst as u64,
            "connected_clients": clients as u64,
            "used_memory": used as u64,
            "used_memory_rss": rss as u64,
            "keyspace_hits": hits as u64,
            "keyspace_misses": misses as u64,
            "command": self.command,
            "command_calls": calls,
            "command_latency": latency,
            "server_cpu_percent": if b.threads.is_empty() { Value::Null } else { round1(cpu_total).into() },
            "threads": threads,
        })
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A running sampler; [`Sampler::finish`] stops it and says how many lines it wrote.
pub struct Sampler {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<Result<u64>>>,
    path: PathBuf,
}

impl Sampler {
    /// Takes the first reading now (the start of the window) and samples every second after
    /// it into `path` until [`Sampler::finish`]. `nodes` are connections of its own; `pids`
    /// the processes whose threads it reads (none for a running server).
    pub fn start(
        nodes: Vec<ProbeNode>,
        pids: Vec<u32>,
        command: &str,
        path: &Path,
    ) -> Result<Sampler> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating `{}`", dir.display()))?;
        }
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("creating `{}`", path.display()))?;
        let mut worker = Worker {
            nodes,
            pids,
            command: command.to_ascii_lowercase(),
        };
        let first = worker.read()?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || -> Result<u64> {
                let started = first.at;
                let mut previous = first;
                let mut lines = 0u64;
                loop {
                    let due = started + INTERVAL * (lines as u32 + 1);
                    let (lock, cvar) = &*flag;
                    let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while !*stopped {
                        let now = Instant::now();
                        if now >= due {
                            break;
                        }
                        stopped = cvar
                            .wait_timeout(stopped, due - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    if *stopped {
                        return Ok(lines);
                    }
                    drop(stopped);
                    let state = worker.read()?;
                    let line = worker.line(lines + 1, &previous, &state);
                    writeln!(file, "{line}").with_context(|| format!("writing `{shown}`"))?;
                    file.flush()?;
                    previous = state;
                    lines += 1;
                }
            })
            .context("starting the sampler thread")?;
        Ok(Sampler {
            stop,
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops sampling (a sample in progress completes) and returns the lines written.
    pub fn finish(mut self) -> Result<u64> {
        self.halt()
    }

    fn halt(&mut self) -> Result<u64> {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the sampler thread panicked"))?,
            None => Ok(0),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn histograms_parse_and_give_interval_percentiles() {
        let reply = Frame::Array(vec![
            bulk("get"),
            Frame::Array(vec![
                bulk("calls"),
                Frame::Integer(100),
                bulk("histogram_usec"),
                Frame::Array(vec![
                    Frame::Integer(1),
                    Frame::Integer(50),
                    Frame::Integer(2),
                    Frame::Integer(90),
                    Frame::Integer(8),
                    Frame::Integer(100),
                ]),
            ]),
        ]);
        let later = parse_histogram(&reply).unwrap();
        assert_eq!(later, vec![(1, 50), (2, 90), (8, 100)]);
        assert_eq!(parse_histogram(&Frame::Array(vec![])), Some(vec![]));
        // Earlier: 40 calls, all within 1 µs. The interval holds 10 + 40 + 10 calls.
        let earlier = vec![(1, 40)];
        let p = interval_percentiles(&earlier, &later, &[0.1, 0.5, 0.99]).unwrap();
        assert_eq!(p, vec![1, 2, 8]);
        assert_eq!(interval_percentiles(&later, &later, &[0.5]), None);
        let merged = merged_interval(&[(vec![], vec![(1, 5)]), (vec![], vec![(2, 5)])]);
        assert_eq!(merged, vec![(1, 5), (2, 10)]);
    }
}
