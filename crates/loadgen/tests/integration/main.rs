//! Real-server tests of the load generator: counts, pipelining, rate, coordinated omission,
//! cluster redirects, TLS, unix sockets, authentication, cancellation.

mod cluster_bound;
mod measurement;
mod support;
mod together;

use loadgen::{
    Address, Builtin, CommandSpec, Credentials, KeyOrder, LoadError, LoadSpec, Pacing, Stop,
    Workload,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{Cluster, Server};

pub(crate) fn tcp(port: u16) -> Address {
    Address::tcp("127.0.0.1", port)
}

pub(crate) fn spec(target: Address, b: Builtin, requests: u64, keyspace: u64) -> LoadSpec {
    let mut w = Workload::single(CommandSpec::Builtin(b), 8, Some(keyspace));
    w.key_order = KeyOrder::Random { seed: 42 };
    let mut s = LoadSpec::new(target, w);
    s.clients = 8;
    s.threads = 2;
    s.pipeline = 4;
    s.stop = Stop::Requests(requests);
    s
}

pub(crate) fn go(s: &LoadSpec) -> loadgen::RunReport {
    let never = AtomicBool::new(false);
    match loadgen::run(s, &never) {
        Ok(r) => r,
        Err(e) => panic!("run failed: {e}"),
    }
}

pub(crate) fn seed(server: &Server, b: Builtin, keyspace: u64) {
    let mut s = spec(tcp(server.port), b, keyspace, keyspace);
    s.workload.key_order = KeyOrder::Sequential;
    go(&s);
}

#[test]
fn every_command_reaches_the_server_exactly_n_times() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let n = 1000;
    let all = [
        Builtin::Ping,
        Builtin::Set,
        Builtin::Get,
        Builtin::Incr,
        Builtin::Lpush,
        Builtin::Rpush,
        Builtin::Lpop,
        Builtin::Rpop,
        Builtin::Sadd,
        Builtin::Spop,
        Builtin::Hset,
        Builtin::Zadd,
        Builtin::Zpopmin,
        Builtin::Lrange(100),
        Builtin::Mset(10),
        Builtin::Mget(10),
        Builtin::Xadd,
    ];
    for b in all {
        server.call(&["FLUSHALL"]);
        if let Some(w) = b.seeded_by() {
            seed(&server, w, n);
        }
        server.call(&["CONFIG", "RESETSTAT"]);
        let r = go(&spec(tcp(server.port), b, n, n));
        assert_eq!(r.requests, n, "{b:?}");
        assert_eq!(r.errors, 0, "{b:?}: {:?}", r.errors_by_kind);
        assert_eq!(server.calls(b.command_name()), n, "{b:?} commandstats");
        if b == Builtin::Get {
            assert_eq!(server.info_field("stats", "keyspace_misses"), "0");
            assert_eq!(server.info_field("stats", "keyspace_hits"), n.to_string());
        }
    }
}

#[test]
fn sequential_run_touches_every_key_once_with_the_requested_size() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Set, 5000, 5000);
    s.workload.key_order = KeyOrder::Sequential;
    s.workload.data_size = 77;
    s.clients = 7;
    s.pipeline = 3;
    let r = go(&s);
    assert_eq!(r.requests, 5000);
    assert_eq!(server.calls("set"), 5000);
    assert_eq!(server.call(&["DBSIZE"]), resp::Frame::Integer(5000));
    assert_eq!(
        server.call(&["STRLEN", "key:000000004999"]),
        resp::Frame::Integer(77)
    );
    assert_eq!(
        server.call(&["EXISTS", "key:000000005000"]),
        resp::Frame::Integer(0)
    );
}

/// How many SETs a peer has received, and whether one more arrives within `wait` after
/// the first `n` when it answers only the first of them.
fn sets_sent_before_all_replies(lockstep: bool) -> usize {
    use std::io::{Read, Write};
    const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n";
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let count = |b: &[u8]| b.windows(SET.len()).filter(|w| *w == SET).count();
        let mut buf = [0u8; 65536];
        // The first window: 16 requests.
        while count(&seen) < 16 {
            let n = sock.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        // Answer one; a sliding window sends one more at once, lockstep none.
        sock.write_all(b"+OK\r\n").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while count(&seen) == 16 && Instant::now() < deadline {
            match sock.read(&mut buf) {
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        let before_all = count(&seen);
        // Answer everything from now on until the client is done.
        sock.set_read_timeout(None).unwrap();
        let mut answered = 1;
        loop {
            let want = count(&seen);
            while answered < want {
                sock.write_all(b"+OK\r\n").unwrap();
                answered += 1;
            }
            match sock.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        before_all
    });
    let mut s = spec(tcp(port), Builtin::Set, 32, 100);
    s.clients = 1;
    s.threads = 1;
    s.pipeline = 16;
    s.lockstep = lockstep;
    assert_eq!(go(&s).requests, 32);
    peer.join().unwrap()
}

/// Lockstep pipelining sends a client's whole window at once and the next only when every
/// reply is in (valkey-benchmark's way), so a server reads the same batches whatever the
/// timing; the sliding window sends a request for each reply read. Seen from a peer that
/// answers only the first of 16 requests.
#[test]
fn lockstep_pipelining_waits_for_every_reply_of_the_window() {
    assert_eq!(sets_sent_before_all_replies(false), 17);
    assert_eq!(sets_sent_before_all_replies(true), 16);
}

#[test]
fn pipelined_replies_take_the_time_of_the_read_that_brought_them() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    // 100 KB values: the server can only answer a SET once its value is in, so the replies to
    // one batch of 16 come back over several reads, as the batch's bytes arrive.
    let mut s = spec(tcp(server.port), Builtin::Set, 800, 100);
    s.workload.data_size = 100_000;
    s.clients = 1;
    s.threads = 1;
    s.pipeline = 16;
    let r = go(&s);
    assert_eq!(server.calls("set"), 800);
    let h = loadgen::decode_histogram(&r.histogram_v2_base64).unwrap();
    assert_eq!(h.len(), 800);
    let distinct = h.iter_recorded().count();
    // One latency per batch (valkey-benchmark's way: the first read's) would give at most 50
    // distinct values; replies that came in later reads are timed at those reads.
    assert!(distinct > 50, "only {distinct} distinct latencies");
}

#[test]
fn fixed_rate_holds_every_full_second() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Set, 0, 1000);
    s.stop = Stop::Duration(Duration::from_secs(5));
    s.pacing = Pacing::FixedRate { rps: 20000.0 };
    s.clients = 20;
    // A window above 1 lets a connection catch up after a scheduling hiccup on a busy host.
    s.pipeline = 4;
    let r = go(&s);
    let full: Vec<_> = r.timeseries.iter().filter(|x| x.full).collect();
    assert!(full.len() >= 4, "{:?}", r.timeseries);
    for sec in full {
        let dev = (sec.requests as f64 - 20000.0).abs() / 20000.0;
        assert!(
            dev <= 0.02,
            "second {}: {} requests",
            sec.second,
            sec.requests
        );
    }
    assert!((r.rps - 20000.0).abs() / 20000.0 < 0.02, "rps {}", r.rps);
}

#[test]
fn a_server_stall_shows_in_corrected_latency_only() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Set, 0, 1000);
    s.stop = Stop::Duration(Duration::from_secs(6));
    s.pacing = Pacing::FixedRate { rps: 5000.0 };
    s.clients = 10;
    s.threads = 1;
    s.pipeline = 1;
    let port = server.port;
    let pauser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        support::try_call(port, &["CLIENT", "PAUSE", "1000", "ALL"])
    });
    let r = go(&s);
    pauser.join().unwrap().unwrap();
    assert!(
        r.latency.max_ms >= 900.0,
        "corrected max {}",
        r.latency.max_ms
    );
    assert!(
        r.latency.p99_ms >= 100.0,
        "corrected p99 {}",
        r.latency.p99_ms
    );
    assert!(
        r.service_latency.p99_ms < 50.0,
        "service p99 {}",
        r.service_latency.p99_ms
    );
}

#[test]
fn duration_with_warmup_discards_warmup() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Get, 0, 100);
    s.stop = Stop::Duration(Duration::from_millis(1000));
    s.warmup = Duration::from_millis(500);
    let t0 = Instant::now();
    let r = go(&s);
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(r.warmup_requests > 0);
    assert!(r.elapsed_s > 0.9 && r.elapsed_s < 1.2, "{}", r.elapsed_s);
    assert_eq!(server.calls("get"), r.requests + r.warmup_requests);
    assert!(r.rps > 0.0);
    assert_eq!(r.thread_busy_share.len(), 2);
}

#[test]
fn cancel_stops_promptly_and_keeps_the_measurements() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Set, 0, 100);
    s.stop = Stop::Duration(Duration::from_secs(60));
    let cancel = AtomicBool::new(false);
    let t0 = Instant::now();
    let r = std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            cancel.store(true, Ordering::Relaxed);
        });
        loadgen::run(&s, &cancel).unwrap()
    });
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(r.cancelled);
    assert!(r.requests > 0);
}

#[test]
fn error_replies_are_counted_by_kind_and_fail_the_run() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    server.call(&["SET", "mylist", "x"]);
    let mut s = spec(tcp(server.port), Builtin::Lpush, 500, 10);
    match loadgen::run(&s, &AtomicBool::new(false)) {
        Err(LoadError::RunFailed { report, reason }) => {
            assert_eq!(
                report.errors_by_kind.get("WRONGTYPE"),
                Some(&500),
                "{reason}"
            );
        }
        other => panic!("expected a failed run, got {other:?}"),
    }
    s.max_error_share = 1.0;
    let r = go(&s);
    assert_eq!(r.errors, 500);
}

#[test]
fn unix_socket_and_resp3_and_auth() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("v.sock");
    let sock_s = sock.to_str().unwrap().to_string();
    let server = Server::start(
        &bin,
        &["--unixsocket", &sock_s, "--requirepass", "s3cret"],
        false,
    );
    let mut s = spec(Address::unix(sock.clone()), Builtin::Hset, 1000, 100);
    s.address.auth = Some(Credentials {
        user: None,
        password: "s3cret".into(),
    });
    s.resp3 = true;
    s.dbnum = Some(3);
    let r = go(&s);
    assert_eq!(r.requests, 1000);
    // Wrong password: a clear authentication error, over TCP and RESP2.
    let mut bad = spec(tcp(server.port), Builtin::Set, 10, 10);
    bad.address.auth = Some(Credentials {
        user: None,
        password: "wrong".into(),
    });
    match loadgen::run(&bad, &AtomicBool::new(false)) {
        Err(e @ LoadError::Auth { .. }) => {
            let m = e.to_string();
            assert!(m.contains("authentication failed"), "{m}");
            assert!(!m.contains("wrong"), "password leaked: {m}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
}

#[test]
fn tls_against_redis_server() {
    let Some(bin) = support::redis_server() else {
        return;
    };
    let (_server, tls) = support::TlsServer::start(&bin);
    let mut s = spec(tcp(_server.server.port), Builtin::Set, 2000, 100);
    s.address.tls = Some(tls);
    let r = go(&s);
    assert_eq!(r.requests, 2000);
    assert_eq!(r.errors, 0);
}

#[test]
fn cluster_routes_by_slot_and_survives_a_slot_migration() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let cluster = Cluster::start(&bin, 3);
    let n = 40_000;
    let mut s = spec(tcp(cluster.nodes[0].port), Builtin::Set, n, 100_000);
    s.address.cluster = true;
    s.pacing = Pacing::FixedRate { rps: 20_000.0 };
    s.clients = 6;
    s.pipeline = 2;
    // Move the slot of one key from its owner to another primary during the run.
    let key = "key:{00007}:000000000007";
    let slot = loadgen::key_slot(key.as_bytes());
    let owner = (slot as usize) * 3 / 16384;
    let owner = owner.min(2);
    let target = (owner + 1) % 3;
    let (owner_id, target_id) = (cluster.node_id(owner), cluster.node_id(target));
    let r = std::thread::scope(|sc| {
        let h = sc.spawn(|| go(&s));
        std::thread::sleep(Duration::from_millis(700));
        let src = &cluster.nodes[owner];
        let dst = &cluster.nodes[target];
        let slot_s = slot.to_string();
        dst.call(&["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &owner_id]);
        src.call(&["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &target_id]);
        loop {
            let keys = src.call(&["CLUSTER", "GETKEYSINSLOT", &slot_s, "1000"]);
            let resp::Frame::Array(keys) = keys else {
                panic!("{keys:?}")
            };
            if keys.is_empty() {
                break;
            }
            let mut args = vec![
                "MIGRATE".to_string(),
                "127.0.0.1".into(),
                dst.port.to_string(),
                String::new(),
                "0".into(),
                "5000".into(),
                "KEYS".into(),
            ];
            args.extend(keys.iter().map(|k| k.as_text().unwrap().into_owned()));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            src.call(&refs);
        }
        for node in &cluster.nodes {
            node.call(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &target_id]);
        }
        h.join().unwrap()
    });
    assert_eq!(r.requests, n);
    assert_eq!(r.errors, 0, "{:?}", r.errors_by_kind);
    assert_eq!(r.nodes, 3);
    let total: u64 = cluster.nodes.iter().map(|x| x.calls("set")).sum();
    assert_eq!(total, n, "SET calls over all primaries");
    for node in &cluster.nodes {
        assert!(node.calls("set") > n / 10, "a primary got too few keys");
    }
    assert!(r.moved + r.ask > 0, "no redirect was provoked");
}
