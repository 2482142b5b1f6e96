//! Capacity mode in reports: each ladder's steps as a table and the latency-against-throughput
//! chart of a case (p50 and p99 from the intended send time against the achieved rate, one
//! line per ladder, baseline and new in their colours, the SLO's p99 bound as a line). The
//! sustainable maximum itself is judged like any `rps` (higher is better, repeated ladders give
//! its spread); this module only shows what the ladders measured.

use super::graphs::{BASELINE_COLOR, FONT_NAME, NEW_COLOR, draw_both, ensure_font, plot_err};
use crate::model::capacity::{CapacityFigures, CapacityStep, last_tries};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One ladder of a case, as a comparison carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ladder {
    /// Measured on the baseline (else on the new target).
    pub baseline: bool,
    pub run_index: Option<u64>,
    pub figures: CapacityFigures,
}

/// The open-loop steps of a ladder in rate order, every try (the chart draws the last try of
/// each rate).
fn open_steps(f: &CapacityFigures) -> Vec<&CapacityStep> {
    let mut steps: Vec<&CapacityStep> = f
        .capacity_steps
        .iter()
        .filter(|s| s.target_rps.is_some())
        .collect();
    steps.sort_by(|a, b| a.target_rps.partial_cmp(&b.target_rps).unwrap());
    steps
}

/// A markdown table of one ladder's steps (rate order), after a line with its summary.
pub fn steps_table(out: &mut String, name: &str, f: &CapacityFigures) {
    let num = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
    let _ = writeln!(
        out,
        "{name}: highest rate meeting the SLO ({}) **{}**{} rps, knee {} rps, closed-loop maximum {} rps, ended: {}\n",
        f.capacity_slo,
        num(f.capacity_max_rps),
        if f.capacity_end.lower_bound() && f.capacity_max_rps.is_some() {
            " or more"
        } else {
            ""
        },
        num(f.capacity_knee_rps),
        num(f.capacity_closed_loop_rps),
        f.capacity_end.as_str().replace('_', " ")
    );
    out.push_str(
        "| rate asked | achieved | p50 ms | p99 ms | p99.9 ms | max ms | server µs/req | step |\n\
         |---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let steps = open_steps(f);
    for (i, s) in steps.iter().enumerate() {
        let again = steps[i + 1..].iter().any(|l| l.target_rps == s.target_rps);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} | {} | {}{}{} |",
            num(s.target_rps),
            s.achieved_rps,
            s.p50_latency_ms,
            s.p99_latency_ms,
            s.p999_latency_ms,
            s.max_latency_ms,
            s.server_cpu_us_per_request
                .map_or("–".to_string(), |v| format!("{v:.2}")),
            s.outcome.map_or("", |o| o.as_str()).replace('_', " "),
            if s.breaches.is_empty() {
                String::new()
            } else {
                format!(" ({})", s.breaches.join(", "))
            },
            if again { ", tried again" } else { "" }
        );
    }
    out.push('\n');
}

/// Draws `<base>.png` and `<base>.svg`: latency against achieved throughput for every ladder
/// given, `(name, baseline?, figures)`.
pub fn draw_chart(
    base: &Path,
    title: &str,
    ladders: &[(String, bool, &CapacityFigures)],
) -> anyhow::Result<Vec<PathBuf>> {
    ensure_font()?;
    if let Some(dir) = base.parent() {
        std::fs::create_dir_all(dir)?;
    }
    draw_both(
        base,
        CHART_SIZE,
        &CapacityChart {
            title,
            ladders: ladders.to_vec(),
        },
    )
}

/// The chart [`draw_chart`] draws, as SVG text (for pages that carry their charts inline).
pub fn chart_svg(
    title: &str,
    ladders: &[(String, bool, &CapacityFigures)],
) -> anyhow::Result<String> {
    ensure_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
        super::graphs::Chart::draw(
            &CapacityChart {
                title,
                ladders: ladders.to_vec(),
            },
            &root,
        )?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The charts' size in pixels.
const CHART_SIZE: (u32, u32) = (900, 560);

struct CapacityChart<'a> {
    title: &'a str,
    ladders: Vec<(String, bool, &'a CapacityFigures)>,
}

impl super::graphs::Chart for CapacityChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let steps = || {
            self.ladders
                .iter()
                .flat_map(|(_, _, f)| last_tries(&f.capacity_steps).into_iter())
        };
        let x_max = steps().map(|s| s.achieved_rps).fold(1.0, f64::max) * 1.08;
        let slo_p99 = self.ladders.first().and_then(|(_, _, f)| slo_p99(f));
        let y_max = steps()
            .map(|s| s.p99_latency_ms)
            .chain(slo_p99)
            .fold(0.01, f64::max)
            * 1.5;
        let y_min = steps()
            .map(|s| s.p50_latency_ms)
            .filter(|v| *v > 0.0)
            .fold(y_max, f64::min)
            .max(0.001)
            / 1.5;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT_NAME, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("achieved throughput (requests/s)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("latency from intended send (ms, log)")
            .label_style((FONT_NAME, 13))
            .draw()
            .map_err(plot_err)?;
        if let Some(bound) = slo_p99 {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, bound), (x_max, bound)],
                    RED.mix(0.6).stroke_width(1),
                ))
                .map_err(plot_err)?
                .label(format!("SLO p99 {bound} ms"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RED.mix(0.6)));
        }
        for (name, baseline, f) in &self.ladders {
            let color = if *baseline { BASELINE_COLOR } else { NEW_COLOR };
            let steps = last_tries(&f.capacity_steps);
            for (which, width, pick) in [
                (
                    "p99",
                    2,
                    (|s: &CapacityStep| s.p99_latency_ms) as fn(&CapacityStep) -> f64,
                ),
                ("p50", 1, |s: &CapacityStep| s.p50_latency_ms),
            ] {
                let points: Vec<(f64, f64)> = steps
                    .iter()
                    .map(|s| (s.achieved_rps, pick(s).max(y_min)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))
                    .map_err(plot_err)?
                    .label(format!("{name} {which}"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], color.stroke_width(width))
                    });
                chart
                    .draw_series(
                        points
                            .iter()
                            .map(|&p| Circle::new(p, width + 1, color.filled())),
                    )
                    .map_err(plot_err)?;
            }
            if let Some(max) = f.capacity_max_rps {
                let x = steps
                    .iter()
                    .find(|s| s.target_rps == Some(max))
                    .map_or(max, |s| s.achieved_rps);
                chart
                    .draw_series(LineSeries::new(
                        [(x, y_min), (x, y_max)],
                        color.mix(0.5).stroke_width(1),
                    ))
                    .map_err(plot_err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT_NAME, 13))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}

/// The SLO's p99 bound, read back from its text (`p99 ≤ 1 ms`).
fn slo_p99(f: &CapacityFigures) -> Option<f64> {
    f.capacity_slo
        .split(", ")
        .find_map(|b| b.strip_prefix("p99 ≤ "))
        .and_then(|v| v.trim_end_matches(" ms").parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::capacity::{LadderEnd, StepOutcome};

    fn figures() -> CapacityFigures {
        let step = |t: f64, p99: f64, o: StepOutcome| CapacityStep {
            target_rps: Some(t),
            achieved_rps: t,
            p50_latency_ms: p99 / 3.0,
            p99_latency_ms: p99,
            p999_latency_ms: p99 * 2.0,
            max_latency_ms: p99 * 4.0,
            server_cpu_us_per_request: Some(3.5),
            client_bound: false,
            requests: 1000,
            unsent: 0,
            errors: 0,
            outcome: Some(o),
            breaches: vec![],
        };
        CapacityFigures {
            capacity_max_rps: Some(2000.0),
            capacity_knee_rps: Some(1000.0),
            capacity_closed_loop_rps: Some(3000.0),
            capacity_end: LadderEnd::SloBreached,
            capacity_slo: "p99 ≤ 1 ms".into(),
            capacity_steps: vec![
                step(3000.0, 4.0, StepOutcome::SloBreached),
                step(1000.0, 0.2, StepOutcome::Met),
                step(2000.0, 1.7, StepOutcome::SloBreached),
                step(2000.0, 0.7, StepOutcome::Met),
            ],
        }
    }

    #[test]
    fn the_table_lists_steps_in_rate_order_and_the_chart_is_drawn() {
        let f = figures();
        let mut out = String::new();
        steps_table(&mut out, "new", &f);
        let rows: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("| 1") || l.starts_with("| 2") || l.starts_with("| 3"))
            .collect();
        assert_eq!(rows.len(), 4, "{out}");
        assert!(
            rows[0].starts_with("| 1000 ") && rows[3].starts_with("| 3000 "),
            "{out}"
        );
        // Both tries of a repeated rate, in the order they ran, the first marked.
        assert!(
            rows[1].ends_with("slo breached, tried again |") && rows[2].ends_with("| met |"),
            "{out}"
        );
        // The chart draws a rate by its last try.
        let drawn: Vec<f64> = last_tries(&f.capacity_steps)
            .iter()
            .map(|s| s.p99_latency_ms)
            .collect();
        assert_eq!(drawn, [0.2, 0.7, 4.0]);
        assert!(out.contains("**2000** rps, knee 1000 rps"), "{out}");
        assert_eq!(slo_p99(&f), Some(1.0));
        let dir = tempfile::tempdir().unwrap();
        let files = draw_chart(
            &dir.path().join("capacity"),
            "GET",
            &[("new".into(), false, &f)],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(
            svg.contains("new p99") && svg.contains("SLO p99 1 ms"),
            "{svg}"
        );
        // The inline form is the same drawing.
        let inline = chart_svg("GET", &[("new".into(), false, &f)]).unwrap();
        assert_eq!(inline, svg);
    }
}
