//! Logging for one invocation: stderr (through the progress bar when there is one) and every
//! target's `logs.txt`. Progress: an indicatif bar on a terminal, plain lines otherwise.

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::EnvFilter;

#[derive(Default)]
struct Sinks {
    files: Vec<File>,
    bar: Option<ProgressBar>,
}

fn sinks() -> &'static Mutex<Sinks> {
    static SINKS: OnceLock<Mutex<Sinks>> = OnceLock::new();
    SINKS.get_or_init(Default::default)
}

/// Writes each log line to stderr (above the progress bar) and to every open log file.
#[derive(Clone, Default)]
pub struct TeeWriter;

impl Write for TeeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut s = sinks().lock().unwrap_or_else(|e| e.into_inner());
        for f in &mut s.files {
            let _ = f.write_all(buf);
        }
        match &s.bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for TeeWriter {
    type Writer = TeeWriter;
    fn make_writer(&'a self) -> Self::Writer {
        TeeWriter
    }
}

/// `--log-level`: the most detailed level of valkey-perf's own messages on stderr and in the
/// log files (other crates log warnings and errors only). A value outside these is a usage
/// error naming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The level as a `tracing` filter directive spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Installs the subscriber once per process (`--log-level` or `RUST_LOG`).
pub fn init(level: LogLevel) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(format!("valkey_perf={},warn", level.as_str())));
        let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(TeeWriter)
            .with_ansi(ansi)
            .with_target(false)
            .try_init();
    });
}

/// Also writes the log into `path` (appending) from now on.
pub fn add_log_file(path: &Path) -> anyhow::Result<()> {
    let file = File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open log file `{}`: {e}", path.display()))?;
    sinks()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .files
        .push(file);
    Ok(())
}

/// Stops writing to log files (end of an invocation).
pub fn close_log_files() {
    sinks()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .files
        .clear();
}

/// Progress over the whole matrix: a bar on a terminal, nothing extra otherwise (the log lines
/// say where the run is).
#[derive(Clone)]
pub struct Progress {
    bar: Option<Arc<ProgressBar>>,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        sinks().lock().unwrap_or_else(|e| e.into_inner()).bar = Some(bar.clone());
        Progress {
            bar: Some(Arc::new(bar)),
        }
    }

    pub fn set_message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }

    pub fn inc(&self) {
        self.inc_by(1);
    }

    pub fn inc_by(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            sinks().lock().unwrap_or_else(|e| e.into_inner()).bar = None;
        }
    }
}
