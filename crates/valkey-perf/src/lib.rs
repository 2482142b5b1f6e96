//! valkey-perf: benchmark Valkey commits and binaries, compare them with sound statistics.
//!
//! The modules follow the data flow, each depending only on those before it:
//! `model` → `config` (validated cases) → `source` (commits built into servers) → `server`
//! (processes) → `engine` (load) → `results` (files) → `compare` (statistics, reports) → `history` (series over commits, drift, change
//! points) → `dashboard` (the HTML page).
//! `process`, `util` and `exit` sit below everything; `commands` (one per subcommand) and
//! `cli` sit on top and are the only places that see clap types.

pub mod cli;
pub mod commands;
pub mod compare;
pub mod config;
pub mod dashboard;
pub mod engine;
pub mod exit;
pub mod history;
pub mod model;
pub mod process;
pub mod results;
pub mod server;
pub mod source;
pub mod util;
