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
}

pub fn run(cli: Cli) -> anyhow::Result<Code> {
    match cli.command {
        Cmd::Compare(args) => crate::commands::compare::run(args),
        Cmd::Run(args) => crate::commands::run::run(*args),
        Cmd::Config(args) => crate::commands::config::run(args),
        Cmd::Loadgen(args) => crate::commands::loadgen::run(*args),
    }
}
