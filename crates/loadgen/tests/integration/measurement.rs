//! Real-server tests of what a run's numbers mean: when the window starts, which replies it
//! counts (in flight at its start; scheduled in it at a fixed rate), what happens to requests left unanswered or unsent, large TLS writes, whether the
//! client was starved of CPU, where its threads ran, and whether replies had the shape their
//! command implies.

use crate::support::{self, Server, TlsServer};
use crate::{go, seed, spec, tcp};
use loadgen::{Builtin, KeyOrder, LoadError, LoadSpec, Pacing, RunReport, Stop};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Runs `s` expecting it to fail (with a report); panics on any other outcome.
fn failed(s: &LoadSpec) -> (String, RunReport) {
    match loadgen::run(s, &AtomicBool::new(false)) {
        Err(LoadError::RunFailed { reason, report }) => (reason, *report),
        other => panic!("expected a failed run, got {other:?}"),
    }
}

fn warned(r: &RunReport, text: &str) -> bool {
    r.warnings.iter().any(|w| w.to_string().contains(text))
}

/// Waits until the server has executed at least one `cmd` (the load is running).
fn wait_for_calls(server: &Server, cmd: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.calls(cmd) == 0 {
        assert!(Instant::now() < deadline, "no {cmd} reached the server");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_window_starts_when_every_worker_runs() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut lags = Vec::new();
    for _ in 0..20 {
        let mut s = spec(tcp(server.port), Builtin::Set, 200, 100);
        s.clients = 2;
        s.threads = 2;
        lags.push(go(&s).start_lag_s);
    }
    lags.sort_by(f64::total_cmp);
    // Workers that poll for a start flag every millisecond leave the window idle for up to a
    // timer tick (1-2 ms; the median of the later of two is about 1 ms); with the barrier the
    // last worker starts the window and the other is already spinning for it. The median, and
    // a bound well under a tick, keep runs descheduled on a busy host from deciding.
    eprintln!("start lags (s): {lags:?}");
    let median = lags[lags.len() / 2];
    assert!(median < 500e-6, "start lags (s): {lags:?}");
}

#[test]
fn warmup_requests_in_flight_at_the_start_are_counted_in_the_window() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Set, 20_000, 1000);
    s.clients = 4;
    s.threads = 1;
    s.pipeline = 16;
    s.warmup = Duration::from_millis(1500);
    let (r, served_in_warmup) = std::thread::scope(|sc| {
        let h = sc.spawn(|| go(&s));
        // Hold every write from early in the warm-up until well into the window: the 64
        // requests in flight at the pause are served inside the window.
        wait_for_calls(&server, "set");
        server.call(&["CLIENT", "PAUSE", "3000", "WRITE"]);
        let served = server.calls("set");
        (h.join().unwrap(), served)
    });
    assert_eq!(r.requests, 20_000);
    assert_eq!(server.calls("set"), r.requests + r.warmup_requests);
    assert_eq!(
        r.warmup_requests, served_in_warmup,
        "replies received inside the window must be counted in it"
    );
}

#[test]
fn at_a_fixed_rate_the_window_holds_the_requests_scheduled_in_it() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Set, 0, 1000);
    let rate = 2000.0;
    s.stop = Stop::Duration(Duration::from_secs(1));
    s.warmup = Duration::from_secs(1);
    s.pacing = Pacing::FixedRate { rps: rate };
    s.clients = 4;
    s.threads = 1;
    s.pipeline = 1;
    let r = std::thread::scope(|sc| {
        let h = sc.spawn(|| go(&s));
        // Hold every write from late in the warm-up into the window: a backlog of requests
        // scheduled in the warm-up is served inside the window.
        wait_for_calls(&server, "set");
        std::thread::sleep(Duration::from_millis(600));
        server.call(&["CLIENT", "PAUSE", "700", "WRITE"]);
        h.join().unwrap()
    });
    // 2 000 scheduled in each second, give or take a client's first slot.
    for (what, n) in [("window", r.requests), ("warm-up", r.warmup_requests)] {
        assert!(n.abs_diff(2000) <= 4, "{n} in the {what}: {r:?}");
    }
    assert_eq!(server.calls("set"), r.requests + r.warmup_requests);
    // The backlog delayed the window's first requests: their latency shows the pause.
    assert!(r.latency.max_ms >= 200.0, "{:?}", r.latency);
}

#[test]
fn replies_unanswered_at_the_end_are_timeouts_with_a_warning() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Set, 0, 1000);
    s.stop = Stop::Duration(Duration::from_millis(500));
    s.clients = 4;
    s.threads = 1;
    s.pipeline = 4;
    let (reason, r) = std::thread::scope(|sc| {
        let h = sc.spawn(|| failed(&s));
        wait_for_calls(&server, "set");
        // Longer than the run and its drain: the 16 requests in flight never get a reply.
        server.call(&["CLIENT", "PAUSE", "6000", "WRITE"]);
        h.join().unwrap()
    });
    assert_eq!(r.errors_by_kind.get("timeout"), Some(&16), "{reason}");
    assert_eq!(r.unanswered, 16);
    assert!(warned(&r, "still unanswered"), "{:?}", r.warnings);
}

#[test]
fn an_unreachable_fixed_rate_counts_the_unsent_backlog_and_warns() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let mut s = spec(tcp(server.port), Builtin::Set, 0, 1000);
    let (rate, secs) = (2_000_000.0, 0.3);
    s.stop = Stop::Duration(Duration::from_secs_f64(secs));
    s.pacing = Pacing::FixedRate { rps: rate };
    s.clients = 1;
    s.threads = 1;
    s.pipeline = 1;
    let (reason, r) = failed(&s);
    let lost = r.errors_by_kind.get("lost").copied().unwrap_or(0);
    assert!(lost > 0, "{reason}");
    assert_eq!(lost, r.unsent);
    assert!(warned(&r, "was not reached"), "{:?}", r.warnings);
    // Every request scheduled in the window is accounted for: answered, unanswered, unsent.
    let scheduled = (rate * secs).ceil() as u64;
    let accounted = r.requests + r.unanswered + r.unsent;
    assert!(
        accounted.abs_diff(scheduled) <= 2,
        "{accounted} accounted, {scheduled} scheduled: {r:?}"
    );
}

#[test]
fn tls_writes_larger_than_the_tls_buffer() {
    let Some(bin) = support::redis_server() else {
        return;
    };
    let (server, tls) = TlsServer::start(&bin);
    // 16 × 8 KiB values in one flush: twice rustls's 64 KiB plaintext buffer.
    let mut s = spec(tcp(server.server.port), Builtin::Set, 2000, 100);
    s.workload.data_size = 8192;
    s.pipeline = 16;
    s.clients = 2;
    s.threads = 1;
    s.address.tls = Some(tls);
    let r = go(&s);
    assert_eq!(r.requests, 2000);
    assert_eq!(r.errors, 0, "{:?}", r.errors_by_kind);
}

fn allowed_cpus() -> Vec<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

#[test]
fn a_client_thread_starved_of_cpu_is_client_bound() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let cpu = allowed_cpus()[0];
    let stop = AtomicBool::new(false);
    let r = std::thread::scope(|sc| {
        // Two busy threads on the client's CPU: it gets at most a third of it.
        for _ in 0..2 {
            sc.spawn(|| {
                let mut set = nix::sched::CpuSet::new();
                set.set(cpu).unwrap();
                nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        let mut s = spec(tcp(server.port), Builtin::Set, 0, 1000);
        s.stop = Stop::Duration(Duration::from_secs(1));
        s.clients = 4;
        s.threads = 1;
        s.pipeline = 8;
        s.cpu_set = Some(vec![cpu]);
        let r = go(&s);
        stop.store(true, Ordering::Relaxed);
        r
    });
    assert!(
        r.client_bound,
        "busy {:?}, warnings {:?}",
        r.thread_busy_share, r.warnings
    );
    assert!(warned(&r, "waited for a CPU"), "{:?}", r.warnings);
}

#[test]
fn the_cpus_of_each_client_thread_are_read_back() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    let allowed = allowed_cpus();
    let mut s = spec(tcp(server.port), Builtin::Set, 500, 100);
    let r = go(&s);
    assert_eq!(r.thread_cpus, vec![allowed.clone(); 2], "unpinned");
    let last = *allowed.last().unwrap();
    // Thread i gets cpu_set[i % len]: with one thread only the first configured CPU is used.
    s.cpu_set = Some(vec![last, allowed[0]]);
    s.threads = 1;
    assert_eq!(go(&s).thread_cpus, vec![vec![last]]);
    s.threads = 2;
    s.cpu_set = Some(vec![last]);
    assert_eq!(go(&s).thread_cpus, vec![vec![last]; 2]);
}

#[test]
fn replies_are_checked_for_the_shape_their_command_implies() {
    let Some(bin) = support::valkey_server() else {
        return;
    };
    let server = Server::start(&bin, &[], true);
    // GET on an empty keyspace: every checked reply is a miss; not seeded, so no warning.
    let mut get = spec(tcp(server.port), Builtin::Get, 2000, 1000);
    let r = go(&get);
    assert_eq!(r.miss_rate, Some(1.0));
    // One reply in 16 per thread, starting with each thread's first.
    assert!(
        (125..=127).contains(&r.replies_checked),
        "{}",
        r.replies_checked
    );
    assert!(!warned(&r, "shape"), "{:?}", r.warnings);
    // Seeded: every reply hits.
    seed(&server, Builtin::Set, 1000);
    get.seeded = true;
    let r = go(&get);
    assert_eq!(r.miss_rate, Some(0.0));
    assert!(!warned(&r, "shape"), "{:?}", r.warnings);
    // LRANGE_600 on a list of 100: said to be prepared, so the short replies are warned about.
    let mut push = spec(tcp(server.port), Builtin::Rpush, 100, 100);
    push.workload.key_order = KeyOrder::Sequential;
    go(&push);
    let mut lrange = spec(tcp(server.port), Builtin::Lrange(600), 500, 100);
    lrange.seeded = true;
    let r = go(&lrange);
    assert_eq!(r.miss_rate, Some(1.0));
    assert!(warned(&r, "shape"), "{:?}", r.warnings);
    // A command without an implied shape is not checked.
    assert_eq!(
        go(&spec(tcp(server.port), Builtin::Set, 100, 10)).miss_rate,
        None
    );
}

#[test]
#[should_panic(expected = "valkey-server under `/nonexistent/deps` not found")]
fn a_missing_deps_directory_fails_under_ci() {
    support::valkey_server_in(std::path::Path::new("/nonexistent/deps"), true);
}

#[test]
fn a_missing_deps_directory_skips_outside_ci() {
    assert_eq!(
        support::valkey_server_in(std::path::Path::new("/nonexistent/deps"), false),
        None
    );
}
