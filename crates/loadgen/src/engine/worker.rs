//! One worker thread: pin, connect its clients, wait at the start gate, run the clients in
//! the thread's event loop while watching the cancel flag, the deadline and reply progress,
//! and hand back what was recorded (including what a duration run left unanswered or
//! unsent).

use super::shared::arrive;
use super::{Client, SEND_AHEAD, Shared, ThreadCtx};
use crate::LoadError;
use crate::spec::{Pacing, Stop};
use crate::stats::Recorder;
use crate::sys;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often each thread checks the cancel flag, the deadline and reply progress.
const WATCH_PERIOD: Duration = Duration::from_millis(20);
/// After the end of a duration run, replies still in flight get this long to arrive.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Most readiness events taken from the kernel per wait.
const MAX_EVENTS: usize = 1024;

/// What a worker thread hands back.
pub(crate) struct ThreadOut {
    pub recorder: Recorder,
    pub busy_share: f64,
    /// Run-queue wait / wall time; `None` where the kernel does not report it.
    pub runqueue_share: Option<f64>,
    /// The CPUs the thread may run on, read back after pinning.
    pub cpus: Vec<usize>,
    /// From the start of the window until this thread began its load.
    pub start_lag: Duration,
}

/// Why the thread's load ended before every client finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatchEnd {
    /// Cancelled, aborted or timed out: the run's outcome is already decided.
    Stopped,
    /// The drain after a duration run is over with requests still unanswered or unsent.
    DrainOver,
}

/// Checks the cancel flag, the deadline and reply progress; says when one of them ends
/// the run.
fn check(ctx: &ThreadCtx, cancel: &AtomicBool, now: Instant) -> Option<WatchEnd> {
    let shared = &ctx.shared;
    if cancel.load(Ordering::Relaxed) {
        shared.cancelled.store(true, Ordering::Relaxed);
        shared.abort.store(true, Ordering::Relaxed);
        return Some(WatchEnd::Stopped);
    }
    if shared.abort.load(Ordering::Relaxed) {
        return Some(WatchEnd::Stopped);
    }
    if ctx.times.end.is_some_and(|end| now > end + DRAIN_GRACE) {
        return Some(WatchEnd::DrainOver);
    }
    let stalled = now.saturating_duration_since(ctx.rec.borrow().last_progress);
    if ctx.outstanding.get() > 0 && stalled > shared.spec.reply_timeout {
        let msg = format!(
            "no reply for {:?} with {} requests in flight",
            shared.spec.reply_timeout,
            ctx.outstanding.get()
        );
        ctx.rec.borrow_mut().error("timeout", ctx.outstanding.get());
        fail(ctx, msg);
        return Some(WatchEnd::Stopped);
    }
    None
}

/// Fails the run with `msg` (the first failure wins) and stops every thread.
fn fail(ctx: &ThreadCtx, msg: String) {
    if let Ok(mut f) = ctx.shared.failure.lock() {
        f.get_or_insert(msg);
    }
    ctx.shared.abort.store(true, Ordering::Relaxed);
}

/// The `epoll` token of a client's connection.
fn token(local: usize, conn: usize) -> u64 {
    ((local as u64) << 32) | conn as u64
}

/// Watches the client's connections that are not watched yet.
fn register(epoll: &Epoll, c: &mut Client) -> std::io::Result<()> {
    let local = c.local;
    for (i, conn) in c.conns.iter_mut().enumerate() {
        if let Some(conn) = conn {
            if !conn.registered() {
                conn.register(epoll, token(local, i))?;
            }
        }
    }
    Ok(())
}

/// The thread's event loop, in the manner of valkey-benchmark's: wait for readiness, read
/// and parse the replies of every ready connection, then let each of those clients issue
/// and write its next requests, one after the other, so the server gets them as one burst.
/// Fixed-rate clients whose next request is not due yet wait in a timer queue. Returns
/// `None` when every client finished.
fn run_clients(ctx: &ThreadCtx, clients: &mut [Client], cancel: &AtomicBool) -> Option<WatchEnd> {
    let spec = &ctx.shared.spec;
    let times = ctx.times;
    for c in clients.iter_mut() {
        c.next_send = match ctx.interval {
            // Spread the clients' schedules evenly over one interval.
            Some(iv) => times.start + iv.mul_f64(c.id as f64 / spec.clients as f64),
            None => times.start,
        };
        c.queued = true;
    }
    let mut ready: Vec<usize> = (0..clients.len()).collect();
    let mut remaining = clients.len();
    let mut counted = vec![false; clients.len()];
    let mut timers: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let watched: usize = clients.iter().map(|c| c.conns.len()).sum();
    let mut events = vec![EpollEvent::empty(); watched.clamp(16, MAX_EVENTS)];
    let mut next_watch = Instant::now() + WATCH_PERIOD;
    loop {
        if ctx.shared.abort.load(Ordering::Relaxed) {
            return Some(WatchEnd::Stopped);
        }
        let now = Instant::now();
        while let Some(&Reverse((at, c))) = timers.peek() {
            if at > now + SEND_AHEAD {
                break;
            }
            timers.pop();
            let cl = &mut clients[c];
            cl.scheduled = false;
            if !cl.queued {
                cl.queued = true;
                ready.push(c);
            }
        }
        for &c in &ready {
            let cl = &mut clients[c];
            cl.queued = false;
            if std::mem::take(&mut cl.new_conns) {
                if let Err(e) = register(&ctx.epoll, cl) {
                    fail(ctx, format!("cannot watch a connection: {e}"));
                    return Some(WatchEnd::Stopped);
                }
            }
            cl.fill(ctx, now);
            cl.flush(ctx);
            if let Some(at) = cl.due(ctx) {
                if !cl.scheduled {
                    cl.scheduled = true;
                    timers.push(Reverse((at, c)));
                }
            }
            if !counted[c] && cl.finished() {
                counted[c] = true;
                remaining -= 1;
                // Nothing is in flight: close its connections now, so a server closing an
                // idle connection later is not counted as a lost one.
                cl.conns.clear();
            }
        }
        ready.clear();
        if remaining == 0 {
            return None;
        }
        if now >= next_watch {
            if let Some(end) = check(ctx, cancel, now) {
                return Some(end);
            }
            next_watch = now + WATCH_PERIOD;
        }
        let mut wake = next_watch;
        if let Some(Reverse((at, _))) = timers.peek() {
            wake = wake.min(at.checked_sub(SEND_AHEAD).unwrap_or(*at));
        }
        // epoll counts in milliseconds: round up, so a timer never fires early.
        let wait = wake.saturating_duration_since(now);
        let ms = wait.as_micros().div_ceil(1000).min(u16::MAX as u128) as u16;
        let got = match ctx.epoll.wait(&mut events, ms) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => {
                fail(ctx, format!("waiting for the connections failed: {e}"));
                return Some(WatchEnd::Stopped);
            }
        };
        for ev in &events[..got] {
            let c = (ev.data() >> 32) as usize;
            let i = (ev.data() & 0xffff_ffff) as usize;
            let flags = ev.events();
            let cl = &mut clients[c];
            if flags.contains(EpollFlags::EPOLLOUT) {
                cl.writable(ctx, i);
            }
            if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP) {
                cl.readable(ctx, i);
            }
            if !cl.queued {
                cl.queued = true;
                ready.push(c);
            }
        }
    }
}

/// Counts what a duration run left behind when its drain ended: requests sent and never
/// answered (`timeout`) and, at a fixed rate, requests scheduled inside the window and never
/// sent (`lost`). Both are failed requests; neither is dropped silently.
fn count_left_behind(ctx: &ThreadCtx, clients: &[Client]) {
    let spec = &ctx.shared.spec;
    let mut rec = ctx.rec.borrow_mut();
    let unanswered = ctx.outstanding.get();
    if unanswered > 0 {
        rec.error("timeout", unanswered);
        rec.lost += unanswered;
        rec.unanswered += unanswered;
    }
    let (Some(end), Pacing::FixedRate { rps }) = (ctx.times.end, spec.pacing) else {
        return;
    };
    let interval = spec.clients as f64 / rps;
    let unsent: u64 = clients
        .iter()
        .filter(|c| c.issuing && !c.stopped)
        .map(|c| c.next_send)
        .filter(|&next| next < end)
        .map(|next| ((end - next).as_secs_f64() / interval).ceil() as u64)
        .sum();
    if unsent > 0 {
        rec.error("lost", unsent);
        rec.lost += unsent;
        rec.unsent += unsent;
    }
}

/// Body of worker thread `tid`: connect its clients, report, wait for the start signal,
/// run them, and return what was recorded.
pub(crate) fn worker(
    shared: Arc<Shared>,
    tid: usize,
    client_ids: Vec<usize>,
    ready: std::sync::mpsc::Sender<Result<(), LoadError>>,
    cancel: &AtomicBool,
) -> Option<ThreadOut> {
    #[cfg(test)]
    if shared.spec.panic_in_worker == Some((tid, false)) {
        panic!("test hook: worker {tid} panics before connecting");
    }
    if let Some(cpus) = &shared.spec.cpu_set {
        if !cpus.is_empty() {
            if let Err(e) = sys::pin_current_thread(cpus[tid % cpus.len()]) {
                let _ = ready.send(Err(LoadError::Pin(e)));
                return None;
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(LoadError::Runtime(e)));
            return None;
        }
    };
    let connected = rt.block_on(async {
        let mut clients = Vec::with_capacity(client_ids.len());
        for id in client_ids {
            clients.push(Client::connect(&shared, id).await?);
        }
        Ok::<_, LoadError>(clients)
    });
    let mut clients = match connected {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return None;
        }
    };
    let epoll = match Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
        Ok(e) => e,
        Err(e) => {
            let _ = ready.send(Err(LoadError::Runtime(e.into())));
            return None;
        }
    };
    for (local, c) in clients.iter_mut().enumerate() {
        c.local = local;
        if let Err(e) = register(&epoll, c) {
            let _ = ready.send(Err(LoadError::Runtime(e)));
            return None;
        }
    }
    let cpus = sys::current_thread_cpus();
    let _ = ready.send(Ok(()));
    // Allocated before the gate: a recorder's histograms take a while to zero, time that
    // would otherwise be idle inside the window.
    let mut recorder = Recorder::new(
        Instant::now(),
        matches!(shared.spec.pacing, Pacing::ClosedLoop),
    );
    let times = arrive(&shared, cancel)?;
    let wall0 = Instant::now();
    #[cfg(test)]
    if shared.spec.panic_in_worker == Some((tid, true)) {
        panic!("test hook: worker {tid} panics after the start");
    }
    recorder.last_progress = wall0;
    let interval = match shared.spec.pacing {
        Pacing::ClosedLoop => None,
        Pacing::FixedRate { rps } => {
            Some(Duration::from_secs_f64(shared.spec.clients as f64 / rps))
        }
    };
    let budget = match shared.spec.stop {
        Stop::Requests(n) => Some(n),
        Stop::Duration(_) => None,
    };
    let ctx = ThreadCtx {
        shared: shared.clone(),
        rec: RefCell::new(recorder),
        outstanding: Cell::new(0),
        times,
        interval,
        budget,
        rt: &rt,
        epoll,
    };
    let cpu0 = sys::thread_cpu_time();
    let wait0 = sys::thread_runqueue_wait();
    let start_lag = wall0.saturating_duration_since(times.start);
    if run_clients(&ctx, &mut clients, cancel) == Some(WatchEnd::DrainOver) {
        count_left_behind(&ctx, &clients);
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = (sys::thread_cpu_time() - cpu0).as_secs_f64();
    let waited = match (wait0, sys::thread_runqueue_wait()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
        _ => None,
    };
    let recorder = ctx.rec.into_inner();
    let share = |x: f64| if wall > 0.0 { x / wall } else { 0.0 };
    Some(ThreadOut {
        recorder,
        busy_share: share(cpu),
        runqueue_share: waited.map(share),
        cpus,
        start_lag,
    })
}
