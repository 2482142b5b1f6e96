//! Measurement: per-thread recorders (HdrHistograms in nanoseconds, errors by kind, a
//! per-second series) merged into one [`RunReport`] at the end.

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Largest latency the histograms hold without clamping: one hour, in nanoseconds.
pub const HISTOGRAM_MAX_NS: u64 = 3_600 * 1_000_000_000;

/// A new latency histogram: 1 ns to one hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("static histogram bounds are valid")
}

/// One second of the measured phase in a thread (counts by completion time).
pub(crate) struct SecondAcc {
    count: u64,
    /// Microseconds, 2 significant digits, grows as needed.
    hist: Histogram<u64>,
}

/// What one worker thread measured.
pub(crate) struct Recorder {
    pub corrected: Histogram<u64>,
    pub service: Histogram<u64>,
    pub seconds: Vec<SecondAcc>,
    pub completed: u64,
    pub warmup_completed: u64,
    pub errors: BTreeMap<String, u64>,
    pub moved: u64,
    pub ask: u64,
    /// Measured requests lost with their connection, left unanswered at the end, or never
    /// sent (`unanswered` and `unsent` are included).
    pub lost: u64,
    /// Requests sent but still unanswered when the drain after a duration run ended.
    pub unanswered: u64,
    /// Fixed-rate requests scheduled inside the window but never sent.
    pub unsent: u64,
    /// Measured replies seen, for sampling the shape check.
    pub replies_seen: u64,
    /// Sampled replies checked for the shape their command implies, and those that failed.
    pub checked: u64,
    pub unexpected: u64,
    pub last_completion: Option<Instant>,
    pub last_progress: Instant,
    /// In closed loop every request leaves at its intended time, so the service-time
    /// histogram would be a copy of the corrected one; it is filled at the end instead.
    pub closed_loop: bool,
}

impl Recorder {
    pub(crate) fn new(now: Instant, closed_loop: bool) -> Recorder {
        Recorder {
            corrected: new_histogram(),
            service: new_histogram(),
            seconds: Vec::new(),
            completed: 0,
            warmup_completed: 0,
            errors: BTreeMap::new(),
            moved: 0,
            ask: 0,
            lost: 0,
            unanswered: 0,
            unsent: 0,
            replies_seen: 0,
            checked: 0,
            unexpected: 0,
            last_completion: None,
            last_progress: now,
            closed_loop,
        }
    }

    /// Records one reply received at `now` for a request meant to go out at `intended` and
    /// written at `sent`. Latency counts from the earlier of the two (a request sent a
    /// little ahead of schedule is not credited with negative queueing).
    pub(crate) fn reply(
        &mut self,
        now: Instant,
        intended: Instant,
        sent: Instant,
        measured: bool,
        measure_start: Instant,
    ) {
        self.replies(now, intended, sent, measured, measure_start, 1);
    }

    /// Records `n` replies received at `now` for requests that share `intended` and `sent`
    /// (the requests of one pipelined batch read back together): one histogram update each
    /// instead of `n`.
    pub(crate) fn replies(
        &mut self,
        now: Instant,
        intended: Instant,
        sent: Instant,
        measured: bool,
        measure_start: Instant,
        n: u64,
    ) {
        if n == 0 {
            return;
        }
        self.last_progress = now;
        if !measured {
            self.warmup_completed += n;
            return;
        }
        let corrected = now.saturating_duration_since(intended.min(sent));
        let service = now.saturating_duration_since(sent);
        let ns = |d: Duration| (d.as_nanos() as u64).clamp(1, HISTOGRAM_MAX_NS);
        self.corrected.saturating_record_n(ns(corrected), n);
        if !self.closed_loop {
            self.service.saturating_record_n(ns(service), n);
        }
        self.completed += n;
        self.last_completion = Some(now);
        let second = now.saturating_duration_since(measure_start).as_secs() as usize;
        if self.seconds.len() <= second {
            self.seconds.resize_with(second + 1, || SecondAcc {
                count: 0,
                hist: Histogram::new(2).expect("static histogram settings are valid"),
            });
        }
        let s = &mut self.seconds[second];
        s.count += n;
        s.hist
            .saturating_record_n((corrected.as_micros() as u64).max(1), n);
    }

    pub(crate) fn error(&mut self, kind: &str, n: u64) {
        if let Some(c) = self.errors.get_mut(kind) {
            *c += n;
        } else {
            self.errors.insert(kind.to_string(), n);
        }
    }
}

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub avg_ms: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub p9999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// Summarizes a histogram recorded in nanoseconds; all zeros when empty.
    pub fn from_histogram_ns(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        LatencySummary {
            avg_ms: h.mean() / 1e6,
            min_ms: ms(h.min()),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            p9999_ms: ms(h.value_at_quantile(0.9999)),
            max_ms: ms(h.max()),
        }
    }
}

/// One second of the measured phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondSample {
    /// Seconds since the measured phase began.
    pub second: u64,
    /// Replies completed in this second.
    pub requests: u64,
    /// Requests per second; for a partial last second, scaled to its length.
    pub rps: f64,
    /// Whether the second lies wholly inside the measured phase.
    pub full: bool,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The result of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Measured replies (including error replies).
    pub requests: u64,
    /// Failed requests: error replies plus requests lost with a connection.
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// `requests` divided by `elapsed_s`.
    pub rps: f64,
    /// Length of the measured phase: from its start to the last measured reply.
    pub elapsed_s: f64,
    /// Replies received during warm-up (not in any statistic).
    pub warmup_requests: u64,
    /// Latency from the intended send time (coordinated-omission corrected; equal to the
    /// service time in closed loop).
    pub latency: LatencySummary,
    /// Latency from the actual send time (uncorrected service time).
    pub service_latency: LatencySummary,
    pub timeseries: Vec<SecondSample>,
    /// The corrected histogram, HdrHistogram V2 compressed encoding, base64, nanoseconds.
    pub histogram_v2_base64: String,
    /// The service-time histogram, same encoding.
    pub service_histogram_v2_base64: String,
    /// Unit of the values in the serialized histograms.
    pub histogram_unit: &'static str,
    /// True when a client thread was busy more than 90 % of the time, or waited for a CPU
    /// more than 5 % of the time: the client, not the server, may have been the limit.
    pub client_bound: bool,
    /// CPU time / wall time of each worker thread over the run.
    pub thread_busy_share: Vec<f64>,
    /// Run-queue wait / wall time of each worker thread (runnable but not running: it
    /// wanted more CPU than it got); `None` where the kernel does not report it.
    pub thread_runqueue_share: Vec<Option<f64>>,
    /// The CPUs each worker thread was allowed to run on, read back from the kernel after
    /// pinning (the pinning applied, not the one configured).
    pub thread_cpus: Vec<Vec<usize>>,
    /// Seconds from the start of the window until the last worker thread began its load:
    /// time inside the window in which some client could not send.
    pub start_lag_s: f64,
    /// Requests sent but never answered: still in flight when the drain after a duration
    /// run ended (counted in `errors_by_kind.timeout`).
    pub unanswered: u64,
    /// Fixed-rate requests scheduled inside the window that the client never sent
    /// (counted in `errors_by_kind.lost`).
    pub unsent: u64,
    /// Sampled replies checked for the shape the command implies (a value for GET and pops,
    /// N elements for LRANGE_N and MGET N), and how many did not have it.
    pub replies_checked: u64,
    pub replies_unexpected: u64,
    /// `replies_unexpected / replies_checked`; `None` when the command implies no shape.
    pub miss_rate: Option<f64>,
    /// Cluster redirects followed.
    pub moved: u64,
    pub ask: u64,
    /// Number of primaries in cluster mode, 1 otherwise.
    pub nodes: usize,
    /// The run was stopped early by the cancel flag.
    pub cancelled: bool,
    /// Seed of the key generator (random key order only).
    pub seed: Option<u64>,
    /// What the caller should know about this run beyond its numbers.
    pub warnings: Vec<LoadWarning>,
}

/// A finding about a load run that does not fail it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadWarning {
    /// A client thread was busy this share of the time (above 0.9): the client may have been
    /// the bottleneck.
    ClientBound { busiest_share: f64 },
    /// A client thread waited for a CPU this share of the time (above 0.05): it got less CPU
    /// than it wanted, so the client may have been the bottleneck.
    ClientStarved { worst_wait_share: f64 },
    /// Requests still unanswered when the drain after the window ended.
    Unanswered { requests: u64 },
    /// The fixed rate was not reached: this rate was measured, and this many scheduled
    /// requests were never sent.
    RateNotReached {
        target_rps: f64,
        achieved_rps: f64,
        unsent: u64,
    },
    /// Replies that lacked the shape their command implies although the keyspace was
    /// seeded (GET missed, LRANGE_N returned fewer elements, a pop found nothing).
    UnexpectedReplies {
        unexpected: u64,
        checked: u64,
        share: f64,
    },
}

impl std::fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadWarning::ClientBound { busiest_share } => write!(
                f,
                "a client thread was busy {:.0} % of the time: the client may be the \
                 bottleneck; use more threads (--threads) or CPUs",
                busiest_share * 100.0
            ),
            LoadWarning::ClientStarved { worst_wait_share } => write!(
                f,
                "a client thread waited for a CPU {:.0} % of the time: the client got less CPU \
                 than it wanted and may be the bottleneck; give it CPUs of its own (--cpu-list)",
                worst_wait_share * 100.0
            ),
            LoadWarning::Unanswered { requests } => write!(
                f,
                "{requests} requests were still unanswered when the run ended; they are \
                 counted as timeouts"
            ),
            LoadWarning::RateNotReached {
                target_rps,
                achieved_rps,
                unsent,
            } => write!(
                f,
                "the fixed rate of {target_rps:.0} requests per second was not reached \
                 ({achieved_rps:.0} measured, {unsent} scheduled requests never sent and \
                 counted as lost); lower --rps or add clients and threads"
            ),
            LoadWarning::UnexpectedReplies {
                unexpected,
                checked,
                share,
            } => write!(
                f,
                "{:.1} % of the checked replies ({unexpected} of {checked}) did not have the \
                 shape the test implies (a value for GET and pops, N elements for LRANGE_N) \
                 although the data was prepared: the numbers measure something else",
                share * 100.0
            ),
        }
    }
}

/// Serializes a histogram in the HdrHistogram V2 compressed encoding, base64 (the form
/// `HistogramLogProcessor` and other HdrHistogram ports read).
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    if V2DeflateSerializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Why a text is not a histogram [`encode_histogram`] wrote.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("histogram is not base64: {0}")]
    NotBase64(base64::DecodeError),
    #[error("histogram is not in the HdrHistogram V2 encoding: {0:?}")]
    NotV2(hdrhistogram::serialization::DeserializeError),
}

/// Decodes [`encode_histogram`]'s output (for merging runs or hosts).
pub fn decode_histogram(b64: &str) -> Result<Histogram<u64>, HistogramError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(HistogramError::NotBase64)?;
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(HistogramError::NotV2)
}

/// Merges the per-second accumulators of all threads into the series.
pub(crate) fn merge_seconds(recs: &[&Recorder], elapsed: Duration) -> Vec<SecondSample> {
    let n = recs.iter().map(|r| r.seconds.len()).max().unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut count = 0;
        let mut h: Histogram<u64> = Histogram::new(2).expect("static histogram settings are valid");
        for r in recs {
            if let Some(s) = r.seconds.get(i) {
                count += s.count;
                // Auto-resizing histograms always accept each other's values.
                let _ = h.add(&s.hist);
            }
        }
        let full = elapsed.as_secs_f64() >= (i + 1) as f64;
        let span = if full {
            1.0
        } else {
            (elapsed.as_secs_f64() - i as f64).max(1e-3)
        };
        let us = |q: f64| {
            if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(q) as f64 / 1e3
            }
        };
        out.push(SecondSample {
            second: i as u64,
            requests: count,
            rps: count as f64 / span,
            full,
            p50_ms: us(0.5),
            p99_ms: us(0.99),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_round_trip() {
        let mut h = new_histogram();
        for v in [1_000u64, 2_000, 3_000_000, 59_000_000_000] {
            h.record(v).unwrap();
        }
        let s = encode_histogram(&h);
        assert!(s.starts_with("HISTF"), "{s}");
        let back = decode_histogram(&s).unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back.max(), h.max());
    }

    #[test]
    fn summary_in_ms() {
        let mut h = new_histogram();
        h.record(1_000_000).unwrap();
        let s = LatencySummary::from_histogram_ns(&h);
        assert!((s.p50_ms - 1.0).abs() < 0.01);
        assert_eq!(
            LatencySummary::from_histogram_ns(&new_histogram()).max_ms,
            0.0
        );
    }
}
