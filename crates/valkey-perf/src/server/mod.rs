//! Servers valkey-perf starts and stops: process handling, standalone servers, clusters, TLS.
//! Owns live processes; knows nothing about load generation or results files.

pub mod control;
pub mod process;
pub mod standalone;
