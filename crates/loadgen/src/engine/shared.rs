//! What all worker threads of a run share, and the start gate: the window starts when the
//! last worker arrives, so no worker is idle inside it.

use crate::cluster::SlotMap;
use crate::spec::{LoadSpec, Stop};
use crate::transport::ConnectSpec;
use crate::workload::{Compiled, NodeKeys};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
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

/// State shared by all worker threads.
pub(crate) struct Shared {
    pub spec: LoadSpec,
    pub compiled: Compiled,
    pub connect: ConnectSpec,
    pub slot_map: Option<SlotMap>,
    /// Cluster mode: the key numbers of each node of the initial slot map (its primaries),
    /// by node index; a client bound to node `i` draws its keys from `node_keys[i]`.
    pub node_keys: Vec<Option<NodeKeys>>,
    pub seed_host: String,
    /// Measured requests claimed so far (requests mode).
    pub issued: AtomicU64,
    /// Set to stop every loop (cancel, timeout).
    pub abort: AtomicBool,
    pub cancelled: AtomicBool,
    /// Worker threads of the run; the window starts when all of them reached the gate.
    pub threads: usize,
    pub gate: Gate,
    pub times: OnceLock<Times>,
    pub failure: Mutex<Option<String>>,
}

/// The start barrier: each worker thread arrives once its clients are connected; the last
/// one to arrive fixes the [`Times`] and releases the others. So the window starts when
/// every worker is running, not when a coordinator decided to start (which left the workers
/// idle inside the window until they noticed).
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    released: Condvar,
}

#[derive(Default)]
struct GateState {
    arrived: usize,
    aborted: bool,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Waits at the gate; returns the run's times, or `None` when the run was aborted or
/// cancelled before it started.
pub(super) fn arrive(shared: &Shared, cancel: &AtomicBool) -> Option<Times> {
    let mut g = shared.gate.lock();
    if g.aborted {
        return None;
    }
    g.arrived += 1;
    if g.arrived == shared.threads {
        if cancel.load(Ordering::Relaxed) {
            g.aborted = true;
            shared.abort.store(true, Ordering::Relaxed);
            shared.gate.released.notify_all();
            return None;
        }
        let start = Instant::now();
        let measure_start = start + shared.spec.warmup;
        let end = match shared.spec.stop {
            Stop::Duration(d) => Some(measure_start + d),
            Stop::Requests(_) => None,
        };
        let times = Times {
            start,
            measure_start,
            end,
        };
        let _ = shared.times.set(times);
        shared.gate.released.notify_all();
        return Some(times);
    }
    drop(g);
    // Spin (yielding the CPU) for a short while first: a condition variable's wake-up takes
    // a scheduler round trip, idle time inside the window. The connects of the other threads
    // are usually over within this; a slow cluster connect falls back to blocking.
    let spin_until = Instant::now() + GATE_SPIN;
    while Instant::now() < spin_until {
        if let Some(t) = shared.times.get() {
            return Some(*t);
        }
        if shared.abort.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::yield_now();
    }
    let mut g = shared.gate.lock();
    while !g.aborted && shared.times.get().is_none() {
        g = shared
            .gate
            .released
            .wait(g)
            .unwrap_or_else(|e| e.into_inner());
    }
    if g.aborted {
        None
    } else {
        shared.times.get().copied()
    }
}

/// Stops every worker: those waiting at the gate, and those running.
pub(crate) fn signal_abort(shared: &Shared) {
    let mut g = shared.gate.lock();
    g.aborted = true;
    shared.abort.store(true, Ordering::Relaxed);
    shared.gate.released.notify_all();
}
