//! The load engine: worker threads, each with a single-threaded tokio runtime, running one
//! load loop per client. The loop is the same for every pacing; pacing only decides each
//! request's intended send time.
//!
//! This file has the client loop (connections, requests, replies, redirects); [`shared`] what
//! every worker shares and the start gate; [`worker`] a worker thread's life around the loop.

use crate::LoadError;
use crate::cluster::{Redirect, SlotMap, parse_redirect};
use crate::spec::{KeyOrder, Pacing, Stop};
use crate::stats::Recorder;
use crate::transport::{Endpoint, Link};
use crate::workload::KeyGen;
use resp::FrameKind;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

mod shared;
mod worker;

pub(crate) use shared::{Binding, Gate, Shared, Times, signal_abort};
pub(crate) use worker::{ThreadOut, worker};

/// Requests may leave up to this much ahead of their intended time in rate mode, so the
/// timer's millisecond granularity does not add client-side delay to the corrected latency.
const SEND_AHEAD: Duration = Duration::from_millis(1);
/// One in this many replies of a command that implies a reply shape is checked for it.
const SHAPE_SAMPLE: u64 = 16;
/// A worker thread that waited for a CPU more than this share of the time got less CPU than
/// it wanted: the client may have limited the result.
pub(crate) const STARVED_WAIT_SHARE: f64 = 0.05;

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
    /// Cluster mode: the node of the initial slot map the client is bound to (a primary, or
    /// a replica when reading from replicas).
    home: usize,
    /// Cluster mode: the primary whose keys the client draws; requests for its slots go to
    /// `home`.
    key_home: usize,
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
        let mut key_home = 0;
        match &shared.slot_map {
            None => {
                let ep = match &shared.spec.target {
                    crate::spec::Target::Tcp { host, port } => Endpoint::Tcp(host.clone(), *port),
                    crate::spec::Target::Unix(p) => Endpoint::Unix(p.clone()),
                };
                conns.push(Some(Conn::new(Link::connect(&ep, &shared.connect).await?)));
            }
            Some(map) => {
                // Round robin over the bound nodes, as valkey-benchmark assigns its clients.
                let bound = shared.bindings[id % shared.bindings.len().max(1)];
                home = bound.node;
                key_home = bound.primary;
                let all = matches!(shared.spec.workload.key_order, KeyOrder::Sequential);
                for (i, node) in map.nodes.iter().enumerate() {
                    conns.push(if (all && i < map.primaries) || i == home {
                        let mut link = Link::connect(&endpoint_of(node), &shared.connect).await?;
                        if i != key_home {
                            // A replica serves reads only to connections that asked for it.
                            let reply = link.call(&[b"READONLY"], shared.connect.timeout).await?;
                            if let Some(m) = reply.error_message() {
                                return Err(LoadError::Handshake {
                                    endpoint: link.endpoint.to_string(),
                                    message: format!("READONLY failed: {m}"),
                                });
                            }
                        }
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
            key_home,
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
        let home = ctx
            .shared
            .node_keys
            .get(self.key_home)
            .and_then(Option::as_ref);
        let (template, slot) = compiled.emit(&mut self.keys, &mut self.scratch, home);
        let owner = slot.map_or(self.key_home, |s| map.slots[s as usize] as usize);
        // Not connected to the owner (the slot map changed): send it where a connection is;
        // that node answers MOVED, and following the redirect connects to the owner. The
        // slots of the client's own primary go to its bound node (the replica it reads from).
        let node =
            if owner == self.key_home && self.conns.get(self.home).is_some_and(Option::is_some) {
                self.home
            } else if self.conns.get(owner).is_some_and(Option::is_some) {
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
        // Every reply parsed here arrived with the read that preceded this call: one clock
        // reading serves them all, and replies to one pipelined batch (same intended and sent
        // times) go into the histograms as one run.
        let now = Instant::now();
        let mut run: Option<(Instant, Instant, bool, u64)> = None;
        let flush = |rec: &mut crate::stats::Recorder,
                     run: &mut Option<(Instant, Instant, bool, u64)>| {
            if let Some((intended, sent, measured, n)) = run.take() {
                rec.replies(now, intended, sent, measured, ctx.times.measure_start, n);
            }
        };
        loop {
            let pending = conn.link.rbuf.pending();
            let checked = match resp::check(pending) {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    flush(&mut rec, &mut run);
                    return Err(format!("protocol error: {e}"));
                }
            };
            if checked.kind == FrameKind::Push {
                conn.link.rbuf.consume(checked.len);
                continue;
            }
            let Some(entry) = conn.inflight.pop_front() else {
                flush(&mut rec, &mut run);
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
            match &mut run {
                Some((intended, sent, m, n))
                    if *intended == entry.intended && *sent == entry.sent && *m == measured =>
                {
                    *n += 1;
                }
                _ => {
                    flush(&mut rec, &mut run);
                    run = Some((entry.intended, entry.sent, measured, 1));
                }
            }
            done += 1;
        }
        flush(&mut rec, &mut run);
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
            let mut issued_now = false;
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
                issued_now = outstanding > before;
                if interval.is_some() {
                    ctx.schedules.borrow_mut()[self.local] = issuing.then_some(next_send);
                }
            }
            if issued_now && interval.is_none() {
                // Closed loop: let the other clients whose replies came in with the same
                // wake-up read them and queue their next requests first, so the server gets
                // them as one burst, as valkey-benchmark's event loop sends them (it writes in
                // the loop iteration after the one that read). Written one by one instead,
                // they wake the server for a few requests at a time, which costs it about
                // 10 % more CPU per request at pipeline 16.
                tokio::task::yield_now().await;
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
