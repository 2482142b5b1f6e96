//! The select stage: checks the options and every record before anything is computed, and
//! keeps the records worth comparing. A metric that is not a number, or an rps or latency
//! that is not a positive finite number, is refused (naming the file, the record and the
//! field); failed scenario runs are left out and a record present twice is counted once,
//! each with a warning; duet records are never mixed with solo ones.

use super::group;
use super::model::*;
use super::view::RecordView;
use crate::model::{Warning, WarningKind};
use std::collections::HashSet;

/// Checks the options.
fn check_options(opts: &CompareOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.threshold_pct >= 0.0 && opts.threshold_pct.is_finite(),
        "the noise threshold must be a non-negative percentage, got {}",
        opts.threshold_pct
    );
    anyhow::ensure!(
        opts.alpha > 0.0 && opts.alpha < 1.0,
        "alpha must lie between 0 and 1, got {}",
        opts.alpha
    );
    if let Some(d) = &opts.drift {
        anyhow::ensure!(
            d.sd_log.is_finite() && d.sd_log >= 0.0,
            "the invocation drift must be a non-negative standard deviation, got {}",
            d.sd_log
        );
    }
    Ok(())
}

/// Rps and the judged latencies are rates and times: a value that is zero, negative or not
/// finite is a broken record, and judging it would give nonsense ("regression −200 %").
fn must_be_positive(metric: Metric) -> bool {
    metric.judged() && (metric == Metric::Rps || metric.is_latency())
}

/// Every metric field present must be a number (or null); rps and judged latencies must be
/// positive and finite. Failed scenario runs are not checked: they are left out.
fn check_values(records: &[RecordView], source: &str) -> anyhow::Result<()> {
    for (i, r) in records.iter().enumerate().filter(|(_, r)| !r.failed()) {
        for metric in Metric::ALL {
            let field = metric.field();
            match r.get(field) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::Number(n)) => {
                    let v = n.as_f64().unwrap_or(f64::NAN);
                    anyhow::ensure!(
                        !must_be_positive(metric) || (v.is_finite() && v > 0.0),
                        "`{source}` record {i}: field `{field}` is {n}, but must be a positive \
                         finite number; fix or remove that record"
                    );
                }
                Some(other) => anyhow::bail!(
                    "`{source}` record {i}: field `{field}` is {other}, not a number; fix or \
                     remove that record"
                ),
            }
        }
    }
    Ok(())
}

/// The identity of a run: its invocation, round, target (commit) and case when the record
/// says them, else the whole record (a file concatenated with itself repeats every record).
fn identity(r: &RecordView) -> String {
    match (&r.invocation_id, r.run_index) {
        (Some(inv), Some(round)) => {
            let mut key = format!("{inv}\u{1f}{round}\u{1f}");
            key.push_str(&group::canonical(r.get("commit")).unwrap_or_default());
            for f in crate::model::fields::case_fields() {
                key.push('\u{1f}');
                key.push_str(&group::canonical(r.get(f)).unwrap_or_default());
            }
            key
        }
        _ => serde_json::Value::Object(r.fields().clone()).to_string(),
    }
}

/// Keeps the records of runs that succeeded, each once: a scenario run with `status: failed`
/// has no numbers worth comparing, and a duplicated record would count one run twice and
/// shrink every p-value. Warnings count what was left out.
fn keep(
    records: Vec<RecordView>,
    side: &str,
    source: &str,
    warnings: &mut Vec<Warning>,
) -> Vec<RecordView> {
    let total = records.len();
    let mut seen = HashSet::with_capacity(total);
    let (mut failed, mut twice) = (0, 0);
    let mut kept = Vec::with_capacity(total);
    for r in records {
        if r.failed() {
            failed += 1;
        } else if !seen.insert(identity(&r)) {
            twice += 1;
        } else {
            // A record without `engine` was measured by valkey-benchmark (upstream writes
            // none), and runs of different engines are never paired: `engine` is a case field.
            kept.push(r.with_default_engine());
        }
    }
    if failed > 0 {
        warnings.push(Warning::new(
            WarningKind::Input,
            format!("{failed} {side} record(s) have `status: failed` and were left out"),
        ));
    }
    if twice > 0 {
        warnings.push(
            Warning::new(
                WarningKind::Input,
                format!(
                    "`{source}` holds {twice} duplicated record(s) (same invocation, round, case \
                     and target, or the same record twice): each run was counted once"
                ),
            )
            .with_hint("check the file was not concatenated with itself"),
        );
    }
    kept
}

/// The first stage: checks options and records, and keeps the records worth comparing,
/// warning about empty sides.
pub(super) fn select(
    sides: [(Vec<RecordView>, &str); 2],
    opts: &CompareOptions,
    warnings: &mut Vec<Warning>,
) -> anyhow::Result<(Vec<RecordView>, Vec<RecordView>)> {
    check_options(opts)?;
    for ((recs, src), side) in sides.iter().zip(["baseline", "new"]) {
        if recs.is_empty() {
            warnings.push(Warning::new(
                WarningKind::Input,
                format!("the {side} file `{src}` holds no records"),
            ));
        }
        check_values(recs, src)?;
    }
    let [(baseline, bsrc), (new, nsrc)] = sides;
    let (baseline, new) = (
        keep(baseline, "baseline", bsrc, warnings),
        keep(new, "new", nsrc, warnings),
    );
    check_duet(&baseline, bsrc, &new, nsrc)?;
    if baseline.iter().chain(&new).any(RecordView::is_duet) {
        warnings.push(
            Warning::new(
                WarningKind::Input,
                "these are duet runs: both targets ran at the same time on one machine, each \
                 server sharing its CPUs with the other's client, so their absolute rps and \
                 latencies are not those of a solo run; only the comparison between them is \
                 meaningful",
            )
            .with_hint("measure absolute figures with a run without --duet"),
        );
    }
    Ok((baseline, new))
}

/// Duet records are paired only with duet records: a duet run's rps is not a solo run's (the
/// two targets shared the machine), so mixing them would judge the setup, not the targets.
fn check_duet(
    baseline: &[RecordView],
    bsrc: &str,
    new: &[RecordView],
    nsrc: &str,
) -> anyhow::Result<()> {
    let count = |rs: &[RecordView]| {
        let duet = rs.iter().filter(|r| r.is_duet()).count();
        (duet, rs.len() - duet)
    };
    let ((bd, bs), (nd, ns)) = (count(baseline), count(new));
    if (bd + nd == 0) || (bs + ns == 0) {
        return Ok(());
    }
    let side = |src: &str, d: usize, s: usize| match (d, s) {
        (0, s) => format!("`{src}` holds {s} solo record(s)"),
        (d, 0) => format!("`{src}` holds {d} duet record(s)"),
        (d, s) => format!("`{src}` holds {d} duet and {s} solo record(s)"),
    };
    anyhow::bail!(
        "{} and {}: duet runs (`duet: true`, both targets at once) are never paired with solo \
         runs, whose rps is not comparable; compare duet records with duet records (run both \
         targets with --duet, into a results directory of their own with --results-dir)",
        side(bsrc, bd, bs),
        side(nsrc, nd, ns)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(v: serde_json::Value) -> RecordView {
        RecordView::from_map(v.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn non_positive_rates_and_times_are_refused_by_file_record_and_field() {
        let ok = view(serde_json::json!({"command": "GET", "rps": 10.0, "min_latency_ms": 0.0}));
        let bad = view(serde_json::json!({"command": "GET", "rps": -5.0}));
        assert!(check_values(std::slice::from_ref(&ok), "a.json").is_ok());
        let err = check_values(&[ok, bad], "b.json").unwrap_err().to_string();
        assert!(
            err.contains("`b.json` record 1: field `rps` is -5.0") && err.contains("positive"),
            "{err}"
        );
        let failed = view(serde_json::json!({"command": "GET", "rps": 0, "status": "failed"}));
        assert!(check_values(&[failed], "c.json").is_ok());
    }

    #[test]
    fn duet_records_are_never_mixed_with_solo_ones() {
        let r = |round: u64, duet: bool| {
            let mut v = serde_json::json!({"command": "GET", "rps": 10.0,
                "invocation_id": "i", "run_index": round});
            if duet {
                v["duet"] = true.into();
            }
            view(v)
        };
        let mut warnings = Vec::new();
        let pick = |b: Vec<RecordView>, n: Vec<RecordView>, w: &mut Vec<Warning>| {
            select(
                [(b, "b.json"), (n, "n.json")],
                &CompareOptions::default(),
                w,
            )
        };
        let err = pick(vec![r(0, true)], vec![r(0, false)], &mut warnings)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`b.json` holds 1 duet record(s) and `n.json` holds 1 solo record(s)")
                && err.contains("--duet"),
            "{err}"
        );
        let err = pick(
            vec![r(0, true), r(1, false)],
            vec![r(0, true)],
            &mut warnings,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("1 duet and 1 solo"), "{err}");
        assert!(pick(vec![r(0, false)], vec![r(0, false)], &mut warnings).is_ok());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(pick(vec![r(0, true)], vec![r(0, true)], &mut warnings).is_ok());
        assert!(
            warnings[0].to_string().contains("not those of a solo run"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_record_present_twice_is_counted_once_with_a_warning() {
        let r = |round: u64| {
            view(
                serde_json::json!({"command": "GET", "rps": 10.0, "invocation_id": "i",
                                     "run_index": round}),
            )
        };
        let mut warnings = Vec::new();
        let kept = keep(vec![r(0), r(1), r(0)], "new", "n.json", &mut warnings);
        assert_eq!(kept.len(), 2);
        assert!(
            warnings[0].to_string().contains("1 duplicated record"),
            "{warnings:?}"
        );
        let u = view(serde_json::json!({"command": "GET", "rps": 10.0}));
        let kept = keep(vec![u.clone(), u], "new", "n.json", &mut Vec::new());
        assert_eq!(kept.len(), 1);
    }
}
