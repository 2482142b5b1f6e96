//! Rendering a [`Comparison`] as markdown (for pull requests and `report.md`) or JSON.
//!
//! Presentation only: every number comes from the comparison; nothing is recomputed here
//! except formatting (K/M suffixes, significant digits, percentages).

use super::effects;
use super::model::{
    CaseComparison, Comparison, Correction, MetricComparison, Overall, SideInfo, Verdict,
};
use super::stats::Summary;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// The comparison as pretty JSON (same content as the markdown report).
pub fn render_json(cmp: &Comparison) -> String {
    let mut s = serde_json::to_string_pretty(cmp).expect("a comparison serializes to JSON");
    s.push('\n');
    s
}

/// `v` rounded to `digits` significant digits, without exponent notation.
fn sig(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - mag).max(0) as usize;
    format!("{v:.decimals$}")
}

/// A number with a K/M suffix and about `digits` significant digits: `403.2K`, `1.41M`, `0.141`.
pub fn fmt_num(v: f64, digits: i32) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", sig(v / 1e6, digits))
    } else if a >= 1e3 {
        format!("{}K", sig(v / 1e3, digits))
    } else {
        sig(v, digits)
    }
}

/// A value of a metric with its unit: `403.2K` rps, `0.141 ms`.
fn fmt_value(v: f64, unit: &str) -> String {
    if matches!(unit, "ms" | "µs" | "B") {
        format!("{} {unit}", fmt_num(v, 3))
    } else {
        fmt_num(v, 4)
    }
}

/// A signed percentage: `+1.2%`, `-0.35%`, `n/a`.
pub fn fmt_pct(p: Option<f64>) -> String {
    match p {
        None => "n/a".to_string(),
        Some(p) if p.abs() >= 1.0 => format!("{p:+.1}%"),
        Some(p) => format!("{p:+.2}%"),
    }
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "<0.001".to_string()
    } else {
        format!("{p:.3}")
    }
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "🔴",
        Verdict::Improvement => "🟢",
        Verdict::NoSignificantChange => "⚪",
        Verdict::InsufficientData => "❔",
        Verdict::NotJudged => "·",
    }
}

/// `n=5, σ=12.3K, CV=0.7%, CI95%=±0.9%`.
fn fmt_stats(m: &MetricComparison, s: Option<&Summary>) -> String {
    let Some(s) = s else {
        return "no runs".to_string();
    };
    let mut out = format!("n={}", s.n);
    if let Some(sd) = s.sd {
        let sd = if matches!(m.metric.unit(), "ms" | "µs" | "B") {
            sig(sd, 2)
        } else {
            fmt_num(sd, 3)
        };
        let _ = write!(out, ", σ={sd}");
    }
    if let Some(cv) = s.cv_pct {
        let _ = write!(out, ", CV={cv:.1}%");
    }
    if let Some(ci) = s.ci95_half_width_pct() {
        let _ = write!(out, ", CI95%=±{ci:.1}%");
    }
    out
}

fn file_name(source: &str) -> String {
    Path::new(source)
        .file_name()
        .map_or_else(|| source.to_string(), |n| n.to_string_lossy().into_owned())
}

fn is_sha(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_repo(s: &str) -> bool {
    let mut parts = s.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// A commit as markdown, linked when the repository is a GitHub `owner/name`.
fn fmt_commit(commit: &str, repo: Option<&str>) -> String {
    match repo {
        Some(repo) if is_sha(commit) && is_repo(repo) => {
            let short = &commit[..commit.len().min(12)];
            format!("[`{short}`](https://github.com/{repo}/commit/{commit})")
        }
        _ => format!("`{commit}`"),
    }
}

/// The short name of a side for the title: its ref, else its commit, else its file name.
fn side_name(side: &SideInfo) -> String {
    let pick = |v: &Vec<String>| (v.len() == 1).then(|| v[0].clone());
    pick(&side.refs)
        .or_else(|| {
            pick(&side.commits).map(|c| {
                if is_sha(&c) {
                    c[..c.len().min(12)].to_string()
                } else {
                    c
                }
            })
        })
        .unwrap_or_else(|| file_name(&side.source))
}

/// A side's short name (its ref, commit or file), as charts label its ladders.
pub(super) fn short_side_name(side: &SideInfo) -> String {
    let name = side_name(side);
    // A server binary's path: its directory names the build (`valkey-9.1.2`).
    match std::path::Path::new(&name)
        .parent()
        .and_then(|p| p.file_name())
    {
        Some(dir) if name.contains('/') => dir.to_string_lossy().into_owned(),
        _ => name,
    }
}

fn side_line(role: &str, side: &SideInfo) -> String {
    let commits: Vec<String> = side
        .commits
        .iter()
        .map(|c| fmt_commit(c, side.repository.as_deref()))
        .collect();
    let mut line = format!("- **{role}**: `{}`", file_name(&side.source));
    if !commits.is_empty() {
        let _ = write!(line, ", commit {}", commits.join(", "));
    }
    if !side.refs.is_empty() {
        let _ = write!(line, " (ref `{}`)", side.refs.join("`, `"));
    }
    if let Some(repo) = &side.repository {
        let _ = write!(line, " in `{repo}`");
    }
    if !side.server_versions.is_empty() {
        let _ = write!(line, ", server {}", side.server_versions.join(", "));
    }
    let _ = write!(line, ", {} runs", side.records);
    line
}

fn param_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn correction_text(cmp: &Comparison) -> String {
    match cmp.options.correction {
        Correction::Fdr => format!("false-discovery rate {} per family", cmp.options.alpha),
        Correction::Holm => format!("Holm-corrected per family, α = {}", cmp.options.alpha),
        Correction::None => format!("uncorrected, α = {} each", cmp.options.alpha),
    }
}

/// Instructions mode: the functions whose inclusive instructions per request changed most.
fn functions_table(out: &mut String, case: &CaseComparison) {
    if case.functions.is_empty() {
        return;
    }
    out.push_str(
        "\nWhere the instructions changed (inclusive, per request; share of the new side's total):\n\n",
    );
    out.push_str("| function | baseline | new | change | share |\n|---|---|---|---|---|\n");
    for f in &case.functions {
        let _ = writeln!(
            out,
            "| `{}` | {:.0} | {:.0} | {:+.0} | {:.1}% |",
            f.function.replace('|', "\\|"),
            f.baseline_per_request,
            f.new_per_request,
            f.change_per_request,
            f.new_share_pct
        );
    }
}

/// What the servers held after the load and their time per call, per side (shown, not judged).
fn server_table(out: &mut String, case: &CaseComparison) {
    if case.server.is_empty() {
        return;
    }
    out.push_str("\nServers after the run (means; shown, not judged):\n\n");
    out.push_str("| | baseline | new | change |\n|---|---|---|---|\n");
    let shown = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| fmt_num(v, 4));
    for f in &case.server {
        let change = match (f.baseline_mean, f.new_mean) {
            (Some(b), Some(n)) if b != 0.0 => fmt_pct(Some((n - b) / b.abs() * 100.0)),
            _ => "n/a".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {change} |",
            f.label,
            shown(f.baseline_mean),
            shown(f.new_mean)
        );
    }
}

/// How many judged metrics each analysis decided, e.g. `paired for 20 metrics`.
fn analyses_used(cmp: &Comparison) -> Vec<String> {
    let mut counts: Vec<(effects::Analysis, usize)> = Vec::new();
    for m in cmp.cases.iter().flat_map(|c| &c.metrics) {
        let Some(a) = m.analysis.filter(|_| m.metric.judged()) else {
            continue;
        };
        match counts.iter_mut().find(|(x, _)| *x == a) {
            Some((_, n)) => *n += 1,
            None => counts.push((a, 1)),
        }
    }
    counts
        .into_iter()
        .map(|(a, n)| format!("{} for {n} metric(s)", a.label()))
        .collect()
}

fn case_table(out: &mut String, case: &CaseComparison, holm: bool) {
    out.push_str(
        "| | % Change | Detectable | Test | baseline | new | baseline stats | new stats |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for m in &case.metrics {
        let unit = m.metric.unit();
        let change = match &m.difference {
            Some(d) => {
                let mut s = fmt_pct(d.pct_change);
                if let Some([lo, hi]) = d.pct_change_ci95 {
                    let _ = write!(s, " ({} … {})", fmt_pct(Some(lo)), fmt_pct(Some(hi)));
                }
                s
            }
            None => match (&m.baseline, &m.new) {
                (Some(b), Some(n)) if b.mean != 0.0 => {
                    fmt_pct(Some((n.mean - b.mean) / b.mean.abs() * 100.0))
                }
                _ => "n/a".to_string(),
            },
        };
        let test = match (&m.difference, m.p_adjusted) {
            (Some(d), Some(adj)) if holm => {
                format!("p={}, adj. p={}", fmt_p(d.p_value), fmt_p(adj))
            }
            (Some(d), _) => format!("p={}", fmt_p(d.p_value)),
            (None, _) => "n/a".to_string(),
        };
        let test = match m.analysis {
            Some(a) => format!("{} ({})", test, a.label()),
            None => test,
        };
        let mean = |s: &Option<Summary>| {
            s.as_ref()
                .map_or_else(|| "–".to_string(), |s| fmt_value(s.mean, unit))
        };
        let detectable = m
            .mde_pct
            .map_or_else(|| "–".to_string(), |d| format!("±{}", fmt_num(d, 2) + " %"));
        let _ = writeln!(
            out,
            "| {} **{}** | {} | {} | {} | {} | {} | {} | {} |",
            icon(m.verdict),
            m.metric.label(),
            change,
            detectable,
            test,
            mean(&m.baseline),
            mean(&m.new),
            fmt_stats(m, m.baseline.as_ref()),
            fmt_stats(m, m.new.as_ref()),
        );
    }
}

/// The comparison as a markdown report, ready to paste into a pull request: the title, the
/// summary, the results per case, the fixed configuration and the legend, in that order.
pub fn render_markdown(cmp: &Comparison) -> String {
    let mut out = String::new();
    // Whether adjusted p-values are shown.
    let holm = cmp.options.correction != Correction::None;
    title(&mut out, cmp);
    summary(&mut out, cmp, holm);
    cases_section(&mut out, cmp, holm);
    fixed_configuration(&mut out, cmp);
    super::legend::legend(&mut out, cmp, holm);
    out
}

/// The title and one line per side.
fn title(out: &mut String, cmp: &Comparison) {
    let _ = writeln!(
        out,
        "# Performance comparison: `{}` → `{}`\n",
        side_name(&cmp.baseline),
        side_name(&cmp.new)
    );
    let _ = writeln!(out, "{}", side_line("Baseline", &cmp.baseline));
    let _ = writeln!(out, "{}\n", side_line("New", &cmp.new));
}

/// The summary: the significant changes, the overall lines, the analyses used, what could
/// not be judged or compared, and the warnings.
fn summary(out: &mut String, cmp: &Comparison, holm: bool) {
    out.push_str("## Summary\n\n");
    changes(out, cmp, holm);
    overall_lines(out, cmp);
    notes(out, cmp);
    warnings(out, cmp);
}

/// How many comparisons were made, and the table of significant changes, largest first.
fn changes(out: &mut String, cmp: &Comparison, holm: bool) {
    let regressions = cmp.regressions().count();
    let improvements = cmp.changes.len() - regressions;
    let judged_metrics = cmp
        .options
        .metrics
        .metrics()
        .iter()
        .filter(|m| m.judged())
        .filter(|m| {
            cmp.cases
                .iter()
                .any(|c| c.metrics.iter().any(|x| x.metric == **m))
        })
        .count();
    let family = format!(
        "{} comparisons ({} cases × {} metrics with enough data; {}, noise threshold {} %)",
        cmp.comparisons,
        cmp.cases.len(),
        judged_metrics,
        correction_text(cmp),
        cmp.options.threshold_pct
    );
    if cmp.changes.is_empty() {
        let _ = writeln!(out, "**No significant change** in {family}.\n");
    } else {
        let _ = writeln!(
            out,
            "**{regressions} regression(s), {improvements} improvement(s)** in {family}:\n"
        );
        out.push_str("| | Case | Metric | % Change | 95 % CI | p | adj. p |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for c in &cmp.changes {
            let ci = c.pct_change_ci95.map_or_else(
                || "n/a".to_string(),
                |[lo, hi]| format!("{} … {}", fmt_pct(Some(lo)), fmt_pct(Some(hi))),
            );
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | **{}** | {} | {} | {} |",
                icon(c.verdict),
                c.verdict.label(),
                c.case,
                c.metric.label(),
                fmt_pct(c.pct_change),
                ci,
                fmt_p(c.p_value),
                if holm {
                    fmt_p(c.p_adjusted)
                } else {
                    "–".to_string()
                },
            );
        }
        out.push('\n');
    }
}

/// The overall line of every metric with an estimate, or why there is none; between two
/// invocations, the common shift.
fn overall_lines(out: &mut String, cmp: &Comparison) {
    let judged_overall: Vec<&Overall> = cmp
        .overall
        .iter()
        .filter(|o| o.pct_change.is_some())
        .collect();
    if let Some(shift) = &cmp.common_shift {
        let [lo, hi] = shift.pct_change_ci95;
        let _ = writeln!(
            out,
            "{} **Common shift**: {} ({} … {}, p={}, {} cases).\n",
            icon(shift.verdict),
            shift.sentence(),
            fmt_pct(Some(lo)),
            fmt_pct(Some(hi)),
            fmt_p(shift.p_value),
            shift.cases
        );
    }
    if !judged_overall.is_empty() {
        out.push_str("Overall, the geometric mean of the cases' ratios:\n\n");
        for o in &judged_overall {
            let ci = o.pct_change_ci95.map_or_else(
                || "n/a".to_string(),
                |[lo, hi]| format!("{} … {}", fmt_pct(Some(lo)), fmt_pct(Some(hi))),
            );
            let _ = writeln!(
                out,
                "- {} **{}**: {} ({ci}), p={}, {} cases: {}",
                icon(o.verdict),
                o.metric.label(),
                fmt_pct(o.pct_change),
                fmt_p(o.p_value.unwrap_or(1.0)),
                o.cases,
                o.verdict.label()
            );
        }
        out.push('\n');
    } else if let Some(note) = cmp.overall.iter().find_map(|o| o.note.as_deref()) {
        let _ = writeln!(out, "Overall: no verdict ({note}).\n");
    }
}

/// The analyses used, the metrics with insufficient data, and the cases only one side has.
fn notes(out: &mut String, cmp: &Comparison) {
    let analyses = analyses_used(cmp);
    if !analyses.is_empty() {
        let _ = writeln!(out, "Analysis: {}.\n", analyses.join(", "));
    }
    let min = cmp.options.min_runs.max(2);
    let unjudged: Vec<&MetricComparison> = cmp
        .cases
        .iter()
        .flat_map(|c| &c.metrics)
        .filter(|m| m.verdict == Verdict::InsufficientData)
        .collect();
    let absent = |m: &&&MetricComparison| m.baseline.is_none() && m.new.is_none();
    let few = |m: &&&MetricComparison| {
        !absent(m)
            && [&m.baseline, &m.new]
                .iter()
                .any(|s| s.as_ref().is_none_or(|s| s.n < min))
    };
    let none = unjudged.iter().filter(absent).count();
    if none > 0 {
        let _ = writeln!(
            out,
            "{none} metric(s) are in no run of either side: not compared.\n"
        );
    }
    let too_few = unjudged.iter().filter(few).count();
    if too_few > 0 {
        let _ = writeln!(
            out,
            "{too_few} metric(s) had fewer than {min} runs on a side: **insufficient data**, no \
             verdict.\n"
        );
    }
    let other = unjudged.len() - too_few - none;
    if other > 0 {
        let _ = writeln!(
            out,
            "{other} metric(s) with enough runs got no verdict: compared across invocations \
             with fewer than {} cases, a case cannot be told from the others (only the common \
             shift is judged).\n",
            super::across::MIN_CASES
        );
    }
    for (what, list) in [
        ("baseline", &cmp.only_in_baseline),
        ("new", &cmp.only_in_new),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|c| format!("`{}`", c.label)).collect();
            let _ = writeln!(
                out,
                "Cases only in the {what} results (not compared): {}.\n",
                names.join(", ")
            );
        }
    }
}

/// The warnings of the comparison and of the runs, one line each.
fn warnings(out: &mut String, cmp: &Comparison) {
    if !cmp.warnings.is_empty() {
        out.push_str("Warnings:\n");
        for w in &cmp.warnings {
            let _ = writeln!(out, "- {w}");
        }
        out.push('\n');
    }
}

/// One collapsible table per case compared, then one per case only one side has.
fn cases_section(out: &mut String, cmp: &Comparison, holm: bool) {
    out.push_str("## Results per case\n\n");
    for case in &cmp.cases {
        let _ = writeln!(
            out,
            "<details><summary>{} <b>{}</b>: {} ({} vs {} runs)</summary>\n",
            icon(case.overall()),
            case.label,
            case.overall().label(),
            case.baseline_runs,
            case.new_runs
        );
        case_table(out, case, holm);
        functions_table(out, case);
        server_table(out, case);
        out.push_str("\n</details>\n\n");
    }
    capacity_section(out, cmp);
    for (what, list) in [
        ("baseline", &cmp.only_in_baseline),
        ("new", &cmp.only_in_new),
    ] {
        for case in list.iter() {
            let _ = writeln!(
                out,
                "<details><summary>❔ <b>{}</b>: only in the {what} results</summary>\n",
                case.label
            );
            case_table(out, case, holm);
            out.push_str("\n</details>\n\n");
        }
    }
}

/// Capacity cases: the chart (drawn next to the report by `write_report`) and every
/// ladder's steps.
fn capacity_section(out: &mut String, cmp: &Comparison) {
    if cmp.cases.iter().all(|c| c.capacity.is_empty()) {
        return;
    }
    out.push_str("## Capacity: latency against throughput\n\n");
    out.push_str(
        "Each ladder steps through fixed open-loop rates; latencies count from each request's intended send time. `rps` above is the highest rate that met the SLO, judged like any rps.\n\n",
    );
    for (i, case) in cmp.cases.iter().enumerate() {
        if case.capacity.is_empty() {
            continue;
        }
        let name = super::capacity_chart_name(i, &case.label);
        let _ = writeln!(
            out,
            "### {}\n\n![{} latency against throughput](graphs/{name}.svg)\n",
            case.label, case.label
        );
        for l in &case.capacity {
            let side = if l.baseline { &cmp.baseline } else { &cmp.new };
            let who = format!(
                "{} ({}, run {})",
                short_side_name(side),
                if l.baseline { "baseline" } else { "new" },
                l.run_index.map_or(0, |r| r + 1)
            );
            super::capacity::steps_table(out, &who, &l.figures);
        }
    }
}

/// The parameters identical in every case, and the fields runs were paired by.
fn fixed_configuration(out: &mut String, cmp: &Comparison) {
    out.push_str("## Fixed configuration\n\n");
    if cmp.fixed_config.is_empty() {
        out.push_str("No parameter is the same in every case.\n\n");
    } else {
        out.push_str("| parameter | value |\n|---|---|\n");
        for p in &cmp.fixed_config {
            let _ = writeln!(out, "| {} | {} |", p.name, param_value(&p.value));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Runs are paired by: {}.",
        cmp.pairing_fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !cmp.ignored_fields.is_empty() {
        let names: Vec<String> = cmp
            .ignored_fields
            .iter()
            .map(|f| format!("`{}` (only in {})", f.name, f.only_in))
            .collect();
        let _ = writeln!(out, "Ignored for pairing: {}.", names.join(", "));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_suffixes_and_sensible_precision() {
        assert_eq!(fmt_num(403225.81, 4), "403.2K");
        assert_eq!(fmt_num(1408450.62, 4), "1.408M");
        assert_eq!(fmt_num(12345.0, 3), "12.3K");
        assert_eq!(fmt_num(0.141, 3), "0.141");
        assert_eq!(fmt_num(2500.0, 3), "2.50K");
        assert_eq!(fmt_num(8111.0, 3), "8.11K");
        assert_eq!(fmt_pct(Some(-13.4519)), "-13.5%");
        assert_eq!(fmt_pct(Some(0.3456)), "+0.35%");
        assert_eq!(fmt_pct(None), "n/a");
    }

    #[test]
    fn commits_link_only_with_a_repository_and_a_sha() {
        let sha = "55bbbe09a3b37a98c907dbfbc225768ff253e84f";
        assert_eq!(
            fmt_commit(sha, Some("valkey-io/valkey")),
            format!("[`55bbbe09a3b3`](https://github.com/valkey-io/valkey/commit/{sha})")
        );
        assert_eq!(fmt_commit("HEAD", Some("valkey-io/valkey")), "`HEAD`");
        assert_eq!(fmt_commit(sha, None), format!("`{sha}`"));
        assert_eq!(fmt_commit(sha, Some("https://x/y")), format!("`{sha}`"));
    }
}
