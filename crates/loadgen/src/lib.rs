//! The native load generator: drives a Valkey server (standalone or cluster, TCP, TLS or
//! unix socket) with pipelined requests, closed loop or at a fixed rate, and measures every
//! reply's latency into HdrHistograms.
//!
//! Call [`run`] with a [`LoadSpec`]; it returns a [`RunReport`]. It connects every client
//! first, then measures; it stops by itself (request budget, duration, reply timeout) and
//! promptly when the cancel flag is set. Seeding read and pop commands is the caller's job:
//! run the command's [`Builtin::seeded_by`] write first with [`KeyOrder::Sequential`] and
//! `Stop::Requests(keyspacelen)`.
//!
//! [`Address`] (with its [`ClientTls`] and [`Credentials`]) is the workspace's one
//! description of where a server is and how to reach it, and [`tls_client_config`] its one TLS
//! client configuration; valkey-perf's server layer and control connections use both.
//! Failures are typed: [`LoadError`] for a run, and the errors of the parts a caller may use
//! alone ([`DatasetError`], [`HistogramError`]).
//!
//! This crate depends on the RESP codec only; it knows nothing of configs or records.

mod address;
mod cluster;
mod engine;
mod report;
mod socket;
mod spec;
mod stats;
mod sys;
mod tls;
mod transport;
mod workload;
mod zipf;

pub use address::{Address, ClientTls, Credentials};
pub use cluster::{ClusterError, crc16, key_slot};
pub use spec::{
    Builtin, CommandSpec, Dataset, DatasetError, KeyOrder, LoadSpec, Pacing, ReadFrom, Stop,
    WeightedCommand, Workload, csv_fields,
};
pub use stats::{
    HISTOGRAM_MAX_NS, HistogramError, LatencySummary, LoadWarning, RunReport, SecondSample,
    decode_histogram, encode_histogram,
};
pub use sys::PinError;
pub use tls::{TlsError, client_config as tls_client_config};
pub use workload::{WorkloadError, builtin_args};

use engine::Shared;
use report::report;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};
use transport::{ConnectSpec, Endpoint, Link};

/// Why a run could not start or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid load spec: {0}")]
    Config(String),
    #[error("cannot talk to the server at `{endpoint}`{}", connect_hint(.source))]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("authentication failed at `{endpoint}`: {message}")]
    Auth { endpoint: String, message: String },
    #[error("connection setup failed at `{endpoint}`: {message}")]
    Handshake { endpoint: String, message: String },
    #[error("TLS setup failed: {message}")]
    Tls { message: String },
    #[error("TLS setup failed")]
    TlsConfig(#[from] TlsError),
    #[error("cluster discovery failed: {0}")]
    Cluster(ClusterError),
    #[error("invalid load spec: {0}")]
    Workload(WorkloadError),
    #[error("invalid load spec: {0}")]
    Pin(PinError),
    /// The cancel flag was set before every client was connected; nothing was measured.
    #[error("cancelled before the load started")]
    Cancelled,
    #[error("cannot start a client thread{}", fd_hint(.0))]
    Runtime(#[source] std::io::Error),
    /// A worker thread panicked: a bug in the load generator. The run is void.
    #[error("load generator thread {thread} panicked: {message}")]
    WorkerPanic { thread: usize, message: String },
    /// The run was measured but failed (error share above the threshold, or a reply
    /// timeout). The report holds what was measured.
    #[error("the load run failed: {reason}")]
    RunFailed {
        reason: String,
        report: Box<RunReport>,
    },
}

/// What a failed connection most likely means: out of file descriptors (this process's
/// limit, not the server), no answer in time, or no server there.
fn connect_hint(e: &std::io::Error) -> String {
    let fds = fd_hint(e);
    if !fds.is_empty() {
        return fds;
    }
    if matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) {
        return ": it did not answer in time (overloaded, stopped, or a firewall dropping packets?)"
            .into();
    }
    // Bytes that are not RESP: the source says what they were.
    if e.kind() == std::io::ErrorKind::InvalidData {
        return String::new();
    }
    " (is it running and reachable?)".into()
}

/// For an error from running out of file descriptors: the limit and how to raise it; else
/// nothing.
fn fd_hint(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the struct it is given and nothing else.
            let limit = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
                format!(" (the limit is {})", limit.rlim_cur)
            } else {
                String::new()
            };
            format!(
                ": this process has too many open files{limit}; raise the limit \
                 (`ulimit -n 65536`) or use fewer clients"
            )
        }
        _ => String::new(),
    }
}

impl LoadSpec {
    /// Checks the spec without connecting: what [`run`] refuses before it opens a socket.
    pub fn validate(&self) -> Result<(), LoadError> {
        validate(self)
    }
}

fn validate(spec: &LoadSpec) -> Result<(), LoadError> {
    let bad = |m: &str| Err(LoadError::Config(m.to_string()));
    if spec.clients == 0 {
        return bad("clients must be at least 1");
    }
    if spec.threads == 0 {
        return bad("threads must be at least 1");
    }
    if spec.pipeline == 0 {
        return bad("pipeline must be at least 1");
    }
    if let Stop::Requests(0) = spec.stop {
        return bad("requests must be at least 1");
    }
    if let Stop::Duration(d) = spec.stop {
        if d.is_zero() {
            return bad("duration must be positive");
        }
    }
    if let Pacing::FixedRate { rps } = spec.pacing {
        if !(rps.is_finite() && rps > 0.0) {
            return bad("the request rate must be a positive number");
        }
    }
    if !(0.0..=1.0).contains(&spec.max_error_share) {
        return bad("max_error_share must be between 0 and 1");
    }
    let unix = spec.address.unix.is_some();
    if unix && spec.address.tls.is_some() {
        return bad("TLS over a unix socket is not supported; use a TCP target");
    }
    if unix && spec.address.cluster {
        return bad("cluster mode needs a TCP target, not a unix socket");
    }
    if spec.address.cluster && spec.dbnum.is_some_and(|d| d != 0) {
        return bad("a cluster has only database 0; drop --dbnum");
    }
    Ok(())
}

/// Fetches the slot map from the seed node.
fn discover(
    spec: &LoadSpec,
    cs: &ConnectSpec,
    host: &str,
    port: u16,
) -> Result<cluster::SlotMap, LoadError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    rt.block_on(async {
        let mut link = Link::connect(&Endpoint::Tcp(host.to_string(), port), cs).await?;
        let reply = link.call(&[b"CLUSTER", b"SLOTS"], cs.timeout).await?;
        if let Some(m) = reply.error_message() {
            return Err(LoadError::Cluster(ClusterError::NotACluster {
                address: spec.address.to_string(),
                reply: m.to_string(),
            }));
        }
        let mut map =
            cluster::SlotMap::from_cluster_slots(&reply, host).map_err(LoadError::Cluster)?;
        if spec.read_from != ReadFrom::Primaries {
            let nodes = link.call(&[b"CLUSTER", b"NODES"], cs.timeout).await?;
            if let Some(text) = nodes.as_text() {
                map.add_replicas_from_nodes(&text, host);
            }
        }
        Ok(map)
    })
}

/// The nodes clients are bound to, round robin, each with the primary whose keys it draws:
/// the primaries, their replicas, or both (`read_from`).
fn bindings(
    map: &cluster::SlotMap,
    read_from: ReadFrom,
    target: &Address,
) -> Result<Vec<engine::Binding>, LoadError> {
    let primaries = (0..map.primaries).map(|p| engine::Binding {
        node: p,
        primary: p,
    });
    let replicas = map.replicas.iter().enumerate().flat_map(|(p, list)| {
        list.iter().map(move |&r| engine::Binding {
            node: r as usize,
            primary: p,
        })
    });
    let out: Vec<engine::Binding> = match read_from {
        ReadFrom::Primaries => primaries.collect(),
        ReadFrom::Replicas => replicas.collect(),
        ReadFrom::All => primaries.chain(replicas).collect(),
    };
    if out.is_empty() {
        return Err(LoadError::Cluster(ClusterError::NoReplicas {
            address: target.to_string(),
        }));
    }
    Ok(out)
}

/// Runs one load run and reports what was measured.
///
/// Returns `Ok` also when cancelled (`report.cancelled`); returns
/// [`LoadError::RunFailed`] with the report when the error share exceeds
/// `spec.max_error_share` or replies stop arriving.
pub fn run(spec: &LoadSpec, cancel: &AtomicBool) -> Result<RunReport, LoadError> {
    match run_together(std::slice::from_ref(spec), cancel)?.pop() {
        Some(result) => result,
        None => Err(LoadError::Config("no load stream to run".into())),
    }
}

/// Runs several load streams at once in this process, each on its own worker threads with its
/// own histograms (a write stream and a read stream, say). Every client of every stream is
/// connected first; then all windows start at the same instant, so streams with the same
/// warm-up and duration also end together. Cancelling stops all of them.
///
/// The outer error is one that voids the whole run (a stream that cannot start, a worker
/// panic, a cancel before the start); each stream's own result is as [`run`] gives it.
pub fn run_together(
    specs: &[LoadSpec],
    cancel: &AtomicBool,
) -> Result<Vec<Result<RunReport, LoadError>>, LoadError> {
    if specs.is_empty() {
        return Err(LoadError::Config("no load stream to run".into()));
    }
    let total_threads: usize = specs.iter().map(|s| s.threads.min(s.clients)).sum();
    let gate = Arc::new(engine::Gate::new(total_threads));
    let mut streams = Vec::with_capacity(specs.len());
    for spec in specs {
        streams.push(prepare(spec, gate.clone())?);
    }
    let abort_all = |streams: &[(Arc<Shared>, usize)]| {
        for (sh, _) in streams {
            engine::signal_abort(sh);
        }
    };

    let (tx, rx) = std::sync::mpsc::channel();
    let outs: Vec<Vec<engine::ThreadOut>> = std::thread::scope(|scope| {
        // Per stream, the handles of its worker threads.
        let mut handles: Vec<Vec<_>> = Vec::new();
        for (si, (shared, threads)) in streams.iter().enumerate() {
            let threads = *threads;
            let clients = shared.spec.clients;
            let mut mine = Vec::new();
            for tid in 0..threads {
                let ids: Vec<usize> = (tid..clients).step_by(threads).collect();
                let (sh, txc) = (shared.clone(), tx.clone());
                let h = std::thread::Builder::new()
                    .name(format!("loadgen-{si}-{tid}"))
                    .spawn_scoped(scope, move || {
                        let body = std::panic::AssertUnwindSafe(|| {
                            engine::worker(sh.clone(), tid, ids, txc.clone(), cancel)
                        });
                        std::panic::catch_unwind(body).map_err(|payload| {
                            // Stop the others (also those waiting at the start gate) and tell
                            // a coordinator still waiting for this thread to connect.
                            let message = panic_message(payload.as_ref());
                            engine::signal_abort(&sh);
                            let _ = txc.send(Err(LoadError::WorkerPanic {
                                thread: tid,
                                message: message.clone(),
                            }));
                            LoadError::WorkerPanic {
                                thread: tid,
                                message,
                            }
                        })
                    });
                match h {
                    Ok(h) => mine.push(h),
                    Err(e) => {
                        abort_all(&streams);
                        let _ = tx.send(Err(LoadError::Runtime(e)));
                    }
                }
            }
            handles.push(mine);
        }
        drop(tx);
        let mut first_err = None;
        let mut ready = 0;
        for r in rx.iter() {
            match r {
                Ok(()) => ready += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                    abort_all(&streams);
                }
            }
            if ready == total_threads || first_err.is_some() {
                break;
            }
        }
        // The workers start the window themselves, at the gate, once all are connected.
        if first_err.is_some() || ready < total_threads {
            abort_all(&streams);
        }
        let mut outs = Vec::with_capacity(handles.len());
        let mut panicked = None;
        for mine in handles {
            let mut stream_outs = Vec::with_capacity(mine.len());
            for h in mine {
                match h.join() {
                    Ok(Ok(out)) => stream_outs.push(out),
                    Ok(Err(e)) => {
                        abort_all(&streams);
                        panicked.get_or_insert(e);
                    }
                    // The body's panics are caught; this is a panic in the catching itself.
                    Err(payload) => {
                        abort_all(&streams);
                        panicked.get_or_insert(LoadError::WorkerPanic {
                            thread: stream_outs.len(),
                            message: panic_message(payload.as_ref()),
                        });
                    }
                }
            }
            outs.push(stream_outs.into_iter().flatten().collect());
        }
        // A panic voids the run, whatever else happened.
        match panicked.or(first_err) {
            Some(e) => Err(e),
            None => Ok(outs),
        }
    })?;
    let mut results = Vec::with_capacity(streams.len());
    for ((shared, _), outs) in streams.iter().zip(outs) {
        let Some(times) = shared.times.get().copied() else {
            // Cancelled before every client was connected.
            return Err(LoadError::Cancelled);
        };
        let nodes = shared.slot_map.as_ref().map_or(1, |m| m.nodes.len());
        results.push(report(&shared.spec, shared, times, outs, nodes));
    }
    Ok(results)
}

/// Validates one stream and builds what its workers share: the slot map, the compiled
/// workload, each node's keys. Returns it with the stream's number of worker threads.
fn prepare(spec: &LoadSpec, gate: Arc<engine::Gate>) -> Result<(Arc<Shared>, usize), LoadError> {
    validate(spec)?;
    let tls = match &spec.address.tls {
        Some(t) => Some((transport::tls_config(t)?, t.sni.clone())),
        None => None,
    };
    let connect = ConnectSpec {
        tls,
        auth: spec.address.auth.clone(),
        dbnum: spec.dbnum,
        resp3: spec.resp3,
        timeout: spec.connect_timeout,
    };
    let address = &spec.address;
    let seed_host = match &address.unix {
        None => address.host.clone(),
        Some(_) => String::new(),
    };
    let slot_map = match (&address.unix, address.cluster) {
        (None, true) => Some(discover(spec, &connect, &address.host, address.port)?),
        _ => None,
    };
    let compiled =
        workload::Compiled::new(&spec.workload, address.cluster).map_err(LoadError::Workload)?;
    let node_keys = match &slot_map {
        Some(map) => (0..map.primaries)
            .map(|i| compiled.node_keys(|slot| map.slots[slot as usize] as usize == i))
            .collect(),
        None => Vec::new(),
    };
    let bindings = match &slot_map {
        Some(map) => bindings(map, spec.read_from, &spec.address)?,
        None => Vec::new(),
    };
    let threads = spec.threads.min(spec.clients);
    let shared = Arc::new(Shared {
        spec: spec.clone(),
        compiled,
        connect,
        slot_map,
        node_keys,
        bindings,
        seed_host,
        issued: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        cancelled: AtomicBool::new(false),
        gate,
        times: OnceLock::new(),
        failure: Mutex::new(None),
    });
    Ok((shared, threads))
}

/// The message a panic carries (`panic!("...")` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A spec against a listening socket that never answers (the kernel completes the
    /// connections; nothing reads them): enough for workers to connect and start.
    fn silent_target() -> (std::net::TcpListener, LoadSpec) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut spec = LoadSpec::new(
            Address::tcp("127.0.0.1", port),
            Workload::single(CommandSpec::Builtin(Builtin::Ping), 3, None),
        );
        spec.clients = 2;
        spec.threads = 2;
        spec.stop = Stop::Requests(100);
        spec.reply_timeout = Duration::from_secs(2);
        (listener, spec)
    }

    fn expect_panic(spec: &LoadSpec, hook: &str) {
        let t0 = Instant::now();
        match run(spec, &AtomicBool::new(false)) {
            Err(e @ LoadError::WorkerPanic { thread: 1, .. }) => {
                assert!(e.to_string().contains(hook), "{e}");
            }
            other => panic!("expected the worker's panic, got {other:?}"),
        }
        // Promptly: the other worker is stopped, not left to time out.
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }

    #[test]
    fn a_worker_panic_before_the_start_fails_the_run_with_its_message() {
        let (_listener, mut spec) = silent_target();
        spec.panic_in_worker = Some((1, false));
        expect_panic(&spec, "test hook: worker 1 panics before connecting");
    }

    #[test]
    fn a_worker_panic_during_the_run_fails_the_run_with_its_message() {
        let (_listener, mut spec) = silent_target();
        spec.panic_in_worker = Some((1, true));
        expect_panic(&spec, "test hook: worker 1 panics after the start");
    }
}
