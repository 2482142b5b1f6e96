//! Expansion of config objects into cases, in the documented order (docs/design.md §4): outermost
//! cluster_mode → config_sets → io-threads (one server start per combination), then
//! requests → keyspacelen → data_sizes → pipelines → clients → commands (fastest). A config
//! object in the scenario shape expands cluster_mode → config_sets → io-threads →
//! keyspacelen → its scenarios in file order (groups, scenarios, option variants).

use super::validate::ConfigObject;
use crate::model::{BenchmarkMode, Case, CaseCommand, ReadFromReplicas, ServerTopology};

/// All cases of all objects, objects in file order; objects are never merged.
pub fn expand(objects: &[ConfigObject]) -> Vec<Case> {
    let mut cases = Vec::new();
    for obj in objects {
        let modes: Vec<BenchmarkMode> = match obj.duration {
            // Memory mode: one case per key count (the mode is set per case below).
            _ if obj.memory => vec![BenchmarkMode::Requests(0)],
            Some(secs) => vec![BenchmarkMode::Duration(secs)],
            None => obj
                .requests
                .iter()
                .map(|&n| BenchmarkMode::Requests(n))
                .collect(),
        };
        for &cluster in &obj.cluster_mode {
            for config_set in &obj.config_sets {
                for &io_threads in &obj.io_threads {
                    let topology = ServerTopology {
                        cluster,
                        cluster_nodes: obj.cluster_nodes,
                        cluster_replicas: obj.cluster_replicas,
                        tls: obj.tls,
                        io_threads,
                        server_cpus: obj.server_cpus.clone(),
                        custom_configs: obj.custom_server_configs.clone(),
                        config_set: config_set.clone(),
                        callgrind: obj.instructions,
                        modules: obj.modules.clone(),
                        config_file: obj.config_file.clone(),
                    };
                    if !obj.scenarios.is_empty() {
                        let nodes = if cluster {
                            u64::from(obj.cluster_nodes)
                        } else {
                            1
                        };
                        let mut topology = topology.clone();
                        if let Some(alloc) = &obj.cpu_allocation {
                            topology.server_cpus = Some(alloc.server_cpus(nodes));
                        }
                        for &keyspacelen in &obj.keyspacelen {
                            for spec in &obj.scenarios {
                                let client_cpus = match &obj.cpu_allocation {
                                    Some(alloc) => Some(alloc.client_cpus(
                                        nodes,
                                        super::scenario::load_processes(&spec.scenario),
                                    )),
                                    None => obj.client_cpus.clone(),
                                };
                                cases.push(Case {
                                    config_index: obj.index,
                                    topology: topology.clone(),
                                    command: CaseCommand::Scenario(Box::new(spec.scenario.clone())),
                                    mode: spec.mode,
                                    keyspacelen,
                                    data_size: spec.data_size,
                                    pipeline: spec.pipeline,
                                    clients: spec.scenario.total_clients(),
                                    warmup_secs: spec.warmup,
                                    client_threads: obj.benchmark_threads,
                                    client_cpus,
                                    seed: spec.seed,
                                    // Scenarios name their keys themselves.
                                    key_distribution: Default::default(),
                                    memory: false,
                                    read_from_replicas: Default::default(),
                                    sampling: false,
                                    profiling: None,
                                    duet: false,
                                    capacity: None,
                                });
                            }
                        }
                        continue;
                    }
                    for &mode in &modes {
                        for &keyspacelen in &obj.keyspacelen {
                            for &data_size in &obj.data_sizes {
                                for &pipeline in &obj.pipelines {
                                    for &clients in &obj.clients {
                                        for &command in &obj.commands {
                                            cases.push(Case {
                                                config_index: obj.index,
                                                topology: topology.clone(),
                                                command: CaseCommand::Builtin(command),
                                                // Memory mode writes each key once.
                                                mode: if obj.memory {
                                                    BenchmarkMode::Requests(keyspacelen)
                                                } else {
                                                    mode
                                                },
                                                keyspacelen,
                                                data_size,
                                                pipeline,
                                                clients,
                                                warmup_secs: obj.warmup,
                                                client_threads: obj.benchmark_threads,
                                                client_cpus: obj.client_cpus.clone(),
                                                seed: obj.seed,
                                                key_distribution: obj.key_distribution,
                                                memory: obj.memory,
                                                // Writes always go to the primaries.
                                                read_from_replicas: if cluster && command.is_read()
                                                {
                                                    obj.read_from_replicas
                                                } else {
                                                    ReadFromReplicas::No
                                                },
                                                sampling: obj.sampling,
                                                profiling: obj.profiling,
                                                duet: obj.duet,
                                                capacity: obj.capacity.clone(),
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    cases
}
