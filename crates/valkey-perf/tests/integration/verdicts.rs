//! The promises of `compare`'s verdicts (docs/design.md §7.6), kept by simulation: synthetic
//! records with known truth, fixed seeds, the calibration table printed; and the defects of
//! earlier verdicts, each pinned by a test.

mod frontier;
mod sim;
mod unequal;

use assert_cmd::Command;
use serde_json::{Value, json};
use sim::{Rng, Setting, Truth};
use std::path::{Path, PathBuf};
use valkey_perf::compare::numeric::{self, Judged};
use valkey_perf::compare::{
    self, CompareOptions, Comparison, DriftSource, Metric, RecordMap, Verdict, compare_records,
};

/// What one trial's report said.
#[derive(Debug, Default, Clone, Copy)]
struct Said {
    /// Any verdict of change in the primary family (rps of a case, or the overall rps line).
    alarm: bool,
    /// Case 0 regressed.
    found: bool,
    /// The overall rps line (or the common shift) regressed.
    overall: bool,
    /// `--fail-on-regression 5` fired.
    gate5: bool,
}

fn changed(v: Verdict) -> bool {
    matches!(v, Verdict::Regression | Verdict::Improvement)
}

/// What a report of records said.
fn said(cmp: &Comparison) -> Said {
    let overall_rps = cmp
        .overall
        .iter()
        .filter(|o| o.metric == Metric::Rps)
        .map(|o| o.verdict);
    Said {
        alarm: cmp.changes.iter().any(|c| c.metric == Metric::Rps)
            || overall_rps.clone().any(changed),
        found: cmp.changes.iter().any(|c| {
            c.case == sim::case_name(0)
                && c.metric == Metric::Rps
                && c.verdict == Verdict::Regression
        }),
        overall: overall_rps.clone().any(|v| v == Verdict::Regression),
        gate5: !cmp.regressions_at_least(5.0).is_empty()
            || !cmp.overall_regressions_at_least(5.0).is_empty(),
    }
}

/// What the engine's stages said of the same numbers.
fn said_numeric(j: &Judged) -> Said {
    Said {
        alarm: j.cases.iter().any(|(v, _)| changed(*v)) || changed(j.overall.verdict),
        found: j.cases[0].0 == Verdict::Regression,
        overall: j.overall.verdict == Verdict::Regression,
        gate5: j.gate(5.0),
    }
}

/// How often each thing was said over trials.
#[derive(Debug, Default, Clone, Copy)]
struct Rates {
    alarm: f64,
    found: f64,
    overall: f64,
    gate5: f64,
}

/// The rates over `trials` trials of `setting` under `truth`, seeded with `seed`, through the
/// engine's stages on numbers (see `compare::numeric`; the test below checks they judge as
/// `compare_records` does).
fn rates(setting: &Setting, truth: Truth, trials: usize, seed: u64) -> Rates {
    let mut rng = Rng::new(seed);
    let opts = CompareOptions::default();
    let mut r = Rates::default();
    let share = 1.0 / trials as f64;
    for _ in 0..trials {
        let samples = sim::trial(setting, truth, &mut rng);
        let s = said_numeric(&numeric::judge_rps(&samples, sim::analysis(setting), &opts));
        r.alarm += share * f64::from(u8::from(s.alarm));
        r.found += share * f64::from(u8::from(s.found));
        r.overall += share * f64::from(u8::from(s.overall));
        r.gate5 += share * f64::from(u8::from(s.gate5));
    }
    r
}

/// One row of the calibration table.
#[derive(Debug)]
struct Row {
    name: &'static str,
    aa_alarm: f64,
    aa_gate: f64,
    one: [f64; 3],
    all2_overall: f64,
    all2_gate: f64,
}

fn row(setting: &Setting, trials: usize) -> Row {
    let aa = rates(setting, Truth::Same, trials, 1);
    let all2 = rates(setting, Truth::AllSlower(0.02), trials, 5);
    Row {
        name: setting.name,
        aa_alarm: aa.alarm,
        aa_gate: aa.gate5,
        one: [
            rates(setting, Truth::OneSlower(0.10), trials, 2).found,
            rates(setting, Truth::OneSlower(0.05), trials, 3).found,
            rates(setting, Truth::OneSlower(0.03), trials, 4).found,
        ],
        all2_overall: all2.overall,
        all2_gate: all2.gate5,
    }
}

fn table(rows: &[Row], trials: usize) -> String {
    let pct = |x: f64| format!("{:.1} %", 100.0 * x);
    let mut out = format!(
        "calibration, {trials} trials a cell (20 cases, 5 % CV, lognormal)\n\
         | setting | A/A alarm | A/A gate 5 % | one case −10 % | −5 % | −3 % | all −2 %: overall | all −2 %: gate 5 % |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            pct(r.aa_alarm),
            pct(r.aa_gate),
            pct(r.one[0]),
            pct(r.one[1]),
            pct(r.one[2]),
            pct(r.all2_overall),
            pct(r.all2_gate)
        ));
    }
    out
}

/// `rate` of `trials` trials exceeds `bound` beyond its Monte Carlo error (one-sided, 99 %).
fn above(rate: f64, bound: f64, trials: usize) -> bool {
    let se = (bound * (1.0 - bound) / trials as f64).sqrt();
    rate > bound + 2.33 * se
}

/// The promise (a false-discovery rate of 5 % in the primary family: when nothing changed, a
/// report shows no primary verdict in at least 95 % of cases), the gate's (a true 2 %
/// slowdown everywhere trips a 5 % gate at most 5 % of the time) and the power targets, in
/// every setting of the table. The table is printed (`scripts/test.sh` shows it).
#[test]
fn calibration_table() {
    let trials: usize = std::env::var("VERDICT_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1000);
    let settings = sim::settings();
    let rows: Vec<Row> = settings.iter().map(|s| row(s, trials)).collect();
    eprintln!("{}", table(&rows, trials));
    let alpha = CompareOptions::default().alpha;
    for r in &rows {
        assert!(!above(r.aa_alarm, alpha, trials), "A/A alarms: {r:?}");
        assert!(!above(r.aa_gate, alpha, trials), "A/A gate: {r:?}");
        assert!(
            !above(r.all2_gate, alpha, trials),
            "a 2 % slowdown trips a 5 % gate: {r:?}"
        );
    }
    let power = |name: &str| rows.iter().find(|r| r.name == name).unwrap();
    let missed = |rate: f64, target: f64| above(target, rate, trials);
    let (abba5, abba10) = (power("ABBA, 5 rounds"), power("ABBA, 10 rounds"));
    // A case's variance is never taken below its own (`compare::moderate`), which keeps the
    // promise when the noise differs between cases (`unequal`); with 4 degrees of freedom a
    // case, its own variance is often the larger. Over 6 000 trials one case −10 % is found in
    // 40.2 % with 5 rounds and 87.6 % with 10: short of the verdict issue's 50 % and 90 %,
    // which no rule reaches while keeping that promise (`frontier`). The floors are the truth.
    assert!(
        !missed(abba5.one[0], 0.38),
        "one case −10 %, 5 rounds: {abba5:?}"
    );
    assert!(
        !missed(abba10.one[0], 0.85),
        "one case −10 %, 10 rounds: {abba10:?}"
    );
    assert!(
        !missed(abba10.all2_overall, 0.90),
        "all −2 %, 10 rounds: {abba10:?}"
    );
    // With 5 rounds the 100 pairs of 5 % runs know the mean change to ±0.71 % (one sd): a
    // −2 % change is 2.9 sd away, which no two-sided 5 % test finds in more than 82 % of
    // trials, and the line's share of the family sets its level at 1 %.
    assert!(
        !missed(abba5.all2_overall, 0.55),
        "all −2 %, 5 rounds: {abba5:?}"
    );
}

/// The engine's stages on numbers (what the calibration runs) judge exactly as
/// `compare_records` does on the same runs as records, in both designs.
#[test]
fn the_calibrated_stages_judge_as_compare_records_does() {
    let opts = CompareOptions::default();
    for setting in [sim::settings()[0], sim::settings()[3]] {
        let mut rng = Rng::new(7);
        for truth in [Truth::Same, Truth::OneSlower(0.10), Truth::AllSlower(0.10)] {
            for _ in 0..40 {
                let samples = sim::trial(&setting, truth, &mut rng);
                let j = numeric::judge_rps(&samples, sim::analysis(&setting), &opts);
                let (b, n) = sim::records(&setting, &samples);
                let cmp = compare_records(&b, &n, "b", "n", &opts).unwrap();
                let verdicts: Vec<Verdict> =
                    cmp.cases.iter().map(|c| c.metrics[0].verdict).collect();
                let want: Vec<Verdict> = j.cases.iter().map(|c| c.0).collect();
                assert_eq!(verdicts, want, "{}", setting.name);
                assert_eq!(
                    cmp.overall[0].verdict, j.overall.verdict,
                    "{}",
                    setting.name
                );
                assert_eq!(cmp.overall[0].pct_change, j.overall.pct_change);
            }
        }
    }
}

/// One setting end to end through `compare_records`: its A/A false alarms keep the promise.
#[test]
fn calibration_end_to_end_keeps_the_promise() {
    let setting = sim::settings()[3];
    let trials = 300;
    let mut rng = Rng::new(11);
    let opts = CompareOptions::default();
    let mut alarms = 0;
    for _ in 0..trials {
        let samples = sim::trial(&setting, Truth::Same, &mut rng);
        let (b, n) = sim::records(&setting, &samples);
        let cmp = compare_records(&b, &n, "b", "n", &opts).unwrap();
        alarms += usize::from(said(&cmp).alarm);
    }
    let rate = alarms as f64 / trials as f64;
    assert!(!above(rate, opts.alpha, trials), "{rate}");
}

// ---------------------------------------------------------------- upstream's A/A pair

fn upstream(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upstream")
        .join(name)
}

/// Upstream's A/A pair (two invocations of one binary), keeping the cases `keep` names
/// (`command`, `data_size`), with case `drop` (if any) 30 % slower in the second.
fn upstream_pair(keep: &[(&str, u64)], drop: Option<(&str, u64)>) -> Comparison {
    let case = |r: &RecordMap| {
        (
            r["command"].as_str().unwrap_or_default().to_string(),
            r["data_size"].as_u64().unwrap_or_default(),
        )
    };
    let select = |name: &str, plant: bool| -> Vec<RecordMap> {
        let records = compare::group::load_records(&upstream(name)).unwrap();
        records
            .into_iter()
            .filter(|r| keep.iter().any(|&(c, d)| case(r) == (c.to_string(), d)))
            .map(|mut r| {
                if plant && drop.is_some_and(|(c, d)| case(&r) == (c.to_string(), d)) {
                    let rps = r["rps"].as_f64().unwrap();
                    r.insert("rps".into(), json!(rps * 0.7));
                }
                r
            })
            .collect()
    };
    let opts = CompareOptions::default();
    compare_records(
        &select("run-a-metrics.json", false),
        &select("run-b-metrics.json", true),
        "a",
        "b",
        &opts,
    )
    .unwrap()
}

const ALL_CASES: [(&str, u64); 6] = [
    ("INCR", 32),
    ("LPUSH", 32),
    ("HSET", 32),
    ("INCR", 256),
    ("LPUSH", 256),
    ("HSET", 256),
];

fn report_lines(cmp: &Comparison) -> String {
    let md = compare::render_markdown(cmp);
    md.lines()
        .filter(|l| {
            l.starts_with("| 🔴")
                || l.starts_with("| 🟢")
                || l.contains("Common shift")
                || l.starts_with("**")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn upstream_a_a_pair_gives_no_verdict_of_change() {
    let cmp = upstream_pair(&ALL_CASES, None);
    assert!(cmp.changes.is_empty(), "{:?}", cmp.changes);
    assert!(
        cmp.overall.iter().all(|o| !changed(o.verdict)),
        "{:?}",
        cmp.overall
    );
    let shift = cmp
        .common_shift
        .as_ref()
        .expect("a common shift between invocations");
    assert_eq!(shift.verdict, Verdict::NoSignificantChange, "{shift:?}");
    assert_eq!(shift.drift_source, DriftSource::Default);
}

/// A 30 % drop planted into one case of upstream's A/A pair: that case, and only that case,
/// regressed, with all six cases and with only four (earlier: no verdict, and
/// `--fail-on-regression 5` passed).
#[test]
fn upstream_pair_with_a_planted_drop_convicts_that_case_only() {
    for keep in [&ALL_CASES[..4], &ALL_CASES[..]] {
        let cmp = upstream_pair(keep, Some(("LPUSH", 32)));
        eprintln!("{} cases:\n{}", keep.len(), report_lines(&cmp));
        for c in &cmp.cases {
            let m = &c.metrics[0];
            let d = m.difference.as_ref().unwrap();
            eprintln!(
                "  {}: rps {:+.1} %, p={:.4}, adj. p={:.4}: {}",
                c.label,
                d.pct_change.unwrap(),
                d.p_value,
                m.p_adjusted.unwrap(),
                m.verdict.label()
            );
        }
        let found: Vec<(&str, Metric, Verdict)> = cmp
            .changes
            .iter()
            .map(|c| (c.case.as_str(), c.metric, c.verdict))
            .collect();
        let planted = [("LPUSH data_size=32", Metric::Rps, Verdict::Regression)];
        assert_eq!(found, planted, "{} cases", keep.len());
        assert!(!cmp.regressions_at_least(5.0).is_empty(), "the gate fires");
    }
}

// ---------------------------------------------------------------- between consecutive commits

/// 10 cases × 5 runs of two consecutive commits, each benchmarked in its own invocation on a
/// quiet machine (each case drifting 2 % between invocations), with `truth` in the second:
/// what `detect-regression` hands `compare_records`.
fn consecutive_commits(truth: Truth, seed: u64, opts: &CompareOptions) -> Comparison {
    let setting = Setting {
        name: "consecutive commits",
        design: sim::Design::Across {
            common: 0.0,
            per_case: 0.02,
        },
        cases: 10,
        runs: 5,
        cv: 0.05,
    };
    let samples = sim::trial(&setting, truth, &mut Rng::new(seed));
    let (b, n) = sim::records(&setting, &samples);
    compare_records(&b, &n, "aaaa", "bbbb", opts).unwrap()
}

#[test]
fn every_case_forty_percent_slower_between_commits_is_a_regression() {
    for seed in 1..=5 {
        let cmp = consecutive_commits(Truth::AllSlower(0.40), seed, &CompareOptions::default());
        let shift = cmp.common_shift.as_ref().unwrap();
        assert_eq!(shift.verdict, Verdict::Regression, "{shift:?}");
        assert!((shift.pct_change + 40.0).abs() < 8.0, "{shift:?}");
        assert!(
            shift
                .sentence()
                .contains("cannot be told from machine drift")
        );
        assert!(!cmp.overall_regressions_at_least(5.0).is_empty());
        // Each case's change is far beyond the drift too.
        assert_eq!(cmp.regressions().count(), 10, "{:?}", cmp.changes);
    }
}

/// Half the cases 20 % slower between two commits: those cases regress (so
/// `detect-regression` fails), never the unchanged half. Against the default drift (sd 5 %,
/// plus up to as much case-to-case spread) a 20 % change is about 3 sd, so many of the slowed
/// cases stay unconvicted; a history that knows the machine drifts 1 % finds them all.
#[test]
fn half_the_cases_twenty_percent_slower_between_commits_are_those_regressed() {
    let slowed: Vec<String> = (0..10).step_by(2).map(sim::case_name).collect();
    for (drift, least) in [(None, 8), (Some(0.01), 25)] {
        let mut found = 0;
        for seed in 1..=5 {
            let opts = CompareOptions {
                drift: drift.map(|sd_log| compare::DriftPrior { sd_log, pairs: 30 }),
                ..CompareOptions::default()
            };
            let cmp = consecutive_commits(Truth::HalfSlower(0.20), seed, &opts);
            let regressed: Vec<&str> = cmp.regressions().map(|c| c.case.as_str()).collect();
            assert!(
                regressed.iter().all(|c| slowed.iter().any(|s| s == c)),
                "seed {seed}: {regressed:?}"
            );
            assert!(cmp.changes.iter().all(|c| c.verdict == Verdict::Regression));
            found += regressed.len();
        }
        eprintln!("drift {drift:?}: {found} of 25 slowed cases found");
        assert!(
            found >= least,
            "drift {drift:?}: {found} of 25 slowed cases found"
        );
    }
}

/// The drift the history gives is what the common shift is judged against, and the report
/// says where it came from.
#[test]
fn the_common_shift_is_judged_against_the_drift_of_the_history() {
    let setting = sim::settings()[0];
    let samples = sim::trial(&setting, Truth::AllSlower(0.06), &mut Rng::new(3));
    let (b, n) = sim::records(&setting, &samples);
    let judge = |drift| {
        let opts = CompareOptions {
            drift,
            ..CompareOptions::default()
        };
        compare_records(&b, &n, "a", "b", &opts).unwrap()
    };
    let quiet = judge(Some(compare::DriftPrior {
        sd_log: 0.005,
        pairs: 30,
    }));
    let shift = quiet.common_shift.as_ref().unwrap();
    assert_eq!(shift.drift_source, DriftSource::History);
    assert!(
        shift.sentence().contains("30 commit pairs"),
        "{}",
        shift.sentence()
    );
    let md = compare::render_markdown(&quiet);
    assert!(md.contains("**Common shift**"), "{md}");
    let json: Value = serde_json::from_str(&compare::render_json(&quiet)).unwrap();
    assert_eq!(json["common_shift"]["drift_pairs"], 30);
    // A machine that drifts 20 % between invocations cannot convict a 6 % shift.
    let noisy = judge(Some(compare::DriftPrior {
        sd_log: 0.20,
        pairs: 30,
    }));
    assert_eq!(
        noisy.common_shift.unwrap().verdict,
        Verdict::NoSignificantChange
    );
}

// ---------------------------------------------------------------- what users saw

fn valkey_perf() -> Command {
    Command::cargo_bin("valkey-perf").unwrap()
}

fn write(dir: &Path, name: &str, records: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(records).unwrap()).unwrap();
    path
}

fn runs(inv: &str, rps: &[f64], extra: Value) -> Value {
    Value::Array(
        rps.iter()
            .enumerate()
            .map(|(i, &v)| {
                let mut r =
                    json!({"command": "GET", "invocation_id": inv, "run_index": i, "rps": v});
                for (k, x) in extra.as_object().into_iter().flatten() {
                    r[k] = x.clone();
                }
                r
            })
            .collect(),
    )
}

/// A gate that judged nothing (one run a side) is inconclusive, exit 7, not a pass; with
/// `--allow-inconclusive` it passes.
#[test]
fn a_gate_that_judged_nothing_exits_seven() {
    let dir = tempfile::tempdir().unwrap();
    let b = write(dir.path(), "b.json", &runs("a", &[100_000.0], json!({})));
    let n = write(dir.path(), "n.json", &runs("b", &[50_000.0], json!({})));
    let gate = |extra: &[&str]| {
        valkey_perf()
            .args(["compare", "--fail-on-regression", "5", "--baseline"])
            .arg(&b)
            .arg("--new")
            .arg(&n)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = gate(&[]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-inconclusive"));
    assert_eq!(gate(&["--allow-inconclusive"]).status.code(), Some(0));
}

/// Non-positive rps is refused (exit 2) naming the file, the record and the field (earlier:
/// "regression −200 %", exit 6).
#[test]
fn non_positive_rps_is_refused_with_the_file_record_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let b = write(
        dir.path(),
        "b.json",
        &runs("a", &[100.0, 101.0, 99.0], json!({})),
    );
    let n = write(
        dir.path(),
        "bad.json",
        &runs("b", &[100.0, -100.0, 99.0], json!({})),
    );
    let out = valkey_perf()
        .args(["compare", "--fail-on-regression", "5", "--baseline"])
        .arg(&b)
        .arg("--new")
        .arg(&n)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.json` record 1: field `rps`"), "{err}");
}

/// A file concatenated with itself counts each run once, with a warning (earlier: p fell
/// from 0.046 to 0.0021 without a word).
#[test]
fn duplicated_records_count_once_with_a_warning() {
    let b = runs("i", &[100.0, 103.0, 98.0, 101.0, 99.0], json!({}));
    let n = runs("i", &[97.0, 99.0, 95.0, 98.0, 96.0], json!({}));
    let maps = |v: &Value| -> Vec<RecordMap> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect()
    };
    let opts = CompareOptions::default();
    let once = compare_records(&maps(&b), &maps(&n), "b", "n", &opts).unwrap();
    let doubled: Vec<RecordMap> = maps(&n).into_iter().chain(maps(&n)).collect();
    let twice = compare_records(&maps(&b), &doubled, "b", "n", &opts).unwrap();
    let p = |c: &Comparison| c.cases[0].metrics[0].difference.as_ref().unwrap().p_value;
    assert_eq!(p(&once), p(&twice));
    assert_eq!(twice.cases[0].new_runs, 5);
    assert!(
        twice
            .warnings
            .iter()
            .any(|w| w.to_string().contains("5 duplicated record(s)")),
        "{:?}",
        twice.warnings
    );
}

/// Constant samples one grid step apart (p50 0.127 against 0.135 ms, 5 runs) are not a
/// regression: the rounding is a bias every run shares (earlier: "regression, p = 0.013").
#[test]
fn constant_samples_one_grid_step_apart_are_no_verdict_at_any_run_count() {
    for n_runs in [5, 50] {
        let p50 = |inv: &str, v: f64| -> Vec<RecordMap> {
            (0..n_runs)
                .map(|i| {
                    json!({"command": "GET", "invocation_id": inv, "run_index": i,
                           "rps": 100_000.0 + i as f64, "p50_latency_ms": v})
                    .as_object()
                    .unwrap()
                    .clone()
                })
                .collect()
        };
        let cmp = compare_records(
            &p50("i", 0.127),
            &p50("i", 0.135),
            "b",
            "n",
            &CompareOptions::default(),
        )
        .unwrap();
        let m = cmp.cases[0]
            .metrics
            .iter()
            .find(|m| m.metric == Metric::P50Latency)
            .unwrap();
        assert_eq!(
            m.verdict,
            Verdict::NoSignificantChange,
            "{n_runs} runs: {:?}",
            m.difference
        );
    }
}

/// The report says the real reason a case got no verdict, and what each could have found:
/// two cases of 5 runs between invocations are not "fewer than 2 runs".
#[test]
fn no_verdict_says_why_and_what_could_have_been_seen() {
    let mk = |inv: &str, f: f64| -> Vec<RecordMap> {
        ["GET", "SET"]
            .iter()
            .flat_map(|c| {
                (0..5).map(move |i| {
                    json!({"command": c, "invocation_id": inv, "run_index": i,
                           "rps": f * (100_000.0 + 1000.0 * (i % 3) as f64)})
                    .as_object()
                    .unwrap()
                    .clone()
                })
            })
            .collect()
    };
    let cmp = compare_records(
        &mk("a", 1.0),
        &mk("b", 0.98),
        "a",
        "b",
        &CompareOptions::default(),
    )
    .unwrap();
    let md = compare::render_markdown(&cmp);
    assert!(!md.contains("fewer than 2 runs"), "{md}");
    assert!(md.contains("a case cannot be told from the others"), "{md}");
    // Within one invocation, each case's minimum detectable effect is in both reports.
    let one = compare_records(
        &mk("i", 1.0),
        &mk("i", 0.98),
        "a",
        "b",
        &CompareOptions::default(),
    )
    .unwrap();
    let mde = one.cases[0].metrics[0].mde_pct.unwrap();
    assert!(mde > 0.0 && mde < 20.0, "{mde}");
    let json: Value = serde_json::from_str(&compare::render_json(&one)).unwrap();
    assert!(json["cases"][0]["metrics"][0]["mde_pct"].as_f64().is_some());
    assert!(compare::render_markdown(&one).contains("| Detectable |"));
}
