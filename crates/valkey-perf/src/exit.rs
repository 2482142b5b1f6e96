//! The documented exit codes (docs/design.md §3.2) and the error type that carries one.

use std::fmt;

/// Process exit codes, documented in `valkey-perf --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 0: every case succeeded.
    Success = 0,
    /// 1: internal error.
    Internal = 1,
    /// 2: usage or config error; nothing was started.
    Usage = 2,
    /// 3: a build failed.
    Build = 3,
    /// 4: a server failed to start, or the database could not be reached (or went away).
    ServerStart = 4,
    /// 5: some runs failed; the others were measured and written (`push`: some files were
    /// not pushed, the others were).
    RunsFailed = 5,
    /// 6: a regression was found.
    Regression = 6,
    /// 7: a gate (`compare --fail-on-regression`, `detect-regression`) could judge nothing it
    /// was asked to judge (no verdict possible, insufficient data); `--allow-inconclusive`
    /// turns this into 0. `run --precision`: some case did not get precise enough in time.
    Inconclusive = 7,
    /// 130: interrupted (SIGINT / SIGTERM).
    Interrupted = 130,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// The exit-code table printed at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    every case succeeded
  1    internal error
  2    usage or config error (nothing was started)
  3    build failed
  4    server failed to start, or the database cannot be reached
  5    some runs failed (the others were still measured and written)
  6    regression found (compare --fail-on-regression, detect-regression)
  7    inconclusive: a gate could judge nothing it was asked to (--allow-inconclusive gives 0);
       run --precision: some case's interval did not get narrow enough within --max-time
  130  interrupted (Ctrl-C / SIGTERM); finished runs are kept";

/// An error that decides the exit code. Put it anywhere in an `anyhow` chain; `main` finds it.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    #[expect(
        clippy::new_ret_no_self,
        reason = "a Failure is only ever used inside an anyhow chain"
    )]
    pub fn new(code: Code, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            code,
            message: message.into(),
        })
    }
}

/// A usage or config error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure::new(Code::Usage, message)
}

/// The exit code an error chain asks for: the first `Failure` in it, else internal error.
pub fn code_of(err: &anyhow::Error) -> Code {
    // `downcast_ref` also finds a `Failure` given as `.context(...)` at any layer, which the
    // chain's items (context wrappers) do not show.
    err.downcast_ref::<Failure>()
        .map(|f| f.code)
        .or_else(|| {
            err.chain()
                .find_map(|e| e.downcast_ref::<Failure>().map(|f| f.code))
        })
        .unwrap_or(Code::Internal)
}
