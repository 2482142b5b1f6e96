//! The load engine: worker threads, each with a single-threaded tokio runtime, running one
//! load loop per client. The loop is the same for every pacing; pacing only decides each
//! request's intended send time.

use crate::LoadError;
use crate::cluster::{Redirect, SlotMap, parse_redirect};
use crate::spec::{KeyOrder, LoadSpec, Pacing, Stop};
use crate::stats::Recorder;
use crate::sys;
use crate::transport::{ConnectSpec, Endpoint, Link};
use crate::workload::{Compiled, KeyGen, NodeKeys};
use resp::FrameKind;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

/// Requests may leave up to this much ahead of their intended time in rate mode, so the
/// timer's millisecond granularity does not add client-side delay to the corrected latency.
const SEND_AHEAD: Duration = Duration::from_millis(1);
/// How often each thread checks the cancel flag, the deadline and reply progress.
const WATCH_PERIOD: Duration = Duration::from_millis(20);
/// After the end of a duration run, replies still in flight get this long to arrive.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long a worker waiting at the start gate spins before it blocks.
const GATE_SPIN: Duration = Duration::from_millis(50);
/// One in this many replies of a command that implies a reply shape is checked for it.
const SHAPE_SAMPLE: u64 = 16;
/// A worker thread that waited for a CPU more than this share of the time got less CPU than
/// it wanted: the client may have limited the result.
pub(crate) const STARVED_WAIT_SHARE: f64 = 0.05;

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
fn arrive(shared: &Shared, cancel: &AtomicBool) -> Option<Times> {
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

/// Per-thread state visible to the thread's client tasks.
struct ThreadCtx {
    shared: Arc<Shared>,
    rec: RefCell<Recorder>,
    outstanding: Cell<u64>,
    times: Times,
    /// Fixed rate: each client's next intended send time while it still has requests to
    /// send in the window (`None` once it has sent them all), indexed by `Client::local`.
    schedules: RefCell<Vec<Option<Instant>>>,
}

impl ThreadCtx {
    /// Whether a warm-up request answered at `now` counts in the window. Replies that arrive
    /// after the window started are counted in it, warm-up requests included: the server
    /// serves them inside the window, so leaving them out would undercount the window's
    /// throughput by the pipeline's worth in flight at its start (the choice "count" rather
    /// than "exclude": excluding them would need a window that starts at a different instant
    /// per connection). In requests mode they take their share of the request budget, so
    /// the run still measures exactly that many requests.
    fn counts_in_window(&self, now: Instant) -> bool {
        if now < self.times.measure_start {
            return false;
        }
        match self.shared.spec.stop {
            Stop::Duration(_) => true,
            Stop::Requests(n) => self.shared.issued.fetch_add(1, Ordering::Relaxed) < n,
        }
    }
}

struct Inflight {
    /// The workload command the request used (for the reply shape check).
    template: u16,
    intended: Instant,
    sent: Instant,
    measured: bool,
    /// The reply belongs to an `ASKING` sent before a redirected request; it is skipped.
    asking: bool,
    /// The reply is a `CLUSTER SLOTS` sent to refresh the slot map (not a request).
    refresh: bool,
    /// Cluster mode: where the request's bytes start in its connection's `history`, and
    /// their length, to re-send them when redirected.
    payload: Option<(u64, usize)>,
}

struct Conn {
    link: Link,
    wbuf: Vec<u8>,
    inflight: VecDeque<Inflight>,
    /// Cluster mode: the bytes of the requests in flight (and some already answered),
    /// starting at stream offset `history_base`.
    history: Vec<u8>,
    history_base: u64,
}

/// One client. Standalone: one connection. Cluster: bound to one node (its `home`), whose
/// keys it draws, so it has one connection as with valkey-benchmark; connections to other
/// nodes open only when a redirect or a changed slot map sends requests there (a slot
/// migration, a failover). Sequential key order (seeding) connects to every primary and
/// routes each key to its owner.
struct Client {
    id: usize,
    /// Index of the client within its thread.
    local: usize,
    conns: Vec<Option<Conn>>,
    slots: Option<SlotMap>,
    /// Cluster mode: the node of the initial slot map the client is bound to.
    home: usize,
    keys: KeyGen,
    scratch: Vec<u8>,
    /// When the slot map was last refreshed (at most once a second, on MOVED).
    last_refresh: Instant,
    /// A `CLUSTER SLOTS` reply waiting to be applied.
    refreshed: Option<resp::Frame>,
}

enum Woke {
    Timer,
    Read(usize, std::io::Result<usize>),
}

fn endpoint_of(node: &(String, u16)) -> Endpoint {
    Endpoint::Tcp(node.0.clone(), node.1)
}

/// The first word of an error reply, used as its kind (`ERR`, `WRONGTYPE`, `MOVED`, ...).
fn error_kind(msg: &str) -> String {
    msg.split_ascii_whitespace()
        .next()
        .unwrap_or("error reply")
        .to_string()
}

impl Client {
    async fn connect(shared: &Shared, id: usize) -> Result<Client, LoadError> {
        let mut conns = Vec::new();
        let mut home = 0;
        match &shared.slot_map {
            None => {
                let ep = match &shared.spec.target {
                    crate::spec::Target::Tcp { host, port } => Endpoint::Tcp(host.clone(), *port),
                    crate::spec::Target::Unix(p) => Endpoint::Unix(p.clone()),
                };
                conns.push(Some(Conn::new(Link::connect(&ep, &shared.connect).await?)));
            }
            Some(map) => {
                // Round robin over the primaries, as valkey-benchmark assigns its clients.
                home = id % map.nodes.len();
                let all = matches!(shared.spec.workload.key_order, KeyOrder::Sequential);
                for (i, node) in map.nodes.iter().enumerate() {
                    conns.push(if all || i == home {
                        let link = Link::connect(&endpoint_of(node), &shared.connect).await?;
                        Some(Conn::new(link))
                    } else {
                        None
                    });
                }
            }
        }
        Ok(Client {
            id,
            local: 0,
            conns,
            slots: shared.slot_map.clone(),
            home,
            keys: shared.compiled.key_gen(id as u64 + 1),
            scratch: Vec::new(),
            last_refresh: Instant::now(),
            refreshed: None,
        })
    }

    /// Generates one request into the right connection's write buffer.
    fn issue(&mut self, ctx: &ThreadCtx, intended: Instant, now: Instant, measured: bool) {
        let compiled = &ctx.shared.compiled;
        let Some(map) = &self.slots else {
            if let Some(conn) = self.conns[0].as_mut() {
                let (template, _) = compiled.emit(&mut self.keys, &mut conn.wbuf, None);
                conn.inflight.push_back(Inflight {
                    template,
                    intended,
                    sent: now,
                    measured,
                    asking: false,
                    refresh: false,
                    payload: None,
                });
            }
            return;
        };
        self.scratch.clear();
        let home = ctx.shared.node_keys.get(self.home).and_then(Option::as_ref);
        let (template, slot) = compiled.emit(&mut self.keys, &mut self.scratch, home);
        let owner = slot.map_or(self.home, |s| map.slots[s as usize] as usize);
        // Not connected to the owner (the slot map changed): send it where a connection is;
        // that node answers MOVED, and following the redirect connects to the owner.
        let node = if self.conns.get(owner).is_some_and(Option::is_some) {
            owner
        } else if self.conns.get(self.home).is_some_and(Option::is_some) {
            self.home
        } else {
            match self.conns.iter().position(Option::is_some) {
                Some(i) => i,
                None => return,
            }
        };
        if let Some(Some(conn)) = self.conns.get_mut(node) {
            let payload = conn.remember(&self.scratch);
            conn.wbuf.extend_from_slice(&self.scratch);
            conn.inflight.push_back(Inflight {
                template,
                intended,
                sent: now,
                measured,
                asking: false,
                refresh: false,
                payload: Some(payload),
            });
        }
    }

    /// Writes every pending write buffer. Returns the index of a connection that failed.
    async fn flush(&mut self) -> Result<(), (usize, std::io::Error)> {
        for (i, c) in self.conns.iter_mut().enumerate() {
            if let Some(c) = c {
                if !c.wbuf.is_empty() {
                    c.link.stream.write_all(&c.wbuf).await.map_err(|e| (i, e))?;
                    c.wbuf.clear();
                    // A burst (redirects, a large MSET) does not keep its buffer.
                    if c.wbuf.capacity() > 256 * 1024 {
                        c.wbuf.shrink_to(16 * 1024);
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits until a connection has bytes (or closed) or the timer fires.
    async fn wait(&mut self, timer: Option<Pin<&mut tokio::time::Sleep>>) -> Woke {
        let mut timer = timer;
        let conns = &mut self.conns;
        std::future::poll_fn(|cx| {
            for (i, c) in conns.iter_mut().enumerate() {
                let Some(c) = c else { continue };
                let spare = c.link.rbuf.spare();
                if let Poll::Ready(r) = c.link.stream.poll_read(cx, spare) {
                    if let Ok(n) = r {
                        c.link.rbuf.filled(n);
                    }
                    return Poll::Ready(Woke::Read(i, r));
                }
            }
            if let Some(t) = timer.as_mut() {
                if t.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Woke::Timer);
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Parses the complete replies of connection `i`. Returns how many requests finished
    /// and the redirects to follow; `Err` when the stream is corrupt.
    fn drain_replies(
        &mut self,
        i: usize,
        ctx: &ThreadCtx,
        redirects: &mut Vec<(Inflight, Redirect)>,
    ) -> Result<u64, String> {
        let cluster = self.slots.is_some();
        let Some(conn) = self.conns[i].as_mut() else {
            return Ok(0);
        };
        if cluster {
            conn.forget_answered();
        }
        let mut done = 0;
        let mut rec = ctx.rec.borrow_mut();
        loop {
            let pending = conn.link.rbuf.pending();
            let checked = match resp::check(pending) {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => return Err(format!("protocol error: {e}")),
            };
            if checked.kind == FrameKind::Push {
                conn.link.rbuf.consume(checked.len);
                continue;
            }
            let now = Instant::now();
            let Some(entry) = conn.inflight.pop_front() else {
                return Err("the server sent a reply nobody asked for".into());
            };
            if entry.asking {
                if entry.refresh {
                    if let Ok(Some((f, _))) = resp::parse(pending) {
                        self.refreshed = Some(f);
                    }
                }
                conn.link.rbuf.consume(checked.len);
                continue;
            }
            if checked.kind.is_error() {
                let msg = match resp::parse(pending) {
                    Ok(Some((f, _))) => f.error_message().unwrap_or_default().to_string(),
                    _ => String::new(),
                };
                conn.link.rbuf.consume(checked.len);
                if cluster {
                    if let Some(r) = parse_redirect(&msg, &ctx.shared.seed_host) {
                        if entry.payload.is_some() {
                            redirects.push((entry, r));
                            continue;
                        }
                    }
                }
                let measured = entry.measured || ctx.counts_in_window(now);
                if measured {
                    rec.error(&error_kind(&msg), 1);
                }
                rec.reply(
                    now,
                    entry.intended,
                    entry.sent,
                    measured,
                    ctx.times.measure_start,
                );
                done += 1;
                continue;
            }
            let measured = entry.measured || ctx.counts_in_window(now);
            if measured {
                if let Some(expect) = ctx.shared.compiled.expect(entry.template) {
                    rec.replies_seen += 1;
                    if rec.replies_seen % SHAPE_SAMPLE == 1 {
                        if let Ok(Some((frame, _))) = resp::parse(pending) {
                            rec.checked += 1;
                            if !expect.matches(&frame) {
                                rec.unexpected += 1;
                            }
                        }
                    }
                }
            }
            conn.link.rbuf.consume(checked.len);
            rec.reply(
                now,
                entry.intended,
                entry.sent,
                measured,
                ctx.times.measure_start,
            );
            done += 1;
        }
        Ok(done)
    }

    /// Re-sends redirected requests to the node named by the redirect.
    /// `src` is the connection the redirected requests were sent on.
    async fn follow(
        &mut self,
        ctx: &ThreadCtx,
        src: usize,
        redirects: Vec<(Inflight, Redirect)>,
    ) -> Result<(), LoadError> {
        for (mut entry, r) in redirects {
            let addr = match &r {
                Redirect::Moved { addr, .. } | Redirect::Ask { addr } => addr.clone(),
            };
            let Some(map) = self.slots.as_mut() else {
                continue;
            };
            let node = map.node_index(addr.clone()) as usize;
            {
                let mut rec = ctx.rec.borrow_mut();
                match &r {
                    Redirect::Moved { slot, .. } => {
                        map.slots[*slot as usize] = node as u16;
                        rec.moved += 1;
                    }
                    Redirect::Ask { .. } => rec.ask += 1,
                }
            }
            if self.conns.len() <= node {
                self.conns.resize_with(node + 1, || None);
            }
            if self.conns[node].is_none() {
                let link = Link::connect(&endpoint_of(&addr), &ctx.shared.connect).await?;
                self.conns[node] = Some(Conn::new(link));
            }
            let bytes = self.conns[src]
                .as_ref()
                .zip(entry.payload)
                .map(|(c, p)| c.recall(p).to_vec());
            let Some(conn) = self.conns[node].as_mut() else {
                continue;
            };
            let now = Instant::now();
            if matches!(r, Redirect::Ask { .. }) {
                conn.wbuf.extend_from_slice(b"*1\r\n$6\r\nASKING\r\n");
                conn.inflight.push_back(Inflight {
                    template: 0,
                    intended: now,
                    sent: now,
                    measured: false,
                    asking: true,
                    refresh: false,
                    payload: None,
                });
            }
            if let Some(bytes) = bytes {
                entry.payload = Some(conn.remember(&bytes));
                conn.wbuf.extend_from_slice(&bytes);
            }
            entry.sent = now;
            conn.inflight.push_back(entry);
            if matches!(r, Redirect::Moved { .. })
                && now.duration_since(self.last_refresh) >= Duration::from_secs(1)
            {
                // One MOVED often means more slots moved: refresh the whole map.
                self.last_refresh = now;
                conn.wbuf
                    .extend_from_slice(b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n");
                conn.inflight.push_back(Inflight {
                    template: 0,
                    intended: now,
                    sent: now,
                    measured: false,
                    asking: true,
                    refresh: true,
                    payload: None,
                });
            }
        }
        Ok(())
    }

    /// Applies a `CLUSTER SLOTS` reply. Connections to nodes not connected yet open when a
    /// request for them gets redirected there.
    fn apply_refresh(&mut self, ctx: &ThreadCtx, reply: resp::Frame) {
        let Ok(fresh) = SlotMap::from_cluster_slots(&reply, &ctx.shared.seed_host) else {
            // A map in the middle of a change may be incomplete; redirects still work.
            return;
        };
        let Some(map) = self.slots.as_mut() else {
            return;
        };
        for (slot, &node) in fresh.slots.iter().enumerate() {
            let idx = map.node_index(fresh.nodes[node as usize].clone());
            map.slots[slot] = idx;
        }
        if self.conns.len() < map.nodes.len() {
            self.conns.resize_with(map.nodes.len(), || None);
        }
    }

    /// Counts everything still in flight as lost when the client stops on a failure.
    fn abandon(&mut self, ctx: &ThreadCtx, why: &str) -> u64 {
        (0..self.conns.len()).map(|i| self.lose(i, ctx, why)).sum()
    }

    /// Counts the loss of connection `i` and everything in flight on it.
    fn lose(&mut self, i: usize, ctx: &ThreadCtx, why: &str) -> u64 {
        let Some(conn) = self.conns[i].take() else {
            return 0;
        };
        let lost = conn.inflight.iter().filter(|e| !e.asking).count() as u64;
        let measured = conn
            .inflight
            .iter()
            .filter(|e| !e.asking && e.measured)
            .count() as u64;
        let mut rec = ctx.rec.borrow_mut();
        rec.error(&format!("connection lost ({why})"), measured.max(1));
        rec.lost += measured;
        lost
    }

    /// The load loop: issue while the window and the pacing allow, write, wait for replies.
    async fn run(mut self, ctx: Rc<ThreadCtx>) {
        let spec = &ctx.shared.spec;
        let times = ctx.times;
        let window = spec.pipeline as u64;
        let interval = match spec.pacing {
            Pacing::ClosedLoop => None,
            Pacing::FixedRate { rps } => Some(Duration::from_secs_f64(spec.clients as f64 / rps)),
        };
        // Spread the connections' schedules evenly over one interval.
        let mut next_send = match interval {
            Some(iv) => times.start + iv.mul_f64(self.id as f64 / spec.clients as f64),
            None => times.start,
        };
        let budget = match spec.stop {
            Stop::Requests(n) => Some(n),
            Stop::Duration(_) => None,
        };
        let mut sleep = Box::pin(tokio::time::sleep_until(times.start.into()));
        let mut outstanding: u64 = 0;
        // Measured requests claimed from the shared budget but not yet issued.
        let mut credits: u64 = 0;
        let mut issuing = true;
        let mut redirects = Vec::new();
        loop {
            if ctx.shared.abort.load(Ordering::Relaxed) {
                break;
            }
            let now = Instant::now();
            if issuing && outstanding < window {
                let before = outstanding;
                while outstanding < window {
                    let intended = match interval {
                        None => now,
                        Some(iv) => {
                            if next_send > now + SEND_AHEAD {
                                break;
                            }
                            let t = next_send;
                            next_send += iv;
                            t
                        }
                    };
                    if times.end.is_some_and(|end| intended >= end) {
                        issuing = false;
                        break;
                    }
                    let measured = intended >= times.measure_start;
                    if measured {
                        if let Some(n) = budget {
                            if credits == 0 {
                                // Claim the whole free window at once: one atomic per batch.
                                let want = window - outstanding;
                                let prev = ctx.shared.issued.fetch_add(want, Ordering::Relaxed);
                                credits = want.min(n.saturating_sub(prev));
                            }
                            if credits == 0 {
                                issuing = false;
                                break;
                            }
                            credits -= 1;
                        }
                    }
                    self.issue(&ctx, intended, now, measured);
                    outstanding += 1;
                }
                ctx.outstanding
                    .set(ctx.outstanding.get() + (outstanding - before));
                if interval.is_some() {
                    ctx.schedules.borrow_mut()[self.local] = issuing.then_some(next_send);
                }
            }
            if let Err((i, e)) = self.flush().await {
                let why = e.kind().to_string();
                let lost = self.lose(i, &ctx, &why) + self.abandon(&ctx, "client stopped");
                outstanding = outstanding.saturating_sub(lost);
                ctx.outstanding
                    .set(ctx.outstanding.get().saturating_sub(lost));
                break;
            }
            if !issuing && outstanding == 0 {
                break;
            }
            let timer = match interval {
                Some(_) if issuing && outstanding < window => {
                    sleep
                        .as_mut()
                        .reset((next_send.checked_sub(SEND_AHEAD).unwrap_or(next_send)).into());
                    Some(sleep.as_mut())
                }
                _ => None,
            };
            match self.wait(timer).await {
                Woke::Timer => {}
                Woke::Read(i, Ok(n)) if n > 0 => {
                    let finished = match self.drain_replies(i, &ctx, &mut redirects) {
                        Ok(n) => n,
                        Err(why) => {
                            let lost =
                                self.lose(i, &ctx, &why) + self.abandon(&ctx, "client stopped");
                            outstanding = outstanding.saturating_sub(lost);
                            ctx.outstanding
                                .set(ctx.outstanding.get().saturating_sub(lost));
                            break;
                        }
                    };
                    outstanding -= finished;
                    ctx.outstanding
                        .set(ctx.outstanding.get().saturating_sub(finished));
                    let mut failed = None;
                    if !redirects.is_empty() {
                        let batch = std::mem::take(&mut redirects);
                        if let Err(e) = self.follow(&ctx, i, batch).await {
                            failed = Some(format!("redirect failed: {e}"));
                        }
                    }
                    if let Some(reply) = self.refreshed.take() {
                        self.apply_refresh(&ctx, reply);
                    }
                    if let Some(why) = failed {
                        let lost = self.abandon(&ctx, &why);
                        outstanding = outstanding.saturating_sub(lost);
                        ctx.outstanding
                            .set(ctx.outstanding.get().saturating_sub(lost));
                        break;
                    }
                }
                Woke::Read(i, r) => {
                    let why = match r {
                        Err(e) => e.to_string(),
                        Ok(_) => "closed by the server".to_string(),
                    };
                    let lost = self.lose(i, &ctx, &why) + self.abandon(&ctx, "client stopped");
                    outstanding = outstanding.saturating_sub(lost);
                    ctx.outstanding
                        .set(ctx.outstanding.get().saturating_sub(lost));
                    break;
                }
            }
        }
        ctx.outstanding
            .set(ctx.outstanding.get().saturating_sub(outstanding));
        if let Some(s) = ctx.schedules.borrow_mut().get_mut(self.local) {
            *s = None;
        }
    }
}

impl Conn {
    fn new(link: Link) -> Conn {
        Conn {
            link,
            wbuf: Vec::new(),
            inflight: VecDeque::new(),
            history: Vec::new(),
            history_base: 0,
        }
    }

    /// Keeps a request's bytes until it is answered; returns where they are.
    fn remember(&mut self, bytes: &[u8]) -> (u64, usize) {
        let at = self.history_base + self.history.len() as u64;
        self.history.extend_from_slice(bytes);
        (at, bytes.len())
    }

    /// The bytes of a request kept by [`Conn::remember`] and not yet forgotten.
    fn recall(&self, (at, len): (u64, usize)) -> &[u8] {
        let start = (at - self.history_base) as usize;
        &self.history[start..start + len]
    }

    /// Drops the bytes of answered requests (those before the oldest request in flight)
    /// once they are at least half of what is kept, so the copying stays proportional to
    /// the bytes sent and the history to about twice the window.
    fn forget_answered(&mut self) {
        let keep_from = self
            .inflight
            .iter()
            .find_map(|e| e.payload.map(|(at, _)| at))
            .unwrap_or(self.history_base + self.history.len() as u64);
        let dead = (keep_from - self.history_base) as usize;
        if dead > 0 && dead * 2 >= self.history.len() {
            self.history.drain(..dead);
            self.history_base = keep_from;
        }
    }
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

/// Stops every worker: those waiting at the gate, and those running.
pub(crate) fn signal_abort(shared: &Shared) {
    let mut g = shared.gate.lock();
    g.aborted = true;
    shared.abort.store(true, Ordering::Relaxed);
    shared.gate.released.notify_all();
}
