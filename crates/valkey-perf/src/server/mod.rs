//! Servers valkey-perf starts and stops: process handling, standalone servers, clusters, TLS.
//! Owns live processes; knows nothing about load generation or results files.

pub mod cluster;
pub mod control;
pub mod deployment;
pub mod process;
pub mod standalone;
pub mod tls;

pub use deployment::{
    CLUSTER_READY_DEADLINE, Deployment, Endpoint, ExternalTarget, StartOptions,
    hold_until_interrupted,
};
