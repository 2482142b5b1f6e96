//! The `valkey-perf` binary: parse, run, print the error chain, exit with a documented code.

use clap::Parser;
use valkey_perf::cli::Cli;
use valkey_perf::exit;

fn main() {
    let cli = Cli::parse();
    let code = match valkey_perf::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            exit::code_of(&err)
        }
    };
    std::process::exit(code.as_i32());
}
