//! Hand-written inline SVG for the release view: a bar chart across release tags (bar at the
//! mean, error bar from the lowest to the highest run). No scripts, no external fonts:
//! hovering a bar shows its `<title>`, which every browser renders as a tooltip. (The charts
//! over commits are drawn by the page's script from the data block.)

use super::esc;
use std::fmt::Write;

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 250.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 64.0;

/// One x position: a commit (or a tag).
pub struct XLabel {
    pub text: String,
    /// Where the label links to (the commit on GitHub), when known.
    pub href: Option<String>,
    /// Shown on hover: commit time, ref.
    pub tooltip: String,
}

/// The runs of one series at one x position.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub runs: Vec<f64>,
}

impl Point {
    pub fn mean(&self) -> f64 {
        self.runs.iter().sum::<f64>() / self.runs.len() as f64
    }
    pub fn lo(&self) -> f64 {
        self.runs.iter().copied().fold(f64::INFINITY, f64::min)
    }
    pub fn hi(&self) -> f64 {
        self.runs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// A line (or a set of bars) of one metric.
pub struct Series {
    pub name: &'static str,
    pub color: &'static str,
    /// One entry per x label; `None` where this x has no runs.
    pub points: Vec<Option<Point>>,
}

/// A number for an axis or a tooltip: `1.23M`, `456K`, `0.455`.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}K", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}K", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A value range with some air, and about five round ticks in it (1, 2 or 5 × 10^k apart).
fn axis(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.05 };
        lo -= pad;
        hi += pad;
    }
    let pad = (hi - lo) * 0.08;
    let (lo, hi) = ((lo - pad).max(0.0_f64.min(lo)), hi + pad);
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    let ticks = (0..)
        .map(|i| first + i as f64 * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .collect();
    (lo, hi, ticks)
}

struct Frame {
    lo: f64,
    hi: f64,
    n: usize,
}

impl Frame {
    fn x(&self, i: usize) -> f64 {
        let w = WIDTH - LEFT - RIGHT;
        LEFT + w * (i as f64 + 0.5) / self.n.max(1) as f64
    }
    fn y(&self, v: f64) -> f64 {
        let h = HEIGHT - TOP - BOTTOM;
        TOP + h * (1.0 - (v - self.lo) / (self.hi - self.lo))
    }
}

/// The frame, y grid, title and x labels shared by both chart kinds.
fn open(out: &mut String, class: &str, title: &str, unit: &str, xs: &[XLabel], f: &Frame) {
    let _ = write!(
        out,
        r#"<svg class="{class}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{t}"><text class="title" x="{LEFT}" y="16">{t} <tspan class="unit">({u})</tspan></text>"#,
        t = esc(title),
        u = esc(unit),
    );
    let (_, _, ticks) = axis(f.lo, f.hi);
    for t in ticks {
        let y = f.y(t);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{tx}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
            x2 = WIDTH - RIGHT,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            v = fmt_num(t)
        );
    }
    // With many commits, label every k-th one so labels never overlap.
    let every = xs.len().div_ceil(30).max(1);
    for (i, x) in xs.iter().enumerate() {
        if i % every != 0 && i + 1 != xs.len() {
            continue;
        }
        let (px, py) = (f.x(i), HEIGHT - BOTTOM + 12.0);
        let label = format!(
            r#"<text class="xlabel" x="{px:.1}" y="{py:.1}" transform="rotate(-45 {px:.1} {py:.1})" text-anchor="end"><title>{tip}</title>{text}</text>"#,
            tip = esc(&x.tooltip),
            text = esc(&x.text)
        );
        match &x.href {
            Some(h) => {
                let _ = write!(out, r#"<a href="{}" target="_blank">{label}</a>"#, esc(h));
            }
            None => out.push_str(&label),
        }
    }
}

fn range<'a>(series: impl Iterator<Item = &'a Series>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for p in series.flat_map(|s| s.points.iter().flatten()) {
        lo = lo.min(p.lo());
        hi = hi.max(p.hi());
    }
    (lo, hi)
}

fn tip(xs: &[XLabel], i: usize, name: &str, p: &Point, unit: &str) -> String {
    let mut t = format!(
        "{} · {name}: mean {} {unit}, {} run(s)",
        xs[i].text,
        fmt_num(p.mean()),
        p.runs.len()
    );
    if p.runs.len() > 1 {
        let _ = write!(t, ", range {} – {}", fmt_num(p.lo()), fmt_num(p.hi()));
    }
    t
}

/// A bar chart over `xs` (release tags) for one series: a bar at the mean, an error bar from the
/// lowest to the highest run. Bars start at zero so tags compare by height.
pub fn bar_chart(class: &str, title: &str, unit: &str, xs: &[XLabel], s: &Series) -> String {
    let (_, hi) = range(std::iter::once(s));
    let (lo, hi, _) = axis(0.0, hi);
    let f = Frame {
        lo,
        hi,
        n: xs.len(),
    };
    let mut out = String::new();
    open(&mut out, class, title, unit, xs, &f);
    let w = ((WIDTH - LEFT - RIGHT) / xs.len().max(1) as f64 * 0.6).min(48.0);
    for (i, p) in s.points.iter().enumerate() {
        let Some(p) = p else { continue };
        let (x, y0, y) = (f.x(i), f.y(0.0_f64.max(lo)), f.y(p.mean()));
        let _ = write!(
            out,
            r##"<g class="bar"><title>{t}</title><rect x="{bx:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"/><line class="errbar" x1="{x:.1}" x2="{x:.1}" y1="{ylo:.1}" y2="{yhi:.1}" stroke="black" stroke-width="1.5"/></g>"##,
            t = esc(&tip(xs, i, s.name, p, unit)),
            bx = x - w / 2.0,
            h = (y0 - y).max(0.0),
            c = s.color,
            ylo = f.y(p.lo()),
            yhi = f.y(p.hi()),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        let (lo, hi, ticks) = axis(101_000.0, 139_000.0);
        assert!(lo <= 101_000.0 && hi >= 139_000.0);
        assert!(ticks.len() >= 3 && ticks.len() <= 8, "{ticks:?}");
        assert!(
            ticks
                .iter()
                .all(|t| *t >= lo && *t <= hi && t % 5000.0 == 0.0),
            "{ticks:?}"
        );
        // A constant series still gets a range.
        let (lo, hi, _) = axis(5.0, 5.0);
        assert!(lo < 5.0 && hi > 5.0);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(fmt_num(1_408_450.0), "1.41M");
        assert_eq!(fmt_num(45_600.0), "46K");
        assert_eq!(fmt_num(0.4551), "0.455");
    }
}
