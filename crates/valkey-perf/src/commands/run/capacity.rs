//! Capacity mode at the end of `run`: each target's latency-against-throughput chart per case,
//! drawn from the records this invocation measured (the comparison report draws its own).

use super::plan::Plan;
use crate::model::Record;
use anyhow::{Context, Result};

/// Capacity mode: each target's latency-against-throughput chart per case, every ladder of
/// this invocation on it, in `results/<target>/capacity/<case>.png|svg` (with a baseline, the
/// report draws both targets on one chart as well).
pub(super) fn charts(plan: &Plan, records: &[Vec<Record>]) -> Result<()> {
    for (t, rs) in plan.targets.iter().zip(records) {
        let mut cases: Vec<(String, Vec<&crate::model::capacity::CapacityFigures>)> = Vec::new();
        for r in rs {
            let Some(f) = r.parts.capacity.as_ref() else {
                continue;
            };
            let label = format!(
                "{} d={} P={} c={}{}{}",
                r.command,
                r.data_size,
                r.pipeline,
                r.clients,
                if r.cluster_mode { " cluster" } else { "" },
                if r.tls { " tls" } else { "" }
            );
            match cases.iter_mut().find(|(l, _)| *l == label) {
                Some((_, fs)) => fs.push(f),
                None => cases.push((label, vec![f])),
            }
        }
        for (i, (label, figures)) in cases.iter().enumerate() {
            let ladders: Vec<(String, bool, &crate::model::capacity::CapacityFigures)> = figures
                .iter()
                .enumerate()
                .map(|(run, f)| {
                    let name = t
                        .dir
                        .file_name()
                        .map_or_else(|| t.label.clone(), |n| n.to_string_lossy().into_owned());
                    (format!("{name} run {}", run + 1), false, *f)
                })
                .collect();
            let base = t
                .dir
                .join("capacity")
                .join(crate::compare::capacity_chart_name(i, label));
            let files = crate::compare::capacity::draw_chart(
                &base,
                &format!("{label}: latency against throughput"),
                &ladders,
            )
            .with_context(|| format!("drawing the capacity chart `{}`", base.display()))?;
            for f in files
                .iter()
                .filter(|f| f.extension().is_some_and(|e| e == "svg"))
            {
                tracing::info!(
                    "capacity chart of {label} on {}: `{}`",
                    t.label,
                    f.display()
                );
            }
        }
    }
    Ok(())
}
