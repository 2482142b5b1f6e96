//! A connection's socket inside the load loop: nonblocking reads and writes on the plain
//! file descriptor (TCP, unix socket, or TLS driven by hand over TCP), watched by the worker
//! thread's own `epoll` set rather than by an async runtime.
//!
//! Connections are opened and authenticated with the async [`crate::transport::Link`], then
//! handed over here ([`Socket::from_stream`]) for the measured load.

use crate::transport::{Stream, feed_tls};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

enum Io {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
    Tls(Box<Tls>),
}

struct Tls {
    tcp: std::net::TcpStream,
    conn: rustls::ClientConnection,
    /// Ciphertext read from the socket and not yet fed to the session.
    raw: Box<[u8]>,
}

/// A nonblocking connection used by the load loop.
pub(crate) struct Socket {
    io: Io,
    /// The last read from the descriptor took everything the kernel held (it returned less
    /// than asked, or would block): reading again before the next readiness event would
    /// only return `EAGAIN`.
    drained: bool,
}

impl Socket {
    /// Takes a connected, authenticated stream out of the async runtime (it stays
    /// nonblocking).
    pub(crate) fn from_stream(stream: Stream) -> io::Result<Socket> {
        let io = match stream {
            Stream::Tcp(s) => Io::Tcp(s.into_std()?),
            Stream::Unix(s) => Io::Unix(s.into_std()?),
            Stream::Tls(s) => {
                let s = *s;
                Io::Tls(Box::new(Tls {
                    tcp: s.tcp.into_std()?,
                    conn: s.tls,
                    raw: s.raw,
                }))
            }
        };
        Ok(Socket { io, drained: false })
    }

    /// The descriptor to watch.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match &self.io {
            Io::Tcp(s) => s.as_fd(),
            Io::Unix(s) => s.as_fd(),
            Io::Tls(t) => t.tcp.as_fd(),
        }
    }

    /// Called when the descriptor is reported readable: reads may take from it again.
    pub(crate) fn readable(&mut self) {
        self.drained = false;
    }

    /// Reads what is available into `dst` (plaintext for TLS). `Ok(None)`: nothing more
    /// until the next readiness event; `Ok(Some(0))`: end of stream.
    pub(crate) fn read(&mut self, dst: &mut [u8]) -> io::Result<Option<usize>> {
        fn plain(
            fd: BorrowedFd<'_>,
            drained: &mut bool,
            dst: &mut [u8],
        ) -> io::Result<Option<usize>> {
            if *drained {
                return Ok(None);
            }
            match recv(fd, dst) {
                Ok(n) => {
                    *drained = n < dst.len();
                    Ok(Some(n))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *drained = true;
                    Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => plain(fd, drained, dst),
                Err(e) => Err(e),
            }
        }
        match &mut self.io {
            Io::Tcp(s) => plain(s.as_fd(), &mut self.drained, dst),
            Io::Unix(s) => plain(s.as_fd(), &mut self.drained, dst),
            Io::Tls(t) => loop {
                match t.conn.reader().read(dst) {
                    Ok(n) => return Ok(Some(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                let Some(n) = plain(t.tcp.as_fd(), &mut self.drained, &mut t.raw)? else {
                    return Ok(None);
                };
                if n == 0 {
                    return Ok(Some(0));
                }
                feed_tls(&mut t.conn, &t.raw[..n])?;
            },
        }
    }

    /// Writes as much of `data` as the socket takes now. Returns how many bytes of `data`
    /// were taken and whether everything taken has left (for TLS, the session may still
    /// hold records): when not, the caller waits until the socket is writable and calls
    /// again with the rest.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<(usize, bool)> {
        fn plain(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<(usize, bool)> {
            let mut done = 0;
            while done < data.len() {
                match send(fd, &data[done..]) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the connection accepts no more data",
                        ));
                    }
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((done, false)),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok((done, true))
        }
        match &mut self.io {
            Io::Tcp(s) => plain(s.as_fd(), data),
            Io::Unix(s) => plain(s.as_fd(), data),
            // The session takes at most its buffer limit (64 KiB) of plaintext before its
            // records are written out, so a large batch goes in chunks.
            Io::Tls(t) => {
                let mut taken = 0;
                loop {
                    if t.conn.wants_write() {
                        match t.conn.write_tls(&mut t.tcp) {
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                return Ok((taken, false));
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    } else if taken < data.len() {
                        let n = t.conn.writer().write(&data[taken..])?;
                        if n == 0 {
                            return Err(io::Error::new(
                                io::ErrorKind::WriteZero,
                                "the TLS session accepts no more data",
                            ));
                        }
                        taken += n;
                    } else {
                        return Ok((taken, true));
                    }
                }
            }
        }
    }
}

// The load loop's reads and writes go to the kernel directly: the C library's `recv` and
// `send` are thread-cancellation points, and in a multi-threaded process each call
// switches cancellation on and off around the system call, a measurable share of a
// pipelined request's client CPU. Nothing here uses thread cancellation.

/// `recvfrom(fd, dst, 0)`.
fn recv(fd: BorrowedFd<'_>, dst: &mut [u8]) -> io::Result<usize> {
    transfer(libc::SYS_recvfrom, fd, dst.as_mut_ptr(), dst.len(), 0)
}

/// `sendto(fd, data, MSG_NOSIGNAL)` (a closed peer is an error, not a `SIGPIPE`).
fn send(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    transfer(
        libc::SYS_sendto,
        fd,
        data.as_ptr().cast_mut(),
        data.len(),
        libc::MSG_NOSIGNAL,
    )
}

/// `recvfrom` or `sendto` on a connected socket, with no address.
fn transfer(
    call: libc::c_long,
    fd: BorrowedFd<'_>,
    buf: *mut u8,
    len: usize,
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: the callers pass a buffer of `len` bytes valid for the call (writable for
    // `recvfrom`, which is the only call that writes to it), `fd` is an open descriptor
    // borrowed for the call, and the address arguments are null (a connected socket, no
    // sender address wanted). Every argument is passed as a `c_long`, as `syscall` reads it.
    let n = unsafe {
        libc::syscall(
            call,
            fd.as_raw_fd() as libc::c_long,
            buf as libc::c_long,
            len as libc::c_long,
            flags as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
