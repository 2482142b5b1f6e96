//! The `valkey-perf` binary as the tests run it: `run` in a scratch area (valkey-benchmark
//! or native engine, against servers it starts or a running one), `config validate`, and
//! the text of a finished command.

use super::bins::REDIS_BENCHMARK;
use super::scratch::Scratch;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The environment variable `run` reads a running server's password from; no test inherits it.
pub const PASSWORD_ENV: &str = "VALKEY_PERF_PASSWORD";

impl Scratch {
    /// `valkey-perf run` with the config, results dir and private TMPDIR of this scratch area,
    /// driving load with [`REDIS_BENCHMARK`] (the valkey-benchmark engine).
    pub fn run_command(&self, config: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.base_run_command(config));
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    /// The same as [`Scratch::run_command`], as a plain `std` command (for tests that signal
    /// the child while it runs), in its own process group.
    pub fn run_std_command(&self, config: &Path) -> Command {
        let mut cmd = self.base_run_command(config);
        cmd.process_group(0);
        cmd
    }

    fn base_run_command(&self, config: &Path) -> Command {
        let mut cmd = self.native_std(config);
        cmd.arg("--valkey-benchmark-path").arg(REDIS_BENCHMARK);
        cmd
    }

    /// `valkey-perf run` with the native engine, the config, results dir and private TMPDIR
    /// of this scratch area, and no password from the environment; the caller names the
    /// target (`--server-bin`, ...).
    pub fn native_run(&self, config: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.native_std(config));
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    /// [`Scratch::native_run`] against the running server at `127.0.0.1:port`
    /// (`--use-running-server`).
    pub fn run_against(&self, config: &Path, port: u16) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.run_against_std(config, port));
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    /// The same as [`Scratch::run_against`], as a plain `std` command in its own process
    /// group (for tests that watch the child while it runs).
    pub fn run_against_std(&self, config: &Path, port: u16) -> Command {
        let mut cmd = self.native_std(config);
        cmd.arg("--use-running-server")
            .args(["--port", &port.to_string()])
            .process_group(0);
        cmd
    }

    fn native_std(&self, config: &Path) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"));
        cmd.env("TMPDIR", self.tmp())
            .env_remove("RUST_LOG")
            .env_remove(PASSWORD_ENV)
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--results-dir")
            .arg(self.results());
        cmd
    }
}

/// `valkey-perf config validate <config>`.
pub fn config_validate(config: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("valkey-perf").unwrap();
    cmd.args(["config", "validate"]).arg(config);
    cmd
}

/// The stdout of a finished command, as text.
pub fn stdout_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

/// The stderr of a finished command, as text.
pub fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}
