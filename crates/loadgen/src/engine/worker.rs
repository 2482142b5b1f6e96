//! One worker thread: pin, connect its clients, wait at the start gate, run the clients' load
//! loops while watching the cancel flag, the deadline and reply progress, and hand back what
//! was recorded (including what a duration run left unanswered or unsent).

use super::shared::arrive;
use super::{Client, Shared, ThreadCtx};
use crate::LoadError;
use crate::spec::Pacing;
use crate::stats::Recorder;
use crate::sys;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often each thread checks the cancel flag, the deadline and reply progress.
const WATCH_PERIOD: Duration = Duration::from_millis(20);
/// After the end of a duration run, replies still in flight get this long to arrive.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

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

/// Why [`watch`] ended the thread's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatchEnd {
    /// Cancelled, aborted or timed out: the run's outcome is already decided.
    Stopped,
    /// The drain after a duration run is over with requests still unanswered or unsent.
    DrainOver,
}

/// Checks the cancel flag, the deadline and reply progress until one of them ends the run.
async fn watch(ctx: &ThreadCtx, cancel: &AtomicBool) -> WatchEnd {
    let shared = &ctx.shared;
    loop {
        tokio::time::sleep(WATCH_PERIOD).await;
        if cancel.load(Ordering::Relaxed) {
            shared.cancelled.store(true, Ordering::Relaxed);
            shared.abort.store(true, Ordering::Relaxed);
            return WatchEnd::Stopped;
        }
        if shared.abort.load(Ordering::Relaxed) {
            return WatchEnd::Stopped;
        }
        let now = Instant::now();
        if ctx.times.end.is_some_and(|end| now > end + DRAIN_GRACE) {
            return WatchEnd::DrainOver;
        }
        let stalled = now.saturating_duration_since(ctx.rec.borrow().last_progress);
        if ctx.outstanding.get() > 0 && stalled > shared.spec.reply_timeout {
            let msg = format!(
                "no reply for {:?} with {} requests in flight",
                shared.spec.reply_timeout,
                ctx.outstanding.get()
            );
            ctx.rec.borrow_mut().error("timeout", ctx.outstanding.get());
            if let Ok(mut f) = shared.failure.lock() {
                f.get_or_insert(msg);
            }
            shared.abort.store(true, Ordering::Relaxed);
            return WatchEnd::Stopped;
        }
    }
}

/// Counts what a duration run left behind when its drain ended: requests sent and never
/// answered (`timeout`) and, at a fixed rate, requests scheduled inside the window and never
/// sent (`lost`). Both are failed requests; neither is dropped silently.
fn count_left_behind(ctx: &ThreadCtx) {
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
    let unsent: u64 = ctx
        .schedules
        .borrow()
        .iter()
        .flatten()
        .filter(|&&next| next < end)
        .map(|&next| ((end - next).as_secs_f64() / interval).ceil() as u64)
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
                let _ = ready.send(Err(LoadError::Config(e)));
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
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut clients = Vec::with_capacity(client_ids.len());
        for id in client_ids {
            match Client::connect(&shared, id).await {
                Ok(c) => clients.push(c),
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return None;
                }
            }
        }
        for (local, c) in clients.iter_mut().enumerate() {
            c.local = local;
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
        let ctx = Rc::new(ThreadCtx {
            shared: shared.clone(),
            rec: RefCell::new(recorder),
            outstanding: Cell::new(0),
            times,
            schedules: RefCell::new(vec![None; clients.len()]),
        });
        let cpu0 = sys::thread_cpu_time();
        let wait0 = sys::thread_runqueue_wait();
        let start_lag = wall0.saturating_duration_since(times.start);
        let handles: Vec<_> = clients
            .into_iter()
            .map(|c| tokio::task::spawn_local(c.run(ctx.clone())))
            .collect();
        let all = async {
            for h in handles {
                let _ = h.await;
            }
        };
        tokio::select! {
            _ = all => {}
            end = watch(&ctx, cancel) => {
                if end == WatchEnd::DrainOver {
                    count_left_behind(&ctx);
                }
            }
        }
        let wall = wall0.elapsed().as_secs_f64();
        let cpu = (sys::thread_cpu_time() - cpu0).as_secs_f64();
        let waited = match (wait0, sys::thread_runqueue_wait()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
            _ => None,
        };
        let recorder = std::mem::replace(
            &mut *ctx.rec.borrow_mut(),
            Recorder::new(Instant::now(), true),
        );
        let share = |x: f64| if wall > 0.0 { x / wall } else { 0.0 };
        Some(ThreadOut {
            recorder,
            busy_share: share(cpu),
            runqueue_share: waited.map(share),
            cpus,
            start_lag,
        })
    })
}
