//! What a bisection has learnt, kept in `<results>/bisect/<good>-<bad>-<metric>.json` and
//! rewritten atomically after every step: the ends' verdict, every decided midpoint with the
//! ends it was compared with, the commits that do not build, the builds and the time spent.
//! A second invocation with the same ends, metric and cases replays the decided steps from it
//! instead of measuring them again.

use super::decide::{Effect, Ends, Position};
use super::measure::MetricChoice;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The ends' verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndsResult {
    /// `None` when the round limit came before a verdict.
    pub verdict: Option<Ends>,
    /// ln(bad / good).
    pub effect: Option<Effect>,
    pub rounds: u32,
}

/// One measured midpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    /// The ends it was compared with (the bisection's ends, or those of one part of a split
    /// change).
    pub good_end: String,
    pub bad_end: String,
    pub commit: String,
    /// `Undecided` when the round limit came first.
    pub position: Position,
    /// ln(commit / good end), ln(commit / bad end).
    pub vs_good: Option<Effect>,
    pub vs_bad: Option<Effect>,
    pub rounds: u32,
}

/// A commit that does not build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub commit: String,
    /// The first line of the build error.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub good: String,
    pub bad: String,
    pub metric: MetricChoice,
    /// Labels of the cases measured.
    pub cases: Vec<String>,
    pub ends: Option<EndsResult>,
    pub steps: Vec<StepResult>,
    pub skipped: Vec<Skipped>,
    /// Every commit built, once, over every invocation: `true` when it was compiled, `false`
    /// when the cache had it.
    pub builds: Vec<(String, bool)>,
    /// Wall time of every invocation so far, in seconds.
    pub elapsed_secs: f64,
}

impl State {
    pub fn path(results_dir: &Path, good: &str, bad: &str, metric: MetricChoice) -> PathBuf {
        let short = |s: &str| s[..s.len().min(12)].to_string();
        let metric = metric.name();
        results_dir
            .join("bisect")
            .join(format!("{}-{}-{metric}.json", short(good), short(bad)))
    }

    /// The state at `path` when it is of these ends, metric and cases; else a fresh one (an
    /// unreadable or different state file is said and replaced).
    pub fn load_or_new(
        path: &Path,
        good: &str,
        bad: &str,
        metric: MetricChoice,
        cases: Vec<String>,
    ) -> State {
        let fresh = State {
            good: good.into(),
            bad: bad.into(),
            metric,
            cases,
            ends: None,
            steps: Vec::new(),
            skipped: Vec::new(),
            builds: Vec::new(),
            elapsed_secs: 0.0,
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return fresh;
        };
        match serde_json::from_str::<State>(&text) {
            Ok(old)
                if old.good == fresh.good && old.bad == fresh.bad && old.cases == fresh.cases =>
            {
                tracing::info!(
                    "resuming from `{}`: {} steps decided, {} commits that do not build",
                    path.display(),
                    old.steps.len(),
                    old.skipped.len()
                );
                old
            }
            Ok(_) => {
                tracing::warn!(
                    "`{}` is of other cases; starting afresh (it will be replaced)",
                    path.display()
                );
                fresh
            }
            Err(e) => {
                tracing::warn!(
                    "`{}` cannot be read ({e}); starting afresh (it will be replaced)",
                    path.display()
                );
                fresh
            }
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating `{}`", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        crate::util::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing `{}`", path.display()))
    }

    /// The decided step of `commit` between these ends, if one was measured.
    pub fn decided(&self, good_end: &str, bad_end: &str, commit: &str) -> Option<&StepResult> {
        self.steps.iter().find(|s| {
            s.good_end == good_end
                && s.bad_end == bad_end
                && s.commit == commit
                && s.position != Position::Undecided
        })
    }

    /// Records a step, replacing an undecided one of the same commit and ends.
    pub fn record(&mut self, step: StepResult) {
        self.steps.retain(|s| {
            !(s.good_end == step.good_end && s.bad_end == step.bad_end && s.commit == step.commit)
        });
        self.steps.push(step);
    }
}
