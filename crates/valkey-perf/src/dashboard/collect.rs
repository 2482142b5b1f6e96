//! The history shaped batch by batch, keeping only the three numbers per run the charts draw.
//!
//! A [`Batch`] is the rows of some commits shaped on the thread that read them: per commit
//! and per case its first row's facts, per row only where its run goes and its numbers. So
//! batches can be read and shaped on several threads at once, each freeing its own rows, and
//! a [`Collector`] merges them, in the order they were read, with a few lookups per commit
//! and per case instead of per row.

use super::{COMBO_FIELDS, Combo, Commit, PANEL_FIELDS, Place, Run, panel_runs, place_of, text};
use crate::compare::RecordView;
use chrono::DateTime;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A row's case fields as stored, one string: rows of one case share it, so the chart and
/// panel of a case are worked out once, not per row. Each value is written as JSON (a plain
/// string directly, without the serializer).
fn case_signature(r: &RecordView, out: &mut String) {
    out.clear();
    for f in std::iter::once(&"command")
        .chain(COMBO_FIELDS)
        .chain(PANEL_FIELDS)
    {
        match r.get(f) {
            Some(Value::String(s)) if !s.chars().any(|c| c == '"' || c == '\\' || c < ' ') => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Some(v) => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("{v}"));
            }
            None => {}
        }
        out.push('\u{1f}');
    }
}

/// A field that is text, borrowed when it is stored as a string.
fn text_of<'r>(r: &'r RecordView, field: &str) -> Option<Cow<'r, str>> {
    match r.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(Cow::Borrowed(s)),
        _ => text(r, field).map(Cow::Owned),
    }
}

/// A commit as its first rows in a batch tell it.
#[derive(Debug)]
struct BatchCommit {
    sha: String,
    time_text: String,
    git_ref: Option<String>,
    repository: Option<String>,
}

/// Rows shaped apart from the others (see the module's documentation).
#[derive(Debug, Default)]
pub struct Batch {
    /// Commits in the order first seen.
    commits: Vec<BatchCommit>,
    commit_index: HashMap<String, usize>,
    /// The commit of the last row (rows of a commit mostly come together).
    last_commit: Option<usize>,
    /// Case signatures ([`case_signature`]) in the order first seen, each with its first row.
    cases: Vec<(String, RecordView)>,
    case_index: HashMap<String, usize>,
    signature: String,
    /// Per row: its commit, its case, its numbers.
    runs: Vec<(u32, u32, Run)>,
}

impl Batch {
    /// Takes one row; a reference row (a commit measured beside another) is not its commit's
    /// own and is left out.
    pub fn add(&mut self, r: &RecordView) {
        if crate::history::is_reference(r) {
            return;
        }
        let Some(sha) = text_of(r, "commit") else {
            return;
        };
        let commit = match self.last_commit {
            Some(i) if self.commits[i].sha == sha.as_ref() => i,
            _ => match self.commit_index.get(sha.as_ref()) {
                Some(&i) => i,
                None => {
                    self.commits.push(BatchCommit {
                        sha: sha.to_string(),
                        time_text: text(r, "timestamp").unwrap_or_default(),
                        git_ref: None,
                        repository: None,
                    });
                    self.commit_index
                        .insert(sha.into_owned(), self.commits.len() - 1);
                    self.commits.len() - 1
                }
            },
        };
        self.last_commit = Some(commit);
        let c = &mut self.commits[commit];
        if c.git_ref.is_none() {
            c.git_ref = text(r, "ref");
        }
        if c.repository.is_none() {
            c.repository = text(r, "repository");
        }
        case_signature(r, &mut self.signature);
        let case = match self.case_index.get(&self.signature) {
            Some(&k) => k,
            None => {
                self.cases.push((self.signature.clone(), r.clone()));
                self.case_index
                    .insert(self.signature.clone(), self.cases.len() - 1);
                self.cases.len() - 1
            }
        };
        self.runs.push((commit as u32, case as u32, Run::of(r)));
    }
}

/// The history shaped from batches merged one after another: each commit gets a slot when
/// first seen, and [`Collector::finish`] puts the commits in commit-time order.
#[derive(Debug, Default)]
pub struct Collector {
    commits: Vec<Commit>,
    slot: HashMap<String, usize>,
    combos: BTreeMap<String, Combo>,
    /// Each case signature seen ([`case_signature`]) and the panel its runs go to (an index
    /// into `panels`).
    places: HashMap<String, Option<usize>>,
    /// Each panel's place and its runs per commit slot; moved into `combos` at the end.
    panels: Vec<(Place, Vec<Vec<Run>>)>,
    commands: BTreeSet<String>,
    runs: usize,
}

/// What a [`Collector`] found: commits in commit-time order, charts with runs per commit.
#[derive(Debug)]
pub struct Shaped {
    pub commits: Vec<Commit>,
    pub combos: Vec<Combo>,
    pub commands: Vec<String>,
    pub runs: usize,
}

impl Collector {
    /// Takes the rows of `batch`, as if they came one by one after those taken before.
    pub fn merge(&mut self, batch: Batch) {
        let slots: Vec<usize> = batch.commits.into_iter().map(|c| self.slot_of(c)).collect();
        let panels: Vec<Option<usize>> = batch
            .cases
            .iter()
            .map(|(signature, first)| match self.places.get(signature) {
                Some(&panel) => panel,
                None => self.place_signature(signature, first),
            })
            .collect();
        for (commit, case, run) in batch.runs {
            let Some(panel) = panels[case as usize] else {
                continue;
            };
            let slot = slots[commit as usize];
            let runs = &mut self.panels[panel].1;
            if runs.len() <= slot {
                runs.resize(slot + 1, Vec::new());
            }
            runs[slot].push(run);
            self.runs += 1;
        }
    }

    /// The slot of a batch's commit, given one when first seen; its ref and repository are
    /// the first ones any of its rows had.
    fn slot_of(&mut self, c: BatchCommit) -> usize {
        let slot = match self.slot.get(&c.sha) {
            Some(&i) => i,
            None => {
                self.commits.push(Commit {
                    sha: c.sha.clone(),
                    time: DateTime::parse_from_rfc3339(&c.time_text).ok(),
                    time_text: c.time_text,
                    git_ref: None,
                    repository: None,
                });
                self.slot.insert(c.sha, self.commits.len() - 1);
                self.commits.len() - 1
            }
        };
        let known = &mut self.commits[slot];
        known.git_ref = known.git_ref.take().or(c.git_ref);
        known.repository = known.repository.take().or(c.repository);
        slot
    }

    /// Works out the panel of a new case signature from its first row, making the chart and
    /// the panel when new; several signatures may share a panel.
    fn place_signature(&mut self, signature: &str, r: &RecordView) -> Option<usize> {
        let panel = place_of(r).map(|place| {
            self.commands.insert(place.1.0.clone());
            panel_runs(&mut self.combos, r, &place, 0);
            match self.panels.iter().position(|(p, _)| *p == place) {
                Some(i) => i,
                None => {
                    self.panels.push((place, Vec::new()));
                    self.panels.len() - 1
                }
            }
        });
        self.places.insert(signature.to_string(), panel);
        panel
    }

    /// Whether no row was taken.
    pub fn is_empty(&self) -> bool {
        self.runs == 0
    }

    /// Commits in commit-time order (ties by SHA), each panel's runs per commit.
    pub fn finish(self) -> Shaped {
        let mut order: Vec<usize> = (0..self.commits.len()).collect();
        let key = |i: &usize| {
            let c = &self.commits[*i];
            (c.time, c.time_text.clone(), c.sha.clone())
        };
        order.sort_by_key(key);
        let n = order.len();
        let mut combos = self.combos;
        for ((key, panel_key), runs) in self.panels {
            if let Some(panel) = combos
                .get_mut(&key)
                .and_then(|c| c.panels.get_mut(&panel_key))
            {
                panel.runs = runs;
            }
        }
        let mut combos: Vec<Combo> = combos.into_values().collect();
        for combo in &mut combos {
            for panel in combo.panels.values_mut() {
                let mut by_slot = std::mem::take(&mut panel.runs);
                by_slot.resize(n, Vec::new());
                panel.runs = order
                    .iter()
                    .map(|&i| std::mem::take(&mut by_slot[i]))
                    .collect();
            }
        }
        let mut commits: Vec<Option<Commit>> = self.commits.into_iter().map(Some).collect();
        Shaped {
            commits: order
                .iter()
                .map(|&i| commits[i].take().expect("each slot once"))
                .collect(),
            combos,
            commands: self.commands.into_iter().collect(),
            runs: self.runs,
        }
    }
}
