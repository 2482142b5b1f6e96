//! Servers valkey-perf starts and stops: process handling, standalone servers, clusters, TLS.
//! Owns live processes; knows nothing about load generation or results files.
//!
//! Inside, imports point one way (each file's `//!` says what it may import):
//!
//! ```text
//! tls, deadline ◄── control ◄── standalone ◄── cluster ◄── deployment
//!                        ◄── usage ◄──────────────────────────┘
//! ```
//!
//! (`control` imports only `deadline`, the cap on every wait: its TLS and credentials are
//! `loadgen`'s; `usage`
//! imports `control`; `deployment` imports `usage`; `sampler` imports `control` and `usage`;
//! `instruments` imports `usage`, `sampler`, `callgrind` and `perf`, and is built from a
//! deployment's parts.)
//!
//! A file imports only files to its left, plus `process` (re-exported here from the crate,
//! below all of them), so there is no import cycle.

pub mod callgrind;
pub mod cluster;
pub mod control;
pub mod deadline;
pub mod deployment;
pub mod instruments;
pub mod perf;
pub mod sampler;
pub mod standalone;
pub mod tls;
pub mod usage;

/// Process handling lives below every layer; servers use it through this path too.
pub use crate::process;

pub use deployment::{
    CLUSTER_READY_DEADLINE, Deployment, EXTERNAL_PING_EVERY, ReplicationWaiter, StartOptions,
    hold_until_interrupted,
};
