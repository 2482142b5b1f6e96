//! What a duet's crossed pinning does to rps (docs/design.md §7.5). In a duet each client shares
//! a CPU with the *other* target's server, so a server that costs more CPU per request takes it
//! from the other target's client. While a client costs less CPU per request than a server,
//! the slower server still loses throughput (and the duet's change comes out somewhat larger
//! than a solo run's); once the client costs as much or more, the other server's cost sets
//! each client's pace and rps can move the wrong way: a server made 18 % dearer per request
//! measured 1 to 6 % *more* rps beside a debug-built client. Server CPU per request is then the
//! figure that shows the server's cost. Pure arithmetic on the records' own figures.

use super::group::Grouping;
use super::model::CaseComparison;
use super::stats;
use super::view::RecordView;
use crate::model::{Warning, WarningKind};

/// A duet run's client and server CPU per request (µs): the client's from its threads' busy
/// shares over the measured window (`duration`) and the requests it completed. `None` for a
/// solo run or a record without those figures.
pub(super) fn cpu_per_request(r: &RecordView) -> Option<(f64, f64)> {
    if !r.is_duet() {
        return None;
    }
    let busy: f64 = r
        .get("client_thread_busy_share")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_f64())
        .sum();
    let window = r.number("duration")?;
    let requests = r.requests_completed? as f64;
    let server = r.number("server_cpu_us_per_request")?;
    (requests > 0.0 && server > 0.0 && busy > 0.0).then(|| (busy * window * 1e6 / requests, server))
}

/// The mean client and server CPU per request over the duet runs of one side, when any run
/// has them.
fn side_means(records: &[&RecordView]) -> Option<(f64, f64)> {
    let (client, server): (Vec<f64>, Vec<f64>) =
        records.iter().filter_map(|r| cpu_per_request(r)).unzip();
    Some((stats::mean(&client)?, stats::mean(&server)?))
}

/// One warning ([`WarningKind::DuetCoupling`]) naming the duet cases in which, on either side,
/// the client cost at least as much CPU per request as the server: their rps and latencies
/// measure the clients' share of the other target's CPU as much as their own server.
pub(super) fn coupling_warning(
    cases: &[CaseComparison],
    grouping: &Grouping,
    baseline: &[RecordView],
    new: &[RecordView],
) -> Option<Warning> {
    let mut named = Vec::new();
    for case in cases {
        let Some(sides) = grouping.sides_of(&case.params, baseline, new) else {
            continue;
        };
        let worst = sides
            .iter()
            .filter_map(|s| side_means(s))
            .max_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
        if let Some((client, server)) = worst.filter(|(c, s)| c >= s) {
            named.push(format!(
                "`{}` (client {client:.2} µs against server {server:.2} µs)",
                case.label
            ));
        }
    }
    (!named.is_empty()).then(|| {
        Warning::new(
            WarningKind::DuetCoupling,
            format!(
                "duet runs whose client used as much CPU per request as its server: {}; each \
                 client shares a CPU with the other target's server, so that server's cost sets \
                 its pace and rps can move the wrong way",
                named.join(", ")
            ),
        )
        .with_hint(
            "judge these cases by server CPU per request, or give the clients more threads \
             (a release build of valkey-perf, a higher pipeline) so that the servers set the pace",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(duet: bool, busy: f64, requests: u64, server_us: f64) -> RecordView {
        let v = json!({
            "command": "GET", "rps": requests as f64 / 3.0, "duet": duet, "duration": 3,
            "requests_completed": requests, "client_thread_busy_share": [busy],
            "server_cpu_us_per_request": server_us,
        });
        RecordView::from_map(v.as_object().cloned().unwrap())
    }

    #[test]
    fn the_client_cost_comes_from_its_busy_share_over_the_window() {
        // 0.53 of 3 s for 1 260 000 requests: 1.26 µs a request.
        let (c, s) = cpu_per_request(&record(true, 0.53, 1_261_905, 0.85)).unwrap();
        assert!((c - 1.26).abs() < 1e-3 && s == 0.85, "{c} {s}");
        assert!(cpu_per_request(&record(false, 0.53, 1_000_000, 0.85)).is_none());
    }

    /// Four duet rounds of two cases: only the case whose client outspent its server on one
    /// side is named, with both figures.
    #[test]
    fn a_case_whose_client_outspends_its_server_is_named() {
        let side = |server_us: f64| -> Vec<crate::compare::RecordMap> {
            (0..4u64)
                .flat_map(|round| {
                    [("GET", 0.6, 0.9), ("SET", 0.3, 1.2)].map(|(command, busy, s)| {
                        let mut m = record(true, busy, 1_500_000, s * server_us)
                            .fields()
                            .clone();
                        m.insert("command".into(), command.into());
                        m.insert("run_index".into(), round.into());
                        m.insert("invocation_id".into(), "i".into());
                        m
                    })
                })
                .collect()
        };
        let opts = crate::compare::CompareOptions::default();
        let cmp = crate::compare::compare_records(&side(1.0), &side(1.1), "a", "b", &opts).unwrap();
        let w: Vec<&Warning> = cmp
            .warnings
            .iter()
            .filter(|w| w.kind == WarningKind::DuetCoupling)
            .collect();
        assert_eq!(w.len(), 1, "{:?}", cmp.warnings);
        // GET: 0.6 of 3 s over 1 500 000 requests is 1.20 µs against 0.90 µs.
        assert!(
            w[0].message
                .contains("`GET` (client 1.20 µs against server 0.90 µs)")
                && !w[0].message.contains("`SET`"),
            "{}",
            w[0]
        );
    }
}
