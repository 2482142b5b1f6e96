//! The end of a run: the table on stdout, the comparison report of every target against the
//! baseline, and differential flamegraphs.

use super::plan::{self, Plan};
use super::precise::half_width_pct;
use super::{capacity, once};
use crate::compare::stats::Summary;
use crate::model::Record;
use anyhow::{Context, Result};
use std::path::Path;

/// With a baseline, compares every other target against it and writes
/// `results/<baseline>_vs_<target>/report.md`.
pub(super) fn write_reports(plan: &Plan, records: &[Vec<Record>]) -> Result<()> {
    capacity::charts(plan, records)?;
    let Some(bi) = plan.targets.iter().position(|t| t.is_baseline) else {
        return Ok(());
    };
    let views = |rs: &[Record]| -> Vec<crate::compare::RecordView> {
        rs.iter()
            .map(crate::compare::RecordView::from_record)
            .collect()
    };
    let base = &plan.targets[bi];
    let base_records = views(&records[bi]);
    for (ti, t) in plan.targets.iter().enumerate() {
        if ti == bi {
            continue;
        }
        let cmp = crate::compare::compare_views(
            &base_records,
            &views(&records[ti]),
            &base.label,
            &t.label,
            &crate::compare::CompareOptions::default(),
        )?;
        let dir = plan
            .results_dir
            .join(format!("{}_vs_{}", base.commit, t.commit));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
        crate::compare::write_report(&cmp, &dir, plan.graphs)?;
        print_changes(&cmp, &base.commit, &t.commit);
        differential_flamegraphs(plan, base, t, &dir)?;
        tracing::info!(
            "comparison written to `{}`",
            dir.join("report.md").display()
        );
        crate::util::outln(format_args!("{}", dir.join("report.md").display()));
    }
    Ok(())
}

/// The comparison's headline on stdout: per case, the change in its first judged metric, the
/// 95 % interval of the change with its half-width (how precise the run was), and the
/// verdict; the report has the rest.
fn print_changes(cmp: &crate::compare::Comparison, base: &str, new: &str) {
    use crate::compare::Verdict;
    let width = cmp.cases.iter().map(|c| c.label.len()).max().unwrap_or(0);
    let mut header = Some(format!(
        "{new} against {base}: change, 95 % interval (± half-width), verdict"
    ));
    for case in &cmp.cases {
        let Some((m, d)) = case.metrics.iter().find_map(|m| {
            (m.verdict != Verdict::NotJudged)
                .then_some(m.difference.as_ref().map(|d| (m, d)))
                .flatten()
        }) else {
            continue;
        };
        // The half-width on the ratio's log scale, as `--precision` reads it.
        let change = match (d.pct_change, d.pct_change_ci95, half_width_pct(case)) {
            (Some(p), Some([lo, hi]), Some(h)) => {
                format!("{p:+6.1} %  ({lo:+.1} … {hi:+.1} %, ±{h:.1} %)")
            }
            _ => "no interval".to_string(),
        };
        if let Some(h) = header.take() {
            crate::util::outln(format_args!("{h}"));
        }
        crate::util::outln(format_args!(
            "  {:<width$}  {:<24}  {change}  {}",
            case.label,
            m.field,
            m.verdict.label()
        ));
    }
    // What can turn a duet's rps against the server's cost belongs beside the verdicts.
    for w in &cmp.warnings {
        if w.kind == crate::model::WarningKind::DuetCoupling {
            tracing::warn!("{w}");
        }
    }
}

/// For every profiled case with flamegraphs of both targets: a differential flamegraph in
/// `<dir>/flamegraphs/<case>.svg`, linked from the end of `<dir>/report.md`.
fn differential_flamegraphs(
    plan: &Plan,
    base: &plan::Target,
    new: &plan::Target,
    dir: &Path,
) -> Result<()> {
    let mut links = Vec::new();
    for (ci, case) in plan.cases.iter().enumerate() {
        if case.profiling.is_none() {
            continue;
        }
        let name = once::flamegraph_name(ci, case);
        let folded = |t: &plan::Target| {
            std::fs::read_to_string(t.dir.join("flamegraphs").join(format!("{name}.folded"))).ok()
        };
        let (Some(before), Some(after)) = (folded(base), folded(new)) else {
            continue;
        };
        let svg = dir.join("flamegraphs").join(format!("{name}.svg"));
        let title = format!("{} → {}: {}", base.label, new.label, case.label());
        match crate::results::flamegraph::draw_differential(&before, &after, &title, &svg) {
            Ok(()) => links.push(format!("- [{}](flamegraphs/{name}.svg)", case.label())),
            Err(e) => tracing::warn!("no differential flamegraph of {}: {e:#}", case.label()),
        }
    }
    if links.is_empty() {
        return Ok(());
    }
    let report = dir.join("report.md");
    let mut text = std::fs::read_to_string(&report)
        .with_context(|| format!("reading `{}`", report.display()))?;
    text.push_str(&format!(
        "\n## Differential flamegraphs\n\nOne per profiled case: the new target's stacks (`perf record -e cpu-clock -g` on the servers during an extra, unmeasured run), each frame red where it took a larger share of the samples than on the baseline, blue where smaller.\n\n{}\n",
        links.join("\n")
    ));
    crate::util::write_atomic(&report, text.as_bytes())
        .with_context(|| format!("writing `{}`", report.display()))?;
    for l in &links {
        tracing::info!("differential flamegraph: {l}");
    }
    Ok(())
}

/// The end-of-run table on stdout: per case and target, rps and p50/p99 latency as mean ±
/// standard deviation over the runs (hyperfine-style), and the half-width of the 95 %
/// confidence interval of the mean rps as a share of it (how precisely this many runs pinned
/// the rps down), before the paths of the files.
pub(super) fn print_summary(plan: &Plan, measured: &[(String, usize, crate::model::Metrics)]) {
    if measured.is_empty() {
        return;
    }
    let spread = |v: &[f64], unit: &str| -> String {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        if v.len() < 2 {
            return format!("{} {unit}", fmt_num(mean));
        }
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        format!("{} ± {} {unit}", fmt_num(mean), fmt_num(sd))
    };
    let width = plan
        .targets
        .iter()
        .map(|t| t.commit.len())
        .max()
        .unwrap_or(6);
    crate::util::outln(format_args!(
        "{:<width$}  {:>4}  {:>22}  {:>9}  {:>22}  {:>22}",
        "target", "runs", "rps", "rps CI95", "p50", "p99"
    ));
    let mut labels: Vec<&str> = Vec::new();
    for (label, _, _) in measured {
        if !labels.contains(&label.as_str()) {
            labels.push(label);
        }
    }
    for label in labels {
        crate::util::outln(format_args!("{label}"));
        for (ti, t) in plan.targets.iter().enumerate() {
            let runs: Vec<&crate::model::Metrics> = measured
                .iter()
                .filter(|(c, tt, _)| c == label && *tt == ti)
                .map(|(_, _, m)| m)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let col = |f: fn(&crate::model::Metrics) -> f64| {
                runs.iter().map(|m| f(m)).collect::<Vec<f64>>()
            };
            let rps = col(|m| m.rps);
            let ci = Summary::of(&rps)
                .and_then(|s| s.ci95_half_width_pct())
                .map_or_else(|| "-".to_string(), |pct| format!("±{pct:.1} %"));
            crate::util::outln(format_args!(
                "{:<width$}  {:>4}  {:>22}  {:>9}  {:>22}  {:>22}",
                t.commit,
                runs.len(),
                spread(&rps, "/s"),
                ci,
                spread(&col(|m| m.p50_latency_ms), "ms"),
                spread(&col(|m| m.p99_latency_ms), "ms"),
            ));
        }
    }
    if plan.cases.iter().any(|c| c.duet) {
        crate::util::outln(format_args!(
            "duet runs: both targets ran at once, each server sharing its CPUs with the other's client; their absolute rps is not a solo run's, only their ratio is meaningful"
        ));
    }
    crate::util::outln(format_args!(""));
}

/// Three significant digits with a K/M suffix for large values.
fn fmt_num(v: f64) -> String {
    let (v, suffix) = match v.abs() {
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "K"),
        _ => (v, ""),
    };
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else if v.abs() >= 1.0 {
        2
    } else {
        3
    };
    format!("{v:.digits$}{suffix}")
}
