//! The page: header, command filter, the newest commit against the previous one (a table from
//! `compare`), the trend charts over commits, the release view, styles and script.

use super::svg::{self, Mark, Series, XLabel, fmt_num};
use super::{Commit, Input, Panel, commands, commits_in_time_order, esc, shape, text};
use crate::compare::{CompareOptions, Metric, RecordView, Verdict, compare_views};
use crate::history::changepoint::{self, ChangePoint};
use std::fmt::Write;

const RPS_COLOR: &str = "#1f6fb4";
const P50_COLOR: &str = "#2a9d4b";
const P99_COLOR: &str = "#d0661c";

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232b;background:#fff}
header{background:#18324d;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}
main{padding:8px 24px 40px}
h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #dde3ea;padding-bottom:4px}
#filter{position:sticky;top:0;background:#f4f7fa;border-bottom:1px solid #dde3ea;padding:8px 24px;z-index:1}
#filter label{margin-right:12px;white-space:nowrap}
#filter button{margin-left:6px}
.help{color:#56606b;max-width:70em}
figure.chart{margin:14px 0 24px;border:1px solid #dde3ea;border-radius:6px;padding:8px 12px}
figure.chart figcaption{font-weight:600;font-size:15px;margin-bottom:4px}
.panels{display:flex;flex-wrap:wrap;gap:8px 22px}
.panel h3{font-size:14px;margin:6px 0 0}
.panel h3 small{font-weight:400;color:#56606b}
svg text{font:11px system-ui,sans-serif;fill:#333}
svg .title{font-weight:600;font-size:12px}
svg .unit{font-weight:400;fill:#56606b}
svg .grid{stroke:#e6eaef}
svg .xlabel{font-family:ui-monospace,monospace;font-size:10px}
svg a .xlabel{fill:#1f6fb4;text-decoration:underline}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #dde3ea;padding:3px 8px;text-align:right}
th{background:#f4f7fa}
td.case,th.case{text-align:left}
.regression{background:#fde3e1;color:#9b1c13;font-weight:600}
.improvement{background:#def4e3;color:#17672c;font-weight:600}
.insufficient_data{color:#7a828b}
#no-data{font-size:16px;padding:24px;background:#f4f7fa;border-radius:6px}
code{background:#eef2f6;padding:1px 4px;border-radius:3px}
[hidden]{display:none!important}
"#;

const SCRIPT: &str = r#"
(function(){
  var boxes=document.querySelectorAll('#filter input[type=checkbox]');
  function apply(){
    var on={};
    boxes.forEach(function(b){if(b.checked)on[b.value]=true;});
    document.querySelectorAll('[data-command]').forEach(function(el){el.hidden=!on[el.getAttribute('data-command')];});
    document.querySelectorAll('figure.chart').forEach(function(fig){
      fig.hidden=fig.querySelectorAll('.panel:not([hidden])').length===0;
    });
    var sel=[];boxes.forEach(function(b){if(b.checked)sel.push(b.value);});
    history.replaceState(null,'',sel.length===boxes.length?'#':'#commands='+sel.join(','));
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  function all(v){boxes.forEach(function(b){b.checked=v;});apply();}
  var a=document.getElementById('all'),n=document.getElementById('none');
  if(a)a.addEventListener('click',function(){all(true);});
  if(n)n.addEventListener('click',function(){all(false);});
  var m=/commands=([^&]*)/.exec(location.hash);
  if(m){var want=decodeURIComponent(m[1]).split(',');boxes.forEach(function(b){b.checked=want.indexOf(b.value)>=0;});apply();}
})();
"#;

fn head(out: &mut String, input: &Input, summary: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>valkey-perf dashboard</title><style>{STYLE}</style></head><body><header><h1>valkey-perf: Valkey performance over commits</h1><p>{}</p><p>from {} · made {}</p></header>",
        esc(summary),
        esc(&input.source),
        esc(&input.generated_at)
    );
}

/// Renders the whole page.
pub fn render(input: &Input) -> anyhow::Result<String> {
    let mut out = String::new();
    if input.rows.is_empty() {
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
    // Reference rows (a commit measured again beside a newer one) are not the commit's own.
    let rows: Vec<RecordView> = input
        .rows
        .iter()
        .filter(|r| !crate::history::is_reference(r))
        .cloned()
        .collect();
    let commits = commits_in_time_order(&rows);
    let cmds = commands(&rows);
    let summary = format!(
        "{} commit(s) from {} to {} · {} command(s) · {} runs",
        commits.len(),
        commits.first().map_or("", |c| c.time_text.as_str()),
        commits.last().map_or("", |c| c.time_text.as_str()),
        cmds.len(),
        rows.len()
    );
    head(&mut out, input, &summary);
    out.push_str("<nav id=\"filter\"><strong>Commands:</strong> ");
    for c in &cmds {
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" value=\"{0}\" checked> {0}</label>",
            esc(c)
        );
    }
    out.push_str("<button id=\"all\" type=\"button\">all</button><button id=\"none\" type=\"button\">none</button></nav><main>");
    out.push_str(
        "<p class=\"help\">Each chart is one combination of value size, pipeline depth, \
         io-threads, topology and TLS; each panel one command. Commits run left to right in \
         commit-time order. The line is the mean of a commit's runs, the shaded band spans its \
         lowest to highest run, the dots are the single runs. Throughput (rps): higher is \
         better. Latency (p50, p99): lower is better. Hover a point for its numbers; click a \
         commit label to open the commit.</p>",
    );
    latest(&mut out, &rows, &commits)?;
    trends(&mut out, &rows, &commits);
    if !input.tag_rows.is_empty() {
        releases(&mut out, &input.tag_rows);
    }
    let _ = writeln!(out, "</main><script>{SCRIPT}</script></body></html>");
    Ok(out)
}

fn rows_of(rows: &[RecordView], sha: &str) -> Vec<RecordView> {
    rows.iter()
        .filter(|r| text(r, "commit").as_deref() == Some(sha))
        .cloned()
        .collect()
}

/// The newest commit against the previous one, with `compare`'s statistics and verdicts.
fn latest(out: &mut String, rows: &[RecordView], commits: &[Commit]) -> anyhow::Result<()> {
    out.push_str("<section id=\"latest\"><h2>Newest commit against the previous one</h2>");
    let [.., prev, newest] = commits else {
        out.push_str("<p>Only one commit is stored; the comparison needs two.</p></section>");
        return Ok(());
    };
    let cmp = compare_views(
        &rows_of(rows, &prev.sha),
        &rows_of(rows, &newest.sha),
        &prev.sha,
        &newest.sha,
        &CompareOptions::default(),
    )?;
    let _ = write!(
        out,
        "<p><code>{}</code> ({}) against <code>{}</code> ({}): per case, the mean of each \
         commit's runs, the change with its 95 % confidence interval, and the verdict \
         (significant and at least {} %; fewer than 2 runs a side is insufficient data).</p>",
        esc(newest.short()),
        esc(&newest.time_text),
        esc(prev.short()),
        esc(&prev.time_text),
        cmp.options.threshold_pct
    );
    out.push_str("<table id=\"comparison\"><thead><tr><th class=\"case\">case</th><th>metric</th><th>previous</th><th>newest</th><th>change</th><th>95 % CI</th><th>verdict</th></tr></thead><tbody>");
    for case in &cmp.cases {
        let command = case
            .params
            .iter()
            .find(|p| p.name == "command")
            .and_then(|p| p.value.as_str())
            .unwrap_or("");
        for m in case.metrics.iter().filter(|m| {
            matches!(
                m.metric,
                Metric::Rps | Metric::P50Latency | Metric::P99Latency
            )
        }) {
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
    out.push_str("</section>");
    Ok(())
}

/// rps and p50/p99 latency over commits: a chart per combination, a panel per command.
fn trends(out: &mut String, rows: &[RecordView], commits: &[Commit]) {
    out.push_str("<section id=\"trends\"><h2>Over commits</h2>");
    let index: std::collections::HashMap<&str, usize> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.sha.as_str(), i))
        .collect();
    let xs: Vec<XLabel> = commits
        .iter()
        .map(|c| c.label(c.short().to_string()))
        .collect();
    let combos = shape(rows, commits.len(), |r| {
        text(r, "commit").and_then(|s| index.get(s.as_str()).copied())
    });
    let panels: usize = combos.iter().map(|c| c.panels.len()).sum();
    let mut found: Vec<String> = Vec::new();
    for combo in combos {
        open_figure(out, "chart", &combo.label);
        for panel in combo.panels.values() {
            open_panel(out, &panel.command, &panel.detail);
            let key = format!("{} {} {}", combo.key, panel.command, panel.detail);
            let cps = rps_change_points(panel, CHANGE_POINT_ALPHA / panels as f64, &key);
            let marks: Vec<Mark> = cps
                .iter()
                .map(|(x, cp)| {
                    let title = change_point_text(cp, &commits[*x - 1], &commits[*x]);
                    found.push(format!(
                        "{} · {} {}: {title}",
                        combo.label, panel.command, panel.detail
                    ));
                    Mark { x: *x, title }
                })
                .collect();
            let rps = Series {
                name: "rps",
                color: RPS_COLOR,
                points: panel.points("rps"),
            };
            out.push_str(&svg::line_chart(
                "rps",
                "throughput",
                "req/s",
                &xs,
                &[rps],
                &marks,
            ));
            let lat = [
                Series {
                    name: "p50",
                    color: P50_COLOR,
                    points: panel.points("p50_latency_ms"),
                },
                Series {
                    name: "p99",
                    color: P99_COLOR,
                    points: panel.points("p99_latency_ms"),
                },
            ];
            out.push_str(&svg::line_chart(
                "latency",
                "latency p50 / p99",
                "ms",
                &xs,
                &lat,
                &[],
            ));
            out.push_str("</div>");
        }
        out.push_str("</div></figure>");
    }
    change_point_list(out, &found);
    out.push_str("</section>");
}

/// Chance of any false change point mark over all the panels of the page.
const CHANGE_POINT_ALPHA: f64 = 0.05;

/// The change points of a panel's rps series (the mean log rps per commit), each panel at
/// `level`, as (x position of the first commit at the new level, change point).
fn rps_change_points(panel: &Panel, level: f64, key: &str) -> Vec<(usize, ChangePoint)> {
    let (at, values): (Vec<usize>, Vec<f64>) = panel
        .points("rps")
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let logs: Vec<f64> = p
                .as_ref()?
                .runs
                .iter()
                .filter(|v| **v > 0.0)
                .map(|v| v.ln())
                .collect();
            (!logs.is_empty()).then(|| (i, logs.iter().sum::<f64>() / logs.len() as f64))
        })
        .unzip();
    let seed = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    changepoint::detect(&values, &changepoint::Options::at_level(level, seed))
        .into_iter()
        .map(|cp| (at[cp.index], cp))
        .collect()
}

fn change_point_text(cp: &ChangePoint, before: &Commit, at: &Commit) -> String {
    let pct = |l: f64| (l.exp() - 1.0) * 100.0;
    format!(
        "change point at {} (after {}): rps {:+.1} % (95 % CI {:+.1} … {:+.1} %), p = {:.3}",
        at.short(),
        before.short(),
        pct(cp.step),
        pct(cp.step_ci95[0]),
        pct(cp.step_ci95[1]),
        cp.p_value
    )
}

/// The list of the change points marked on the charts.
fn change_point_list(out: &mut String, found: &[String]) {
    out.push_str("<h3 id=\"change-points\">Change points</h3><p class=\"help\">Commits where a throughput series steps (E-divisive means with a permutation test, the dashed red lines on the charts); the chance of any false mark on this page is at most 5 %.</p>");
    if found.is_empty() {
        out.push_str("<p>No change point in the throughput series.</p>");
        return;
    }
    out.push_str("<ul>");
    for f in found {
        let _ = write!(out, "<li>{}</li>", esc(f));
    }
    out.push_str("</ul>");
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
        open_figure(out, "chart release", &combo.label);
        for panel in combo.panels.values() {
            open_panel(out, &panel.command, &panel.detail);
            let s = Series {
                name: "rps",
                color: RPS_COLOR,
                points: panel.points("rps"),
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

/// Opens one chart figure (a case combination) and its panel row.
fn open_figure(out: &mut String, class: &str, label: &str) {
    let _ = write!(
        out,
        "<figure class=\"{class}\" data-combo=\"{0}\"><figcaption>{0}</figcaption><div class=\"panels\">",
        esc(label)
    );
}

/// Opens one command's panel with its heading.
fn open_panel(out: &mut String, command: &str, detail: &str) {
    let _ = write!(
        out,
        "<div class=\"panel\" data-command=\"{0}\"><h3>{0} <small>{1}</small></h3>",
        esc(command),
        esc(detail)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(commit: &str, hour: usize, command: &str, rps: f64, reference: bool) -> RecordView {
        let mut v = json!({
            "commit": commit, "timestamp": format!("2025-01-01T{hour:02}:00:00Z"),
            "command": command, "data_size": 16, "pipeline": 1, "rps": rps,
            "p50_latency_ms": 0.2, "p99_latency_ms": 0.5,
        });
        if reference {
            v[crate::history::REFERENCE_FIELD] = json!("later");
        }
        RecordView::from_map(v.as_object().unwrap().clone())
    }

    /// Twelve commits; SET's throughput drops 10 % from the seventh on, GET stays flat; a
    /// reference row of a commit never benchmarked on its own is left out.
    #[test]
    fn a_step_is_marked_on_its_chart_and_reference_rows_are_not_drawn() {
        let mut rows = Vec::new();
        for i in 0..12 {
            let sha = format!("c{i:02}aaaaaa");
            let wiggle = [1.0, 1.004, 0.996][i % 3];
            rows.push(row(
                &sha,
                i,
                "SET",
                wiggle * if i < 6 { 1000.0 } else { 900.0 },
                false,
            ));
            rows.push(row(&sha, i, "GET", wiggle * 1000.0, false));
        }
        rows.push(row("ffffffffff", 3, "SET", 5000.0, true));
        let html = render(&Input {
            rows,
            ..Input::default()
        })
        .unwrap();
        assert!(
            html.contains("12 commit(s)"),
            "the reference-only commit is not a commit"
        );
        assert!(!html.contains("fffffff"), "reference rows are not drawn");
        assert_eq!(html.matches("class=\"changepoint\"").count(), 1, "{html}");
        assert!(
            html.contains("change point at c06aaaa (after c05aaaa): rps -10.0 %"),
            "{html}"
        );
    }
}
