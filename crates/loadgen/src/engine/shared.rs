//! What all worker threads of a run share, and the start gate: the window starts when the
//! last worker arrives, so no worker is idle inside it. Streams run together
//! ([`crate::run_together`]) share one gate, so their windows start at the same instant.

use crate::cluster::SlotMap;
use crate::spec::{LoadSpec, Stop};
use crate::transport::ConnectSpec;
use crate::workload::{Compiled, NodeKeys};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a worker waiting at the start gate spins before it blocks.
const GATE_SPIN: Duration = Duration::from_millis(50);

/// The instants that frame a run, fixed when every client is connected.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    pub start: Instant,
    pub measure_start: Instant,
    pub end: Option<Instant>,
}

/// Cluster mode: a node a client is bound to, and the primary whose keys it draws (the node
/// itself, or the primary of a replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Binding {
    pub node: usize,
    pub primary: usize,
}

/// State shared by all worker threads.
pub(crate) struct Shared {
    pub spec: LoadSpec,
    pub compiled: Compiled,
    pub connect: ConnectSpec,
    pub slot_map: Option<SlotMap>,
    /// Cluster mode: the key numbers of each primary of the initial slot map, by node index;
    /// a client reading through primary `i` (or one of its replicas) draws from
    /// `node_keys[i]`.
    pub node_keys: Vec<Option<NodeKeys>>,
    /// Cluster mode: the nodes clients are bound to, client `i` to `bindings[i % len]`.
    pub bindings: Vec<Binding>,
    pub seed_host: String,
    /// Measured requests claimed so far (requests mode).
    pub issued: AtomicU64,
    /// Set to stop every loop (cancel, timeout).
    pub abort: AtomicBool,
    pub cancelled: AtomicBool,
    /// The start gate, shared with the other streams of a [`crate::run_together`].
    pub gate: Arc<Gate>,
    /// This stream's times, derived from the gate's start instant.
    pub times: OnceLock<Times>,
    pub failure: Mutex<Option<String>>,
}

/// The start barrier: each worker thread arrives once its clients are connected; the last
/// one to arrive fixes the start instant and releases the others. So the window starts when
/// every worker is running, not when a coordinator decided to start (which left the workers
/// idle inside the window until they noticed).
pub(crate) struct Gate {
    state: Mutex<GateState>,
    released: Condvar,
    /// Worker threads that must arrive (of every stream sharing the gate).
    threads: usize,
    start: OnceLock<Instant>,
    /// Set with `GateState::aborted`, readable without the lock while spinning.
    aborted: AtomicBool,
}

#[derive(Default)]
struct GateState {
    arrived: usize,
    aborted: bool,
}

impl Gate {
    pub(crate) fn new(threads: usize) -> Gate {
        Gate {
            state: Mutex::new(GateState::default()),
            released: Condvar::new(),
            threads,
            start: OnceLock::new(),
            aborted: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The times of `shared`'s stream, given the gate's start instant.
fn times_of(shared: &Shared, start: Instant) -> Times {
    *shared.times.get_or_init(|| {
        let measure_start = start + shared.spec.warmup;
        let end = match shared.spec.stop {
            Stop::Duration(d) => Some(measure_start + d),
            Stop::Requests(_) => None,
        };
        Times {
            start,
            measure_start,
            end,
        }
    })
}

/// Waits at the gate; returns the run's times, or `None` when the run was aborted or
/// cancelled before it started.
pub(super) fn arrive(shared: &Shared, cancel: &AtomicBool) -> Option<Times> {
    let gate = &shared.gate;
    let mut g = gate.lock();
    if g.aborted {
        return None;
    }
    g.arrived += 1;
    if g.arrived == gate.threads {
        if cancel.load(Ordering::Relaxed) {
            g.aborted = true;
            gate.aborted.store(true, Ordering::Relaxed);
            shared.abort.store(true, Ordering::Relaxed);
            gate.released.notify_all();
            return None;
        }
        let start = *gate.start.get_or_init(Instant::now);
        gate.released.notify_all();
        return Some(times_of(shared, start));
    }
    drop(g);
    // Spin (yielding the CPU) for a short while first: a condition variable's wake-up takes
    // a scheduler round trip, idle time inside the window. The connects of the other threads
    // are usually over within this; a slow cluster connect falls back to blocking.
    let spin_until = Instant::now() + GATE_SPIN;
    while Instant::now() < spin_until {
        if let Some(&start) = gate.start.get() {
            return Some(times_of(shared, start));
        }
        if shared.abort.load(Ordering::Relaxed) || gate.aborted.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::yield_now();
    }
    let mut g = gate.lock();
    while !g.aborted && gate.start.get().is_none() {
        g = gate.released.wait(g).unwrap_or_else(|e| e.into_inner());
    }
    if g.aborted {
        None
    } else {
        gate.start.get().map(|&start| times_of(shared, start))
    }
}

/// Stops every worker of `shared`'s stream (those running), and every worker of every stream
/// still waiting at the gate.
pub(crate) fn signal_abort(shared: &Shared) {
    let mut g = shared.gate.lock();
    g.aborted = true;
    shared.gate.aborted.store(true, Ordering::Relaxed);
    shared.abort.store(true, Ordering::Relaxed);
    shared.gate.released.notify_all();
}
