//! Servers valkey-perf starts and stops: process handling, standalone servers, clusters, TLS.
//! Owns live processes; knows nothing about load generation or results files.

pub mod control;
pub mod deployment;
pub mod standalone;

/// Process handling lives below every layer; servers use it through this path too.
pub use crate::process;

pub use deployment::{DeploySpec, Deployment};
