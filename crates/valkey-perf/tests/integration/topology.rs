//! Server topologies against real servers: clusters with both registry Valkey versions, TLS
//! (standalone and cluster) with Debian's `redis-server` 7.0, which is built with TLS, the TLS
//! probe against a registry build without TLS, CPU pinning, io-threads, config sets and
//! running (external) servers. Traffic goes to 127.0.0.1 only; every process started is
//! stopped, and the tests check that it is gone.

use crate::support;
use serde_json::{Map, Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use valkey_perf::model::case::CpuSet;
use valkey_perf::server::control::{Connector, Control, info_field, parse_info};
use valkey_perf::server::process::cpus_allowed;
use valkey_perf::server::standalone::probe_tls;
use valkey_perf::server::tls::TlsMaterial;
use valkey_perf::server::{Deployment, StartOptions};

fn options(binary: &Path, logs: &Path, tls: Option<&TlsMaterial>) -> StartOptions {
    StartOptions {
        binary: binary.to_path_buf(),
        bind: "127.0.0.1".into(),
        host: "127.0.0.1".into(),
        port: None,
        log_dir: logs.to_path_buf(),
        tls: tls.map(TlsMaterial::server),
        callgrind_dir: None,
        urandom_seed: None,
    }
}

/// Waits (bounded) until none of `pids` exists any more.
fn assert_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server processes {alive:?} survived stop()"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn control(host_port: &str, connector: &Connector) -> Control {
    let (host, port) = host_port.rsplit_once(':').unwrap();
    connector
        .connect(host, port.parse().unwrap(), Duration::from_secs(5))
        .unwrap()
}

fn connector_of(deployment: &Deployment) -> Connector {
    Connector::new(deployment.address().tls.as_ref()).unwrap()
}

/// Runs `redis-benchmark` SET load against the deployment's endpoint (cluster- and
/// TLS-aware), asserting it succeeds.
fn write_keys(deployment: &Deployment) {
    let Some(bench) = support::redis_benchmark() else {
        panic!("redis-benchmark is needed to write keys");
    };
    let ep = deployment.address();
    let mut cmd = Command::new(bench);
    cmd.args(["-h", &ep.host, "-p", &ep.port.to_string()])
        .args(["-t", "set", "-n", "3000", "-r", "1000", "-c", "4", "-q"]);
    if ep.cluster {
        cmd.arg("--cluster");
    }
    if let Some(tls) = &ep.tls {
        cmd.arg("--tls").arg("--cacert").arg(&tls.ca);
    }
    let out =
        valkey_perf::server::process::run_bounded(cmd, Duration::from_secs(60), None, &mut || {
            false
        })
        .unwrap();
    assert!(
        out.status.success() && out.stdout.contains("SET"),
        "redis-benchmark failed: {}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
}

/// The checks every started cluster must pass: each node sees all slots ok and the expected
/// number of nodes, each primary has its replicas, SET load reaches every primary, FLUSHALL
/// empties every primary, and stop leaves no process behind.
fn check_cluster(binary: &Path, primaries: u32, replicas: u32, tls: Option<&TlsMaterial>) {
    let logs = tempfile::tempdir().unwrap();
    let mut topo = support::cluster_topology(primaries, replicas);
    topo.tls = tls.is_some();
    let mut deployment = Deployment::start(&topo, &options(binary, logs.path(), tls)).unwrap();
    assert!(deployment.is_cluster() && deployment.started_here());
    let connector = connector_of(&deployment);
    let total = (primaries * (1 + replicas)) as usize;
    let addresses = deployment.addresses().unwrap();
    assert_eq!(addresses.len(), total);
    let described = deployment.describe();
    assert!(
        described.starts_with(&format!(
            "cluster ({primaries} primaries, {replicas} replica(s) each)"
        )) && described.contains(&addresses[0]),
        "{described}"
    );
    for addr in &addresses {
        let mut ctl = control(addr, &connector);
        let info = parse_info(&ctl.call_text(&["CLUSTER", "INFO"]).unwrap());
        assert_eq!(info_field(&info, "cluster_state"), Some("ok"), "{addr}");
        assert_eq!(
            info_field(&info, "cluster_slots_ok"),
            Some("16384"),
            "{addr}"
        );
        assert_eq!(
            info_field(&info, "cluster_known_nodes"),
            Some(total.to_string().as_str()),
            "{addr}"
        );
    }
    let primaries_addr = &addresses[..primaries as usize];
    for addr in primaries_addr {
        let repl = control(addr, &connector).info("replication").unwrap();
        assert_eq!(info_field(&repl, "role"), Some("master"), "{addr}");
        assert_eq!(
            info_field(&repl, "connected_slaves"),
            Some(replicas.to_string().as_str()),
            "{addr}"
        );
    }
    for addr in &addresses[primaries as usize..] {
        let repl = control(addr, &connector).info("replication").unwrap();
        assert_eq!(info_field(&repl, "role"), Some("slave"), "{addr}");
        assert_eq!(
            info_field(&repl, "master_link_status"),
            Some("up"),
            "{addr}"
        );
    }

    write_keys(&deployment);
    let dbsize = |addr: &String| match control(addr, &connector).call(&["DBSIZE"]).unwrap() {
        valkey_perf::server::control::Frame::Integer(n) => n,
        other => panic!("DBSIZE on {addr} returned {other:?}"),
    };
    for addr in primaries_addr {
        assert!(dbsize(addr) > 0, "no keys landed on primary {addr}");
    }
    deployment.flushall().unwrap();
    for addr in primaries_addr {
        assert_eq!(dbsize(addr), 0, "FLUSHALL left keys on primary {addr}");
    }
    deployment.check_alive().unwrap();

    let pids = deployment.pids();
    assert_eq!(pids.len(), total);
    deployment.stop();
    deployment.stop();
    assert_gone(&pids);
}

#[test]
fn cluster_of_three_primaries_valkey_9() {
    let Some(bin) = support::valkey_server("9.1.2") else {
        return;
    };
    check_cluster(&bin, 3, 0, None);
}

#[test]
fn cluster_of_three_primaries_valkey_8() {
    let Some(bin) = support::valkey_server("8.1.8") else {
        return;
    };
    check_cluster(&bin, 3, 0, None);
}

#[test]
fn cluster_of_three_primaries_and_three_replicas_valkey_9() {
    let Some(bin) = support::valkey_server("9.1.2") else {
        return;
    };
    check_cluster(&bin, 3, 1, None);
}

#[test]
fn cluster_of_three_primaries_and_three_replicas_valkey_8() {
    let Some(bin) = support::valkey_server("8.1.8") else {
        return;
    };
    check_cluster(&bin, 3, 1, None);
}

fn config_get(ctl: &mut Control, key: &str) -> String {
    match ctl.call(&["CONFIG", "GET", key]).unwrap() {
        valkey_perf::server::control::Frame::Array(items) => {
            items[1].as_text().unwrap().into_owned()
        }
        other => panic!("CONFIG GET {key} returned {other:?}"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A plaintext PING to a TLS-only port never gets a PONG.
fn assert_plaintext_refused(host_port: &str) {
    let (host, port) = host_port.rsplit_once(':').unwrap();
    let reply = Control::connect(host, port.parse().unwrap(), Duration::from_secs(2))
        .and_then(|mut c| c.call_text(&["PING"]));
    assert!(
        !matches!(&reply, Ok(r) if r == "PONG"),
        "plaintext PING to TLS port {host_port} answered {reply:?}"
    );
}

#[test]
fn tls_standalone_with_redis_server() {
    let Some(bin) = support::redis_server() else {
        return;
    };
    if support::redis_benchmark().is_none() {
        return;
    }
    let logs = tempfile::tempdir().unwrap();
    let material = TlsMaterial::generate(&[]).unwrap();
    let key_files: Vec<PathBuf> = vec![material.server_key.clone(), material.client_key.clone()];
    probe_tls(&bin, &material, logs.path()).unwrap();
    let mut topo = support::standalone_topology();
    topo.tls = true;
    let mut deployment =
        Deployment::start(&topo, &options(&bin, logs.path(), Some(&material))).unwrap();
    let ep = deployment.address();
    assert!(ep.tls.is_some());
    assert_plaintext_refused(&ep.to_string());
    // A TLS PING (the control connection) works, and so does INFO.
    assert_eq!(
        control(&ep.to_string(), &connector_of(&deployment))
            .call_text(&["PING"])
            .unwrap(),
        "PONG"
    );
    assert!(deployment.server_version().unwrap().starts_with("7."));
    write_keys(&deployment);
    for key in &key_files {
        assert_eq!(mode(key), 0o600, "{}", key.display());
    }
    let pids = deployment.pids();
    deployment.stop();
    assert_gone(&pids);
    let dir = material.dir().to_path_buf();
    drop(material);
    assert!(
        !dir.exists(),
        "`{}` outlived the TLS material",
        dir.display()
    );
    assert!(key_files.iter().all(|k| !k.exists()));
}

#[test]
fn tls_cluster_with_redis_server() {
    let Some(bin) = support::redis_server() else {
        return;
    };
    if support::redis_benchmark().is_none() {
        return;
    }
    let logs = tempfile::tempdir().unwrap();
    let material = TlsMaterial::generate(&[]).unwrap();
    check_cluster(&bin, 3, 1, Some(&material));
    // The cluster bus is TLS too: the nodes formed a cluster over TLS-only bus ports, which a
    // plaintext bus cannot do with `tls-cluster yes`. Check the plaintext client port on a
    // fresh cluster as well.
    let mut topo = support::cluster_topology(3, 0);
    topo.tls = true;
    let mut deployment =
        Deployment::start(&topo, &options(&bin, logs.path(), Some(&material))).unwrap();
    for addr in deployment.addresses().unwrap() {
        assert_plaintext_refused(&addr);
    }
    let log = std::fs::read_to_string(&deployment.log_paths()[0]).unwrap();
    assert!(!log.contains("Failed finding TLS"), "{log}");
    let pids = deployment.pids();
    deployment.stop();
    assert_gone(&pids);
    assert_eq!(mode(&material.server_key), 0o600);
    let dir = material.dir().to_path_buf();
    drop(material);
    assert!(!dir.exists());
}

#[test]
fn tls_probe_names_a_server_built_without_tls() {
    let Some(bin) = support::valkey_server("9.1.2") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let material = TlsMaterial::generate(&[]).unwrap();
    let err = probe_tls(&bin, &material, logs.path()).unwrap_err();
    let msg = format!("{err:#}");
    assert_eq!(
        msg,
        format!(
            "`{}` was built without TLS support; rebuild with BUILD_TLS=yes or use a \
             TLS-capable server",
            bin.display()
        )
    );
    assert_eq!(
        valkey_perf::exit::code_of(&err),
        valkey_perf::exit::Code::ServerStart
    );
}

#[test]
fn pinned_server_runs_on_exactly_its_cpus() {
    let Some(bin) = support::valkey_server("9.1.2") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let mut topo = support::standalone_topology();
    topo.server_cpus = Some(CpuSet::parse("0").unwrap());
    let mut deployment = Deployment::start(&topo, &options(&bin, logs.path(), None)).unwrap();
    let pid = deployment.pids()[0];
    assert_eq!(cpus_allowed(pid).as_deref(), Some("0"));
    assert_eq!(deployment.cpu_affinity().as_deref(), Some("0"));
    deployment.stop();
    assert_gone(&[pid]);
}

#[test]
fn cluster_nodes_split_or_share_the_server_cpus() {
    let Some(bin) = support::valkey_server("9.1.2") else {
        return;
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("skipping: splitting CPUs across two nodes needs two CPUs, this machine has one");
        return;
    }
    let logs = tempfile::tempdir().unwrap();
    // One primary and one replica on `0-1`: one CPU each.
    let mut topo = support::cluster_topology(1, 1);
    topo.server_cpus = Some(CpuSet::parse("0-1").unwrap());
    let mut deployment = Deployment::start(&topo, &options(&bin, logs.path(), None)).unwrap();
    assert!(deployment.warnings().is_empty());
    assert_eq!(deployment.cpu_affinity().as_deref(), Some("0;1"));
    let pids = deployment.pids();
    deployment.stop();
    assert_gone(&pids);
    // Three primaries on `0`: shared, with a warning.
    let mut topo = support::cluster_topology(3, 0);
    topo.server_cpus = Some(CpuSet::parse("0").unwrap());
    let mut deployment = Deployment::start(&topo, &options(&bin, logs.path(), None)).unwrap();
    assert_eq!(
        deployment.warnings().len(),
        1,
        "{:?}",
        deployment.warnings()
    );
    assert_eq!(deployment.cpu_affinity().as_deref(), Some("0"));
    let pids = deployment.pids();
    deployment.stop();
    assert_gone(&pids);
}

#[test]
fn io_threads_take_effect() {
    let Some(bin) = support::valkey_server("9.1.2") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let mut topo = support::standalone_topology();
    topo.io_threads = 2;
    let mut deployment = Deployment::start(&topo, &options(&bin, logs.path(), None)).unwrap();
    assert_eq!(deployment.config_get("io-threads").unwrap(), "2");
    let ep = deployment.address();
    let info = control(&ep.to_string(), &Connector::default())
        .call_text(&["INFO", "all"])
        .unwrap();
    // Valkey reports the active time of each I/O thread besides the main one.
    assert!(info.contains("used_active_time_io_thread_1:"), "{info}");
    assert!(!info.contains("used_active_time_io_thread_2:"), "{info}");
    deployment.stop();
}

#[test]
fn config_sets_apply_to_every_node() {
    let Some(bin) = support::valkey_server("9.1.2") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let mut topo = support::cluster_topology(3, 0);
    let Value::Object(config_set) =
        json!({"maxmemory-policy": "allkeys-lru", "lazyfree-lazy-user-flush": true})
    else {
        unreachable!()
    };
    topo.config_set = config_set;
    let mut deployment = Deployment::start(&topo, &options(&bin, logs.path(), None)).unwrap();
    deployment.apply_config_set(&topo.config_set).unwrap();
    for addr in deployment.addresses().unwrap() {
        let mut ctl = control(&addr, &Connector::default());
        assert_eq!(
            config_get(&mut ctl, "maxmemory-policy"),
            "allkeys-lru",
            "{addr}"
        );
        assert_eq!(
            config_get(&mut ctl, "lazyfree-lazy-user-flush"),
            "yes",
            "{addr}"
        );
    }
    let mut bad = Map::new();
    bad.insert("no-such-setting".into(), json!(1));
    let err = format!("{:#}", deployment.apply_config_set(&bad).unwrap_err());
    assert!(err.contains("`no-such-setting`"), "{err}");
    deployment.stop();
}

#[test]
fn running_servers_are_driven_not_owned() {
    let Some(bin) = support::valkey_server("8.1.8") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let mut started = Deployment::start(
        &support::cluster_topology(3, 0),
        &options(&bin, logs.path(), None),
    )
    .unwrap();
    let seed = started.address();
    let mut external = Deployment::connect(&seed).unwrap();
    assert!(!external.started_here());
    assert!(external.pids().is_empty());
    assert_eq!(external.cpu_affinity(), None);
    assert_eq!(external.server_version().unwrap(), "8.1.8");
    assert_eq!(external.addresses().unwrap().len(), 3);
    write_keys(&external);
    external.flushall().unwrap();
    for addr in started.addresses().unwrap() {
        let n = control(&addr, &Connector::default())
            .call(&["DBSIZE"])
            .unwrap();
        assert_eq!(n, valkey_perf::server::control::Frame::Integer(0), "{addr}");
    }
    // Stopping a running server's deployment leaves the server up.
    external.stop();
    external.check_alive().unwrap();
    external.ping().unwrap();
    let pids = started.pids();
    started.stop();
    assert_gone(&pids);
    let err = format!("{:#}", external.ping().unwrap_err());
    assert!(err.contains("no longer answers"), "{err}");
    // Nothing listens there now: connecting is a clear error.
    let err = format!(
        "{:#}",
        Deployment::connect(&loadgen::Address {
            cluster: false,
            ..seed
        })
        .err()
        .unwrap()
    );
    assert!(err.contains("no server answers at"), "{err}");
}

#[test]
fn a_cluster_that_is_not_ready_in_time_reports_every_node_log() {
    use valkey_perf::server::cluster::{ClusterHandle, ClusterSpec};
    use valkey_perf::server::standalone::ServerSpec;
    let Some(bin) = support::valkey_server("9.1.2") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let spec = ClusterSpec {
        node: ServerSpec {
            name: "cluster".into(),
            binary: bin,
            bind: "127.0.0.1".into(),
            host: "127.0.0.1".into(),
            port: None,
            io_threads: 1,
            cpus: None,
            custom_configs: Vec::new(),
            config_file: None,
            extra_args: Vec::new(),
            log_dir: logs.path().to_path_buf(),
            tls: None,
            callgrind_dir: None,
            urandom_seed: None,
        },
        primaries: 3,
        replicas_per_primary: 0,
        // A fresh cluster is never ok at once: the deadline passes on the first poll.
        ready_deadline: Duration::ZERO,
    };
    let err = ClusterHandle::start(&spec)
        .err()
        .expect("no cluster is ready at once");
    let msg = format!("{err:#}");
    assert!(
        msg.starts_with("cluster did not come up: timed out"),
        "{msg}"
    );
    assert_eq!(msg.matches("--- last lines of `").count(), 3, "{msg}");
    assert_eq!(
        valkey_perf::exit::code_of(&err),
        valkey_perf::exit::Code::ServerStart
    );
}
