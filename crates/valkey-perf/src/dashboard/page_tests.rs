//! The page from synthetic histories with known truth: flat ones (no entry in "what changed",
//! no regression in the table), one with a planted step (listed first, marked on its chart).

use super::*;
use crate::history::changepoint::SplitMix;
use serde_json::json;

const COMMANDS: [&str; 4] = ["GET", "SET", "INCR", "LPUSH"];
const SIZES: [u64; 3] = [16, 512, 4096];

/// `commits` commits × 12 cases × 3 runs, each commit its own invocation: 2 % noise run to run,
/// 0.7 % drift per invocation shared by every case; `step(case, commit)` multiplies rps.
fn history(seed: u64, commits: usize, step: impl Fn(usize, usize) -> f64) -> Vec<RecordView> {
    let mut rng = SplitMix::new(seed);
    let mut rows = Vec::new();
    for t in 0..commits {
        let sha = format!("{:040x}", rng.next_u64());
        let time = format!("2025-01-{:02}T{:02}:00:00Z", 1 + t / 24, t % 24);
        let drift = 0.007 * rng.normal();
        for (c, (command, size)) in COMMANDS
            .iter()
            .flat_map(|c| SIZES.iter().map(move |s| (c, s)))
            .enumerate()
        {
            for run in 0..3 {
                let rps = 100_000.0 * (drift + 0.02 * rng.normal()).exp() * step(c, t);
                let v = json!({
                    "commit": sha, "timestamp": time, "command": command, "data_size": size,
                    "pipeline": 1, "rps": rps, "p50_latency_ms": 50.0 / rps * 1000.0,
                    "p99_latency_ms": 110.0 / rps * 1000.0, "invocation_id": format!("inv{t}"),
                    "run_index": run, "repository": "valkey-io/valkey",
                });
                rows.push(RecordView::from_map(v.as_object().unwrap().clone()));
            }
        }
    }
    rows
}

fn page(rows: Vec<RecordView>) -> String {
    render(&Input {
        rows,
        ..Input::default()
    })
    .unwrap()
}

fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<section id=\"{id}\"")).unwrap();
    &html[start..start + html[start..].find("</section>").unwrap()]
}

/// Thirteen flat histories (seeds 1–13): the page lists no change and the table of the newest
/// commit calls nothing a regression.
#[test]
fn flat_histories_show_no_change_and_no_regression() {
    for seed in 1..=13 {
        let html = page(history(seed, 24, |_, _| 1.0));
        let changes = section(&html, "changes");
        assert!(
            changes.contains("id=\"no-change\""),
            "seed {seed}: {changes}"
        );
        let latest = section(&html, "latest");
        assert_eq!(
            latest.matches("<tr data-command=").count(),
            36,
            "seed {seed}"
        );
        assert!(
            !latest.contains("class=\"regression\""),
            "seed {seed}: noise called a regression: {latest}"
        );
    }
}

/// GET 16 B drops 15 % ten commits before the newest; SET 512 B rose 8 % long before. The
/// drop is the first entry of "what changed", with its commit, size and a link to its chart,
/// and the chart's data carries the change point; the page leads with it.
#[test]
fn a_planted_step_is_listed_first_and_linked_to_its_chart() {
    let rows = history(7, 40, |c, t| match (c, t) {
        (0, t) if t >= 30 => 0.85,
        (4, t) if t >= 12 => 1.08,
        _ => 1.0,
    });
    let first_step = rows
        .iter()
        .map(|r| text(r, "commit").unwrap())
        .nth(30 * 36)
        .unwrap();
    let html = page(rows);
    let changes = html.find("<section id=\"changes\"").unwrap();
    assert!(changes < html.find("<section id=\"latest\"").unwrap());
    assert!(changes < html.find("<section id=\"trends\"").unwrap());
    let table = section(&html, "changes");
    let first = &table[table.find("<tbody><tr").unwrap()..];
    let first = &first[..first.find("</tr>").unwrap()];
    assert!(first.contains(&first_step[..7]), "{first}");
    assert!(
        first.contains("<b>GET</b>") && first.contains("16 B values"),
        "{first}"
    );
    let pct: f64 = first
        .split("class=\"regression\">")
        .nth(1)
        .and_then(|s| s.split(" %").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    assert!((-17.0..=-13.0).contains(&pct), "{first}");
    assert!(first.contains("href=\"#p"), "{first}");
    assert_eq!(table.matches("<tr data-command=").count(), 2, "{table}");
    assert!(
        table.contains("<b>SET</b>") && table.contains("+8."),
        "{table}"
    );
    // The data block: the linked panel has the change point at commit 30.
    let panel: usize = first
        .split("data-goto=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let block = &html[html.find("id=\"data\">").unwrap() + 10..];
    let block: serde_json::Value =
        serde_json::from_str(&block[..block.find("</script>").unwrap()]).unwrap();
    assert_eq!(block["panels"][panel]["command"], "GET");
    assert_eq!(block["panels"][panel]["cps"][0][0], 30);
    assert_eq!(block["commits"].as_array().unwrap().len(), 40);
}

/// Reference rows (a commit measured again beside a newer one) are neither a commit nor drawn.
#[test]
fn reference_rows_are_not_drawn() {
    let mut rows = history(3, 8, |_, _| 1.0);
    let mut v = rows[0].fields().clone();
    v.insert("commit".into(), json!("ffffffffff"));
    v.insert(crate::history::REFERENCE_FIELD.into(), json!("later"));
    rows.push(RecordView::from_map(v));
    let html = page(rows);
    assert!(
        html.contains("8 commit(s)"),
        "the reference-only commit is not a commit"
    );
    assert!(!html.contains("fffffff"), "reference rows are not drawn");
}

/// Capacity ladders of the two newest commits are drawn inline, both on one chart per case;
/// a page without capacity records has no such section.
#[test]
fn the_newest_commits_capacity_ladders_are_drawn() {
    let ladder = |sha: &str, time: &str, scale: f64| {
        let steps: Vec<serde_json::Value> = [0.2, 0.6, 0.95, 1.05]
            .iter()
            .map(|share| {
                let rate = (share * 100_000.0 * scale).round();
                json!({
                    "target_rps": rate, "achieved_rps": rate, "p50_latency_ms": 0.1 * share,
                    "p99_latency_ms": 0.4 * share, "p999_latency_ms": 0.6, "max_latency_ms": 1.0,
                    "server_cpu_us_per_request": 5.0, "client_bound": false,
                    "requests": 1000, "unsent": 0, "errors": 0,
                    "outcome": if *share > 1.0 { "slo_breached" } else { "met" }
                })
            })
            .collect();
        let v = json!({
            "commit": sha, "timestamp": time, "command": "GET", "data_size": 16,
            "pipeline": 1, "rps": 95_000.0 * scale, "p50_latency_ms": 0.1,
            "p99_latency_ms": 0.4, "benchmark_mode": "capacity",
            "capacity_max_rps": 95_000.0 * scale, "capacity_knee_rps": 60_000.0 * scale,
            "capacity_closed_loop_rps": 100_000.0 * scale, "capacity_end": "slo_breached",
            "capacity_slo": "p99 ≤ 1 ms", "capacity_steps": steps,
            "repository": "valkey-io/valkey",
        });
        RecordView::from_map(v.as_object().unwrap().clone())
    };
    let rows = vec![
        ladder(&"a".repeat(40), "2025-01-01T00:00:00Z", 1.0),
        ladder(&"b".repeat(40), "2025-01-02T00:00:00Z", 0.8),
    ];
    let html = page(rows);
    let capacity = section(&html, "capacity");
    assert_eq!(
        capacity.matches("<figure class=\"ladder\"").count(),
        1,
        "{capacity}"
    );
    assert!(
        capacity.contains("<svg") && capacity.contains("p99"),
        "{capacity}"
    );
    // Both commits' ladders, each named by its commit.
    assert!(
        capacity.contains("aaaaaaa") && capacity.contains("bbbbbbb"),
        "{capacity}"
    );
    assert!(!page(history(1, 4, |_, _| 1.0)).contains("<section id=\"capacity\""));
}
