//! Connections: TCP, unix sockets and TLS (rustls, ring provider), the receive buffer, and
//! the connection handshake (HELLO 3, AUTH, SELECT).

use crate::LoadError;
use crate::address::{ClientTls, Credentials};
use resp::Frame;
use rustls::pki_types::ServerName;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Where one connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Tcp(String, u16),
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(h, p) => write!(f, "{h}:{p}"),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Connection settings shared by all connections of a run.
pub(crate) struct ConnectSpec {
    pub tls: Option<(Arc<rustls::ClientConfig>, Option<String>)>,
    pub auth: Option<Credentials>,
    pub dbnum: Option<u32>,
    pub resp3: bool,
    pub timeout: Duration,
}

/// The rustls client configuration for a run (see [`crate::tls::client_config`]).
pub(crate) fn tls_config(spec: &ClientTls) -> Result<Arc<rustls::ClientConfig>, LoadError> {
    // Checked here too, so the message names this command's flags.
    if spec.cert.is_some() != spec.key.is_some() {
        return Err(LoadError::Tls {
            message: "a client certificate needs both `--cert` and `--key`".into(),
        });
    }
    Ok(crate::tls::client_config(
        &spec.ca,
        spec.cert.as_deref(),
        spec.key.as_deref(),
    )?)
}

/// Hands ciphertext read from the socket to a TLS session and decrypts what it completes.
pub(crate) fn feed_tls(tls: &mut rustls::ClientConnection, mut raw: &[u8]) -> io::Result<()> {
    while !raw.is_empty() {
        tls.read_tls(&mut raw)?;
        tls.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(())
}

/// A TLS session over TCP, driven by hand (no extra runtime glue).
pub(crate) struct TlsStream {
    pub(crate) tcp: TcpStream,
    pub(crate) tls: rustls::ClientConnection,
    pub(crate) raw: Box<[u8]>,
    scratch: Vec<u8>,
}

impl TlsStream {
    async fn flush_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.scratch.clear();
            self.tls.write_tls(&mut self.scratch)?;
            self.tcp.write_all(&self.scratch).await?;
        }
        Ok(())
    }

    fn feed(&mut self, n: usize) -> io::Result<()> {
        feed_tls(&mut self.tls, &self.raw[..n])
    }

    async fn handshake(&mut self) -> io::Result<()> {
        while self.tls.is_handshaking() {
            self.flush_tls().await?;
            if self.tls.is_handshaking() && self.tls.wants_read() {
                let n = self.tcp.read(&mut self.raw).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    ));
                }
                self.feed(n)?;
            }
        }
        self.flush_tls().await
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.tls.reader().read(dst) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let mut rb = ReadBuf::new(&mut self.raw);
            match Pin::new(&mut self.tcp).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        return Poll::Ready(Ok(0));
                    }
                    if let Err(e) = self.feed(n) {
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }
    }
}

/// A byte stream to a server.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// Reads what is available into `dst`; `Ok(0)` is end of stream.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        fn plain<S: AsyncRead + Unpin>(
            s: &mut S,
            cx: &mut Context<'_>,
            dst: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let mut rb = ReadBuf::new(dst);
            match Pin::new(s).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        }
        match self {
            Stream::Tcp(s) => plain(s, cx, dst),
            Stream::Unix(s) => plain(s, cx, dst),
            Stream::Tls(s) => s.poll_read(cx, dst),
        }
    }

    pub(crate) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(data).await,
            Stream::Unix(s) => s.write_all(data).await,
            // rustls takes at most its buffer limit (64 KiB) of plaintext before the records
            // are written out, so a large batch goes in chunks, each sent before the next.
            Stream::Tls(s) => {
                let mut rest = data;
                while !rest.is_empty() {
                    let n = s.tls.writer().write(rest)?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the TLS session accepts no more data",
                        ));
                    }
                    rest = &rest[n..];
                    s.flush_tls().await?;
                }
                Ok(())
            }
        }
    }
}

/// Smallest receive buffer: what a connection holds while its replies are small.
const RECV_MIN: usize = 4 * 1024;
/// Largest buffer that full reads alone grow to (a frame that does not fit grows it further).
const RECV_FULL_READ_MAX: usize = 256 * 1024;
/// Reads between two looks at whether the buffer is larger than the replies need.
const RECV_SHRINK_PERIOD: u32 = 256;

/// A receive buffer that grows with need and shrinks back; bytes `start..end` are received
/// but not yet consumed.
///
/// It starts at [`RECV_MIN`] and doubles when a read filled all the free space (more bytes
/// were probably waiting, so the next read takes more in one system call) or a frame does
/// not fit. Every [`RECV_SHRINK_PERIOD`] reads, an empty buffer more than four times larger
/// than the most bytes held in that period shrinks to twice that, so 1,600 connections of
/// small replies hold a few KiB each, not a fixed large buffer.
pub(crate) struct RecvBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// The last read filled the free space.
    full_read: bool,
    /// Most bytes held during the current period, and reads in it.
    peak: usize,
    reads: u32,
}

impl RecvBuf {
    pub(crate) fn new() -> RecvBuf {
        RecvBuf {
            data: vec![0; RECV_MIN],
            start: 0,
            end: 0,
            full_read: false,
            peak: 0,
            reads: 0,
        }
    }

    /// Free space to read into, compacting, growing or shrinking first.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.reads >= RECV_SHRINK_PERIOD {
                let want = (2 * self.peak).max(RECV_MIN);
                if self.data.len() > 2 * want {
                    self.data = vec![0; want];
                }
                self.reads = 0;
                self.peak = 0;
            }
        }
        let min_spare = (self.data.len() / 4).max(RECV_MIN / 2);
        self.full_read &= self.data.len() < RECV_FULL_READ_MAX;
        if self.full_read || self.data.len() - self.end < min_spare {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.full_read || self.data.len() - self.end < min_spare {
                let len = self.data.len() * 2;
                self.data.resize(len, 0);
            }
            self.full_read = false;
        }
        &mut self.data[self.end..]
    }

    pub(crate) fn filled(&mut self, n: usize) {
        self.full_read = n > 0 && self.end + n == self.data.len();
        self.end += n;
        self.reads = self.reads.saturating_add(1);
        self.peak = self.peak.max(self.end - self.start);
    }

    pub(crate) fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
    }
}

/// A connected, authenticated stream with its receive buffer.
pub(crate) struct Link {
    pub stream: Stream,
    pub rbuf: RecvBuf,
    pub endpoint: Endpoint,
}

impl Link {
    /// Connects and runs the handshake (TLS, HELLO 3 / AUTH, SELECT).
    pub(crate) async fn connect(ep: &Endpoint, cs: &ConnectSpec) -> Result<Link, LoadError> {
        let connect_err = |source: io::Error| LoadError::Connect {
            endpoint: ep.to_string(),
            source,
        };
        let fut = async {
            let stream = match ep {
                Endpoint::Unix(path) => Stream::Unix(UnixStream::connect(path).await?),
                Endpoint::Tcp(host, port) => {
                    let tcp = TcpStream::connect((host.as_str(), *port)).await?;
                    tcp.set_nodelay(true)?;
                    match &cs.tls {
                        None => Stream::Tcp(tcp),
                        Some((config, sni)) => {
                            let name = sni.clone().unwrap_or_else(|| host.clone());
                            let server_name = ServerName::try_from(name.clone()).map_err(|e| {
                                io::Error::new(
                                    io::ErrorKind::InvalidInput,
                                    format!("`{name}` is not a valid TLS server name: {e}"),
                                )
                            })?;
                            let tls = rustls::ClientConnection::new(config.clone(), server_name)
                                .map_err(io::Error::other)?;
                            let mut s = TlsStream {
                                tcp,
                                tls,
                                // One TLS record (16 KiB of plaintext plus its overhead) per read.
                                raw: vec![0; 17 * 1024].into_boxed_slice(),
                                scratch: Vec::new(),
                            };
                            s.handshake().await?;
                            Stream::Tls(Box::new(s))
                        }
                    }
                }
            };
            Ok::<_, io::Error>(stream)
        };
        let stream = match tokio::time::timeout(cs.timeout, fut).await {
            Ok(r) => r.map_err(connect_err)?,
            Err(_) => {
                return Err(connect_err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {:?}", cs.timeout),
                )));
            }
        };
        let mut link = Link {
            stream,
            rbuf: RecvBuf::new(),
            endpoint: ep.clone(),
        };
        link.handshake(cs).await?;
        Ok(link)
    }

    async fn handshake(&mut self, cs: &ConnectSpec) -> Result<(), LoadError> {
        let endpoint = self.endpoint.to_string();
        let auth_err = |message: String| LoadError::Auth {
            endpoint: endpoint.clone(),
            message,
        };
        if cs.resp3 {
            let mut args: Vec<&[u8]> = vec![b"HELLO", b"3"];
            if let Some(a) = &cs.auth {
                args.push(b"AUTH");
                args.push(a.user.as_deref().unwrap_or("default").as_bytes());
                args.push(a.password.as_bytes());
            }
            let reply = self.call(&args, cs.timeout).await?;
            if let Some(m) = reply.error_message() {
                return Err(auth_err(format!(
                    "HELLO 3 failed: {m} (check the password/user, or drop -3 for servers \
                     without RESP3)"
                )));
            }
        } else if let Some(a) = &cs.auth {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(u) = &a.user {
                args.push(u.as_bytes());
            }
            args.push(a.password.as_bytes());
            let reply = self.call(&args, cs.timeout).await?;
            if let Some(m) = reply.error_message() {
                return Err(auth_err(format!("AUTH failed: {m} (check `-a`/`--user`)")));
            }
        }
        if let Some(db) = cs.dbnum {
            let db = db.to_string();
            let reply = self.call(&[b"SELECT", db.as_bytes()], cs.timeout).await?;
            if let Some(m) = reply.error_message() {
                return Err(LoadError::Handshake {
                    endpoint: self.endpoint.to_string(),
                    message: format!("SELECT {db} failed: {m}"),
                });
            }
        }
        Ok(())
    }

    /// Sends one command and waits for its reply (handshake and setup only).
    pub(crate) async fn call(
        &mut self,
        args: &[&[u8]],
        timeout: Duration,
    ) -> Result<Frame, LoadError> {
        let endpoint = self.endpoint.to_string();
        let io_err = |source: io::Error| LoadError::Connect {
            endpoint: endpoint.clone(),
            source,
        };
        let mut buf = Vec::new();
        resp::write_command(&mut buf, args.iter());
        let fut = async {
            self.stream.write_all(&buf).await?;
            loop {
                match resp::parse(self.rbuf.pending()) {
                    Ok(Some((frame, n))) => {
                        self.rbuf.consume(n);
                        if matches!(frame, Frame::Push(_)) {
                            continue;
                        }
                        return Ok(frame);
                    }
                    Ok(None) => {}
                    Err(_) if resp::looks_like_http(self.rbuf.pending()) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "it answered with HTTP (`{}`): it is not a Valkey server; check \
                                 the host and port",
                                resp::first_line(self.rbuf.pending(), 80)
                            ),
                        ));
                    }
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
                let stream = &mut self.stream;
                let spare = self.rbuf.spare();
                let n = std::future::poll_fn(|cx| stream.poll_read(cx, spare)).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                self.rbuf.filled(n);
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r.map_err(io_err),
            Err(_) => Err(io_err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no reply within {timeout:?}"),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills the spare space with `n` bytes (or all of it) and returns how many went in.
    fn read(b: &mut RecvBuf, n: usize) -> usize {
        let spare = b.spare();
        let n = n.min(spare.len());
        spare[..n].fill(b'x');
        b.filled(n);
        n
    }

    #[test]
    fn receive_buffer_grows_with_need_and_shrinks_back() {
        let mut b = RecvBuf::new();
        assert_eq!(b.data.len(), RECV_MIN);
        // A large reply arriving in full reads grows the buffer.
        let mut got = 0;
        while got < 200_000 {
            got += read(&mut b, usize::MAX);
        }
        assert!(b.data.len() >= 200_000, "{}", b.data.len());
        assert_eq!(b.pending().len(), got);
        b.consume(got);
        // Small replies for a while: it shrinks back.
        for _ in 0..(2 * RECV_SHRINK_PERIOD) {
            assert_eq!(read(&mut b, 100), 100);
            b.consume(100);
        }
        assert_eq!(b.data.len(), RECV_MIN);
        // Partial frames are kept across compaction.
        read(&mut b, 3000);
        b.consume(2990);
        read(&mut b, 5);
        assert_eq!(b.pending(), b"xxxxxxxxxxxxxxx");
    }
}
