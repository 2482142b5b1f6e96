//! Facts about this machine: the CPUs a config pins servers and load generator to must be
//! online here. `run` refuses a missing one; `config validate` without `--strict` warns (the
//! config may be meant for another machine), and so does a client-only run for the server's
//! range (the server runs elsewhere).

use super::ConfigObject;
use crate::config::checker::Checker;
use crate::config::facts::{ConfigWarning, MachineFacts};
use crate::config::scenario;
use crate::model::case::CpuSet;
use crate::model::{Warning, WarningKind};

/// `server_cpu_range` and `client_cpu_range` name CPUs online here.
pub(super) fn cpu_ranges(
    c: &mut Checker<'_>,
    facts: &MachineFacts,
    server_cpus: &Option<CpuSet>,
    client_cpus: &Option<CpuSet>,
    warnings: &mut Vec<ConfigWarning>,
) {
    let index = c.index;
    if let Some(online) = &facts.online_cpus {
        for (key, set) in [
            ("server_cpu_range", server_cpus),
            ("client_cpu_range", client_cpus),
        ] {
            let Some(set) = set else { continue };
            let missing: Vec<usize> = set.cpus.difference(&online.cpus).copied().collect();
            if missing.is_empty() {
                continue;
            }
            let msg = format!(
                "CPUs {} do not exist on this machine (online: {}); use CPUs from that list",
                crate::model::case::format_cpu_list(missing),
                online.canonical()
            );
            if facts.host_facts_are_warnings {
                warnings.push(ConfigWarning::host_fact(
                    index,
                    format!("config[{index}] `{key}`: {msg}"),
                ));
            } else if facts.cpus_may_be_remote && key == "server_cpu_range" {
                warnings.push(ConfigWarning {
                    config_index: index,
                    warning: Warning::new(
                        WarningKind::Config,
                        format!(
                            "config[{index}] `{key}`: {msg} (ignored: the server runs elsewhere)"
                        ),
                    ),
                });
            } else {
                c.err(key, msg);
            }
        }
    }
}

/// `cpu_allocation`, resolved for every topology of the object: servers and load generator
/// get separate CPUs, all online here.
pub(super) fn cpu_allocation(
    c: &mut Checker<'_>,
    object: &ConfigObject,
    facts: &MachineFacts,
    warnings: &mut Vec<ConfigWarning>,
) {
    let index = c.index;
    let ConfigObject {
        cpu_allocation,
        scenarios,
        cluster_mode,
        cluster_nodes,
        ..
    } = object;
    if let Some(alloc) = cpu_allocation {
        let processes = scenarios
            .iter()
            .map(|s| scenario::load_processes(&s.scenario))
            .max()
            .unwrap_or(1);
        for &cluster in cluster_mode {
            let nodes = if cluster {
                u64::from(*cluster_nodes)
            } else {
                1
            };
            let (server, client) = (
                alloc.server_cpus(nodes),
                alloc.client_cpus(nodes, processes),
            );
            let what = if cluster {
                format!("with {nodes} cluster nodes")
            } else {
                "standalone".to_string()
            };
            let shared: Vec<usize> = server.cpus.intersection(&client.cpus).copied().collect();
            if !shared.is_empty() {
                c.err(
                    "cpu_allocation",
                    format!(
                        "{what}, the servers get CPUs {} and the load generator {}, which share {}; give them separate CPUs",
                        server.spec,
                        client.spec,
                        crate::model::case::format_cpu_list(shared)
                    ),
                );
            }
            let Some(online) = &facts.online_cpus else {
                continue;
            };
            let missing: Vec<usize> = server
                .cpus
                .union(&client.cpus)
                .filter(|cpu| !online.cpus.contains(cpu))
                .copied()
                .collect();
            if missing.is_empty() {
                continue;
            }
            let msg = format!(
                "{what} it allocates servers {} and load generator {}, but CPUs {} do not exist on this machine (online: {})",
                server.spec,
                client.spec,
                crate::model::case::format_cpu_list(missing),
                online.canonical()
            );
            if facts.host_facts_are_warnings {
                warnings.push(ConfigWarning::host_fact(
                    index,
                    format!("config[{index}] `cpu_allocation`: {msg}"),
                ));
            } else {
                c.err("cpu_allocation", format!("{msg}; allocate fewer cores"));
            }
        }
    }
}
