//! `valkey-perf loadgen`'s output in valkey-benchmark's formats: the CSV header and lines and
//! the quiet line byte for byte, and the full summary of a test.

use loadgen::RunReport;

/// The CSV header valkey-benchmark prints, byte for byte.
pub const CSV_HEADER: &str = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"";

/// valkey-benchmark's quiet line.
pub fn quiet_line(title: &str, r: &RunReport) -> String {
    format!(
        "{title}: {:.2} requests per second, p50={:.3} msec",
        r.rps, r.latency.p50_ms
    )
}

/// valkey-benchmark's CSV line.
pub fn csv_line(title: &str, r: &RunReport) -> String {
    let l = &r.latency;
    format!(
        "\"{title}\",\"{:.2}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\"",
        r.rps, l.avg_ms, l.min_ms, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
    )
}

/// valkey-benchmark's full summary of one test (`paced`: run at a fixed rate, `--rps`).
pub fn summary(
    title: &str,
    clients: usize,
    data_size: usize,
    paced: bool,
    r: &RunReport,
) -> String {
    let l = &r.latency;
    let s = &r.service_latency;
    let mut out = format!(
        "====== {title} ======\n  {} requests completed in {:.2} seconds\n  {} parallel clients\n  {} bytes payload\n  errors: {}\n\nSummary:\n  throughput summary: {:.2} requests per second\n  latency summary (msec):\n    {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        r.requests,
        r.elapsed_s,
        clients,
        data_size,
        r.errors,
        r.rps,
        "avg",
        "min",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "p99.99",
        "max"
    );
    for (name, x) in [("", l), ("  service time (uncorrected):\n", s)] {
        if !name.is_empty() {
            if !paced {
                continue;
            }
            out.push_str(name);
        }
        out.push_str(&format!(
            "    {:9.3} {:9.3} {:9.3} {:9.3} {:9.3} {:9.3} {:9.3} {:9.3}\n",
            x.avg_ms, x.min_ms, x.p50_ms, x.p95_ms, x.p99_ms, x.p999_ms, x.p9999_ms, x.max_ms
        ));
    }
    out
}
