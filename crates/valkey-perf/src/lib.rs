//! valkey-perf: benchmark Valkey commits and binaries, compare them with sound statistics.
//!
//! The modules follow the data flow, each depending only on those before it:
//! `model` → `config` (validated cases) → `target` (what is benchmarked) → `server`
//! (processes) → `engine` (load) → `results` (files) → `compare` (statistics, reports).
//! `cli` and `app` sit on top and are the only places that see everything.

pub mod app;
pub mod cli;
pub mod compare;
pub mod config;
pub mod engine;
pub mod exit;
pub mod loadgen_cmd;
pub mod model;
pub mod process;
pub mod results;
pub mod server;
pub mod target;
pub mod util;
