//! `--mode server`: starts the servers of a [`ServePlan`], prints their addresses, the matching
//! `--mode client` flags and the TLS CA path, and keeps them up until Ctrl-C; then stops every
//! one.

use super::plan::ServePlan;
use crate::exit::Code;
use crate::server::standalone::probe_tls;
use crate::server::tls::TlsMaterial;
use crate::server::{Deployment, StartOptions};
use anyhow::{Context, Result};

/// Prints what `--dry-run` would start.
pub(super) fn print_serve_plan(plan: &ServePlan) {
    crate::util::outln(format_args!("would start `{}` for:", plan.binary.display()));
    for (n, c) in &plan.cases {
        crate::util::outln(format_args!("  case {n}: {}", c.label()));
    }
}

pub(super) fn serve(plan: &ServePlan) -> Result<Code> {
    let binary = &plan.binary;
    let material = if plan.cases.iter().any(|(_, c)| c.topology.tls) {
        let m = TlsMaterial::generate(std::slice::from_ref(&plan.host))
            .context("generating TLS certificates")?;
        probe_tls(binary, &m, &plan.target.dir.join("servers"))?;
        Some(m)
    } else {
        None
    };
    let mut deployments = Vec::new();
    for (i, (n, case)) in plan.cases.iter().enumerate() {
        let d = Deployment::start(
            &case.topology,
            &StartOptions {
                binary: binary.clone(),
                bind: "0.0.0.0".into(),
                host: plan.host.clone(),
                port: (i == 0).then_some(plan.port),
                log_dir: plan.target.dir.join("servers"),
                tls: material.as_ref().map(TlsMaterial::server),
                callgrind_dir: None,
                urandom_seed: None,
            },
        )?;
        d.apply_config_set(&case.topology.config_set)?;
        for w in d.warnings() {
            tracing::warn!("{w}");
        }
        let ep = d.address();
        crate::util::outln(format_args!(
            "case {n} ({}): {}",
            case.label(),
            d.describe()
        ));
        crate::util::outln(format_args!(
            "  drive it with: valkey-perf run --mode client --target-ip {} --port {}{}{}",
            ep.host,
            ep.port,
            if ep.cluster { " --cluster" } else { "" },
            if ep.tls.is_some() {
                " --tls-ca <copy of the CA below>"
            } else {
                ""
            }
        ));
        deployments.push(d);
    }
    if let Some(m) = &material {
        crate::util::outln(format_args!("TLS CA certificate: {}", m.ca.display()));
    }
    tracing::info!("servers are up; Ctrl-C stops them");
    crate::server::hold_until_interrupted(&mut deployments)?;
    tracing::info!("every server was stopped");
    Ok(Code::Success)
}
