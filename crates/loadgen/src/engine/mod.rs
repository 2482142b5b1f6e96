//! The load engine: worker threads, each with a single-threaded tokio runtime, running one
//! load loop per client. The loop is the same for every pacing; pacing only decides each
//! request's intended send time.
//!
//! This file has the client loop (connections, requests, replies, redirects); [`shared`] what
//! every worker shares and the start gate; [`worker`] a worker thread's life around the loop.

use crate::LoadError;
use crate::cluster::{Redirect, SlotMap, parse_redirect};
use crate::spec::{KeyOrder, Stop};
use crate::stats::Recorder;
use crate::transport::{Endpoint, Link};
use crate::workload::KeyGen;
use conn::{Conn, Inflight};
use nix::sys::epoll::Epoll;
use resp::FrameKind;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod conn;
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

/// Why a connection's reply stream cannot be read on: the connection is dropped.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("protocol error: {0}")]
    Protocol(resp::Error),
    /// The peer answered with HTTP: whatever listens there is not a Valkey server.
    #[error(
        "the server answered with HTTP (`{0}`): it is not a Valkey server; check the host and port"
    )]
    Http(String),
    #[error("the server sent a reply nobody asked for")]
    Unrequested,
}

/// Per-thread state the thread's clients share.
struct ThreadCtx<'a> {
    shared: Arc<Shared>,
    rec: RefCell<Recorder>,
    outstanding: Cell<u64>,
    times: Times,
    /// Fixed rate: the time between two requests of one client.
    interval: Option<Duration>,
    /// Requests mode: the measured requests of the whole run.
    budget: Option<u64>,
    /// The thread's runtime, for the rare connection opened during the load (a redirect
    /// to a node not connected yet).
    rt: &'a tokio::runtime::Runtime,
    epoll: Epoll,
}

impl ThreadCtx<'_> {
    /// Whether a warm-up request answered at `now` counts in the window. Replies that arrive
    /// after the window started are counted in it, warm-up requests included: the server
    /// serves them inside the window, so leaving them out would undercount the window's
    /// throughput by the pipeline's worth in flight at its start (the choice "count" rather
    /// than "exclude": excluding them would need a window that starts at a different instant
    /// per connection). In requests mode they take their share of the request budget, so
    /// the run still measures exactly that many requests.
    ///
    /// At a fixed rate a request's intended send time places it, for every connection alike:
    /// the window holds the requests scheduled in it. A backlog left from the warm-up (the
    /// client or the server behind) delays them and shows in their latency and in the rate
    /// achieved; counting it would add requests the schedule never put in the window.
    fn counts_in_window(&self, now: Instant) -> bool {
        if now < self.times.measure_start || self.interval.is_some() {
            return false;
        }
        match self.shared.spec.stop {
            Stop::Duration(_) => true,
            Stop::Requests(n) => self.shared.issued.fetch_add(1, Ordering::Relaxed) < n,
        }
    }
}

/// One client. Standalone: one connection. Cluster: bound to one node (its `home`), whose
/// keys it draws, so it has one connection as with valkey-benchmark; connections to other
/// nodes open only when a redirect or a changed slot map sends requests there (a slot
/// migration, a failover). Sequential key order (seeding) connects to every primary and
/// routes each key to its owner.
///
/// A client is driven by its thread's event loop ([`worker`]): it issues requests while
/// its window and the pacing allow ([`Client::fill`]), writes them ([`Client::flush`]) and
/// parses replies when a connection is readable ([`Client::readable`]).
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
    /// Requests sent and not answered.
    outstanding: u64,
    /// Measured requests claimed from the shared budget but not yet issued.
    credits: u64,
    /// The client may still issue requests (its window, budget or pacing has not ended).
    issuing: bool,
    /// The client stopped on a failure; what it had in flight is counted as lost.
    stopped: bool,
    /// Fixed rate: the intended send time of the client's next request.
    next_send: Instant,
    /// Fixed rate: the client waits in the thread's timer queue.
    scheduled: bool,
    /// The client is in the thread's list of clients to give a chance to issue.
    queued: bool,
    /// Redirect handling opened a connection that is not watched yet.
    new_conns: bool,
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

/// Takes a connected link into the load loop.
fn conn_of(link: Link) -> Result<Conn, LoadError> {
    let endpoint = link.endpoint.to_string();
    Conn::new(link).map_err(|source| LoadError::Connect { endpoint, source })
}

impl Client {
    async fn connect(shared: &Shared, id: usize) -> Result<Client, LoadError> {
        let mut conns = Vec::new();
        let mut home = 0;
        let mut key_home = 0;
        match &shared.slot_map {
            None => {
                let address = &shared.spec.address;
                let ep = match &address.unix {
                    None => Endpoint::Tcp(address.host.clone(), address.port),
                    Some(p) => Endpoint::Unix(p.clone()),
                };
                conns.push(Some(conn_of(Link::connect(&ep, &shared.connect).await?)?));
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
                        Some(conn_of(link)?)
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
            outstanding: 0,
            credits: 0,
            issuing: true,
            stopped: false,
            next_send: Instant::now(),
            scheduled: false,
            queued: false,
            new_conns: false,
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

    /// Issues requests while the window, the budget and the pacing allow.
    fn fill(&mut self, ctx: &ThreadCtx, now: Instant) {
        let window = ctx.shared.spec.pipeline as u64;
        let lockstep_wait = ctx.shared.spec.lockstep && self.outstanding > 0;
        if !self.issuing || self.outstanding >= window || lockstep_wait {
            return;
        }
        let times = ctx.times;
        let before = self.outstanding;
        while self.outstanding < window {
            let intended = match ctx.interval {
                None => now,
                Some(iv) => {
                    if self.next_send > now + SEND_AHEAD {
                        break;
                    }
                    let t = self.next_send;
                    self.next_send += iv;
                    t
                }
            };
            if times.end.is_some_and(|end| intended >= end) {
                self.issuing = false;
                break;
            }
            let measured = intended >= times.measure_start;
            if measured {
                if let Some(n) = ctx.budget {
                    if self.credits == 0 {
                        // Claim the whole free window at once: one atomic per batch.
                        let want = window - self.outstanding;
                        let prev = ctx.shared.issued.fetch_add(want, Ordering::Relaxed);
                        self.credits = want.min(n.saturating_sub(prev));
                    }
                    if self.credits == 0 {
                        self.issuing = false;
                        break;
                    }
                    self.credits -= 1;
                }
            }
            self.issue(ctx, intended, now, measured);
            self.outstanding += 1;
        }
        ctx.outstanding
            .set(ctx.outstanding.get() + (self.outstanding - before));
    }

    /// Fixed rate: when the client has room in its window but its next request is not due
    /// yet, the instant it is due.
    fn due(&self, ctx: &ThreadCtx) -> Option<Instant> {
        let room = self.outstanding < ctx.shared.spec.pipeline as u64
            && !(ctx.shared.spec.lockstep && self.outstanding > 0);
        (ctx.interval.is_some() && self.issuing && !self.stopped && room).then_some(self.next_send)
    }

    /// Whether the client has nothing more to do.
    fn finished(&self) -> bool {
        self.stopped || (!self.issuing && self.outstanding == 0)
    }

    /// Writes what each connection has waiting (except where the socket is full and the
    /// thread waits for it to become writable). Stops the client on a write error.
    fn flush(&mut self, ctx: &ThreadCtx) {
        let mut failed = None;
        for (i, c) in self.conns.iter_mut().enumerate() {
            if let Some(c) = c {
                if !c.wbuf.is_empty() && !c.want_out {
                    if let Err(e) = c.flush(&ctx.epoll) {
                        failed = Some((i, e.kind().to_string()));
                        break;
                    }
                }
            }
        }
        if let Some((i, why)) = failed {
            self.stop(ctx, Some((i, &why)), "client stopped");
        }
    }

    /// Connection `i` became writable after the socket took only part of a write.
    fn writable(&mut self, ctx: &ThreadCtx, i: usize) {
        let Some(Some(c)) = self.conns.get_mut(i) else {
            return;
        };
        if let Err(e) = c.flush(&ctx.epoll) {
            let why = e.kind().to_string();
            self.stop(ctx, Some((i, &why)), "client stopped");
        }
    }

    /// Connection `i` is readable: reads and parses what arrived, and follows redirects.
    fn readable(&mut self, ctx: &ThreadCtx, i: usize) {
        let Some(Some(c)) = self.conns.get_mut(i) else {
            return;
        };
        c.sock.readable();
        let mut redirects = Vec::new();
        loop {
            let Some(Some(c)) = self.conns.get_mut(i) else {
                return;
            };
            let spare = c.rbuf.spare();
            let n = match c.sock.read(spare) {
                Ok(None) => return,
                Ok(Some(0)) => {
                    self.stop(ctx, Some((i, "closed by the server")), "client stopped");
                    return;
                }
                Ok(Some(n)) => n,
                Err(e) => {
                    self.stop(ctx, Some((i, &e.to_string())), "client stopped");
                    return;
                }
            };
            c.rbuf.filled(n);
            let finished = match self.drain_replies(i, ctx, &mut redirects) {
                Ok(n) => n,
                Err(why) => {
                    self.stop(ctx, Some((i, &why.to_string())), "client stopped");
                    return;
                }
            };
            self.outstanding -= finished;
            ctx.outstanding
                .set(ctx.outstanding.get().saturating_sub(finished));
            let mut failed = None;
            if !redirects.is_empty() {
                let batch = std::mem::take(&mut redirects);
                if let Err(e) = self.follow(ctx, i, batch) {
                    failed = Some(format!("redirect failed: {e}"));
                }
            }
            if let Some(reply) = self.refreshed.take() {
                self.apply_refresh(ctx, reply);
            }
            if let Some(why) = failed {
                self.stop(ctx, None, &why);
                return;
            }
        }
    }

    /// Stops the client on a failure: connection `first` (if any) lost for its reason,
    /// the others for `why`, and everything in flight counted as lost.
    fn stop(&mut self, ctx: &ThreadCtx, first: Option<(usize, &str)>, why: &str) {
        if let Some((i, reason)) = first {
            self.lose(i, ctx, reason);
        }
        self.abandon(ctx, why);
        ctx.outstanding
            .set(ctx.outstanding.get().saturating_sub(self.outstanding));
        self.outstanding = 0;
        self.issuing = false;
        self.stopped = true;
    }

    /// Parses the complete replies of connection `i`. Returns how many requests finished
    /// and the redirects to follow; `Err` when the stream is corrupt.
    fn drain_replies(
        &mut self,
        i: usize,
        ctx: &ThreadCtx,
        redirects: &mut Vec<(Inflight, Redirect)>,
    ) -> Result<u64, StreamError> {
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
            let pending = conn.rbuf.pending();
            let checked = match resp::check(pending) {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    flush(&mut rec, &mut run);
                    if resp::looks_like_http(pending) {
                        return Err(StreamError::Http(resp::first_line(pending, 80)));
                    }
                    return Err(StreamError::Protocol(e));
                }
            };
            if checked.kind == FrameKind::Push {
                conn.rbuf.consume(checked.len);
                continue;
            }
            let Some(entry) = conn.inflight.pop_front() else {
                flush(&mut rec, &mut run);
                return Err(StreamError::Unrequested);
            };
            if entry.asking {
                if entry.refresh {
                    if let Ok(Some((f, _))) = resp::parse(pending) {
                        self.refreshed = Some(f);
                    }
                }
                conn.rbuf.consume(checked.len);
                continue;
            }
            if checked.kind.is_error() {
                let msg = match resp::parse(pending) {
                    Ok(Some((f, _))) => f.error_message().unwrap_or_default().to_string(),
                    _ => String::new(),
                };
                conn.rbuf.consume(checked.len);
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
            conn.rbuf.consume(checked.len);
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
    fn follow(
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
                let link = ctx
                    .rt
                    .block_on(Link::connect(&endpoint_of(&addr), &ctx.shared.connect))?;
                self.conns[node] = Some(conn_of(link)?);
                self.new_conns = true;
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
                conn.inflight.push_back(Inflight::internal(now, false));
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
                conn.inflight.push_back(Inflight::internal(now, true));
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
}
