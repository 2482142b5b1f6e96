//! A small blocking client for control commands (PING, INFO, CONFIG SET, FLUSHALL, CLUSTER
//! ...), over plain TCP or TLS. Load is never generated here; see the engines.
//!
//! Owns control connections: the `Connector` (plain or TLS, built on the workspace's one TLS
//! client configuration, `loadgen::tls_client_config`), the TLS handshake, the blocking read
//! loop, and INFO parsing. The wire format is `crates/resp`'s; replies are `resp::Frame`s.
//!
//! Imports only `deadline` inside `server/`; outside it, the `resp` codec and `loadgen`'s address
//! parts (`ClientTls`, `Credentials`) and TLS client configuration, and `util`'s message
//! helpers and `process::interrupted` (a blocked wait notices Ctrl-C); nothing else of this
//! crate. Every wait is capped by `deadline`'s [`RunEnd`], and a live server that did not
//! answer in time is `deadline`'s [`Unresponsive`]. Knows nothing of server processes:
//! `standalone`, `cluster` and `deployment` use it.

use super::deadline::{RunEnd, Unresponsive};
use anyhow::{Context, Result, bail};
use loadgen::{ClientTls, Credentials};
use rustls::pki_types::ServerName;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A decoded reply. Control connections speak RESP2 (they never send `HELLO 3`), so replies
/// are simple strings, errors, integers, bulk strings, `Null` and arrays.
pub use resp::Frame;

/// Something a control connection can run over: plain TCP or TLS.
pub trait Transport: Read + Write + Send {}
impl<T: Read + Write + Send> Transport for T {}

/// The server refused a connection's credentials, or wants some and none were given. Kept in
/// the error chain so callers can tell a credentials problem (a usage error) from a server
/// that is down. The message never holds the password.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    pub message: String,
}

impl AuthError {
    /// The error for a `NOAUTH` reply or a failed `AUTH` at `addr`.
    fn new(addr: &str, reply: &str, auth: Option<&Credentials>) -> AuthError {
        let message = match auth {
            None => format!(
                "the server at `{addr}` requires authentication ({reply}); set the password in \
                 the environment variable VALKEY_PERF_PASSWORD (or pass --password), and \
                 --user for an ACL user"
            ),
            Some(c) => format!(
                "authentication at `{addr}` failed{} ({reply}); check --user and the password \
                 (VALKEY_PERF_PASSWORD or --password)",
                c.user
                    .as_deref()
                    .map(|u| format!(" for user `{u}`"))
                    .unwrap_or_default()
            ),
        };
        AuthError { message }
    }

    /// Whether an error reply means the connection lacks valid credentials.
    pub fn is_auth_reply(reply: &str) -> bool {
        ["NOAUTH", "WRONGPASS", "NOPERM"]
            .iter()
            .any(|k| reply.starts_with(k))
            || reply.contains("invalid password")
    }
}

/// How control connections reach a server: plain TCP or TLS, authenticated or not.
#[derive(Debug, Clone, Default)]
pub struct Connector {
    tls: Option<TlsConnector>,
    auth: Option<Credentials>,
}

impl Connector {
    /// Plain TCP, or TLS with the given CA (and client certificate).
    pub fn new(tls: Option<&ClientTls>) -> Result<Connector> {
        Ok(Connector {
            tls: tls.map(TlsConnector::new).transpose()?,
            auth: None,
        })
    }

    /// The same, sending `AUTH` on every connection it opens.
    pub fn with_auth(mut self, auth: Option<Credentials>) -> Connector {
        self.auth = auth;
        self
    }

    /// The TLS configuration, when connections use TLS.
    pub fn tls(&self) -> Option<&TlsConnector> {
        self.tls.as_ref()
    }

    /// The credentials every connection authenticates with.
    pub fn auth(&self) -> Option<&Credentials> {
        self.auth.as_ref()
    }

    /// Opens a control connection with the given I/O timeout (and authenticates it).
    pub fn connect(&self, host: &str, port: u16, timeout: Duration) -> Result<Control> {
        let mut control = match &self.tls {
            None => Control::connect(host, port, timeout)?,
            Some(tls) => tls.connect(host, port, timeout)?,
        };
        if let Some(auth) = &self.auth {
            control.authenticate(auth)?;
        }
        Ok(control)
    }
}

/// A TLS client configuration for control connections (see `loadgen::tls_client_config`).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    files: ClientTls,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("files", &self.files)
            .finish()
    }
}

impl TlsConnector {
    /// Loads the CA (and the client certificate, when given) from PEM files.
    pub fn new(files: &ClientTls) -> Result<TlsConnector> {
        let config =
            loadgen::tls_client_config(&files.ca, files.cert.as_deref(), files.key.as_deref())?;
        Ok(TlsConnector {
            config,
            files: files.clone(),
        })
    }

    pub fn files(&self) -> &ClientTls {
        &self.files
    }

    /// Connects and completes the TLS handshake, so a server that does not speak TLS is an
    /// error here rather than a hang later.
    pub fn connect(&self, host: &str, port: u16, timeout: Duration) -> Result<Control> {
        let addr = format!("{host}:{port}");
        let mut stream = tcp_connect(&addr, timeout)?;
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_string())
                .with_context(|| format!("`{host}` is not a valid TLS server name"))?,
        };
        let mut conn = rustls::ClientConnection::new(self.config.clone(), name)
            .with_context(|| format!("starting a TLS session with `{addr}`"))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut stream).with_context(|| {
                format!(
                    "TLS handshake with `{addr}` failed; check that the server listens for TLS \
                     there and that its certificate is signed by `{}`",
                    self.files.ca.display()
                )
            })?;
        }
        let socket = stream.try_clone().ok();
        Ok(
            Control::over(addr, Box::new(rustls::StreamOwned::new(conn, stream)))
                .with_socket(socket, timeout),
        )
    }
}

/// A TCP connection to `addr` with read, write and connect timeouts (cut to the current
/// [`RunEnd`]), Nagle off. Running out of file descriptors says so, with the limit.
fn tcp_connect(addr: &str, timeout: Duration) -> Result<TcpStream> {
    let sock = addr
        .to_socket_addrs()
        .with_context(|| format!("resolving `{addr}`"))?
        .next()
        .with_context(|| format!("`{addr}` resolves to no address"))?;
    let timeout = RunEnd::cap(timeout);
    let stream = TcpStream::connect_timeout(&sock, timeout).map_err(|e| {
        if crate::util::is_too_many_open_files(&e) {
            anyhow::anyhow!(
                "connecting to `{addr}`: {}",
                crate::util::too_many_open_files(&e)
            )
        } else if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            anyhow::anyhow!("connecting to `{addr}`: no answer within {timeout:.1?}")
        } else {
            anyhow::Error::new(e).context(format!("connecting to `{addr}`"))
        }
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// How many bytes one read asks for.
const READ_CHUNK: usize = 16 * 1024;

/// One control connection.
pub struct Control {
    addr: String,
    transport: Box<dyn Transport>,
    /// The TCP socket under the transport (a second handle of it), to cut each read and write
    /// to the time left in the run ([`RunEnd`]); `None` for a test's scripted transport.
    socket: Option<TcpStream>,
    /// The I/O timeout the connection was opened with.
    timeout: Duration,
    /// Received bytes; `recv[start..]` is not yet decoded (the start of the next reply).
    recv: Vec<u8>,
    start: usize,
}

impl Control {
    /// Connects over plain TCP with the given I/O timeout.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Control> {
        let addr = format!("{host}:{port}");
        let stream = tcp_connect(&addr, timeout)?;
        let socket = stream.try_clone().ok();
        Ok(Control::over(addr, Box::new(stream)).with_socket(socket, timeout))
    }

    /// Wraps an already connected transport (TLS, or a test's scripted bytes).
    pub fn over(addr: String, transport: Box<dyn Transport>) -> Control {
        Control {
            addr,
            transport,
            socket: None,
            timeout: Duration::MAX,
            recv: Vec::new(),
            start: 0,
        }
    }

    /// The socket under the transport and the I/O timeout it was opened with.
    fn with_socket(mut self, socket: Option<TcpStream>, timeout: Duration) -> Control {
        self.socket = socket;
        self.timeout = timeout;
        self
    }

    /// The longest one I/O step may wait: the connection's timeout cut to the time left in
    /// the run ([`RunEnd`]).
    fn step_wait(&self) -> Duration {
        RunEnd::cap(self.timeout)
    }

    /// Sets the socket's timeouts to the next slice of a wait that ends at `until`, so that
    /// a blocked read or write comes back often enough to notice Ctrl-C. Without a socket
    /// handle (a test's transport) the slice is the transport's own business.
    fn arm_slice(&self, until: Instant) {
        if let Some(socket) = &self.socket {
            let left = until.saturating_duration_since(Instant::now());
            let slice = left.clamp(Duration::from_millis(1), IO_SLICE);
            let _ = socket.set_read_timeout(Some(slice));
            let _ = socket.set_write_timeout(Some(slice));
        }
    }

    /// Whether a timed-out slice of a wait ending at `until` should be retried; an error when
    /// the user interrupted valkey-perf.
    fn retry_slice(&self, e: &std::io::Error, until: Instant) -> Result<bool> {
        if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            return Ok(false);
        }
        if super::process::interrupted() {
            bail!("interrupted while waiting for `{}`", self.addr);
        }
        Ok(self.socket.is_some() && Instant::now() < until)
    }

    /// An I/O error of this connection, with a timeout named as one ([`Unresponsive`]) and
    /// running out of file descriptors named as that.
    fn io_error(&self, e: std::io::Error, waited: Duration) -> anyhow::Error {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Unresponsive {
                addr: self.addr.clone(),
                waited,
            }
            .into(),
            _ if crate::util::is_too_many_open_files(&e) => {
                anyhow::anyhow!("{}", crate::util::too_many_open_files(&e))
            }
            _ => e.into(),
        }
    }

    /// Writes a whole request, within the time left.
    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let wait = self.step_wait();
        let until = after(wait);
        let mut sent = 0;
        while sent < bytes.len() {
            self.arm_slice(until);
            match self.transport.write(&bytes[sent..]) {
                Ok(0) => bail!("connection closed by the server"),
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    if !self.retry_slice(&e, until)? {
                        return Err(self.io_error(e, wait));
                    }
                }
            }
        }
        self.transport.flush().map_err(|e| self.io_error(e, wait))
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one command and reads its reply. Error replies are returned as frames
    /// (`Frame::Error`, or `Frame::BulkError` from a RESP3 server).
    pub fn call_raw(&mut self, args: &[&str]) -> Result<Frame> {
        let mut out = Vec::new();
        resp::write_command(&mut out, args);
        let addr = self.addr.clone();
        self.send(&out).with_context(|| {
            format!(
                "sending `{}` to `{addr}`",
                crate::util::truncated(&args.join(" "), MAX_QUOTED)
            )
        })?;
        self.read_reply().with_context(|| {
            format!(
                "reading the reply to `{}` from `{addr}`",
                crate::util::truncated(args.first().unwrap_or(&""), MAX_QUOTED)
            )
        })
    }

    /// Sends many commands at once and reads all their replies (error replies included).
    pub fn pipeline(&mut self, commands: &[Vec<String>]) -> Result<Vec<Frame>> {
        let mut out = Vec::new();
        for args in commands {
            resp::write_command(&mut out, args);
        }
        let addr = self.addr.clone();
        self.send(&out).with_context(|| {
            format!("sending {} pipelined commands to `{addr}`", commands.len())
        })?;
        (0..commands.len())
            .map(|_| self.read_reply())
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("reading pipelined replies from `{addr}`"))
    }

    /// Sends one command; an error reply becomes an error naming the command. A `NOAUTH`
    /// reply becomes an [`AuthError`] that says how to give credentials.
    pub fn call(&mut self, args: &[&str]) -> Result<Frame> {
        let reply = self.call_raw(args)?;
        if let Some(e) = reply.error_message() {
            if e.starts_with("NOAUTH") {
                return Err(AuthError::new(&self.addr, e, None).into());
            }
            bail!(
                "`{}` failed on `{}`: {}",
                crate::util::truncated(&args.join(" "), MAX_QUOTED),
                self.addr,
                crate::util::truncated(e, MAX_QUOTED)
            );
        }
        Ok(reply)
    }

    /// `AUTH [user] password`. A refusal is an [`AuthError`]; neither the command line sent
    /// nor any error names the password.
    pub fn authenticate(&mut self, auth: &Credentials) -> Result<()> {
        let mut args = vec!["AUTH"];
        if let Some(user) = &auth.user {
            args.push(user);
        }
        args.push(&auth.password);
        let mut out = Vec::new();
        resp::write_command(&mut out, &args);
        let addr = self.addr.clone();
        self.send(&out)
            .with_context(|| format!("sending AUTH to `{addr}`"))?;
        let reply = self
            .read_reply()
            .with_context(|| format!("reading the reply to AUTH from `{addr}`"))?;
        match reply.error_message() {
            Some(e) => Err(AuthError::new(&addr, e, Some(auth)).into()),
            None => Ok(()),
        }
    }

    /// Sends one command expecting text back (INFO, CLUSTER INFO ...).
    pub fn call_text(&mut self, args: &[&str]) -> Result<String> {
        let reply = self.call(args)?;
        match reply.as_text() {
            Some(text) => Ok(text.into_owned()),
            None => bail!(
                "`{}` on `{}` returned {reply:?}, expected text",
                args.join(" "),
                self.addr
            ),
        }
    }

    /// `INFO section` parsed into `field → value`.
    pub fn info(&mut self, section: &str) -> Result<Vec<(String, String)>> {
        let text = self.call_text(&["INFO", section])?;
        Ok(parse_info(&text))
    }

    /// Reads until the received bytes hold a complete reply, then decodes it. Bytes after it
    /// (the next pipelined replies) stay for the next call. An incomplete reply means "read
    /// more"; the connection closing before the reply is complete is an error.
    fn read_reply(&mut self) -> Result<Frame> {
        let wait = self.step_wait();
        let until = after(wait);
        loop {
            let parsed = resp::parse(&self.recv[self.start..])
                .map_err(|e| not_resp(&self.addr, &self.recv[self.start..], &e))?;
            if let Some((frame, len)) = parsed {
                self.start += len;
                if self.start == self.recv.len() {
                    self.recv.clear();
                    self.start = 0;
                }
                return Ok(frame);
            }
            self.recv.drain(..self.start);
            self.start = 0;
            let filled = self.recv.len();
            self.recv.resize(filled + READ_CHUNK, 0);
            self.arm_slice(until);
            let read = self.transport.read(&mut self.recv[filled..]);
            self.recv.truncate(filled + read.as_ref().map_or(0, |n| *n));
            match read {
                Ok(0) if filled == 0 => bail!("connection closed by the server"),
                Ok(0) => bail!(
                    "connection closed by the server in the middle of a reply ({filled} bytes \
                     received)"
                ),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    if !self.retry_slice(&e, until)? {
                        return Err(self.io_error(e, wait));
                    }
                }
            }
        }
    }
}

/// The instant `wait` from now (a year from now when that is beyond what an `Instant` holds).
fn after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// The longest a blocked control read or write waits before it looks at Ctrl-C again.
const IO_SLICE: Duration = Duration::from_millis(250);

/// How much of a command or reply an error message quotes.
const MAX_QUOTED: usize = 200;

/// The error for bytes that are not RESP: a server that answers HTTP (or anything else) at
/// the address is not a Valkey server, and the message says so with its first line.
fn not_resp(addr: &str, received: &[u8], e: &resp::Error) -> anyhow::Error {
    let first_line = resp::first_line(received, 80);
    if resp::looks_like_http(received) {
        anyhow::anyhow!(
            "`{addr}` answered with HTTP (`{first_line}`): it is not a Valkey server; check the \
             host and port"
        )
    } else {
        anyhow::anyhow!(
            "`{addr}` answered with bytes that are not RESP (`{first_line}`: {e}): it is not a \
             Valkey server, or not speaking this protocol; check the host, port and TLS settings"
        )
    }
}

/// Parses `INFO` text into `(field, value)` pairs, skipping section headers.
pub fn parse_info(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Looks a field up in parsed INFO output.
pub fn info_field<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::deadline::is_unresponsive;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A transport that hands out scripted chunks (one per read, then end of stream) and
    /// records what was written.
    struct Scripted {
        chunks: VecDeque<Vec<u8>>,
        sent: Arc<Mutex<Vec<u8>>>,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some(mut chunk) = self.chunks.pop_front() else {
                return Ok(0);
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.chunks.push_front(chunk.split_off(n));
            }
            Ok(n)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.sent.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A control connection whose server sends `bytes`, cut into `chunk`-byte reads.
    fn scripted(bytes: &[u8], chunk: usize) -> (Control, Arc<Mutex<Vec<u8>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let transport = Scripted {
            chunks: bytes.chunks(chunk).map(<[u8]>::to_vec).collect(),
            sent: sent.clone(),
        };
        (Control::over("test:1".into(), Box::new(transport)), sent)
    }

    #[test]
    fn decodes_control_replies_whatever_the_reads() {
        let replies: &[(&[u8], Frame)] = &[
            (b"+PONG\r\n", Frame::Simple("PONG".into())),
            (b"-ERR nope\r\n", Frame::Error("ERR nope".into())),
            (b":42\r\n", Frame::Integer(42)),
            (b"$-1\r\n", Frame::Null),
            (
                b"*2\r\n$1\r\na\r\n:1\r\n",
                Frame::Array(vec![Frame::Bulk(b"a".to_vec()), Frame::Integer(1)]),
            ),
        ];
        for chunk in [1, 3, 1024] {
            for (bytes, want) in replies {
                let (mut ctl, sent) = scripted(bytes, chunk);
                assert_eq!(&ctl.call_raw(&["PING"]).unwrap(), want, "chunk {chunk}");
                assert_eq!(sent.lock().unwrap().as_slice(), b"*1\r\n$4\r\nPING\r\n");
            }
        }
    }

    #[test]
    fn pipelined_replies_share_reads() {
        for chunk in [1, 5, 1024] {
            let (mut ctl, _) = scripted(b"+OK\r\n-ERR no\r\n:7\r\n", chunk);
            let commands = vec![vec!["SET".to_string(), "k".into(), "v".into()]; 2];
            assert_eq!(
                ctl.pipeline(&commands).unwrap(),
                vec![Frame::Simple("OK".into()), Frame::Error("ERR no".into())]
            );
            // The third reply was read with the others and waits for the next call.
            assert_eq!(ctl.call_raw(&["DBSIZE"]).unwrap(), Frame::Integer(7));
        }
    }

    #[test]
    fn end_of_stream_mid_reply_is_an_error() {
        let (mut ctl, _) = scripted(b"$5\r\nab", 2);
        let err = format!("{:#}", ctl.call_raw(&["GET", "k"]).unwrap_err());
        assert!(err.contains("in the middle of a reply"), "{err}");
        let (mut ctl, _) = scripted(b"", 1);
        let err = format!("{:#}", ctl.call_raw(&["PING"]).unwrap_err());
        assert!(err.contains("connection closed by the server"), "{err}");
        let (mut ctl, _) = scripted(b"?bogus\r\n", 8);
        assert!(ctl.call_raw(&["PING"]).is_err());
    }

    #[test]
    fn call_turns_error_replies_into_errors_and_call_text_wants_text() {
        let (mut ctl, _) = scripted(b"-ERR unknown command\r\n", 64);
        let err = format!("{:#}", ctl.call(&["NOPE"]).unwrap_err());
        assert!(
            err.contains("`NOPE` failed on `test:1`: ERR unknown command"),
            "{err}"
        );
        let (mut ctl, _) = scripted(b"$13\r\n# Server\r\na:1\r\n", 4);
        assert_eq!(ctl.call_text(&["INFO"]).unwrap(), "# Server\r\na:1");
        let (mut ctl, _) = scripted(b":3\r\n", 64);
        assert!(ctl.call_text(&["DBSIZE"]).is_err());
    }

    #[test]
    fn an_http_server_is_named_as_not_valkey() {
        let (mut ctl, _) = scripted(b"HTTP/1.0 400 Bad Request\nServer: x\n\n", 64);
        let err = format!("{:#}", ctl.call_raw(&["PING"]).unwrap_err());
        assert!(
            err.contains(
                "answered with HTTP (`HTTP/1.0 400 Bad Request`): it is not a Valkey server"
            ),
            "{err}"
        );
        assert!(!err.contains("bare LF"), "{err}");
    }

    #[test]
    fn a_huge_command_is_not_echoed_whole() {
        let (mut ctl, _) = scripted(b"-ERR unknown command\r\n", 64);
        let name = "X".repeat(10 << 20);
        let err = format!("{:#}", ctl.call(&[&name]).unwrap_err());
        assert!(err.len() < 1000, "{} bytes", err.len());
        assert!(err.contains("more bytes"), "{}", &err[..300]);
    }

    #[test]
    fn a_silent_server_is_unresponsive_not_dead() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut ctl = Control::connect("127.0.0.1", port, Duration::from_millis(300)).unwrap();
        let started = Instant::now();
        let err = ctl.call(&["PING"]).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        let msg = format!("{err:#}");
        assert!(is_unresponsive(&err), "{msg}");
        assert!(msg.contains("alive but unresponsive"), "{msg}");
        assert!(!msg.contains("os error 11"), "{msg}");
        drop(listener);
    }

    #[test]
    fn parses_info() {
        let info = parse_info("# Server\r\nvalkey_version:9.1.2\r\nio_threads_active:0\r\n");
        assert_eq!(info_field(&info, "valkey_version"), Some("9.1.2"));
        assert_eq!(info_field(&info, "nope"), None);
    }

    #[test]
    fn tls_connector_loads_generated_material() {
        let material = crate::server::tls::TlsMaterial::generate(&[]).unwrap();
        let connector = Connector::new(Some(&material.client())).unwrap();
        assert!(connector.tls().is_some());
    }
}
