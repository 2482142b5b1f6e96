//! The page: header, controls (command filter, y axis), the changes found over the whole
//! history (change points, newest first, each linked to its chart), the newest commit against
//! the previous one (a table from `compare`, judged against the machine's drift as
//! `detect-regression` judges it, and the capacity ladders of both), the charts, the release
//! view. The charts are drawn by the
//! page's script from one JSON data block, when they come into view.

use super::data::{self, CHANGE_POINT_ALPHA, PanelData};
use super::svg::{self, Series, XLabel, fmt_num};
use super::{
    Batch, Collector, Combo, Commit, Input, Panel, Shaped, commits_in_time_order, esc, shape, text,
};
use crate::compare::{
    CompareOptions, Comparison, DriftPrior, Metric, RecordView, Verdict, compare_views,
};
use crate::history::{CaseSeries, drift};
use std::fmt::Write;

const RPS_COLOR: &str = "#1f6fb4";

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

fn head(out: &mut String, input: &Input, summary: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>valkey-perf dashboard</title><style>{STYLE}</style></head><body><header><h1>valkey-perf: Valkey performance over commits</h1><p>{}</p><p>from {} · made {}</p></header>",
        esc(summary),
        esc(&input.source),
        esc(&input.generated_at)
    );
}

/// Renders the whole page from rows in memory.
pub fn render(input: &Input) -> anyhow::Result<String> {
    let mut batch = Batch::default();
    for r in &input.rows {
        batch.add(r);
    }
    let mut collector = Collector::default();
    collector.merge(batch);
    render_shaped(input, collector, |prev, newest| {
        Ok((rows_of(&input.rows, prev), rows_of(&input.rows, newest)))
    })
}

/// Renders the whole page from rows already shaped (`input.rows` is not read: the rows went
/// through `collector`); `latest(previous, newest)` gives the rows of the two newest commits
/// for the comparison table.
pub fn render_shaped(
    input: &Input,
    collector: Collector,
    latest_rows: impl FnOnce(&str, &str) -> anyhow::Result<(Vec<RecordView>, Vec<RecordView>)>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    if collector.is_empty() {
        head(&mut out, input, "no results stored yet");
        out.push_str(
            "<main><p id=\"no-data\">No data yet: the database holds no benchmark results. \
             Run a benchmark and store its results, then make this page again:<br><br>\
             <code>valkey-perf run --config configs/quick.json --commits HEAD</code><br>\
             <code>valkey-perf push --results-dir results</code><br>\
             <code>valkey-perf dashboard --output dashboard.html</code></p></main></body></html>\n",
        );
        return Ok(out);
    }
    let Shaped {
        commits,
        combos,
        commands: cmds,
        runs,
    } = collector.finish();
    let summary = format!(
        "{} commit(s) from {} to {} · {} command(s) · {} runs",
        commits.len(),
        commits.first().map_or("", |c| c.time_text.as_str()),
        commits.last().map_or("", |c| c.time_text.as_str()),
        cmds.len(),
        runs
    );
    let panels: Vec<(usize, &Combo, &Panel)> = combos
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.panels.values().map(move |p| (i, c, p)))
        .collect();
    let keyed: Vec<(usize, &Panel, String)> = panels
        .iter()
        .map(|(chart, c, p)| (*chart, *p, format!("{} {} {}", c.key, p.command, p.detail)))
        .collect();
    let (figures, panel_json): (Vec<PanelData>, Vec<String>) =
        data::all_panels(&keyed, CHANGE_POINT_ALPHA / panels.len().max(1) as f64)
            .into_iter()
            .unzip();

    head(&mut out, input, &summary);
    controls(&mut out, &cmds);
    out.push_str("<main>");
    changes(&mut out, &commits, &combos, &panels, &figures);
    let newest = latest(&mut out, latest_rows, &commits, &figures)?;
    if let Some(cmp) = &newest {
        ladders(&mut out, cmp)?;
    }
    charts(&mut out, &combos, &panels);
    if !input.tag_rows.is_empty() {
        releases(&mut out, &input.tag_rows);
    }
    // The data block `{"commits": [...], "panels": [...]}`, from the panels' JSON texts.
    let _ = write!(
        out,
        "</main><div id=\"tip\" hidden></div><script type=\"application/json\" id=\"data\">{{\"commits\":{},\"panels\":[{}]}}",
        data::script_safe(&data::commits_json(&commits)),
        panel_json.join(",")
    );
    let _ = writeln!(out, "</script><script>{SCRIPT}</script></body></html>");
    Ok(out)
}

/// The sticky bar: the command filter and the y axis choice.
fn controls(out: &mut String, cmds: &[String]) {
    out.push_str("<nav id=\"filter\"><strong>Commands:</strong> ");
    for c in cmds {
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" value=\"{0}\" checked> {0}</label>",
            esc(c)
        );
    }
    out.push_str(
        "<button id=\"all\" type=\"button\">all</button><button id=\"none\" type=\"button\">none</button> \
         <strong class=\"sep\">Throughput axis:</strong> \
         <label><input type=\"radio\" name=\"yaxis\" value=\"abs\" checked> req/s</label>\
         <label><input type=\"radio\" name=\"yaxis\" value=\"pct\"> % of baseline</label></nav>",
    );
}

/// Every change point of the page, newest first (then the largest), as table rows.
fn changes(
    out: &mut String,
    commits: &[Commit],
    combos: &[Combo],
    panels: &[(usize, &Combo, &Panel)],
    figures: &[PanelData],
) {
    let mut found: Vec<(usize, usize, &crate::history::changepoint::ChangePoint)> = figures
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.change_points.iter().map(move |(x, cp)| (i, *x, cp)))
        .collect();
    found.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(b.2.step.abs().total_cmp(&a.2.step.abs()))
            .then(a.0.cmp(&b.0))
    });
    let _ = write!(
        out,
        "<section id=\"changes\"><h2>What changed</h2><p class=\"help\">Commits where a \
         throughput series steps, over the whole history ({} commits, {} series; E-divisive \
         means with a permutation test; the chance of any false entry on this page is at most \
         {} %). Newest first; the change is the ratio of the levels on either side.</p>",
        commits.len(),
        panels.len(),
        CHANGE_POINT_ALPHA * 100.0
    );
    if found.is_empty() {
        out.push_str("<p id=\"no-change\">No change point: every throughput series stays within its noise over the whole history.</p></section>");
        return;
    }
    out.push_str("<table id=\"change-points\"><thead><tr><th>commit</th><th class=\"case\">time</th><th class=\"case\">case</th><th>rps change</th><th>95 % CI</th><th>p</th><th class=\"case\">chart</th></tr></thead><tbody>");
    let pct = |l: f64| (l.exp() - 1.0) * 100.0;
    for (i, x, cp) in found {
        let (chart, _, panel) = panels[i];
        let c = &commits[x];
        let sha = match c.href() {
            Some(h) => format!(
                "<a href=\"{}\" title=\"{}\"><code>{}</code></a>",
                esc(&h),
                esc(&c.sha),
                esc(c.short())
            ),
            None => format!("<code title=\"{}\">{}</code>", esc(&c.sha), esc(c.short())),
        };
        let class = if cp.step < 0.0 {
            "regression"
        } else {
            "improvement"
        };
        let _ = write!(
            out,
            "<tr data-command=\"{cmd}\" data-panel=\"{i}\"><td>{sha}</td><td class=\"case\">{time}</td><td class=\"case\">{combo} · <b>{cmd}</b> {detail}</td><td class=\"{class}\">{step:+.1} %</td><td>{lo:+.1} … {hi:+.1} %</td><td>{p:.4}</td><td class=\"case\"><a href=\"#p{i}\" data-goto=\"{i}\" data-x=\"{x}\">chart</a></td></tr>",
            cmd = esc(&panel.command),
            time = esc(&c.time_text),
            combo = esc(&combos[chart].label),
            detail = esc(&panel.detail),
            step = pct(cp.step),
            lo = pct(cp.step_ci95[0]),
            hi = pct(cp.step_ci95[1]),
            p = cp.p_value,
        );
    }
    out.push_str("</tbody></table></section>");
}

/// The own rows of commit `sha`.
fn rows_of(rows: &[RecordView], sha: &str) -> Vec<RecordView> {
    rows.iter()
        .filter(|r| !crate::history::is_reference(r) && text(r, "commit").as_deref() == Some(sha))
        .cloned()
        .collect()
}

/// The machine's drift between invocations, from the panels' series, as `detect-regression`
/// estimates it from the history before the newest commit.
fn drift_prior(figures: &[PanelData], commits: usize) -> Option<DriftPrior> {
    let series: Vec<CaseSeries> = figures
        .iter()
        .map(|d| CaseSeries {
            case: String::new(),
            metric: Metric::Rps,
            values: d.log_rps.clone(),
        })
        .collect();
    drift::estimate(&series, commits.checked_sub(1)?).map(|e| DriftPrior {
        sd_log: e.sd_log,
        pairs: e.pairs,
    })
}

/// The newest commit against the previous one, with `compare`'s statistics and verdicts.
fn latest(
    out: &mut String,
    rows: impl FnOnce(&str, &str) -> anyhow::Result<(Vec<RecordView>, Vec<RecordView>)>,
    commits: &[Commit],
    figures: &[PanelData],
) -> anyhow::Result<Option<Comparison>> {
    out.push_str("<section id=\"latest\">");
    let [.., prev, newest] = commits else {
        out.push_str("<h2>Newest commit</h2><p>Only one commit is stored; the comparison needs two.</p></section>");
        return Ok(None);
    };
    let drift = drift_prior(figures, commits.len());
    let (prev_rows, newest_rows) = rows(&prev.sha, &newest.sha)?;
    let cmp = compare_views(
        &prev_rows,
        &newest_rows,
        &prev.sha,
        &newest.sha,
        &CompareOptions {
            drift: drift.clone(),
            ..CompareOptions::default()
        },
    )?;
    let shown = |m: &&crate::compare::MetricComparison| {
        matches!(
            m.metric,
            Metric::Rps | Metric::P50Latency | Metric::P99Latency
        )
    };
    let count = |v: Verdict| {
        cmp.cases
            .iter()
            .flat_map(|c| c.metrics.iter().filter(shown))
            .filter(|m| m.verdict == v)
            .count()
    };
    let _ = write!(
        out,
        "<details{}><summary><h2>Newest commit against the previous one: {} regression(s), {} improvement(s)</h2></summary>",
        if count(Verdict::Regression) > 0 {
            " open"
        } else {
            ""
        },
        count(Verdict::Regression),
        count(Verdict::Improvement)
    );
    let _ = write!(
        out,
        "<p><code>{}</code> ({}) against <code>{}</code> ({}): per case, the mean of each \
         commit's runs, the change with its 95 % confidence interval, and `compare`'s verdict \
         (significant and at least {} %, a shift every case shares judged against the \
         machine's drift between invocations{}; fewer than 2 runs a side is insufficient \
         data).</p>",
        esc(newest.short()),
        esc(&newest.time_text),
        esc(prev.short()),
        esc(&prev.time_text),
        cmp.options.threshold_pct,
        match &drift {
            Some(d) => format!(
                ", {:.2} % from {} commit pairs of this history",
                d.sd_log * 100.0,
                d.pairs
            ),
            None => ", the documented default: too little history".into(),
        }
    );
    out.push_str("<table id=\"comparison\"><thead><tr><th class=\"case\">case</th><th>metric</th><th>previous</th><th>newest</th><th>change</th><th>95 % CI</th><th>verdict</th></tr></thead><tbody>");
    for case in &cmp.cases {
        let command = case
            .params
            .iter()
            .find(|p| p.name == "command")
            .and_then(|p| p.value.as_str())
            .unwrap_or("");
        for m in case.metrics.iter().filter(shown) {
            let mean = |s: &Option<crate::compare::Summary>| {
                s.as_ref().map_or("–".into(), |s| fmt_num(s.mean))
            };
            let diff = m.difference.as_ref();
            // Without a verdict (too few cases to judge across invocations) the change of
            // the means is still shown.
            let pct = diff
                .and_then(|d| d.pct_change)
                .or_else(|| match (&m.baseline, &m.new) {
                    (Some(b), Some(n)) if b.mean != 0.0 => Some((n.mean / b.mean - 1.0) * 100.0),
                    _ => None,
                })
                .map_or("–".into(), |p| format!("{p:+.2} %"));
            let ci = diff
                .and_then(|d| d.pct_change_ci95)
                .map_or("–".into(), |[a, b]| format!("{a:+.2} … {b:+.2} %"));
            let class = match m.verdict {
                Verdict::Regression => "regression",
                Verdict::Improvement => "improvement",
                Verdict::InsufficientData => "insufficient_data",
                _ => "",
            };
            let _ = write!(
                out,
                "<tr data-command=\"{}\"><td class=\"case\">{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
                esc(command),
                esc(&case.label),
                m.metric.label(),
                m.metric.unit(),
                mean(&m.baseline),
                mean(&m.new),
                pct,
                ci,
                m.verdict.label()
            );
        }
    }
    out.push_str("</tbody></table>");
    for w in &cmp.warnings {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(&w.to_string()));
    }
    for (what, list) in [
        ("only in the previous commit", &cmp.only_in_baseline),
        ("only in the newest commit", &cmp.only_in_new),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|c| esc(&c.label)).collect();
            let _ = write!(out, "<p>Cases {what}: {}</p>", names.join("; "));
        }
    }
    out.push_str("</details></section>");
    Ok(Some(cmp))
}

/// The capacity ladders of the newest commit and the previous one: per capacity case, p50 and
/// p99 from the intended send time against the achieved rate, both commits' ladders on one
/// chart (the report's chart, inline).
fn ladders(out: &mut String, cmp: &Comparison) -> anyhow::Result<()> {
    let charts = crate::compare::capacity_svgs(cmp)?;
    if charts.is_empty() {
        return Ok(());
    }
    out.push_str(
        "<section id=\"capacity\"><h2>Capacity ladders: newest commit against the previous one</h2>\
         <p class=\"help\">Each ladder steps through fixed open-loop rates; latency counts from \
         each request's intended send time. The previous commit's ladders are drawn in the \
         baseline colour; the table above judges the sustainable maximum (its rps).</p>",
    );
    for (i, (label, svg)) in charts.iter().enumerate() {
        let _ = write!(
            out,
            "<figure class=\"ladder\" id=\"ladder{i}\"><figcaption>{}</figcaption>{}</figure>",
            esc(label),
            svg
        );
    }
    out.push_str("</section>");
    Ok(())
}

/// The chart frames: a figure per combination, a panel per command with an empty rps and
/// latency chart the script fills from the data block.
fn charts(out: &mut String, combos: &[Combo], panels: &[(usize, &Combo, &Panel)]) {
    out.push_str(
        "<section id=\"trends\"><h2>Over commits</h2><p class=\"help\">Each chart is one \
         combination of value size, pipeline depth, io-threads, topology and TLS; each panel \
         one command. Commits run left to right in commit-time order. Throughput: the line is \
         the mean of a commit's runs, the light band its lowest to highest run, the grey band \
         the series' noise (±2 standard deviations of its commit-to-commit spread) around each \
         level, dashed red lines its change points. The axis always spans at least ±10 % of \
         the baseline (the first level), so noise looks like noise; switch it to percent of \
         the baseline above. Latency (p50, p99) starts at zero. Hover for numbers; click a \
         commit label to open the commit.</p>",
    );
    let mut next = 0;
    for (chart, combo) in combos.iter().enumerate() {
        let _ = write!(
            out,
            "<figure class=\"chart\" data-combo=\"{0}\"><figcaption>{0}</figcaption><div class=\"panels\">",
            esc(&combo.label)
        );
        while next < panels.len() && panels[next].0 == chart {
            let p = panels[next].2;
            let _ = write!(
                out,
                "<div class=\"panel\" id=\"p{next}\" data-panel=\"{next}\" data-command=\"{0}\"><h3>{0} <small>{1}</small></h3><svg class=\"rps\" data-panel=\"{next}\"></svg><svg class=\"latency\" data-panel=\"{next}\"></svg></div>",
                esc(&p.command),
                esc(&p.detail)
            );
            next += 1;
        }
        out.push_str("</div></figure>");
    }
    out.push_str("</section>");
}

/// Release tags side by side: a bar chart of rps per command and combination.
fn releases(out: &mut String, tag_rows: &[RecordView]) {
    // A tag is the ref as typed when the record has one, else the commit.
    let tag_of = |r: &RecordView| text(r, "ref").or_else(|| text(r, "commit"));
    let commits = commits_in_time_order(tag_rows);
    let mut tags: Vec<(String, &Commit)> = Vec::new();
    for c in &commits {
        for r in tag_rows
            .iter()
            .filter(|r| text(r, "commit").as_deref() == Some(c.sha.as_str()))
        {
            if let Some(t) = tag_of(r).filter(|t| !tags.iter().any(|(x, _)| x == t)) {
                tags.push((t, c));
            }
        }
    }
    let xs: Vec<XLabel> = tags.iter().map(|(t, c)| c.label(t.clone())).collect();
    out.push_str("<section id=\"releases\"><h2>Releases</h2><p class=\"help\">Throughput per release tag (from the tag table), oldest tag first; the bar is the mean, the whisker the lowest to highest run.</p>");
    for combo in shape(tag_rows, tags.len(), |r| {
        let t = tag_of(r)?;
        tags.iter().position(|(x, _)| *x == t)
    }) {
        let _ = write!(
            out,
            "<figure class=\"chart release\" data-combo=\"{0}\"><figcaption>{0}</figcaption><div class=\"panels\">",
            esc(&combo.label)
        );
        for panel in combo.panels.values() {
            let _ = write!(
                out,
                "<div class=\"panel\" data-command=\"{0}\"><h3>{0} <small>{1}</small></h3>",
                esc(&panel.command),
                esc(&panel.detail)
            );
            let s = Series {
                name: "rps",
                color: RPS_COLOR,
                points: panel.rps_points(),
            };
            out.push_str(&svg::bar_chart(
                "release-rps",
                "throughput by release",
                "req/s",
                &xs,
                &s,
            ));
            out.push_str("</div>");
        }
        out.push_str("</div></figure>");
    }
    out.push_str("</section>");
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
