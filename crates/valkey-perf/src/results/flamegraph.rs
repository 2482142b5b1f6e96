//! Flamegraphs from `perf script` output, drawn in-process with the `inferno` crate (no
//! scripts fetched at run time): the samples folded into one line per distinct stack
//! (`results/<target>/flamegraphs/<case>.folded`, kept for differential graphs) and drawn as
//! `<case>.svg`; with a baseline, a differential flamegraph per case, coloured by how much each
//! frame grew (red) or shrank (blue) from the baseline to the new target.

use anyhow::{Context, Result};
use inferno::collapse::Collapse;
use std::path::Path;

/// Folds `perf script` text into `stack;frames weight` lines; a cpu-clock sample weighs its
/// period, in nanoseconds of CPU.
pub fn fold(perf_script: &str) -> Result<String> {
    let mut folder =
        inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default());
    let mut out = Vec::new();
    folder
        .collapse(perf_script.as_bytes(), &mut out)
        .context("folding the `perf script` output")?;
    String::from_utf8(out).context("folded stacks are not UTF-8")
}

/// Draws folded stacks as an SVG flamegraph titled `title`.
pub fn draw(folded: &str, title: &str, svg: &Path) -> Result<()> {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = "ns on CPU".into();
    write_svg(folded, &mut opts, svg)
}

fn write_svg(folded: &str, opts: &mut inferno::flamegraph::Options<'_>, svg: &Path) -> Result<()> {
    if let Some(dir) = svg.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    }
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(opts, folded.lines(), &mut out)
        .with_context(|| format!("drawing `{}`", svg.display()))?;
    crate::util::write_atomic(svg, &out).with_context(|| format!("writing `{}`", svg.display()))
}

/// A differential flamegraph: the new target's stacks, each frame coloured by how its share of
/// samples changed from `before` (the baseline's folded stacks) to `after`.
pub fn draw_differential(before: &str, after: &str, title: &str, svg: &Path) -> Result<()> {
    let mut diff = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options {
            normalize: true,
            ..Default::default()
        },
        before.as_bytes(),
        after.as_bytes(),
        &mut diff,
    )
    .context("pairing the two targets' folded stacks")?;
    let diff = String::from_utf8(diff).context("differential stacks are not UTF-8")?;
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.subtitle =
        Some("red: a larger share of CPU time than on the baseline, blue: a smaller one".into());
    opts.count_name = "ns on CPU".into();
    write_svg(&diff, &mut opts, svg)
}
