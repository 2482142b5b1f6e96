//! The legend of the markdown report: what its icons, columns and analyses mean, and the one
//! promise the report makes about its verdicts (docs/design.md §7.4).

use super::model::*;
use super::report::fmt_num;
use std::fmt::Write;

/// What the icons, columns, analyses and verdict rules mean, and the promise the report makes.
pub(super) fn legend(out: &mut String, cmp: &Comparison, holm: bool) {
    let _ = write!(
        out,
        "## Legend\n\n\
         - **The promise**: {promise}\n\
         - 🔴 regression, 🟢 improvement, ⚪ no significant change, ❔ insufficient data, · shown \
         only (min/max latency are single extreme samples and are not judged).\n\
         - rps: higher is better; latencies (ms): lower is better. baseline / new are means over \
         the runs.\n\
         - **% Change**: the change new / baseline (a ratio of geometric means); in brackets its \
         95 % interval. **Detectable**: the smallest change, either way, this data finds with \
         80 % power at the threshold of its family: \"no significant change\" next to ±20 % \
         means a 10 % change could have gone unseen. The analysis is named after the p-value:\n  \
         - *paired*: both targets ran in one invocation, interleaved in rounds (A B, B A, ...); \
         the mean of the per-round log ratios. Drift between rounds cancels.\n  \
         - *unpaired*: runs of one invocation that cannot be paired; the difference of the \
         sides' mean log values.\n  \
         - *between invocations*: the sides come from different invocations (or files that do \
         not say). A case's log ratio is the common shift + its own deviation + sampling error; \
         a case is a verdict when it departs both from the common shift of the other cases \
         (beyond their case-to-case spread) and from no change (beyond the machine's drift), \
         from {min_cases} cases up. The common shift itself cannot be told from drift between \
         two invocations: it is judged only against the machine's drift (sd {drift} %{source}).\n\
         - Every case's variance borrows from the other cases of its metric (empirical \
         Bayes, as limma): one that came out small is lifted toward theirs and gains their \
         degrees of freedom, but never falls below the case's own; tested against Student's t \
         on those degrees of freedom.\n\
         - **Test**: two-sided p-value{holm_text}.\n\
         - **instructions/request** (instructions mode): instructions the servers executed in \
         the measured window under callgrind, per request; noise threshold {ithr} %. For a \
         case whose count changed, the functions whose inclusive count per request changed \
         most are listed under it.\n\
         {server_cpu}\
         - **Overall**: the geometric mean of the cases' ratios (their mean log ratio), with a t \
         interval (the sampling model's, or the scatter over cases when they scatter more than \
         it allows): a small change in every case is found there even when no single case is significant.\n\
         - Values on a grid (latencies in fixed steps, rounded numbers) are credited with a \
         rounding error of half a step in each side's mean, which more runs do not shrink, so \
         samples that differ by one step are not called significant.\n\
         - A change is a regression or improvement only when its p-value{adj} is below {alpha} \
         and it is at least {thr} % large. `--fail-on-regression PCT` fails only on a \
         regression whose whole 95 % interval lies at least PCT % beyond no change.\n\
         - **stats**: n runs, σ sample standard deviation (n − 1), CV = σ / mean, CI95% = \
         half-width of the 95 % Student-t confidence interval of the mean, relative to the \
         mean.\n",
        promise = promise(cmp),
        min_cases = super::across::MIN_CASES,
        drift = fmt_num(
            cmp.options
                .drift
                .as_ref()
                .map_or(super::across::DEFAULT_DRIFT_SD, |d| d.sd_log)
                * 100.0,
            2
        ),
        source = match &cmp.options.drift {
            Some(d) if d.pairs > 0 => format!(", from {} commit pairs of history", d.pairs),
            _ => ", the default".to_string(),
        },
        ithr = cmp.options.instructions_threshold_pct,
        server_cpu = legend_extra(cmp),
        holm_text = if holm {
            "; adj. p is adjusted within its family (see the promise)".to_string()
        } else {
            format!(
                " (no correction: among {} comparisons about {:.1} false alarms are expected)",
                cmp.comparisons,
                cmp.comparisons as f64 * cmp.options.alpha
            )
        },
        adj = if holm { " (adjusted)" } else { "" },
        alpha = cmp.options.alpha,
        thr = cmp.options.threshold_pct,
    );
}

/// The one promise the report makes about its verdicts.
pub fn promise(cmp: &Comparison) -> String {
    let a = cmp.options.alpha * 100.0;
    let families = "the *primary* family is the primary metric of every case (rps; instructions \
                    per request in instructions mode; overhead per key in memory mode) and its \
                    overall line, which carries a fifth of the family's weight; every other \
                    judged metric (latencies, server CPU) is *secondary* evidence, a family of \
                    its own";
    match cmp.options.correction {
        Correction::Fdr => format!(
            "at most {a} % of the primary verdicts of change are expected to be false \
             (a false-discovery rate of {a} %, Benjamini–Hochberg), so when nothing changed a \
             report shows no primary verdict in at least {} % of cases; {families}, held to the \
             same rate. Checked by simulation (docs/design.md §7.6).",
            100.0 - a
        ),
        Correction::Holm => format!(
            "the chance of any false primary verdict is at most {a} % (Holm); {families}, held \
             to the same rate."
        ),
        Correction::None => {
            format!("none over the report: each comparison is tested at {a} % on its own.")
        }
    }
}

/// Legend lines for the metrics only some reports have.
fn legend_extra(cmp: &Comparison) -> String {
    let has = |metric: Metric| {
        cmp.cases
            .iter()
            .flat_map(|c| &c.metrics)
            .any(|m| m.metric == metric)
    };
    let mut out = String::new();
    if has(Metric::ServerCpuPerRequest) {
        out.push_str(
            "- **server CPU/request**: CPU time (user + system) of every server process, all \
             threads and all nodes, over the measured window, divided by the commands the \
             primaries processed in it; lower is better. It counts the server's own work per \
             request, not the client's share of a busy machine.\n",
        );
    }
    if has(Metric::OverheadPerItem) {
        out.push_str(
            "- **overhead/key** (memory mode): what the server's memory in use grew by per key \
             written on a fresh server, minus the key's name and value; lower is better.\n",
        );
    }
    out
}
