//! `run` driven by another command (`bisect`): the flags lowered once into a plan, as `run`
//! lowers them, then rounds run on demand, every round every target in the interleaved order
//! (A B C, C B A, ...), all under one `invocation_id`, so that `compare` pairs the rounds of
//! several calls as it pairs those of one `run`. Records are written after every run as `run`
//! writes them, and kept for the caller.
//!
//! Owns nothing of its own beyond that bookkeeping: lowering, the run loop and the records
//! are `run`'s.

use super::lifecycle::RunContext;
use super::plan::{self, Plan};
use super::{RunArgs, Stop, Tally, invocation_id, open_results, prepare_tls, run_units, seed_base};
use crate::commands::logging::{self, Progress};
use crate::exit::{Code, Failure, usage};
use crate::model::{Case, EnvInfo, Record};
use crate::results::env;
use crate::server::tls::TlsMaterial;
use anyhow::Result;
use std::path::PathBuf;

/// A lowered plan whose rounds the caller runs a batch at a time.
pub struct Session {
    plan: Plan,
    material: Option<TlsMaterial>,
    env: EnvInfo,
    architecture: String,
    invocation_id: String,
    seed_base: u64,
    tally: Tally,
    rounds_done: u32,
}

/// What a session's target is, for the caller's messages and files.
#[derive(Debug, Clone)]
pub struct SessionTarget {
    /// Full SHA of a git ref (or the version and hash of a binary).
    pub commit: String,
    /// Its `metrics.json`.
    pub metrics_file: PathBuf,
}

impl Session {
    /// Lowers `args` as `run` does (targets resolved and built, engine probed, every case
    /// checked), keeps the cases `keep` accepts, and opens every target's results. A filter
    /// that keeps no case is a usage error naming `filter` and the cases there are. Nothing is
    /// started.
    pub fn open(args: &RunArgs, keep: &dyn Fn(&Case) -> bool, filter: &str) -> Result<Session> {
        let mut plan = plan::lower(args)?;
        let all: Vec<String> = plan.cases.iter().map(Case::label).collect();
        plan.cases.retain(|c| keep(c));
        if plan.cases.is_empty() {
            return Err(usage(format!(
                "{filter} matches no case of `{}`; its cases are:\n  {}",
                args.cases.config.display(),
                all.join("\n  ")
            )));
        }
        let files = open_results(&plan)?;
        let material = prepare_tls(&plan)?;
        let tally = Tally::new(&plan, files);
        let invocation_id = invocation_id();
        Ok(Session {
            seed_base: seed_base(&plan, &invocation_id),
            invocation_id,
            plan,
            material,
            env: env::collect(),
            architecture: env::architecture(),
            tally,
            rounds_done: 0,
        })
    }

    /// The cases every round runs.
    pub fn cases(&self) -> &[Case] {
        &self.plan.cases
    }

    /// The targets, in the order they were given.
    pub fn targets(&self) -> Vec<SessionTarget> {
        self.plan
            .targets
            .iter()
            .map(|t| SessionTarget {
                commit: t.commit.clone(),
                metrics_file: t.dir.join("metrics.json"),
            })
            .collect()
    }

    /// Rounds run so far.
    pub fn rounds_done(&self) -> u32 {
        self.rounds_done
    }

    /// Runs `n` more rounds of every case on every target. Ctrl-C is an error with exit code
    /// 130 (the finished runs are written and kept here); a server that does not start ends
    /// the session with its error. Failed runs are counted ([`Session::failed`]).
    pub fn run_rounds(&mut self, n: u32) -> Result<()> {
        let ctx = RunContext {
            plan: &self.plan,
            tls: self.material.as_ref().map(TlsMaterial::server),
            env: self.env.clone(),
            architecture: self.architecture.clone(),
            invocation_id: self.invocation_id.clone(),
            seed_base: self.seed_base,
        };
        let from = self.rounds_done;
        let progress = Progress::new(
            self.plan.cases.len() as u64 * u64::from(n) * self.plan.targets.len() as u64,
        );
        let stop = run_units(&ctx, &progress, &mut self.tally, from..from + n, false);
        progress.finish();
        match stop? {
            None => {
                self.rounds_done += n;
                Ok(())
            }
            Some(Stop::Interrupted) => Err(Failure::new(
                Code::Interrupted,
                "interrupted: finished runs are kept in metrics.json, every server was stopped",
            )),
            Some(Stop::ServerStart(e)) => Err(e),
            Some(Stop::Write(e)) => Err(Failure::new(
                Code::RunsFailed,
                format!("{e:#}; the runs stopped there, the records written before are kept"),
            )),
        }
    }

    /// The records target `target` produced so far, in the order they were run.
    pub fn records(&self, target: usize) -> &[Record] {
        &self.tally.records[target]
    }

    /// Runs that failed so far.
    pub fn failed(&self) -> usize {
        self.tally.failed
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        logging::close_log_files();
    }
}
