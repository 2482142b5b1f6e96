//! `valkey-perf run` end to end on every topology: cluster matrices on both registry Valkey
//! versions, TLS cluster on `redis-server` 7.0, CPU pinning and io-threads read back into the
//! records, the TLS probe failing before any case, and `--mode server` / `--mode client` on
//! two network namespaces joined by a veth pair. Traffic stays on 127.0.0.1 or inside the
//! namespaces created here.

use crate::support;
use assert_cmd::Command;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn write_config(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("config.json");
    std::fs::write(&path, json).unwrap();
    path
}

/// Every record of every `metrics.json` under `results`.
fn records(results: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(results).unwrap() {
        let file = entry.unwrap().path().join("metrics.json");
        if file.is_file() {
            let Value::Array(rs) =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
            else {
                panic!("`{}` is not an array", file.display());
            };
            // Per-run details live in a nested object; read them as valkey-perf does.
            out.extend(rs.into_iter().map(|r| {
                Value::Object(valkey_perf::model::flatten_details(
                    r.as_object().unwrap().clone(),
                ))
            }));
        }
    }
    out
}

fn run_cmd(config: &Path, results: &Path) -> Command {
    let mut cmd = Command::cargo_bin("valkey-perf").unwrap();
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .arg("--results-dir")
        .arg(results)
        .args(["--valkey-benchmark-path", "/usr/bin/redis-benchmark"])
        .timeout(Duration::from_secs(240));
    cmd
}

#[test]
fn cluster_matrix_runs_on_both_valkey_versions() {
    let (Some(v9), Some(v8), Some(_)) = (
        support::valkey_server("9.1.2"),
        support::valkey_server("8.1.8"),
        support::redis_benchmark(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"[{"requests": [5000], "keyspacelen": [1000], "data_sizes": [16], "pipelines": [4],
             "clients": [8], "commands": ["SET", "MSET"], "cluster_mode": [false, true]}]"#,
    );
    let results = dir.path().join("results");
    run_cmd(&config, &results)
        .arg("--server-bin")
        .arg(&v9)
        .arg("--server-bin")
        .arg(&v8)
        .assert()
        .success();
    let rs = records(&results);
    assert_eq!(rs.len(), 8, "{rs:#?}");
    for version in ["9.1.2", "8.1.8"] {
        for cluster in [false, true] {
            let n = rs
                .iter()
                .filter(|r| r["server_version"] == version && r["cluster_mode"] == cluster)
                .inspect(|r| {
                    assert!(r["rps"].as_f64().unwrap() > 0.0);
                    assert_eq!(r["server_restarted"], true);
                })
                .count();
            assert_eq!(n, 2, "{version} cluster={cluster}");
        }
    }
    let cluster_line = rs
        .iter()
        .find(|r| r["cluster_mode"] == true)
        .and_then(|r| r["engine_command_line"].as_str())
        .unwrap();
    assert!(cluster_line.contains("--cluster"), "{cluster_line}");
}

/// The TLS directory a run logged, which must be gone afterwards.
fn logged_tls_dir(results: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(results).unwrap() {
        let log =
            std::fs::read_to_string(entry.unwrap().path().join("logs.txt")).unwrap_or_default();
        if let Some(rest) = log.split("TLS certificates (removed at exit) in `").nth(1) {
            return rest.split('`').next().map(PathBuf::from);
        }
    }
    None
}

#[test]
fn tls_cluster_and_standalone_run_on_redis_server() {
    let (Some(redis), Some(_)) = (support::redis_server(), support::redis_benchmark()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"[{"requests": [5000], "keyspacelen": [1000], "data_sizes": [16], "pipelines": [4],
             "clients": [8], "commands": ["SET", "GET"], "cluster_mode": [false, true],
             "tls_mode": true}]"#,
    );
    let results = dir.path().join("results");
    run_cmd(&config, &results)
        .arg("--server-bin")
        .arg(&redis)
        .assert()
        .success();
    let rs = records(&results);
    assert_eq!(rs.len(), 4, "{rs:#?}");
    for r in &rs {
        assert_eq!(r["tls"], true);
        let line = r["engine_command_line"].as_str().unwrap();
        assert!(line.contains("--tls --cacert "), "{line}");
    }
    assert_eq!(rs.iter().filter(|r| r["cluster_mode"] == true).count(), 2);
    let tls_dir = logged_tls_dir(&results).expect("the run logs where its certificates were");
    assert!(
        !tls_dir.exists(),
        "`{}` outlived the run",
        tls_dir.display()
    );
}

#[test]
fn tls_on_a_server_without_tls_fails_before_any_case() {
    let (Some(v9), Some(_)) = (support::valkey_server("9.1.2"), support::redis_benchmark()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"[{"requests": [1000], "keyspacelen": [10], "data_sizes": [16], "pipelines": [1],
             "commands": ["SET"], "tls_mode": true}]"#,
    );
    let results = dir.path().join("results");
    let out = run_cmd(&config, &results)
        .arg("--server-bin")
        .arg(&v9)
        .assert()
        .code(4)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "`{}` was built without TLS support; rebuild with BUILD_TLS=yes or use a TLS-capable server",
            v9.display()
        )),
        "{stderr}"
    );
    assert!(records(&results).is_empty());
}

#[test]
fn pinning_and_io_threads_are_recorded_as_applied() {
    let (Some(v9), Some(_)) = (support::valkey_server("9.1.2"), support::redis_benchmark()) else {
        return;
    };
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipping: pinning server and client apart needs two CPUs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"[{"requests": [5000], "keyspacelen": [100], "data_sizes": [16], "pipelines": [4],
             "clients": [8], "commands": ["SET"], "io-threads": [1, 2],
             "server_cpu_range": "0", "client_cpu_range": "1"}]"#,
    );
    let results = dir.path().join("results");
    run_cmd(&config, &results)
        .arg("--server-bin")
        .arg(&v9)
        .assert()
        .success();
    let rs = records(&results);
    let threads: Vec<&Value> = rs.iter().map(|r| &r["io_threads"]).collect();
    assert_eq!(threads, [1, 2]);
    for r in &rs {
        assert_eq!(r["env_server_cpu_range"], "0");
        assert_eq!(r["env_client_cpu_range"], "1");
    }
}

#[test]
fn overlapping_or_missing_cpus_are_config_errors() {
    let Some(v9) = support::valkey_server("9.1.2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for ranges in [
        r#""server_cpu_range": "0", "client_cpu_range": "0""#,
        r#""server_cpu_range": "4095""#,
    ] {
        let config = write_config(
            dir.path(),
            &format!(
                r#"[{{"requests": [1000], "keyspacelen": [10], "data_sizes": [16],
                     "pipelines": [1], "commands": ["SET"], {ranges}}}]"#
            ),
        );
        let results = dir.path().join("results");
        run_cmd(&config, &results)
            .arg("--server-bin")
            .arg(&v9)
            .assert()
            .code(2);
        assert!(!results.join("servers").exists());
    }
}

/// Two network namespaces joined by a veth pair, removed on drop.
struct NetnsPair {
    server: String,
    client: String,
    server_ip: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip` did not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetnsPair {
    /// `tag` (one letter) keeps the names of tests running at once apart.
    fn create(tag: char) -> Result<NetnsPair, String> {
        let id = format!("{tag}{}", std::process::id() % 100_000);
        let pair = NetnsPair {
            server: format!("vperf-srv-{id}"),
            client: format!("vperf-cli-{id}"),
            server_ip: "10.231.7.1".into(),
        };
        let (vs, vc) = (format!("vps{id}"), format!("vpc{id}"));
        ip(&["netns", "add", &pair.server])?;
        ip(&["netns", "add", &pair.client])?;
        ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vc])?;
        ip(&["link", "set", &vs, "netns", &pair.server])?;
        ip(&["link", "set", &vc, "netns", &pair.client])?;
        ip(&[
            "-n",
            &pair.server,
            "addr",
            "add",
            "10.231.7.1/24",
            "dev",
            &vs,
        ])?;
        ip(&[
            "-n",
            &pair.client,
            "addr",
            "add",
            "10.231.7.2/24",
            "dev",
            &vc,
        ])?;
        for (ns, dev) in [(&pair.server, &vs), (&pair.client, &vc)] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    fn pids(&self, ns: &str) -> Vec<String> {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace removes its end of the veth pair, and with it the other end.
        let _ = ip(&["netns", "del", &self.server]);
        let _ = ip(&["netns", "del", &self.client]);
    }
}

/// Runs `--mode server` in one namespace and `--mode client` in the other with `config`
/// (a cluster), copying the CA across when `tls`; checks the client's records and that Ctrl-C
/// leaves nothing running in the server namespace.
fn two_hosts(tag: char, server_bin: &Path, config_json: &str, tls: bool, version: &str) {
    let pair = match NetnsPair::create(tag) {
        Ok(p) => p,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("network namespaces are needed under CI: {why}")
        }
        Err(why) => {
            eprintln!("skipping: network namespaces are not permitted here ({why})");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), config_json);
    let bin = assert_cmd::cargo::cargo_bin("valkey-perf");
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", &pair.server])
        .arg(&bin)
        .args(["run", "--mode", "server", "--target-ip", &pair.server_ip])
        .arg("--config")
        .arg(&config)
        .arg("--server-bin")
        .arg(server_bin)
        .arg("--results-dir")
        .arg(dir.path().join("server-results"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    // `ip netns exec` execs valkey-perf in place, so this pid is valkey-perf's.
    let server_pid = nix::unistd::Pid::from_raw(server.id() as i32);
    let stop_server = |server: &mut std::process::Child| {
        let _ = nix::sys::signal::kill(server_pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if server.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = server.kill();
        let _ = server.wait();
        panic!("`--mode server` did not stop within 30 s of Ctrl-C");
    };
    let mut port = None;
    let mut ca = None;
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        eprintln!("server: {line}");
        if let Some(rest) = line.split("--port ").nth(1) {
            port = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(path) = line.strip_prefix("TLS CA certificate: ") {
            ca = Some(PathBuf::from(path));
        }
        if port.is_some() && (ca.is_some() || !tls) {
            break;
        }
    }
    let Some(port) = port else {
        stop_server(&mut server);
        panic!("`--mode server` printed no address");
    };
    assert!(
        pair.pids(&pair.server).len() >= 4,
        "valkey-perf and 3 nodes"
    );

    // The CA travels to the client machine as a copy (the original is removed at exit).
    let ca_copy = dir.path().join("ca-copy.crt");
    if tls {
        let ca = ca.expect("`--mode server` printed the CA path");
        std::fs::copy(&ca, &ca_copy).unwrap();
    }
    let results = dir.path().join("client-results");
    let mut client = std::process::Command::new("ip");
    client
        .args(["netns", "exec", &pair.client])
        .arg(&bin)
        .args([
            "run",
            "--mode",
            "client",
            "--cluster",
            "--target-ip",
            &pair.server_ip,
        ])
        .args(["--port", &port]);
    if tls {
        client.arg("--tls-ca").arg(&ca_copy);
    }
    let client = client
        .arg("--config")
        .arg(&config)
        .args(["--valkey-benchmark-path", "/usr/bin/redis-benchmark"])
        .arg("--results-dir")
        .arg(&results)
        .output()
        .unwrap();
    stop_server(&mut server);
    assert!(
        client.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert!(server.wait().unwrap().success());
    assert!(
        pair.pids(&pair.server).is_empty(),
        "processes left in the server namespace: {:?}",
        pair.pids(&pair.server)
    );
    let rs = records(&results);
    assert_eq!(rs.len(), 4, "{rs:#?}");
    for r in &rs {
        assert_eq!(r["cluster_mode"], true);
        assert_eq!(r["server_restarted"], false);
        assert_eq!(r["server_version"], version);
        assert_eq!(r["tls"], tls);
        let line = r["engine_command_line"].as_str().unwrap();
        assert!(line.contains(&format!("-h {}", pair.server_ip)), "{line}");
    }
}

#[test]
fn server_and_client_modes_on_two_hosts() {
    let (Some(v9), Some(_)) = (support::valkey_server("9.1.2"), support::redis_benchmark()) else {
        return;
    };
    two_hosts(
        'p',
        &v9,
        r#"[{"requests": [5000], "keyspacelen": [1000], "data_sizes": [16, 128],
             "pipelines": [1, 8], "clients": [8], "commands": ["SET"], "cluster_mode": true}]"#,
        false,
        "9.1.2",
    );
}

#[test]
fn server_and_client_modes_on_two_hosts_over_tls() {
    let (Some(redis), Some(_)) = (support::redis_server(), support::redis_benchmark()) else {
        return;
    };
    // The server certificate names the advertised address, which the client's control
    // connection verifies.
    two_hosts(
        't',
        &redis,
        r#"[{"requests": [5000], "keyspacelen": [1000], "data_sizes": [16, 128],
             "pipelines": [1, 8], "clients": [8], "commands": ["SET"], "cluster_mode": true,
             "tls_mode": true}]"#,
        true,
        "7.0.15",
    );
}

#[test]
fn a_running_server_is_flushed_not_restarted_and_recorded_as_it_is() {
    use valkey_perf::model::case::ServerTopology;
    use valkey_perf::server::{Deployment, StartOptions};
    let (Some(v9), Some(_)) = (support::valkey_server("9.1.2"), support::redis_benchmark()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let topology = ServerTopology {
        io_threads: 2,
        ..support::standalone_topology()
    };
    let mut running = Deployment::start(
        &topology,
        &StartOptions {
            binary: v9,
            bind: "127.0.0.1".into(),
            host: "127.0.0.1".into(),
            port: None,
            log_dir: dir.path().join("logs"),
            tls: None,
            callgrind_dir: None,
            urandom_seed: None,
        },
    )
    .unwrap();
    let mut ctl = running.control().unwrap();
    ctl.call(&["SET", "left-over", "1"]).unwrap();
    let config = write_config(
        dir.path(),
        r#"[{"requests": [2000], "keyspacelen": [10], "data_sizes": [16], "pipelines": [1],
             "clients": [4], "commands": ["PING"]}]"#,
    );
    let results = dir.path().join("results");
    run_cmd(&config, &results)
        .args(["--use-running-server", "--target-ip", "127.0.0.1"])
        .args(["--port", &running.address().port.to_string()])
        .assert()
        .success();
    let rs = records(&results);
    assert_eq!(rs.len(), 1, "{rs:#?}");
    assert_eq!(rs[0]["server_restarted"], false);
    // The config does not set io-threads (so 1); the server runs with 2 and the record says so.
    assert_eq!(rs[0]["io_threads"], 2);
    // Flushed before the run, still running after it.
    running.check_alive().unwrap();
    assert_eq!(
        ctl.call(&["EXISTS", "left-over"]).unwrap(),
        valkey_perf::server::control::Frame::Integer(0)
    );
    running.stop();
}

#[test]
fn server_mode_names_a_missing_case() {
    let Some(v9) = support::valkey_server("9.1.2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"[{"requests": [1000], "keyspacelen": [10], "data_sizes": [16], "pipelines": [1],
             "commands": ["SET", "GET"]}]"#,
    );
    let out = run_cmd(&config, &dir.path().join("results"))
        .args(["--mode", "server", "--case", "3"])
        .arg("--server-bin")
        .arg(&v9)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--case 3 is not a case of"), "{stderr}");
    assert!(stderr.contains("which has 2"), "{stderr}");
}
