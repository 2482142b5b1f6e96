//! The subcommands: one file or folder each, and the only code that sees clap types. Each
//! lowers its flags into the plain types of the layers below and calls them; the layers never
//! call back up here.

pub mod bisect;
pub mod commits;
pub mod compare;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod detect_regression;
pub mod loadgen;
pub mod logging;
pub mod push;
pub mod run;
