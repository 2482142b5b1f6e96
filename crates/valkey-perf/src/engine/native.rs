//! The native engine: valkey-perf's own load generator (the `loadgen` crate), run in-process.
//! It measures every request's latency (not one per pipeline batch), corrects for
//! coordinated omission in rate mode, and reports errors, extra percentiles, whether the
//! client itself was the bottleneck (busy or starved of CPU), the CPUs its threads ran on, and
//! the share of sampled replies that lacked the shape the command implies (`miss_rate`).

use super::Measurement;
use crate::model::case::format_cpu_list;
use crate::model::{
    BenchmarkMode, Builtin, Case, KeyDistribution, Metrics, NativeFigures, ReadFromReplicas,
    RecordParts, Warning, WarningKind,
};
use anyhow::{Context, Result, bail};
use loadgen::{Address, CommandSpec, KeyOrder, LoadSpec, LoadWarning, ReadFrom, Stop, Workload};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `engine_version` of records measured by the native engine.
pub fn version() -> String {
    format!("valkey-perf native {}", env!("CARGO_PKG_VERSION"))
}

fn base_spec(case: &Case, target: &Address, command: CommandSpec, key_order: KeyOrder) -> LoadSpec {
    // Seeding writes (and every write command) go to the primaries: only the case's own
    // read command reads from replicas.
    let read_from = match (&command, case.builtin()) {
        (CommandSpec::Builtin(b), Some(own)) if *b == own => match case.read_from_replicas {
            ReadFromReplicas::Yes => ReadFrom::Replicas,
            ReadFromReplicas::All => ReadFrom::All,
            ReadFromReplicas::No => ReadFrom::Primaries,
        },
        _ => ReadFrom::Primaries,
    };
    let workload = Workload {
        key_order,
        ..Workload::single(command, case.data_size as usize, Some(case.keyspacelen))
    };
    let mut spec = LoadSpec::new(target.clone(), workload);
    spec.read_from = read_from;
    spec.clients = case.clients as usize;
    spec.threads = case.client_threads.unwrap_or(1) as usize;
    spec.pipeline = case.pipeline as usize;
    // Instructions mode counts per request: batches must not depend on timing.
    spec.lockstep = case.topology.callgrind;
    spec.cpu_set = case
        .client_cpus
        .as_ref()
        .map(|c| c.cpus.iter().copied().collect());
    spec
}

/// Runs `spec` on a worker thread while this thread polls `abort` (server liveness), Ctrl-C
/// and the deadline; any of them stops the load promptly through the cancel flag.
fn run_watched(
    spec: &LoadSpec,
    deadline: Duration,
    abort: &mut dyn FnMut() -> bool,
) -> Result<loadgen::RunReport> {
    let report = run_watched_together(std::slice::from_ref(spec), deadline, abort)?
        .pop()
        .context("the native load generator reported no stream")?;
    match report {
        Ok(r) if r.cancelled => bail!("the native load run was cancelled"),
        Ok(r) => Ok(r),
        Err(loadgen::LoadError::RunFailed { reason, report }) => {
            bail!("{}", failure_text(&reason, &report))
        }
        Err(e) => Err(e.into()),
    }
}

/// The message of a run that failed: the reason, the error count and the errors by kind.
fn failure_text(reason: &str, report: &loadgen::RunReport) -> String {
    let kinds: Vec<String> = report
        .errors_by_kind
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    format!(
        "the native load run failed: {reason} ({} errors of {} requests; {})",
        report.errors,
        report.requests,
        kinds.join(", ")
    )
}

/// Like [`run_watched`] for streams run together ([`loadgen::run_together`]): the outer error
/// voids them all (stopped, cancelled, could not start); each stream's own outcome is inside.
fn run_watched_together(
    specs: &[LoadSpec],
    deadline: Duration,
    abort: &mut dyn FnMut() -> bool,
) -> Result<Vec<std::result::Result<loadgen::RunReport, loadgen::LoadError>>> {
    let cancel = AtomicBool::new(false);
    let started = Instant::now();
    let mut why_stopped = None;
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(|| loadgen::run_together(specs, &cancel));
        while !worker.is_finished() {
            if why_stopped.is_none() {
                if crate::process::interrupted() {
                    why_stopped = Some("interrupted".to_string());
                } else if abort() {
                    why_stopped = Some("stopped: the server is gone".to_string());
                } else if started.elapsed() > deadline {
                    why_stopped = Some(format!(
                        "did not finish within {:.1}s and was stopped (see --run-timeout)",
                        deadline.as_secs_f64()
                    ));
                }
                if why_stopped.is_some() {
                    cancel.store(true, Ordering::SeqCst);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        worker.join()
    });
    let report = match result {
        Ok(r) => r,
        Err(_) => bail!("the native load generator panicked"),
    };
    if let Some(why) = why_stopped {
        bail!("the native load run {why}");
    }
    let reports = report?;
    if reports.iter().any(|r| matches!(r, Ok(r) if r.cancelled)) {
        bail!("the native load run was cancelled");
    }
    Ok(reports)
}

/// Whether [`seed_cluster`] can seed this command exactly. Key-numbered reads can: a key's
/// hash tag derives from its number (`k % 16384`, also for every key of an MGET, whose keys
/// share the first one's tag), so a sequential SET covers every key a read will ask for.
/// Member reads too: SISMEMBER and ZSCORE name `element:<n>` in the collection tagged
/// `n % 16384`, where a sequential SADD or ZADD put it. Pops and range reads (LRANGE, ZRANGE,
/// XRANGE) pick their collection's tag at random, so they cannot.
pub fn can_seed_cluster(command: Builtin) -> bool {
    matches!(
        command,
        Builtin::Get | Builtin::Mget(_) | Builtin::Sismember | Builtin::Zscore
    )
}

/// Seeds a cluster through the load generator: the case's write command over the keyspace in
/// sequential key order, so every key a read will ask for exists on the node that owns it.
pub fn seed_cluster(case: &Case, target: &Address, count: u64, deadline: Duration) -> Result<()> {
    let Some(write) = case
        .builtin()
        .filter(|&c| can_seed_cluster(c))
        .and_then(Builtin::seeded_by)
    else {
        return Ok(());
    };
    // MSET's keys all carry the first key's tag, so it would name keys unlike a read does;
    // SET names every key as GET and MGET do.
    let write = match write {
        Builtin::Mset(_) => Builtin::Set,
        other => other,
    };
    let mut spec = base_spec(
        case,
        target,
        CommandSpec::Builtin(write),
        KeyOrder::Sequential,
    );
    spec.stop = Stop::Requests(count);
    spec.pipeline = spec.pipeline.max(16);
    run_watched(&spec, deadline, &mut || false)
        .with_context(|| format!("seeding the cluster with {}", write.command_name()))?;
    Ok(())
}

/// Measures one run. Warm-up runs on the same connections and is discarded. The full
/// histogram and per-second series go to `histogram_dir`, the record names the file.
pub fn measure(
    case: &Case,
    target: &Address,
    deadline: Duration,
    histogram_file: &Path,
    abort: &mut dyn FnMut() -> bool,
) -> Result<Measurement> {
    let spec = measured_spec(case, target, case.seed.unwrap_or_else(rand_seed))?;
    let report = run_watched(&spec, deadline, abort)?;
    measurement_of(&report, case, histogram_file, None)
}

/// A duet: two targets measured at once, each case (its own pinning) against its own
/// servers, both loads behind one start gate with the same key seed, so their windows start
/// at one instant and, with `duration`, end together. Each histogram file also keeps the
/// per-second ratio of its target's rps to the other's (`duet.per_second_rps_ratio`, full
/// seconds only). A failure of either load fails both: half a duet is not a measurement.
pub fn measure_duet(
    cases: [&Case; 2],
    targets: [&Address; 2],
    deadline: Duration,
    histogram_files: [&Path; 2],
    abort: &mut dyn FnMut() -> bool,
) -> Result<[Measurement; 2]> {
    let seed = cases[0].seed.unwrap_or_else(rand_seed);
    let specs = [
        measured_spec(cases[0], targets[0], seed)?,
        measured_spec(cases[1], targets[1], seed)?,
    ];
    let mut reports = Vec::with_capacity(2);
    for (i, r) in run_watched_together(&specs, deadline, abort)?
        .into_iter()
        .enumerate()
    {
        reports.push(match r {
            Ok(r) => r,
            Err(loadgen::LoadError::RunFailed { reason, report }) => bail!(
                "the load of the duet's {} target: {}",
                ["first", "second"][i],
                failure_text(&reason, &report)
            ),
            Err(e) => return Err(e.into()),
        });
    }
    // Each client shares its CPUs with the other target's server by design: waiting for a
    // CPU is what a duet is, not a fault of the configuration.
    for r in &mut reports {
        r.warnings
            .retain(|w| !matches!(w, LoadWarning::ClientStarved { .. }));
    }
    let [a, b] = [&reports[0], &reports[1]];
    let ratios = [
        per_second_ratios(&a.timeseries, &b.timeseries),
        per_second_ratios(&b.timeseries, &a.timeseries),
    ];
    let [ra, rb] = ratios;
    let extra = |ratio: Vec<serde_json::Value>, partner: &Path| {
        json!({
            "per_second_rps_ratio": ratio,
            "ratio_is": "this target's rps over the other's, per full second of the shared window",
            "partner_histogram_file": partner.display().to_string(),
        })
    };
    let mut out = [
        measurement_of(
            a,
            cases[0],
            histogram_files[0],
            Some(extra(ra, histogram_files[1])),
        )?,
        measurement_of(
            b,
            cases[1],
            histogram_files[1],
            Some(extra(rb, histogram_files[0])),
        )?,
    ];
    for m in &mut out {
        m.seed = Some(seed);
    }
    Ok(out)
}

/// Second by second, `mine` rps over `other`'s, for the seconds both series saw in full.
pub fn per_second_ratios(
    mine: &[loadgen::SecondSample],
    other: &[loadgen::SecondSample],
) -> Vec<serde_json::Value> {
    mine.iter()
        .filter(|s| s.full && s.rps > 0.0)
        .filter_map(|s| {
            let o = other
                .iter()
                .find(|o| o.second == s.second && o.full && o.rps > 0.0)?;
            Some(json!({"second": s.second, "ratio": (s.rps / o.rps * 1e6).round() / 1e6}))
        })
        .collect()
}

/// The load of one measured run of a built-in case: its command, key order drawn from
/// `seed`, stop, warm-up.
fn measured_spec(case: &Case, target: &Address, seed: u64) -> Result<LoadSpec> {
    let command = case
        .builtin()
        .context("a scenario is measured by measure_scenario")?;
    let order = match case.key_distribution {
        KeyDistribution::Uniform => KeyOrder::Random { seed },
        KeyDistribution::Sequential => KeyOrder::Sequential,
        KeyDistribution::Zipf(exponent) => KeyOrder::Zipf { seed, exponent },
    };
    let mut spec = base_spec(case, target, CommandSpec::Builtin(command), order);
    spec.stop = match case.mode {
        BenchmarkMode::Requests(n) => Stop::Requests(n),
        BenchmarkMode::Duration(s) => Stop::Duration(Duration::from_secs(s)),
    };
    spec.warmup = Duration::from_secs(case.warmup_secs);
    // Engine::measure seeds exactly these (standalone: every seeded command; cluster: only
    // key-numbered reads), so their replies should all have the command's shape.
    spec.seeded = command.seeded_by().is_some() && (!target.cluster || can_seed_cluster(command));
    Ok(spec)
}

/// One step of a capacity ladder: `rate` requests per second spread over the case's clients
/// (latency counted from each request's intended send time), or closed loop for `None`, for
/// the case's `duration` after its warm-up. At a fixed rate, requests the client could not
/// send in time are counted (`unsent`), not a failure: the ladder judges them.
pub fn capacity_step(
    case: &Case,
    target: &Address,
    rate: Option<f64>,
    deadline: Duration,
    histogram_file: &Path,
    abort: &mut dyn FnMut() -> bool,
) -> Result<(loadgen::RunReport, Measurement)> {
    let mut spec = measured_spec(case, target, case.seed.unwrap_or_else(rand_seed))?;
    if let Some(rps) = rate {
        spec.pacing = loadgen::Pacing::FixedRate { rps };
        // Lost and late requests are what a step past the server's capacity looks like.
        spec.max_error_share = 1.0;
    }
    let report = run_watched(&spec, deadline, abort)?;
    let measurement = measurement_of(&report, case, histogram_file, None)?;
    Ok((report, measurement))
}

/// A run's report as a [`Measurement`]; the full histogram and per-second series go to
/// `histogram_file`, which the record names.
fn measurement_of(
    report: &loadgen::RunReport,
    case: &Case,
    histogram_file: &Path,
    duet: Option<serde_json::Value>,
) -> Result<Measurement> {
    // Under callgrind the server is the slow side by far, and its count per request does not
    // depend on how fast the client was: a busy client is no finding there.
    let warnings = report
        .warnings
        .iter()
        .filter(|w| {
            !(case.topology.callgrind
                && matches!(
                    w,
                    LoadWarning::ClientBound { .. } | LoadWarning::ClientStarved { .. }
                ))
        })
        .map(|w| warning(w, case))
        .collect();
    let l = &report.latency;
    let metrics = Metrics {
        rps: round2(report.rps),
        avg_latency_ms: round3(l.avg_ms),
        min_latency_ms: round3(l.min_ms),
        p50_latency_ms: round3(l.p50_ms),
        p95_latency_ms: round3(l.p95_ms),
        p99_latency_ms: round3(l.p99_ms),
        max_latency_ms: round3(l.max_ms),
    };
    if let Some(dir) = histogram_file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    }
    let mut detail = json!({
        "histogram_v2_base64": report.histogram_v2_base64,
        "service_histogram_v2_base64": report.service_histogram_v2_base64,
        "histogram_unit": report.histogram_unit,
        "timeseries": report.timeseries,
        "latency": report.latency,
        "service_latency": report.service_latency,
    });
    if let Some(duet) = duet {
        detail["duet"] = duet;
    }
    crate::util::write_atomic(histogram_file, detail.to_string().as_bytes())
        .with_context(|| format!("writing `{}`", histogram_file.display()))?;
    let native = NativeFigures {
        p90_latency_ms: Some(round3(l.p90_ms)),
        p999_latency_ms: Some(round3(l.p999_ms)),
        p9999_latency_ms: Some(round3(l.p9999_ms)),
        errors: Some(report.errors),
        errors_by_kind: Some(json!(report.errors_by_kind)),
        requests_completed: Some(report.requests),
        client_bound: Some(report.client_bound),
        client_thread_busy_share: Some(json!(report.thread_busy_share)),
        client_thread_runqueue_share: Some(json!(report.thread_runqueue_share)),
        client_thread_cpus: Some(
            report
                .thread_cpus
                .iter()
                .map(|c| format_cpu_list(c.iter().copied()))
                .collect(),
        ),
        miss_rate: report.miss_rate,
        cluster_redirects: Some(report.moved + report.ask),
        histogram_file: Some(histogram_file.display().to_string()),
        elapsed_s: None,
    };
    Ok(Measurement {
        metrics,
        parts: RecordParts {
            native: Some(native),
            ..RecordParts::default()
        },
        // The pinning applied, read back from the threads: with fewer threads than configured
        // CPUs, some of them are not used.
        client_cpus: case.client_cpus.as_ref().map(|_| {
            format_cpu_list(
                report
                    .thread_cpus
                    .iter()
                    .flatten()
                    .copied()
                    .collect::<std::collections::BTreeSet<_>>(),
            )
        }),
        started_at: String::new(),
        seed: report.seed,
        warnings,
    })
}

/// Fills the keyspace with a scenario's `populate_with` command: every key number
/// `0..keyspacelen` once, in order, through the load generator (cluster routing included).
/// An error reply fails it, naming the reply.
pub fn populate(
    case: &Case,
    target: &Address,
    command: &[String],
    deadline: Duration,
) -> Result<u64> {
    let mut spec = base_spec(
        case,
        target,
        CommandSpec::Template(command.to_vec()),
        KeyOrder::Sequential,
    );
    spec.workload.dataset = dataset_of(case)?;
    spec.stop = Stop::Requests(case.keyspacelen);
    spec.clients = spec.clients.clamp(1, 50);
    spec.pipeline = spec.pipeline.max(16);
    let report = run_watched(&spec, deadline, &mut || false)?;
    Ok(report.requests)
}

/// A scenario's dataset (its first `maxdocs` rows), read for the run.
fn dataset_of(case: &Case) -> Result<Option<std::sync::Arc<loadgen::Dataset>>> {
    let Some(s) = case.scenario() else {
        return Ok(None);
    };
    let Some(path) = &s.dataset else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the dataset `{}`", path.display()))?;
    let d = loadgen::Dataset::parse(&text, s.dataset_is_tsv(), s.maxdocs)
        .map_err(|e| anyhow::anyhow!("the dataset `{}`: {e}", path.display()))?;
    Ok(Some(std::sync::Arc::new(d)))
}

/// What one stream of a scenario measured; `failure` says why the run counts as failed
/// (error replies, a reply timeout) when the numbers were still measured.
#[derive(Debug)]
pub struct StreamOutcome {
    pub measurement: Measurement,
    pub failure: Option<String>,
}

/// Measures a scenario's streams together (one for `write` / `read`, several for `mixed`):
/// each on its own worker threads with its own histograms, all windows started at one
/// instant. Stream `i` draws its keys with seed `seed + i`, so streams do not walk the
/// keyspace in step.
pub fn measure_scenario(
    case: &Case,
    target: &Address,
    deadline: Duration,
    histogram_files: &[std::path::PathBuf],
    abort: &mut dyn FnMut() -> bool,
) -> Result<Vec<StreamOutcome>> {
    let scenario = case
        .scenario()
        .context("a built-in command is measured by measure")?;
    let seed = case.seed.unwrap_or_else(rand_seed);
    let dataset = dataset_of(case)?;
    let specs: Vec<LoadSpec> = scenario
        .streams
        .iter()
        .enumerate()
        .map(|(i, stream)| {
            let order = if scenario.sequential {
                KeyOrder::Sequential
            } else {
                KeyOrder::Random {
                    seed: seed.wrapping_add(i as u64),
                }
            };
            let mut spec = base_spec(
                case,
                target,
                CommandSpec::Template(stream.args.clone()),
                order,
            );
            spec.workload.dataset = dataset.clone();
            spec.workload.keyless_to_home = scenario.parallel;
            spec.clients = stream.clients as usize;
            spec.pipeline = stream.pipeline as usize;
            spec.threads = spec.threads.min(spec.clients);
            spec.stop = match stream.mode.unwrap_or(case.mode) {
                BenchmarkMode::Requests(n) => Stop::Requests(n),
                BenchmarkMode::Duration(s) => Stop::Duration(Duration::from_secs(s)),
            };
            spec.warmup = Duration::from_secs(case.warmup_secs);
            spec
        })
        .collect();
    let reports = run_watched_together(&specs, deadline, abort)?;
    let mut out = Vec::with_capacity(reports.len());
    for (report, file) in reports.into_iter().zip(histogram_files) {
        let (report, failure) = match report {
            Ok(r) => (r, None),
            Err(loadgen::LoadError::RunFailed { reason, report }) => {
                let text = failure_text(&reason, &report);
                (*report, Some(text))
            }
            Err(e) => return Err(e.into()),
        };
        let mut measurement = measurement_of(&report, case, file, None)?;
        measurement.seed = Some(seed);
        measurement.parts.native_mut().elapsed_s = Some(report.elapsed_s);
        out.push(StreamOutcome {
            measurement,
            failure,
        });
    }
    Ok(out)
}

/// A load generator finding in the config's terms (threads are `benchmark-threads` there).
fn warning(w: &LoadWarning, case: &Case) -> Warning {
    // More client threads only help when the client has a CPU to run them on.
    let threads = case.client_threads.unwrap_or(1) as usize;
    let more_threads = match &case.client_cpus {
        Some(set) if set.cpus.len() <= threads => format!(
            "give the client more CPUs in `client_cpu_range` (now `{}`) and add `benchmark-threads`",
            set.spec
        ),
        _ => "add `benchmark-threads`".to_string(),
    };
    match w {
        LoadWarning::ClientBound { busiest_share } => Warning::new(
            WarningKind::ClientBound,
            format!(
                "a client thread was busy {:.0} % of the time, so the client may have limited the result",
                busiest_share * 100.0
            ),
        )
        .with_hint(more_threads),
        LoadWarning::ClientStarved { worst_wait_share } => Warning::new(
            WarningKind::ClientBound,
            format!(
                "a client thread waited for a CPU {:.0} % of the time, so the client may have limited the result",
                worst_wait_share * 100.0
            ),
        )
        .with_hint("give the client CPUs of its own with `client_cpu_range`"),
        other => Warning::new(WarningKind::Load, other.to_string()),
    }
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // Kept below 2^31 so every consumer of records (JSON, SQL integers, valkey-benchmark's
    // --seed) takes it unchanged.
    RandomState::new().hash_one(Instant::now()) & 0x7fff_ffff
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Builtin;
    use crate::model::case::CpuSet;

    #[test]
    fn a_client_bound_hint_asks_for_cpus_when_more_threads_would_share_one() {
        let busy = LoadWarning::ClientBound {
            busiest_share: 0.95,
        };
        let mut case = Case::for_test(Builtin::Get, BenchmarkMode::Duration(5));
        assert_eq!(
            warning(&busy, &case).hint.as_deref(),
            Some("add `benchmark-threads`")
        );
        case.client_cpus = Some(CpuSet::parse("1").unwrap());
        let hint = warning(&busy, &case).hint.unwrap();
        assert!(
            hint.contains("more CPUs in `client_cpu_range` (now `1`)"),
            "{hint}"
        );
        case.client_cpus = Some(CpuSet::parse("1-2").unwrap());
        assert_eq!(
            warning(&busy, &case).hint.as_deref(),
            Some("add `benchmark-threads`")
        );
    }
}
