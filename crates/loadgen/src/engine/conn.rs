//! One connection of a client in the load loop: its socket registered in the thread's
//! `epoll` set, its receive and write buffers, the requests in flight on it and, in cluster
//! mode, the bytes of those requests (to re-send them when redirected).

use crate::socket::Socket;
use crate::transport::{Link, RecvBuf};
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use std::collections::VecDeque;
use std::io;
use std::time::Instant;

pub(super) struct Inflight {
    /// The workload command the request used (for the reply shape check).
    pub template: u16,
    pub intended: Instant,
    pub sent: Instant,
    pub measured: bool,
    /// The reply belongs to an `ASKING` sent before a redirected request; it is skipped.
    pub asking: bool,
    /// The reply is a `CLUSTER SLOTS` sent to refresh the slot map (not a request).
    pub refresh: bool,
    /// Cluster mode: where the request's bytes start in its connection's `history`, and
    /// their length, to re-send them when redirected.
    pub payload: Option<(u64, usize)>,
}

impl Inflight {
    /// A request sent for the client's own bookkeeping (`ASKING`, `CLUSTER SLOTS`), whose
    /// reply is not a measured request.
    pub fn internal(now: Instant, refresh: bool) -> Inflight {
        Inflight {
            template: 0,
            intended: now,
            sent: now,
            measured: false,
            asking: true,
            refresh,
            payload: None,
        }
    }
}

pub(super) struct Conn {
    pub sock: Socket,
    pub rbuf: RecvBuf,
    /// Requests generated and not yet taken by the socket.
    pub wbuf: Vec<u8>,
    /// The socket took less than it was given: the rest waits for it to become writable.
    pub want_out: bool,
    /// The `epoll` token, once registered.
    token: Option<u64>,
    pub inflight: VecDeque<Inflight>,
    /// Cluster mode: the bytes of the requests in flight (and some already answered),
    /// starting at stream offset `history_base`.
    history: Vec<u8>,
    history_base: u64,
}

impl Conn {
    /// Takes a connected link out of the async runtime.
    pub fn new(link: Link) -> io::Result<Conn> {
        Ok(Conn {
            sock: Socket::from_stream(link.stream)?,
            rbuf: link.rbuf,
            wbuf: Vec::new(),
            want_out: false,
            token: None,
            inflight: VecDeque::new(),
            history: Vec::new(),
            history_base: 0,
        })
    }

    pub fn registered(&self) -> bool {
        self.token.is_some()
    }

    /// Adds the socket to the thread's `epoll` set, edge-triggered: an event comes when
    /// bytes arrive, and the client reads until the socket is drained (a level-triggered
    /// set would poll every ready socket again at the next wait).
    pub fn register(&mut self, epoll: &Epoll, token: u64) -> io::Result<()> {
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLET;
        epoll.add(self.sock.fd(), EpollEvent::new(flags, token))?;
        self.token = Some(token);
        Ok(())
    }

    /// Writes what is waiting. When the socket takes only part of it, the rest stays and
    /// the socket is watched for writability until it has taken everything.
    pub fn flush(&mut self, epoll: &Epoll) -> io::Result<()> {
        let (taken, done) = self.sock.write(&self.wbuf)?;
        if taken == self.wbuf.len() {
            self.wbuf.clear();
            // A burst (redirects, a large MSET) does not keep its buffer.
            if self.wbuf.capacity() > 256 * 1024 {
                self.wbuf.shrink_to(16 * 1024);
            }
        } else {
            self.wbuf.drain(..taken);
        }
        if done != self.want_out {
            return Ok(());
        }
        self.want_out = !done;
        let Some(token) = self.token else {
            return Ok(());
        };
        let flags = if self.want_out {
            EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET
        } else {
            EpollFlags::EPOLLIN | EpollFlags::EPOLLET
        };
        epoll.modify(self.sock.fd(), &mut EpollEvent::new(flags, token))?;
        Ok(())
    }

    /// Keeps a request's bytes until it is answered; returns where they are.
    pub fn remember(&mut self, bytes: &[u8]) -> (u64, usize) {
        let at = self.history_base + self.history.len() as u64;
        self.history.extend_from_slice(bytes);
        (at, bytes.len())
    }

    /// The bytes of a request kept by [`Conn::remember`] and not yet forgotten.
    pub fn recall(&self, (at, len): (u64, usize)) -> &[u8] {
        let start = (at - self.history_base) as usize;
        &self.history[start..start + len]
    }

    /// Drops the bytes of answered requests (those before the oldest request in flight)
    /// once they are at least half of what is kept, so the copying stays proportional to
    /// the bytes sent and the history to about twice the window.
    pub fn forget_answered(&mut self) {
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
