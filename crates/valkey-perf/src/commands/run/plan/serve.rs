//! `--mode server`, lowered: one target's server binary and the chosen cases, through the
//! same config and target code as a run.

use super::load_config;
use super::target::{ServerSource, Target, binary_target, source_targets};
use crate::commands::run::args::RunArgs;
use crate::config::MachineFacts;
use crate::exit::usage;
use crate::model::Case;
use anyhow::{Result, bail};
use std::path::PathBuf;

/// `--mode server`, lowered: one server binary and the cases whose servers it starts.
pub(in crate::commands::run) struct ServePlan {
    pub target: Target,
    pub binary: PathBuf,
    /// Case numbers as `--dry-run` lists them (from 1), with their cases.
    pub cases: Vec<(usize, Case)>,
    /// The address clients on other machines use (advertised, named in the certificate).
    pub host: String,
    /// The port of the first standalone server.
    pub port: u16,
}

/// Lowers `--mode server`: the chosen cases (the first by default) and the one target.
pub(in crate::commands::run) fn lower_serve(args: &RunArgs) -> Result<ServePlan> {
    if args.running.use_running_server
        || args.running.cluster
        || args.running.tls_ca.is_some()
        || args.running.user.is_some()
        || args.running.password.is_some()
    {
        return Err(usage(
            "--mode server starts its own servers; drop --use-running-server, --cluster, --tls-ca, --user and --password (they describe a server valkey-perf did not start)",
        ));
    }
    let config = load_config(args, &MachineFacts::here())?;
    let picks: Vec<usize> = if args.cases.cases.is_empty() {
        vec![1]
    } else {
        args.cases.cases.clone()
    };
    for &n in &picks {
        if n == 0 || n > config.cases.len() {
            return Err(usage(format!(
                "--case {n} is not a case of `{}`, which has {} (numbered from 1; list them with --dry-run)",
                args.cases.config.display(),
                config.cases.len()
            )));
        }
    }
    let cases: Vec<Case> = picks.iter().map(|&n| config.cases[n - 1].clone()).collect();
    let target = match (
        args.targets.server_bins.as_slice(),
        &args.targets.baseline_server_bin,
        &args.targets.baseline,
        args.targets.commits.as_slice(),
    ) {
        ([bin], None, None, []) => binary_target(bin, &args.output.results_dir, false)?,
        ([], None, None, refs) if refs.len() <= 1 => {
            let r = refs.first().cloned().unwrap_or_else(|| "HEAD".into());
            source_targets(args, &[(r, false)], &cases)?.remove(0)
        }
        _ => {
            return Err(usage(
                "--mode server starts one target; give one --server-bin or one --commits ref (no baseline)",
            ));
        }
    };
    let ServerSource::Binary(binary) = &target.server else {
        bail!("--mode server needs a server binary");
    };
    Ok(ServePlan {
        binary: binary.clone(),
        target,
        cases: picks.into_iter().zip(cases).collect(),
        host: args.running.target_ip.clone(),
        port: args.running.port,
    })
}
