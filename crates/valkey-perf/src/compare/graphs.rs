//! Graphs of a [`Comparison`], drawn with plotters as PNG and SVG.
//!
//! The font is embedded (DejaVu Sans, `assets/DejaVuSans.ttf`, license beside it) and
//! registered with plotters before the first drawing, so graphs never depend on fonts
//! installed on the machine. Files written:
//! - `compare-<metric>.png|svg`: one bar chart per metric, baseline vs new per case, mean with
//!   error bars for the 95 % confidence interval of the mean;
//! - `case-<NN>-<label>.png|svg`: per case, one panel per judged metric with every run's value,
//!   the mean and the 95 % prediction band of each side.

use super::model::{CaseComparison, Comparison, Metric, MetricComparison};
use super::stats::Summary;
use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
pub(super) const FONT_NAME: &str = "sans-serif";

pub(super) const BASELINE_COLOR: RGBColor = RGBColor(66, 110, 180);
pub(super) const NEW_COLOR: RGBColor = RGBColor(230, 120, 40);

/// Registers the embedded font once; plotters' `sans-serif` then resolves to it.
pub(super) fn ensure_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT_NAME, FontStyle::Normal, FONT).is_ok());
    anyhow::ensure!(ok, "the embedded DejaVu Sans font could not be loaded");
    Ok(())
}

pub(super) fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing failed: {e:?}")
}

/// A file-name-safe version of a label.
pub(super) fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(60).collect()
}

/// Size in pixels of the bar chart for `cases` cases.
pub fn bar_chart_size(cases: usize) -> (u32, u32) {
    ((120 * cases as u32 + 200).clamp(800, 4000), 560)
}

/// Size in pixels of a per-case chart with `panels` metric panels.
pub fn case_chart_size(panels: usize) -> (u32, u32) {
    (900, 260 * panels.max(1) as u32)
}

/// Draws every graph of `cmp` into `dir` (created if missing) and returns the files written.
pub fn write_graphs(cmp: &Comparison, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    ensure_font()?;
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the graph directory `{}`: check permissions or pass --graph-dir",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    if cmp.cases.is_empty() {
        return Ok(files);
    }
    // Only metrics some case has (instruction counts exist only in instructions mode).
    for metric in cmp.options.metrics.metrics().into_iter().filter(|&metric| {
        cmp.cases
            .iter()
            .any(|c| c.metrics.iter().any(|m| m.metric == metric))
    }) {
        let size = bar_chart_size(cmp.cases.len());
        let base = dir.join(format!("compare-{}", metric.field()));
        files.extend(draw_both(&base, size, &BarChart { cmp, metric })?);
    }
    for (i, case) in cmp.cases.iter().enumerate() {
        let panels: Vec<&MetricComparison> = case
            .metrics
            .iter()
            .filter(|m| m.metric.judged() && (m.baseline.is_some() || m.new.is_some()))
            .collect();
        if panels.is_empty() {
            continue;
        }
        let base = dir.join(format!("case-{:02}-{}", i + 1, slug(&case.label)));
        let size = case_chart_size(panels.len());
        files.extend(draw_both(&base, size, &CaseChart { case, panels })?);
    }
    Ok(files)
}

/// A chart that can be drawn on any plotters backend (PNG and SVG alike).
pub(super) trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>;
}

struct BarChart<'a> {
    cmp: &'a Comparison,
    metric: Metric,
}

impl Chart for BarChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        bar_chart(root, self.cmp, self.metric)
    }
}

struct CaseChart<'a> {
    case: &'a CaseComparison,
    panels: Vec<&'a MetricComparison>,
}

impl Chart for CaseChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        case_chart(root, self.case, &self.panels)
    }
}

/// Draws the same chart as `<base>.png` and `<base>.svg`.
pub(super) fn draw_both(
    base: &Path,
    size: (u32, u32),
    chart: &impl Chart,
) -> anyhow::Result<Vec<PathBuf>> {
    let png = base.with_extension("png");
    let svg = base.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        chart
            .draw(&root)
            .with_context(|| format!("cannot draw `{}`", png.display()))?;
        root.present()
            .map_err(plot_err)
            .with_context(|| format!("cannot write `{}`", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        chart
            .draw(&root)
            .with_context(|| format!("cannot draw `{}`", svg.display()))?;
        root.present()
            .map_err(plot_err)
            .with_context(|| format!("cannot write `{}`", svg.display()))?;
    }
    Ok(vec![png, svg])
}

/// An f64 axis whose ticks are exactly the given positions (case indexes, run numbers), so
/// each tick can carry its own label.
struct TickAxis {
    inner: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl TickAxis {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> TickAxis {
        TickAxis {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for TickAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Thin the ticks out evenly when there are more than the axis can show.
        let max = hint.max_num_points().max(1);
        let step = self.ticks.len().div_ceil(max).max(1);
        self.ticks.iter().copied().step_by(step).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

fn mean_and_ci(s: Option<&Summary>) -> Option<(f64, f64)> {
    s.map(|s| (s.mean, s.ci95_half_width.unwrap_or(0.0)))
}

/// Bar chart of one metric over all cases: baseline and new side by side, mean ± 95 % CI.
fn bar_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    cmp: &Comparison,
    metric: Metric,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    let n = cmp.cases.len();
    let pick = |c: &CaseComparison| c.metrics.iter().find(|m| m.metric == metric).cloned();
    let rows: Vec<Option<MetricComparison>> = cmp.cases.iter().map(pick).collect();
    let top = rows
        .iter()
        .flatten()
        .flat_map(|m| {
            [
                mean_and_ci(m.baseline.as_ref()),
                mean_and_ci(m.new.as_ref()),
            ]
        })
        .flatten()
        .map(|(mean, ci)| mean + ci)
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let rotate = n > 8;
    let labels: Vec<String> = cmp.cases.iter().map(|c| c.label.clone()).collect();
    let label_of = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    let keys: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "{} ({}): baseline vs new, mean ± 95% CI",
                metric.label(),
                metric.unit()
            ),
            (FONT_NAME, 22),
        )
        .margin(12)
        .x_label_area_size(if rotate { 160 } else { 50 })
        .y_label_area_size(80)
        .build_cartesian_2d(TickAxis::new(-0.5..n as f64 - 0.5, keys), 0.0..top)
        .map_err(plot_err)?;
    let x_style = if rotate {
        (FONT_NAME, 13)
            .into_font()
            .transform(FontTransform::Rotate90)
    } else {
        (FONT_NAME, 13).into_font()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_label_style(x_style)
        .x_label_formatter(&label_of)
        .y_label_formatter(&|y| super::report::fmt_num(*y, 3))
        .y_desc(metric.unit())
        .label_style((FONT_NAME, 13))
        .draw()
        .map_err(plot_err)?;
    let width = 0.35;
    for (side, color, offset) in [
        ("baseline", BASELINE_COLOR, -width / 2.0),
        ("new", NEW_COLOR, width / 2.0),
    ] {
        let bars: Vec<(f64, f64, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let m = m.as_ref()?;
                let s = if side == "baseline" {
                    &m.baseline
                } else {
                    &m.new
                };
                let (mean, ci) = mean_and_ci(s.as_ref())?;
                Some((i as f64 + offset, mean, ci))
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|&(x, mean, _)| {
                Rectangle::new(
                    [(x - width / 2.0, 0.0), (x + width / 2.0, mean)],
                    color.filled(),
                )
            }))
            .map_err(plot_err)?
            .label(side)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
        chart
            .draw_series(bars.iter().map(|&(x, mean, ci)| {
                ErrorBar::new_vertical(x, mean - ci, mean, mean + ci, BLACK.stroke_width(1), 10)
            }))
            .map_err(plot_err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT_NAME, 14))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// Per-case chart: one panel per metric with every run's value, mean and prediction band.
fn case_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    case: &CaseComparison,
    panels: &[&MetricComparison],
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    let root = root
        .titled(
            &format!("{}: every run, mean and 95% prediction band", case.label),
            (FONT_NAME, 20),
        )
        .map_err(plot_err)?;
    let areas = root.split_evenly((panels.len(), 1));
    for (area, m) in areas.iter().zip(panels) {
        let runs = m.baseline_values.len().max(m.new_values.len()).max(1);
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for v in m.baseline_values.iter().chain(&m.new_values) {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
        for s in [&m.baseline, &m.new].into_iter().flatten() {
            if let Some([a, b]) = s.pi95 {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(1e-9);
        let (lo, hi) = (lo - pad, hi + pad);
        let x_max = runs as f64 + 0.5;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{} ({})", m.metric.label(), m.metric.unit()),
                (FONT_NAME, 15),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(
                TickAxis::new(0.5..x_max, (1..=runs).map(|i| i as f64).collect()),
                lo..hi,
            )
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("run")
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .y_label_formatter(&|y| super::report::fmt_num(*y, 3))
            .label_style((FONT_NAME, 12))
            .draw()
            .map_err(plot_err)?;
        for (side, values, summary, color) in [
            ("baseline", &m.baseline_values, &m.baseline, BASELINE_COLOR),
            ("new", &m.new_values, &m.new, NEW_COLOR),
        ] {
            let Some(s) = summary else { continue };
            if let Some([a, b]) = s.pi95 {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.5, a), (x_max, b)],
                        color.mix(0.15).filled(),
                    )))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.5, s.mean), (x_max, s.mean)],
                    6,
                    4,
                    color.stroke_width(1),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    LineSeries::new(
                        values.iter().enumerate().map(|(i, v)| (i as f64 + 1.0, *v)),
                        color.stroke_width(2),
                    )
                    .point_size(4),
                )
                .map_err(plot_err)?
                .label(side)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT_NAME, 12))
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_name_safe() {
        assert_eq!(slug("INCR data_size=32"), "incr-data-size-32");
        assert_eq!(slug("{\"a\":1}"), "a-1");
    }
}
