//! Measuring for a bisection: one `run` session per step over the commits it compares (the
//! two ends, or an interval's two ends and its midpoint), interleaved round by round, with
//! rounds added until the decision is clear or the round limit is reached. The effect of the
//! judged metric comes from `compare`'s paired analysis of the session's records (timed
//! metrics), or from the instruction counts themselves (exact: the per-side medians).

use super::decide::{self, Effect, Ends, Position};
use crate::commands::run::{RunArgs, Session};
use crate::compare::{self, CompareOptions, Metric, RecordView};
use crate::model::{Case, Record};
use anyhow::Result;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a bisection judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricChoice {
    /// Requests per second, timed (paired rounds; several rounds a step).
    Rps,
    /// Instructions per request under callgrind (exact; one run a side usually decides).
    Instructions,
    /// The servers' CPU time per request, timed like rps (paired rounds) but far less moved
    /// by other processes competing for the CPUs.
    ServerCpu,
}

impl MetricChoice {
    fn metric(self) -> Metric {
        match self {
            MetricChoice::Rps => Metric::Rps,
            MetricChoice::Instructions => Metric::InstructionsPerRequest,
            MetricChoice::ServerCpu => Metric::ServerCpuPerRequest,
        }
    }

    /// The name `--metric` takes.
    pub fn name(self) -> &'static str {
        match self {
            MetricChoice::Rps => "rps",
            MetricChoice::Instructions => "instructions",
            MetricChoice::ServerCpu => "server-cpu",
        }
    }

    /// What it measures, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            MetricChoice::Rps => "rps",
            MetricChoice::Instructions => "instructions per request",
            MetricChoice::ServerCpu => "server CPU time per request",
        }
    }

    pub fn exact(self) -> bool {
        self == MetricChoice::Instructions
    }

    /// The noise threshold as a log ratio: `compare`'s default for the metric.
    pub fn threshold(self) -> f64 {
        (1.0 + CompareOptions::default().threshold_for(self.metric()) / 100.0).ln()
    }

    /// Rounds of a step's first batch: a timed paired interval needs three.
    fn first_rounds(self) -> u32 {
        if self.exact() { 1 } else { 3 }
    }
}

/// How the steps are measured.
pub struct Measurer {
    /// `run`'s flags; each session sets its commits.
    pub template: RunArgs,
    /// `--case`: words every kept case's label has.
    pub filter: Option<String>,
    pub metric: MetricChoice,
    /// Most rounds of one step.
    pub max_rounds: u32,
}

/// What one step measured: its decision (`None` when the round limit came first) and the
/// last effects.
pub struct Measured<T> {
    pub decision: Option<T>,
    pub effects: Vec<Option<Effect>>,
    pub rounds: u32,
}

impl Measurer {
    /// Whether `case` is kept by `--case`.
    pub fn keeps(&self, case: &Case) -> bool {
        let label = case.label();
        let words: Vec<&str> = label.split_whitespace().collect();
        self.filter
            .as_deref()
            .is_none_or(|f| f.split_whitespace().all(|w| words.contains(&w)))
    }

    /// A session over these commits (full SHAs, built or found in the cache).
    pub fn session(&self, shas: &[&str]) -> Result<Session> {
        let mut args = self.template.clone();
        args.targets.commits = shas.iter().map(|s| s.to_string()).collect();
        let what = match &self.filter {
            Some(f) => format!("--case `{f}`"),
            None => "the config".to_string(),
        };
        Session::open(&args, &|c| self.keeps(c), &what)
    }

    /// The ends: ln(bad / good) until it reproduces, does not, or the round limit.
    pub fn ends(&self, session: &mut Session) -> Result<Measured<Ends>> {
        let exact = self.metric.exact();
        self.until(session, &[(0, 1)], |effects, rounds| {
            let d = effects[0]?;
            match decide::ends(&d, self.metric.threshold(), exact, rounds) {
                Ends::Undecided => None,
                verdict => Some(verdict),
            }
        })
    }

    /// A midpoint (target 2) against the good end (0) and the bad end (1) of its interval,
    /// whose step `d` = ln(bad end / good end) was measured before. The midpoint is placed
    /// against the step the same rounds measured (ln(mid / good) − ln(mid / bad): the ends
    /// under the same conditions as the midpoint); while that points the other way than `d`,
    /// nothing is decided.
    pub fn midpoint(&self, session: &mut Session, d: f64) -> Result<Measured<Position>> {
        let exact = self.metric.exact();
        self.until(session, &[(0, 2), (1, 2)], |effects, rounds| {
            let (g, b) = (effects[0]?, effects[1]?);
            let here = g.log_ratio - b.log_ratio;
            if here * d <= 0.0 {
                return None;
            }
            match decide::position(&g, &b, here, rounds, exact) {
                Position::Undecided => None,
                p => Some(p),
            }
        })
    }

    /// Runs rounds, first a batch, then one at a time, until `judge` decides on the effects
    /// ln(new / base) of the `(base, new)` target pairs, or the round limit.
    fn until<T>(
        &self,
        session: &mut Session,
        pairs: &[(usize, usize)],
        judge: impl Fn(&[Option<Effect>], u32) -> Option<T>,
    ) -> Result<Measured<T>> {
        let mut batch = self.metric.first_rounds().min(self.max_rounds);
        loop {
            session.run_rounds(batch)?;
            let rounds = session.rounds_done();
            let effects = pairs
                .iter()
                .map(|&(b, n)| self.effect(session.records(b), session.records(n)))
                .collect::<Result<Vec<_>>>()?;
            let decision = judge(&effects, rounds);
            if decision.is_some() || rounds >= self.max_rounds {
                return Ok(Measured {
                    decision,
                    effects,
                    rounds,
                });
            }
            batch = 1;
        }
    }

    /// ln(new / base) of the judged metric over the kept cases, or `None` when the runs do
    /// not give one yet.
    fn effect(&self, base: &[Record], new: &[Record]) -> Result<Option<Effect>> {
        if self.metric.exact() {
            return Ok(exact_effect(base, new));
        }
        let views = |rs: &[Record]| rs.iter().map(RecordView::from_record).collect::<Vec<_>>();
        let cmp = compare::compare_views(
            &views(base),
            &views(new),
            "base",
            "new",
            &CompareOptions::default(),
        )?;
        let metric = self.metric.metric();
        let (pct, ci) = if let [case] = cmp.cases.as_slice() {
            let Some(d) = case
                .metrics
                .iter()
                .find(|m| m.metric == metric)
                .and_then(|m| m.difference.as_ref())
            else {
                return Ok(None);
            };
            (d.pct_change, d.pct_change_ci95)
        } else {
            let Some(o) = cmp.overall.iter().find(|o| o.metric == metric) else {
                return Ok(None);
            };
            (o.pct_change, o.pct_change_ci95)
        };
        Ok(pct.zip(ci).and_then(|(p, c)| Effect::from_pct(p, c)))
    }
}

/// Instructions per request: per case, the median of each side's runs (one odd run among
/// three is ignored); over the cases, the mean of their log ratios.
fn exact_effect(base: &[Record], new: &[Record]) -> Option<Effect> {
    let by_case = |rs: &[Record]| {
        let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in rs {
            if let Some(i) = &r.parts.instructions {
                let key = format!(
                    "{} d={} P={} c={} r={} cluster={} tls={} io={}",
                    r.command,
                    r.data_size,
                    r.pipeline,
                    r.clients,
                    r.keyspacelen,
                    r.cluster_mode,
                    r.tls,
                    r.io_threads
                );
                out.entry(key).or_default().push(i.instructions_per_request);
            }
        }
        out
    };
    let (b, n) = (by_case(base), by_case(new));
    let ratios: Vec<f64> = b
        .iter()
        .filter_map(|(case, bv)| {
            let (mb, mn) = (median(bv)?, median(n.get(case)?)?);
            (mb > 0.0 && mn > 0.0).then(|| (mn / mb).ln())
        })
        .collect();
    (!ratios.is_empty()).then(|| Effect::exact(ratios.iter().sum::<f64>() / ratios.len() as f64))
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_ignores_one_odd_run_of_three() {
        assert_eq!(median(&[100.0, 101.0, 100.2]), Some(100.2));
        assert_eq!(median(&[100.0, 102.0]), Some(101.0));
        assert_eq!(median(&[]), None);
    }
}
