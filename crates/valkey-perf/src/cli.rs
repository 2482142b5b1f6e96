//! Command-line interface: raw clap input, lowered into validated plans by the layers below.

use crate::exit::{Code, EXIT_CODES_HELP};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "valkey-perf", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Benchmark targets (commits, server binaries, a running server) with a config file.
    #[command(after_help = EXIT_CODES_HELP)]
    Run(Box<crate::commands::run::RunArgs>),
    /// Compare two metrics.json files: statistics, verdicts, markdown or JSON report, graphs.
    Compare(crate::commands::compare::CompareArgs),
    /// Check a config file and list the cases it expands into; print the config JSON Schema.
    Config(crate::commands::config::ConfigArgs),
    /// The native load generator on its own, with valkey-benchmark's flags and output.
    Loadgen(Box<crate::commands::loadgen::LoadgenArgs>),
    /// Store every metrics.json below a results directory in the database (idempotent).
    Push(crate::commands::push::PushArgs),
    /// Track which commits are benchmarked: determine, claim, mark, query, cleanup, reset.
    Commits(crate::commands::commits::CommitsArgs),
    /// Judge the newest commit in the database against its reference run or the previous
    /// commit(s) (exit 6 on a regression, 7 when nothing could be judged); --history: change
    /// points over all commits.
    DetectRegression(crate::commands::detect_regression::DetectArgs),
    /// Write one self-contained HTML dashboard from the database (or serve it with --serve).
    Dashboard(crate::commands::dashboard::DashboardArgs),
    /// Find the commit between a good and a bad one that changed a case (binary search,
    /// each step measured against both ends, interleaved).
    #[command(after_help = EXIT_CODES_HELP)]
    Bisect(Box<crate::commands::bisect::BisectArgs>),
}

pub fn run(cli: Cli) -> anyhow::Result<Code> {
    match cli.command {
        Cmd::Compare(args) => crate::commands::compare::run(args),
        Cmd::Run(args) => crate::commands::run::run(*args),
        Cmd::Config(args) => crate::commands::config::run(args),
        Cmd::Loadgen(args) => crate::commands::loadgen::run(*args),
        Cmd::Push(args) => crate::commands::push::run(args),
        Cmd::Commits(args) => crate::commands::commits::run(args),
        Cmd::DetectRegression(args) => crate::commands::detect_regression::run(args),
        Cmd::Dashboard(args) => crate::commands::dashboard::run(args),
        Cmd::Bisect(args) => crate::commands::bisect::run(*args),
    }
}
