//! One run's report: every thread's counts summed, the client's own load judged (warnings),
//! and the outcome (a run that failed keeps its report).

use crate::LoadError;
use crate::engine::{self, Shared, Times};
use crate::spec::{KeyOrder, LoadSpec, Pacing};
use crate::stats::{self, LatencySummary, LoadWarning, RunReport, encode_histogram};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What every thread of a run counted, summed.
struct Totals {
    /// Latency from the intended send time (closed loop: from the send).
    corrected: hdrhistogram::Histogram<u64>,
    /// Latency from the actual send.
    service: hdrhistogram::Histogram<u64>,
    errors_by_kind: std::collections::BTreeMap<String, u64>,
    requests: u64,
    warmup: u64,
    moved: u64,
    ask: u64,
    lost: u64,
    unanswered: u64,
    unsent: u64,
    checked: u64,
    unexpected: u64,
    /// The last reply of any thread.
    last: Option<Instant>,
}

impl Totals {
    fn of(outs: &[engine::ThreadOut]) -> Totals {
        let mut t = Totals {
            corrected: stats::new_histogram(),
            service: stats::new_histogram(),
            errors_by_kind: std::collections::BTreeMap::new(),
            requests: 0,
            warmup: 0,
            moved: 0,
            ask: 0,
            lost: 0,
            unanswered: 0,
            unsent: 0,
            checked: 0,
            unexpected: 0,
            last: None,
        };
        for o in outs {
            let r = &o.recorder;
            // Same bounds on every histogram, so adding cannot fail.
            let _ = t.corrected.add(&r.corrected);
            let _ = t.service.add(if r.closed_loop {
                &r.corrected
            } else {
                &r.service
            });
            for (k, v) in &r.errors {
                *t.errors_by_kind.entry(k.clone()).or_insert(0) += v;
            }
            t.requests += r.completed;
            t.warmup += r.warmup_completed;
            t.moved += r.moved;
            t.ask += r.ask;
            t.lost += r.lost;
            t.unanswered += r.unanswered;
            t.unsent += r.unsent;
            t.checked += r.checked;
            t.unexpected += r.unexpected;
            t.last = t.last.max(r.last_completion);
        }
        t
    }
}

/// How loaded the client threads were: the busiest thread's busy share and the longest run
/// queue wait share.
struct ClientLoad {
    busiest: f64,
    worst_wait: f64,
}

impl ClientLoad {
    fn busy(&self) -> bool {
        self.busiest > 0.9
    }

    fn starved(&self) -> bool {
        self.worst_wait > engine::STARVED_WAIT_SHARE
    }
}

/// What the run's numbers should be read with.
fn load_warnings(
    spec: &LoadSpec,
    t: &Totals,
    client: &ClientLoad,
    rps: f64,
    miss_rate: Option<f64>,
) -> Vec<LoadWarning> {
    let mut warnings = Vec::new();
    if client.busy() {
        warnings.push(LoadWarning::ClientBound {
            busiest_share: client.busiest,
        });
    }
    if client.starved() {
        warnings.push(LoadWarning::ClientStarved {
            worst_wait_share: client.worst_wait,
        });
    }
    if t.unanswered > 0 {
        warnings.push(LoadWarning::Unanswered {
            requests: t.unanswered,
        });
    }
    if let Pacing::FixedRate { rps: target } = spec.pacing {
        // 5 %: a run's last replies land after its window, so a held rate reads a little low.
        if t.unsent > 0 || rps < 0.95 * target {
            warnings.push(LoadWarning::RateNotReached {
                target_rps: target,
                achieved_rps: rps,
                unsent: t.unsent,
            });
        }
    }
    if spec.seeded && t.unexpected > 0 {
        warnings.push(LoadWarning::UnexpectedReplies {
            unexpected: t.unexpected,
            checked: t.checked,
            share: miss_rate.unwrap_or(0.0),
        });
    }
    warnings
}

/// Merges the threads' outcomes into the run's report.
pub(crate) fn report(
    spec: &LoadSpec,
    shared: &Shared,
    times: Times,
    outs: Vec<engine::ThreadOut>,
    nodes: usize,
) -> Result<RunReport, LoadError> {
    let t = Totals::of(&outs);
    let elapsed = t.last.map_or(Duration::ZERO, |l| {
        l.saturating_duration_since(times.measure_start)
    });
    let recs: Vec<&stats::Recorder> = outs.iter().map(|o| &o.recorder).collect();
    let timeseries = stats::merge_seconds(&recs, elapsed);
    let thread_busy_share: Vec<f64> = outs.iter().map(|o| o.busy_share).collect();
    let thread_runqueue_share: Vec<Option<f64>> = outs.iter().map(|o| o.runqueue_share).collect();
    let client = ClientLoad {
        busiest: thread_busy_share.iter().copied().fold(0.0, f64::max),
        worst_wait: thread_runqueue_share
            .iter()
            .flatten()
            .copied()
            .fold(0.0, f64::max),
    };
    let rps = if elapsed.is_zero() {
        0.0
    } else {
        t.requests as f64 / elapsed.as_secs_f64()
    };
    let miss_rate = (t.checked > 0).then(|| t.unexpected as f64 / t.checked as f64);
    let rep = RunReport {
        requests: t.requests,
        errors: t.errors_by_kind.values().sum(),
        rps,
        elapsed_s: elapsed.as_secs_f64(),
        warmup_requests: t.warmup,
        latency: LatencySummary::from_histogram_ns(&t.corrected),
        service_latency: LatencySummary::from_histogram_ns(&t.service),
        timeseries,
        histogram_v2_base64: encode_histogram(&t.corrected),
        service_histogram_v2_base64: encode_histogram(&t.service),
        histogram_unit: "ns",
        client_bound: client.busy() || client.starved(),
        thread_busy_share,
        thread_runqueue_share,
        thread_cpus: outs.iter().map(|o| o.cpus.clone()).collect(),
        start_lag_s: outs
            .iter()
            .map(|o| o.start_lag)
            .max()
            .unwrap_or_default()
            .as_secs_f64(),
        unanswered: t.unanswered,
        unsent: t.unsent,
        replies_checked: t.checked,
        replies_unexpected: t.unexpected,
        miss_rate,
        moved: t.moved,
        ask: t.ask,
        nodes,
        cancelled: shared.cancelled.load(Ordering::Relaxed),
        seed: match spec.workload.key_order {
            KeyOrder::Random { seed } | KeyOrder::Zipf { seed, .. } => Some(seed),
            KeyOrder::Sequential => None,
        },
        warnings: load_warnings(spec, &t, &client, rps, miss_rate),
        errors_by_kind: t.errors_by_kind,
    };
    outcome(spec, shared, rep, t.lost)
}

/// The report, or the run's failure carrying it: a worker's failure, or more errors than
/// `spec.max_error_share` of the requests attempted (`lost` ones included).
fn outcome(
    spec: &LoadSpec,
    shared: &Shared,
    rep: RunReport,
    lost: u64,
) -> Result<RunReport, LoadError> {
    let failure = shared.failure.lock().ok().and_then(|f| f.clone());
    if let Some(reason) = failure {
        return Err(LoadError::RunFailed {
            reason,
            report: Box::new(rep),
        });
    }
    let errors = rep.errors;
    let attempted = (rep.requests + lost).max(1);
    let share = errors as f64 / attempted as f64;
    if errors > 0 && share > spec.max_error_share {
        let kinds: Vec<String> = rep
            .errors_by_kind
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        return Err(LoadError::RunFailed {
            reason: format!(
                "{errors} of {attempted} requests failed ({:.2} %, allowed {:.2} %): {}",
                share * 100.0,
                spec.max_error_share * 100.0,
                kinds.join(", ")
            ),
            report: Box::new(rep),
        });
    }
    Ok(rep)
}
