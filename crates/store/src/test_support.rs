//! A throwaway PostgreSQL server for tests (feature `test-support`).
//!
//! [`PgInstance::start`] runs `initdb` into a fresh temporary directory and starts `postgres`
//! on a free port of 127.0.0.1 with `fsync=off` and password (SCRAM) authentication. The
//! instance is a handle that owns the process and the directory: [`PgInstance::stop`] (also
//! called from `Drop`, so a panicking test cleans up too) asks for a fast shutdown, waits, then
//! kills, and removes the directory. The server gets SIGKILL if the thread that started it
//! dies (Linux parent-death signal), so even a test process killed by a timeout leaves no
//! server behind. Start and drop the instance in the same thread.
//!
//! Run as root (CI, containers), `initdb` and `postgres` refuse to run: they are started as
//! the `postgres` user, which owns the temporary directory.
//!
//! Other crates use it through a dev-dependency:
//! ```toml
//! [dev-dependencies]
//! valkey-perf-store = { path = "../store", features = ["test-support"] }
//! ```
//! then `let pg = store::test_support::PgInstance::start_or_skip("my_test")?;` and
//! `pg.url()` as `--db`.

use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid, User};

/// Why a throwaway server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "PostgreSQL is not installed: no `initdb` in `$VALKEY_PERF_PG_BINDIR`, `/usr/lib/postgresql/*/bin` or `PATH`; install it (Debian: `apt-get install postgresql`)"
    )]
    NotInstalled,
    /// Running as root but there is no `postgres` user to run the server as.
    #[error(
        "running as root and there is no `postgres` user to run PostgreSQL as; create one or run the tests as another user"
    )]
    NoPostgresUser,
    /// A step failed.
    #[error("{step} failed: {detail}")]
    Step {
        /// What was being done.
        step: String,
        /// The error, with the tail of the server log when there is one.
        detail: String,
    },
}

/// A running throwaway PostgreSQL server. See the module docs.
pub struct PgInstance {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    port: u16,
    password: String,
    log: PathBuf,
}

impl std::fmt::Debug for PgInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgInstance")
            .field("port", &self.port)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// The superuser's name in the throwaway cluster.
pub const SUPERUSER: &str = "postgres";

fn step(step: &str, detail: impl std::fmt::Display) -> PgError {
    PgError::Step {
        step: step.to_owned(),
        detail: detail.to_string(),
    }
}

/// The directory holding `initdb`, `postgres` and `pg_ctl`.
pub fn find_bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("VALKEY_PERF_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    // Debian installs the server outside PATH, one directory per major version; take the
    // newest.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("postgres").exists())
    })
}

/// The tail of a log file, for error messages.
pub fn log_tail(path: &Path, bytes: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

fn free_port() -> Result<u16, PgError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| step("finding a free port", e))?;
    Ok(l.local_addr()
        .map_err(|e| step("finding a free port", e))?
        .port())
}

/// How to start a [`PgInstance`]; the default is plain TCP.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// Serve TLS with this certificate chain and private key (PEM), besides plain TCP.
    pub tls: Option<TlsFiles>,
}

/// A server certificate and its key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate (chain).
    pub cert_pem: String,
    /// The private key.
    pub key_pem: String,
}

/// A random password per instance: tests of authentication need one, and it must not be
/// guessable by other users of the machine while the server runs.
fn new_password() -> String {
    format!(
        "pw-{:x}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// The temporary directory of one instance (data, password file, TLS files, log, socket) and
/// the user its server programs run as: `postgres` when running as root, else none.
struct Scratch {
    dir: tempfile::TempDir,
    run_as: Option<User>,
}

impl Scratch {
    /// Creates the directory, owned by the user the server runs as.
    fn new() -> Result<Scratch, PgError> {
        let run_as = if Uid::effective().is_root() {
            Some(
                User::from_name("postgres")
                    .ok()
                    .flatten()
                    .ok_or(PgError::NoPostgresUser)?,
            )
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("valkey-perf-pg-")
            .tempdir()
            .map_err(|e| step("creating a temporary directory", e))?;
        let scratch = Scratch { dir, run_as };
        scratch.give(
            scratch.path(),
            "giving the temporary directory to `postgres`",
        )?;
        Ok(scratch)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Gives `path` to the user the server runs as, if any; `what` names the step.
    fn give(&self, path: &Path, what: &str) -> Result<(), PgError> {
        if let Some(user) = &self.run_as {
            nix::unistd::chown(path, Some(user.uid), Some(user.gid)).map_err(|e| step(what, e))?;
        }
        Ok(())
    }

    /// A command run as the server's user, in the directory.
    fn command(&self, program: PathBuf) -> Command {
        let mut cmd = Command::new(program);
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        cmd.current_dir(self.path());
        cmd
    }

    /// Runs `initdb` with `password` for the superuser; returns the data directory.
    fn init_cluster(&self, bindir: &Path, password: &str) -> Result<PathBuf, PgError> {
        let pwfile = self.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n"))
            .map_err(|e| step("writing the password file", e))?;
        self.give(&pwfile, "giving the password file to `postgres`")?;
        let data = self.path().join("data");
        let mut initdb = self.command(bindir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        let out = initdb.output().map_err(|e| step("running `initdb`", e))?;
        if !out.status.success() {
            return Err(step(
                "`initdb`",
                format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
            ));
        }
        Ok(data)
    }

    /// With TLS in `options`: writes the certificate and key, and returns the server's
    /// arguments that serve them.
    fn tls_args(&self, options: &PgOptions) -> Result<Vec<String>, PgError> {
        let Some(tls) = &options.tls else {
            return Ok(Vec::new());
        };
        for (name, pem) in [("server.crt", &tls.cert_pem), ("server.key", &tls.key_pem)] {
            let path = self.path().join(name);
            std::fs::write(&path, pem).map_err(|e| step("writing TLS files", e))?;
            // PostgreSQL refuses a key file readable by others.
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(|e| step("writing TLS files", e))?;
            self.give(&path, "giving TLS files to `postgres`")?;
        }
        Ok(vec![
            "-c".to_owned(),
            "ssl=on".to_owned(),
            "-c".to_owned(),
            format!("ssl_cert_file={}", self.path().join("server.crt").display()),
            "-c".to_owned(),
            format!("ssl_key_file={}", self.path().join("server.key").display()),
        ])
    }

    /// Starts `postgres` on `port`, logging to `postgres.log`; not yet known to be ready.
    fn launch(
        &self,
        bindir: &Path,
        data: &Path,
        port: u16,
        tls_args: &[String],
        password: &str,
    ) -> Result<PgInstance, PgError> {
        let log = self.path().join("postgres.log");
        let logfile =
            std::fs::File::create(&log).map_err(|e| step("creating the server log", e))?;
        let _ = self.give(&log, "giving the server log to `postgres`");
        let mut cmd = self.command(bindir.join("postgres"));
        cmd.arg("-D")
            .arg(data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.path().display()))
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args(["-c", "max_connections=40", "-c", "shared_buffers=16MB"])
            .args(tls_args)
            .stdin(Stdio::null())
            .stdout(
                logfile
                    .try_clone()
                    .map_err(|e| step("creating the server log", e))?,
            )
            .stderr(logfile)
            .process_group(0);
        // SAFETY: `prctl` is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                // Runs after the uid change (std applies credentials first), which would
                // otherwise clear the setting.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().map_err(|e| step("starting `postgres`", e))?;
        Ok(PgInstance {
            child: Some(child),
            dir: None,
            port,
            password: password.to_owned(),
            log,
        })
    }
}

impl PgInstance {
    /// Starts a server, or says why not.
    pub fn start() -> Result<PgInstance, PgError> {
        PgInstance::start_with(&PgOptions::default())
    }

    /// Starts a server with `options`, or says why not.
    pub fn start_with(options: &PgOptions) -> Result<PgInstance, PgError> {
        let bindir = find_bindir().ok_or(PgError::NotInstalled)?;
        let scratch = Scratch::new()?;
        let password = new_password();
        let data = scratch.init_cluster(&bindir, &password)?;
        let tls_args = scratch.tls_args(options)?;
        let mut last_err = None;
        // A free port can be taken by someone else between our check and the server's bind;
        // retry with another port then.
        for _ in 0..3 {
            let port = free_port()?;
            let mut pg = scratch.launch(&bindir, &data, port, &tls_args, &password)?;
            match pg.wait_ready(Duration::from_secs(30)) {
                Ok(()) => {
                    pg.dir = Some(scratch.dir);
                    return Ok(pg);
                }
                Err(e) => {
                    pg.stop();
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| step("starting `postgres`", "no attempt made")))
    }

    /// Under `CI=true`, [`start`](Self::start) or panic with the reason: a missing server must
    /// fail CI, never pass it silently. Elsewhere, `None` after printing why `test` is skipped.
    pub fn start_or_skip(test: &str) -> Option<PgInstance> {
        PgInstance::start_or_skip_with(test, &PgOptions::default())
    }

    /// [`start_or_skip`](Self::start_or_skip) with options.
    pub fn start_or_skip_with(test: &str, options: &PgOptions) -> Option<PgInstance> {
        match PgInstance::start_with(options) {
            Ok(pg) => Some(pg),
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("{test}: needs PostgreSQL and CI=true forbids skipping: {e}")
            }
            Err(e) => {
                eprintln!("skipping {test}: {e}");
                None
            }
        }
    }

    fn wait_ready(&mut self, deadline: Duration) -> Result<(), PgError> {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(step(
                    "starting `postgres`",
                    format!(
                        "it exited with {status}; log:\n{}",
                        log_tail(&self.log, 4000)
                    ),
                ));
            }
            let mut config = postgres::Config::new();
            config
                .host("127.0.0.1")
                .port(self.port)
                .user(SUPERUSER)
                .password(&self.password)
                .dbname("postgres")
                .connect_timeout(Duration::from_secs(2));
            match config.connect(postgres::NoTls) {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > deadline => {
                    return Err(step(
                        "waiting for `postgres` to accept connections",
                        format!("{e}; log:\n{}", log_tail(&self.log, 4000)),
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Like [`url`](Self::url) for another database (see [`create_database`](Self::create_database)).
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}?sslmode=disable",
            self.password, self.port
        )
    }

    /// Runs SQL as the superuser on `database` (setup and checks in tests).
    pub fn client(&self, database: &str) -> Result<postgres::Client, PgError> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(SUPERUSER)
            .password(&self.password)
            .dbname(database)
            .connect(postgres::NoTls)
            .map_err(|e| step(&format!("connecting to `{database}`"), e))
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, PgError> {
        let mut c = self.client("postgres")?;
        c.batch_execute(&format!("CREATE DATABASE \"{}\"", name.replace('"', "")))
            .map_err(|e| step(&format!("creating database `{name}`"), e))?;
        Ok(self.url_for(name))
    }

    /// Stops the server (fast shutdown, then kill after 10 s) and removes its directory.
    /// Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SIGINT is PostgreSQL's "fast shutdown": abort sessions, checkpoint, exit.
                let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        self.stop();
    }
}
