//! Test support: real servers on free ports, in their own process groups, stopped in Drop.

use resp::Frame;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `VALKEY_PERF_DEPS`, or `<workspace root>/.deps`.
pub fn deps_dir() -> PathBuf {
    match std::env::var_os("VALKEY_PERF_DEPS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.deps"),
    }
}

/// Whether tests run under CI (`CI=true`): then a missing component fails the test.
pub fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Resolves a required binary; panics under `CI=true`, otherwise returns None (skip).
pub fn require(what: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    require_in(what, found, under_ci())
}

/// [`require`] with the CI decision given.
pub fn require_in(what: &str, found: Option<PathBuf>, ci: bool) -> Option<PathBuf> {
    if found.is_none() {
        let msg = format!("{what} not found (run scripts/install-deps.sh or set VALKEY_PERF_DEPS)");
        if ci {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
    }
    found
}

/// The newest `valkey-server` under the deps directory.
pub fn valkey_server() -> Option<PathBuf> {
    valkey_server_in(&deps_dir(), under_ci())
}

/// The newest `valkey-server` under `deps`. A missing or unreadable directory is a missing
/// server like any other: it fails under CI rather than skipping the test.
pub fn valkey_server_in(deps: &Path, ci: bool) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(deps)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.path().join("valkey-server"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    let what = format!("valkey-server under `{}`", deps.display());
    require_in(&what, found.pop(), ci)
}

/// Debian's `redis-server` (built with TLS).
pub fn redis_server() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/redis-server");
    require("redis-server", p.is_file().then_some(p))
}

/// A free TCP port on 127.0.0.1 whose cluster bus port (+10000) is free too.
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = l.local_addr().expect("local addr").port();
        if port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// A server process; killed (whole process group) and reaped on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    /// Data directory and log; removed with the server.
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Server {
    /// Starts `bin` on a free port with `extra` arguments and waits until it answers PING
    /// (`ping` = false for servers that need TLS or a password: then it waits for the port).
    pub fn start(bin: &Path, extra: &[&str], ping: bool) -> Server {
        let port = free_port();
        Server::start_on(bin, port, extra, ping)
    }

    pub fn start_on(bin: &Path, port: u16, extra: &[&str], ping: bool) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(bin);
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = cmd.spawn().expect("spawn server");
        let mut s = Server {
            child,
            port,
            _dir: dir,
            log,
        };
        s.wait_ready(ping);
        s
    }

    fn wait_ready(&mut self, ping: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited ({status}): {}", self.log_tail());
            }
            let ok = if ping {
                matches!(try_call(self.port, &["PING"]), Ok(Frame::Simple(ref s)) if s == "PONG")
            } else {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            };
            if ok {
                return;
            }
            if Instant::now() > deadline {
                panic!("server not ready in 10 s: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_tail(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn call(&self, args: &[&str]) -> Frame {
        try_call(self.port, args).expect("call the test server")
    }

    /// `cmdstat_<name>` calls from INFO commandstats (0 when absent).
    pub fn calls(&self, name: &str) -> u64 {
        let info = self.call(&["INFO", "commandstats"]);
        let text = info.as_text().expect("INFO text").into_owned();
        let prefix = format!("cmdstat_{}:calls=", name.to_ascii_lowercase());
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// A field of `INFO <section>`.
    pub fn info_field(&self, section: &str, field: &str) -> String {
        let info = self.call(&["INFO", section]);
        let text = info.as_text().expect("INFO text").into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// One command over a fresh plain TCP connection.
pub fn try_call(port: u16, args: &[&str]) -> std::io::Result<Frame> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    resp::write_command(&mut buf, args.iter());
    s.write_all(&buf)?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Some((f, _)) = resp::parse(&got).map_err(std::io::Error::other)? {
            return Ok(f);
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&chunk[..n]);
    }
}

/// A cluster of `n` primaries, slots split evenly, ready (`cluster_state:ok` everywhere).
pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    pub fn start(bin: &Path, n: usize) -> Cluster {
        let nodes: Vec<Server> = (0..n)
            .map(|_| {
                Server::start(
                    bin,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                    ],
                    true,
                )
            })
            .collect();
        let per = 16384 / n;
        for (i, s) in nodes.iter().enumerate() {
            let start = i * per;
            let end = if i == n - 1 { 16383 } else { start + per - 1 };
            let r = s.call(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &start.to_string(),
                &end.to_string(),
            ]);
            assert_eq!(r, Frame::Simple("OK".into()), "ADDSLOTSRANGE");
        }
        for s in nodes.iter().skip(1) {
            nodes[0].call(&["CLUSTER", "MEET", "127.0.0.1", &s.port.to_string()]);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = nodes.iter().all(|s| {
                let info = s.call(&["CLUSTER", "INFO"]);
                let t = info.as_text().map(|t| t.into_owned()).unwrap_or_default();
                t.contains("cluster_state:ok") && t.contains(&format!("cluster_known_nodes:{n}"))
            });
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "cluster not ready in 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Cluster { nodes }
    }

    pub fn node_id(&self, i: usize) -> String {
        self.nodes[i]
            .call(&["CLUSTER", "MYID"])
            .as_text()
            .expect("node id")
            .into_owned()
    }
}

/// A TLS-only server with a fresh CA, server and client certificates (in `dir`, removed with
/// it), and the client settings to reach it.
pub struct TlsServer {
    pub server: Server,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    pub fn start(bin: &Path) -> (TlsServer, loadgen::ClientTls) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // Distinct subject names: OpenSSL treats a leaf named like its issuer as self-signed.
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "valkey-perf test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, names[0].clone());
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (srv_cert, srv_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()]);
        let (cli_cert, cli_key) = leaf(vec!["client".into()]);
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca_file = write("ca.pem", &ca.pem());
        let srv_cert = write("server.pem", &srv_cert);
        let srv_key = write("server.key", &srv_key);
        let cli_cert = write("client.pem", &cli_cert);
        let cli_key = write("client.key", &cli_key);
        let port = free_port();
        let p = |x: &Path| x.to_str().unwrap().to_string();
        let server = Server::start_on(
            bin,
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &p(&srv_cert),
                "--tls-key-file",
                &p(&srv_key),
                "--tls-ca-cert-file",
                &p(&ca_file),
            ],
            false,
        );
        let tls = loadgen::ClientTls {
            ca: ca_file,
            cert: Some(cli_cert),
            key: Some(cli_key),
            sni: None,
        };
        (TlsServer { server, _dir: dir }, tls)
    }
}
