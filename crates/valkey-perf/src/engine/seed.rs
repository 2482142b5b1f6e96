//! Seeding: before a read or pop command is measured, the matching write fills the keyspace
//! sequentially (docs/design.md §5.3), with the key names the valkey-benchmark workloads use, so reads
//! hit and pops never run on empty keys. Writes are pipelined over one control connection.

use crate::model::{BenchmarkMode, Builtin, Case};
use crate::process::interrupted;
use crate::server::control::Control;
use anyhow::{Result, bail};
use std::time::Instant;

/// Commands per pipelined batch.
const BATCH: u64 = 1000;
/// Pop commands in duration mode: elements seeded per second of run time and per request in a
/// pipeline (up to [`POP_PIPELINE_GAIN`]), more than a server pops per second here (about
/// 150 K/s at pipeline 1 and 1.1 M/s at pipeline 16), bounded below and above.
const POPS_PER_SECOND: u64 = 400_000;
/// How far pipelining multiplies the pop rate seeded for: pops at pipeline 16 run about 7×
/// faster than at pipeline 1 here, and 4× the pipeline-1 allowance covers that.
const POP_PIPELINE_GAIN: u64 = 4;
const MIN_POP_SEED: u64 = 100_000;
const MAX_POP_SEED: u64 = 20_000_000;

/// What a case needs seeded, with valkey-benchmark's standalone key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPlan {
    pub write: Builtin,
    /// Items to write: keys for strings, elements for collections.
    pub count: u64,
    /// The key (collections) or key prefix (strings).
    pub key: &'static str,
    /// The measured command pops what was seeded (so the collection must not run dry).
    pub pops: bool,
}

impl SeedPlan {
    /// The seeding a case needs, or `None` for write commands.
    pub fn for_case(case: &Case) -> Option<SeedPlan> {
        let command = case.builtin()?;
        let write = command.seeded_by()?;
        let pops = match case.mode {
            // valkey-benchmark reserves a whole pipeline of requests per batch and sends the
            // batch while fewer than `requests` were reserved, so the server sees `requests`
            // rounded up to a multiple of the pipeline (`-n 200 -P 16` pops 208 times).
            BenchmarkMode::Requests(n) => n.next_multiple_of(case.pipeline.max(1)),
            BenchmarkMode::Duration(secs) => {
                (secs * pops_per_second(case.pipeline)).clamp(MIN_POP_SEED, MAX_POP_SEED)
            }
        };
        // One spare element per hundred pops: a collection that is never empty at the end
        // proves no measured pop ran on an empty key.
        let pops = pops + pops / 100 + 1;
        let warmup_pops = (case.warmup_secs * pops_per_second(case.pipeline)).min(MAX_POP_SEED);
        // A range read of N elements gets at least that many.
        let range = |n: u32| case.keyspacelen.clamp(u64::from(n).max(100), 1_000_000);
        let (count, key) = match command {
            Builtin::Get | Builtin::Mget(_) => (case.keyspacelen, "key:"),
            Builtin::Lrange(n) => (range(n), "mylist"),
            // Every member a read may name (`element:<n>` for n in the keyspace).
            Builtin::Sismember => (case.keyspacelen, "myset"),
            Builtin::Zscore => (case.keyspacelen, "myzset"),
            Builtin::Zrange(n) => (range(n), "myzset"),
            Builtin::Xrange(n) => (range(n), "mystream"),
            Builtin::Lpop | Builtin::Rpop => (pops + warmup_pops, "mylist"),
            Builtin::Spop => (pops + warmup_pops, "myset"),
            Builtin::Zpopmin => (pops + warmup_pops, "myzset"),
            _ => return None,
        };
        let pops = matches!(
            command,
            Builtin::Lpop | Builtin::Rpop | Builtin::Spop | Builtin::Zpopmin
        );
        Some(SeedPlan {
            write,
            count,
            key,
            pops,
        })
    }

    /// The collection length command for pop workloads (to check they never ran dry).
    pub fn length_command(&self) -> Option<&'static str> {
        if !self.pops {
            return None;
        }
        match self.key {
            "mylist" => Some("LLEN"),
            "myset" => Some("SCARD"),
            "myzset" => Some("ZCARD"),
            _ => None,
        }
    }
}

/// Pops per second a duration-mode run is seeded for at this pipeline depth.
fn pops_per_second(pipeline: u64) -> u64 {
    POPS_PER_SECOND * pipeline.clamp(1, POP_PIPELINE_GAIN)
}

/// Writes the seed data. Returns the number of write commands sent. Between batches it stops
/// on Ctrl-C / SIGTERM and at `until` (the end `--run-timeout` gives the run), saying how far
/// it got: a keyspace of millions of keys takes a while.
pub fn seed(
    control: &mut Control,
    plan: &SeedPlan,
    data_size: u64,
    until: Option<Instant>,
) -> Result<u64> {
    let value = "x".repeat(data_size as usize);
    let mut sent = 0;
    let mut start = 0;
    while start < plan.count {
        if interrupted() {
            bail!(
                "interrupted while seeding with {} ({sent} of {} written)",
                plan.write,
                plan.count
            );
        }
        if until.is_some_and(|end| Instant::now() >= end) {
            bail!(
                "seeding with {} did not finish within --run-timeout ({sent} of {} written); \
                 raise --run-timeout or lower `keyspacelen`",
                plan.write,
                plan.count
            );
        }
        let end = (start + BATCH).min(plan.count);
        let mut batch: Vec<Vec<String>> = Vec::with_capacity((end - start) as usize);
        for i in start..end {
            let id = format!("{i:012}");
            batch.push(match plan.write {
                Builtin::Set | Builtin::Mset(_) => {
                    vec!["SET".into(), format!("{}{id}", plan.key), value.clone()]
                }
                Builtin::Lpush | Builtin::Rpush => {
                    vec![
                        plan.write.command_name().into(),
                        plan.key.into(),
                        value.clone(),
                    ]
                }
                Builtin::Sadd => vec!["SADD".into(), plan.key.into(), format!("element:{id}")],
                Builtin::Zadd => vec![
                    "ZADD".into(),
                    plan.key.into(),
                    i.to_string(),
                    format!("element:{id}"),
                ],
                Builtin::Xadd => vec![
                    "XADD".into(),
                    plan.key.into(),
                    "*".into(),
                    "myfield".into(),
                    value.clone(),
                ],
                other => bail!("no seeding defined for {other}"),
            });
        }
        for reply in control.pipeline(&batch)? {
            if let Some(e) = reply.error_message() {
                bail!("seeding with {} failed: {e}", plan.write);
            }
        }
        sent += end - start;
        start = end;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(command: Builtin, mode: BenchmarkMode, warmup: u64) -> Case {
        let mut case = Case::for_test(command, mode);
        case.warmup_secs = warmup;
        case
    }

    #[test]
    fn reads_seed_the_keyspace_and_pops_their_requests() {
        let get = SeedPlan::for_case(&case(Builtin::Get, BenchmarkMode::Requests(50), 0)).unwrap();
        assert_eq!(
            (get.write, get.count, get.key),
            (Builtin::Set, 1000, "key:")
        );
        let pop = SeedPlan::for_case(&case(Builtin::Lpop, BenchmarkMode::Requests(50), 0)).unwrap();
        assert_eq!((pop.write, pop.count), (Builtin::Rpush, 51));
        let mut pipelined = case(Builtin::Lpop, BenchmarkMode::Requests(200), 0);
        pipelined.pipeline = 16;
        let pop16 = SeedPlan::for_case(&pipelined).unwrap();
        assert_eq!(
            pop16.count,
            208 + 2 + 1,
            "whole pipelines of pops, plus the spare"
        );
        let warm =
            SeedPlan::for_case(&case(Builtin::Spop, BenchmarkMode::Requests(50), 1)).unwrap();
        assert_eq!(warm.count, 51 + POPS_PER_SECOND);
        assert_eq!(warm.length_command(), Some("SCARD"));
        assert!(SeedPlan::for_case(&case(Builtin::Set, BenchmarkMode::Requests(50), 0)).is_none());
        let lrange =
            SeedPlan::for_case(&case(Builtin::Lrange(100), BenchmarkMode::Requests(5), 0)).unwrap();
        assert_eq!((lrange.write, lrange.count), (Builtin::Lpush, 1000));
        let mut timed = case(Builtin::Lpop, BenchmarkMode::Duration(2), 0);
        timed.pipeline = 16;
        let pops = 2 * POPS_PER_SECOND * POP_PIPELINE_GAIN;
        assert_eq!(
            SeedPlan::for_case(&timed).unwrap().count,
            pops + pops / 100 + 1,
            "pipelined pops run faster, so more is seeded for them"
        );
        // Member reads get every member of the keyspace; range reads at least their range.
        let member =
            SeedPlan::for_case(&case(Builtin::Sismember, BenchmarkMode::Requests(5), 0)).unwrap();
        assert_eq!(
            (member.write, member.count, member.key),
            (Builtin::Sadd, 1000, "myset")
        );
        assert_eq!(member.length_command(), None, "reads are not pops");
        let score =
            SeedPlan::for_case(&case(Builtin::Zscore, BenchmarkMode::Requests(5), 0)).unwrap();
        assert_eq!((score.write, score.key), (Builtin::Zadd, "myzset"));
        let mut small = case(Builtin::Xrange(100), BenchmarkMode::Requests(5), 0);
        small.keyspacelen = 10;
        let xrange = SeedPlan::for_case(&small).unwrap();
        assert_eq!(
            (xrange.write, xrange.count, xrange.key),
            (Builtin::Xadd, 100, "mystream")
        );
        let zrange =
            SeedPlan::for_case(&case(Builtin::Zrange(100), BenchmarkMode::Requests(5), 0)).unwrap();
        assert_eq!((zrange.write, zrange.count), (Builtin::Zadd, 1000));
    }
}
