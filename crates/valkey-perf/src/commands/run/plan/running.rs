//! A client-only run (`--use-running-server`, `--mode client`) drives a server valkey-perf
//! did not start: its address and TLS files, the credentials (flags or environment), checked
//! against the server before the run, and the cases, which must describe its one topology.

use crate::commands::run::args::RunArgs;
use crate::exit::{Code, Failure, usage};
use crate::model::Case;
use crate::server::Deployment;
use crate::server::control::AuthError;
use anyhow::Result;
use loadgen::{Address, ClientTls, Credentials};
use std::time::Duration;

/// The environment variable `run` (and `loadgen`) read the password from.
pub const PASSWORD_ENV: &str = "VALKEY_PERF_PASSWORD";

/// The credentials for a running server: `--password`, else `VALKEY_PERF_PASSWORD`, with
/// `--user`. Servers valkey-perf starts need none: the flags are refused there, the variable
/// is ignored (it may be set for other commands).
pub(super) fn credentials(args: &RunArgs) -> Result<Option<Credentials>> {
    let from_env = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    if !args.client_only() {
        if args.running.user.is_some() || args.running.password.is_some() {
            return Err(usage(
                "--user and --password authenticate to a server valkey-perf did not start; use them with --use-running-server or --mode client (servers valkey-perf starts need no password)",
            ));
        }
        if from_env.is_some() {
            tracing::debug!("{PASSWORD_ENV} is set but ignored: valkey-perf starts the servers");
        }
        return Ok(None);
    }
    let password = match (&args.running.password, from_env) {
        (Some(p), _) => {
            tracing::warn!(
                "--password is visible to every user of this machine in the process list; set {PASSWORD_ENV} instead"
            );
            Some(p.clone())
        }
        (None, env) => env,
    };
    match (password, &args.running.user) {
        (None, Some(user)) => Err(usage(format!(
            "--user `{user}` needs a password: set {PASSWORD_ENV} (or pass --password)"
        ))),
        (None, None) => Ok(None),
        (Some(password), user) => Ok(Some(Credentials {
            user: user.clone(),
            password,
        })),
    }
}

/// How long the check before the run waits for the running server to connect and answer.
const ANSWER_DEADLINE: Duration = Duration::from_secs(3);

/// Checks that the running server answers PING (and the credentials) before anything starts:
/// wrong or missing credentials are a usage error (exit 2); a server that does not answer
/// within [`ANSWER_DEADLINE`] stops the run at once (exit 4, as a server that fails to
/// start), naming the address and the fix, rather than failing every case in turn.
pub(super) fn check_answers(external: &Address) -> Result<()> {
    match Deployment::connect_within(external, ANSWER_DEADLINE) {
        Ok(_) => Ok(()),
        Err(e) => match e.chain().find_map(|c| c.downcast_ref::<AuthError>()) {
            Some(auth) => Err(usage(auth.message.clone())),
            None => Err(Failure::new(
                Code::ServerStart,
                format!("{e:#}; nothing was run"),
            )),
        },
    }
}

/// The running server `--mode client` / `--use-running-server` drives.
pub(super) fn external_target(args: &RunArgs, auth: Option<Credentials>) -> Result<Address> {
    for (flag, file) in [
        ("--tls-ca", &args.running.tls_ca),
        ("--tls-cert", &args.running.tls_cert),
        ("--tls-key", &args.running.tls_key),
    ] {
        if let Some(f) = file {
            if !f.is_file() {
                return Err(usage(format!(
                    "{flag} `{}` is not a file; pass the file `--mode server` printed (copy it from the server machine)",
                    f.display()
                )));
            }
        }
    }
    Ok(Address {
        cluster: args.running.cluster,
        tls: args.running.tls_ca.as_ref().map(|ca| ClientTls {
            cert: args.running.tls_cert.clone(),
            key: args.running.tls_key.clone(),
            ..ClientTls::with_ca(ca)
        }),
        auth,
        ..Address::tcp(&args.running.target_ip, args.running.port)
    })
}

/// A running server has one topology; every case must describe it, so records never claim a
/// topology that was not measured.
pub(super) fn check_running_server_cases(args: &RunArgs, cases: &[Case]) -> Result<()> {
    for case in cases {
        let t = &case.topology;
        if t.cluster != args.running.cluster {
            return Err(usage(format!(
                "config[{}] has `cluster_mode: {}` but the running server at `{}:{}` is driven {} --cluster; {}",
                case.config_index,
                t.cluster,
                args.running.target_ip,
                args.running.port,
                if args.running.cluster {
                    "with"
                } else {
                    "without"
                },
                if t.cluster {
                    "add --cluster (the server must be a cluster)"
                } else {
                    "drop --cluster or set `cluster_mode` in the config"
                }
            )));
        }
        if t.tls != args.running.tls_ca.is_some() {
            return Err(usage(format!(
                "config[{}] has `tls_mode: {}` but {}; {}",
                case.config_index,
                t.tls,
                if t.tls {
                    "no --tls-ca was given"
                } else {
                    "--tls-ca was given"
                },
                if t.tls {
                    "pass --tls-ca with the CA certificate `--mode server` printed"
                } else {
                    "drop --tls-ca or set `tls_mode` in the config"
                }
            )));
        }
    }
    Ok(())
}
