//! The single integration-test binary: one module per area, run against real programs, sharing
//! fixtures under `tests/fixtures`.

mod bisect;
mod build;
mod capacity;
mod compare;
mod config;
mod dashboard;
mod duet;
mod flamegraphs;
mod grafana;
mod hardening_input;
mod hardening_run;
mod history;
mod instructions;
mod layout;
mod memory_mode;
mod native_measurement;
mod precision;
mod run;
mod run_auth;
mod run_keys;
mod run_native;
mod run_reads;
mod run_replicas;
mod run_topologies;
mod scenarios;
mod server_usage;
mod shared_db;
mod store_hardening;
mod store_loop;
mod support;
mod topology;
mod upstream_compat;
mod verdicts;
mod workflow_ticks;
mod workflows;
