//! Turns a [`Workload`] into pre-encoded command templates and fills their placeholders
//! per request, in place, without allocating.
//!
//! Every placeholder has a fixed width once encoded (`__rand_int__` → 12 digits, like
//! valkey-benchmark; `{tag}` → `{ddddd}`), so a template is encoded once and each request is
//! a copy plus a few digit writes.

use crate::cluster::{SLOTS, crc16, key_slot};
use crate::spec::{Builtin, CommandSpec, KeyOrder, Workload};
use crate::zipf::Zipf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod keys;
mod template;

pub(crate) use keys::{KeyGen, NodeKeys};
use keys::{below, same_tag, write_digits};
pub(crate) use template::Expect;
pub use template::builtin_args;
use template::{FIELD, Template, compile_template, value_bytes};

/// The compiled workload shared by all connections.
#[derive(Debug)]
pub(crate) struct Compiled {
    templates: Vec<Template>,
    /// Per command with `__field:` placeholders: its template for each dataset row (the
    /// `templates` entry is row 0's).
    rows: Vec<Option<Vec<Template>>>,
    /// Sequential order without key numbers: the next dataset row.
    next_row: AtomicU64,
    /// Cumulative weights, for picking a command per request.
    cumulative: Vec<u64>,
    keyspacelen: Option<u64>,
    sequential: Option<Arc<AtomicU64>>,
    distinct_values: bool,
    seed: u64,
    /// Zipf key order: the exponent, and the distribution over the whole keyspace.
    zipf: Option<(f64, Zipf)>,
    /// Only cluster mode needs each request's slot (hashing costs more than the rest of
    /// the request's generation).
    cluster: bool,
    /// Cluster mode: the slot of each hash tag `{00000}`..`{16383}`.
    tag_slots: Vec<u16>,
    /// The common case, one command whose only placeholders are uniformly drawn key
    /// numbers (standalone): its keyspace, generated without the general path's choices.
    uniform_keys: Option<u64>,
}

/// Why a workload cannot be compiled into request templates.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    #[error("the workload has no command")]
    NoCommand,
    #[error("keyspacelen must be at least 1")]
    EmptyKeyspace,
    #[error("empty command")]
    EmptyCommand,
    #[error("the dataset has no rows")]
    NoRows,
    #[error("`{command}` has `__field:` placeholders but the workload has no dataset")]
    NoDataset { command: String },
    #[error("`{arg}` has `__field:` without its closing `__`")]
    UnclosedField { arg: String },
    #[error(
        "`{arg}` names the column `{column}`, which the dataset does not have (its columns: {})",
        columns.join(", ")
    )]
    UnknownColumn {
        arg: String,
        column: String,
        columns: Vec<String>,
    },
    #[error("the weights of the workload's commands add up to 0")]
    ZeroWeights,
    #[error("the zipf exponent must be a positive number, not {0}")]
    ZipfExponent(f64),
}

impl Compiled {
    pub(crate) fn new(w: &Workload, cluster: bool) -> Result<Compiled, WorkloadError> {
        if w.commands.is_empty() {
            return Err(WorkloadError::NoCommand);
        }
        if w.keyspacelen == Some(0) {
            return Err(WorkloadError::EmptyKeyspace);
        }
        let value = value_bytes(w.data_size);
        let keyspace = w.keyspacelen.is_some();
        let mut templates = Vec::new();
        let mut rows: Vec<Option<Vec<Template>>> = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        for wc in &w.commands {
            let template = match &wc.command {
                // The inline protocol: a line of text, not a RESP array.
                CommandSpec::Builtin(Builtin::PingInline) => {
                    Template::of_bytes(b"PING\r\n".to_vec())
                }
                CommandSpec::Builtin(b) => {
                    let mut t = compile_template(
                        &builtin_args(*b, cluster),
                        &value,
                        keyspace,
                        cluster,
                        None,
                    )?;
                    t.expect = Expect::of(*b);
                    t
                }
                CommandSpec::Template(args) => {
                    let uses_fields = args.iter().any(|a| a.contains(FIELD));
                    match (&w.dataset, uses_fields) {
                        (Some(d), true) => {
                            let per_row = d
                                .rows
                                .iter()
                                .map(|r| {
                                    compile_template(
                                        args,
                                        &value,
                                        keyspace,
                                        cluster,
                                        Some((&d.columns, r)),
                                    )
                                })
                                .collect::<Result<Vec<_>, _>>()?;
                            rows.push(Some(per_row.clone()));
                            per_row.into_iter().next().ok_or(WorkloadError::NoRows)?
                        }
                        (None, true) => {
                            return Err(WorkloadError::NoDataset {
                                command: args.join(" "),
                            });
                        }
                        _ => {
                            rows.push(None);
                            compile_template(args, &value, keyspace, cluster, None)?
                        }
                    }
                }
            };
            if rows.len() < templates.len() + 1 {
                rows.push(None);
            }
            let mut template = template;
            if w.keyless_to_home {
                template.unroute_keyless();
                if let Some(Some(per_row)) = rows.last_mut() {
                    per_row.iter_mut().for_each(Template::unroute_keyless);
                }
            }
            templates.push(template);
            total += u64::from(wc.weight);
            cumulative.push(total);
        }
        if total == 0 {
            return Err(WorkloadError::ZeroWeights);
        }
        let (sequential, seed) = match w.key_order {
            KeyOrder::Sequential => (Some(Arc::new(AtomicU64::new(0))), 0),
            KeyOrder::Random { seed } | KeyOrder::Zipf { seed, .. } => (None, seed),
        };
        let zipf = match w.key_order {
            KeyOrder::Zipf { exponent, .. } if !(exponent.is_finite() && exponent > 0.0) => {
                return Err(WorkloadError::ZipfExponent(exponent));
            }
            KeyOrder::Zipf { exponent, .. } => w
                .keyspacelen
                .map(|space| (exponent, Zipf::new(space, exponent))),
            _ => None,
        };
        let tag_slots = if cluster {
            (0..SLOTS)
                .map(|t| crc16(format!("{t:05}").as_bytes()) % SLOTS as u16)
                .collect()
        } else {
            Vec::new()
        };
        let uniform_keys = match (&templates[..], &rows[..]) {
            ([t], [None])
                if !cluster
                    && sequential.is_none()
                    && zipf.is_none()
                    && !w.distinct_values
                    && t.scores.is_empty()
                    && t.tags.is_empty() =>
            {
                w.keyspacelen
            }
            _ => None,
        };
        Ok(Compiled {
            uniform_keys,
            templates,
            rows,
            next_row: AtomicU64::new(0),
            cumulative,
            keyspacelen: w.keyspacelen,
            sequential,
            distinct_values: w.distinct_values,
            seed,
            zipf,
            cluster,
            tag_slots,
        })
    }

    /// The key numbers (cluster mode) whose slot `owned` says the node owns; `None` when
    /// there are none (a node with few slots and a small keyspace), and the connection
    /// draws from the whole keyspace instead.
    pub(crate) fn node_keys(&self, owned: impl Fn(u16) -> bool) -> Option<NodeKeys> {
        let tags: Vec<u16> = (0..self.tag_slots.len() as u16)
            .filter(|&t| owned(self.tag_slots[t as usize]))
            .collect();
        let (full, rem) = match self.keyspacelen {
            Some(space) => (space / SLOTS as u64, space % SLOTS as u64),
            // Without a keyspace only the tag varies: one round of every tag.
            None => (1, 0),
        };
        let below_rem = tags.iter().filter(|&&t| u64::from(t) < rem).count() as u64;
        let mut keys = NodeKeys {
            tags,
            full,
            below_rem,
            zipf: None,
        };
        keys.zipf = self.zipf.as_ref().map(|(s, _)| Zipf::new(keys.len(), *s));
        (keys.len() > 0).then_some(keys)
    }

    /// A generator for one connection; `stream` distinguishes connections.
    pub(crate) fn key_gen(&self, stream: u64) -> KeyGen {
        KeyGen {
            rng: self.seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F),
            counter: 0,
        }
    }

    /// The reply shape template `idx` (as [`Compiled::emit`] returns it) implies.
    pub(crate) fn expect(&self, idx: u16) -> Option<Expect> {
        self.templates.get(idx as usize).and_then(|t| t.expect)
    }

    /// Appends one request to `out`. Returns the index of the command it used and, in cluster
    /// mode, its slot when the command has a key. With `home` (cluster mode, random keys),
    /// the keys are drawn from that node's key numbers, so the request goes to that node.
    /// In cluster mode the further keys of a multi-key command share the first key's tag
    /// (`k % 16384`), so every key's name is the one a single-key command gives it.
    pub(crate) fn emit(
        &self,
        g: &mut KeyGen,
        out: &mut Vec<u8>,
        home: Option<&NodeKeys>,
    ) -> (u16, Option<u16>) {
        if let Some(space) = self.uniform_keys {
            let t = &self.templates[0];
            let start = out.len();
            out.extend_from_slice(&t.bytes);
            let req = &mut out[start..];
            for &off in &t.keys {
                write_digits(&mut req[off..off + 12], below(g.next_rand(), space));
            }
            g.counter += 1;
            return (0, None);
        }
        let idx = if self.templates.len() == 1 {
            0
        } else {
            let total = *self.cumulative.last().unwrap_or(&1);
            let r = g.next_rand() % total;
            self.cumulative.partition_point(|&c| c <= r)
        };
        let nkeys = self.templates[idx].keys.len();
        let base = match (&self.sequential, self.keyspacelen) {
            (Some(seq), Some(_)) if nkeys > 0 => {
                Some(seq.fetch_add(nkeys as u64, Ordering::Relaxed))
            }
            _ => None,
        };
        let t = match &self.rows[idx] {
            None => &self.templates[idx],
            Some(per_row) => {
                let n = per_row.len() as u64;
                let row = match (base, &self.sequential) {
                    (Some(b), _) => b % n,
                    (None, Some(_)) => self.next_row.fetch_add(1, Ordering::Relaxed) % n,
                    (None, None) => g.next_rand() % n,
                };
                &per_row[row as usize]
            }
        };
        // Only a key with a hash tag derived from its number lands in the home node's
        // slots; any other key is routed by its own slot.
        let home = if t.tags.is_empty() { None } else { home };
        let start = out.len();
        out.extend_from_slice(&t.bytes);
        let req = &mut out[start..];
        let mut first_key = None;
        if let Some(space) = self.keyspacelen {
            for (i, &off) in t.keys.iter().enumerate() {
                let v = match (base, first_key, home) {
                    (Some(b), _, _) => (b + i as u64) % space,
                    (None, Some(first), _) if self.cluster => {
                        same_tag(first % SLOTS as u64, g.next_rand(), space)
                    }
                    (None, None, Some(h)) => match &h.zipf {
                        Some(z) => h.nth(z.sample(|| g.next_unit()) - 1),
                        None => h.nth(below(g.next_rand(), h.len())),
                    },
                    _ => match &self.zipf {
                        Some((_, z)) => z.sample(|| g.next_unit()) - 1,
                        None => below(g.next_rand(), space),
                    },
                };
                first_key.get_or_insert(v);
                write_digits(&mut req[off..off + 12], v);
            }
            for &off in &t.scores {
                write_digits(&mut req[off..off + 12], below(g.next_rand(), space));
            }
        }
        if !t.tags.is_empty() {
            let tag = match (first_key, home) {
                (Some(k), _) => k,
                (None, Some(h)) => {
                    u64::from(h.tags[(g.next_rand() % h.tags.len() as u64) as usize])
                }
                (None, None) => g.next_rand(),
            } % SLOTS as u64;
            for &off in &t.tags {
                write_digits(&mut req[off..off + 5], tag);
            }
        }
        g.counter += 1;
        if self.distinct_values {
            for &(off, len) in &t.values {
                let n = len.min(12);
                write_digits(&mut req[off..off + n], g.counter);
            }
        }
        if !self.cluster {
            return (idx as u16, None);
        }
        (idx as u16, t.route.map(|(a, b)| key_slot(&req[a..b])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::WeightedCommand;

    fn one(b: Builtin, space: Option<u64>, order: KeyOrder, cluster: bool) -> Compiled {
        let mut w = Workload::single(CommandSpec::Builtin(b), 3, space);
        w.key_order = order;
        Compiled::new(&w, cluster).unwrap()
    }

    fn parse_args(bytes: &[u8]) -> Vec<String> {
        let (f, n) = resp::parse(bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len());
        match f {
            resp::Frame::Array(items) => items
                .into_iter()
                .map(|i| i.as_text().unwrap().into_owned())
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    #[test]
    fn set_uses_valkey_benchmark_key_names() {
        let c = one(Builtin::Set, Some(1000), KeyOrder::Sequential, false);
        let mut g = c.key_gen(0);
        let mut out = Vec::new();
        c.emit(&mut g, &mut out, None);
        let args = parse_args(&out);
        assert_eq!(args[0], "SET");
        assert_eq!(args[1], "key:000000000000");
        assert_eq!(args[2].len(), 3);
        out.clear();
        c.emit(&mut g, &mut out, None);
        assert_eq!(parse_args(&out)[1], "key:000000000001");
    }

    #[test]
    fn sequential_covers_keyspace_once() {
        let c = one(Builtin::Set, Some(100), KeyOrder::Sequential, false);
        let mut g1 = c.key_gen(1);
        let mut g2 = c.key_gen(2);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..100 {
            let mut out = Vec::new();
            c.emit(if i % 2 == 0 { &mut g1 } else { &mut g2 }, &mut out, None);
            assert!(seen.insert(parse_args(&out)[1].clone()));
        }
        assert_eq!(seen.len(), 100);
    }

    #[test]
    fn random_keys_stay_in_range_and_without_keyspace_stay_literal() {
        let c = one(Builtin::Get, Some(10), KeyOrder::Random { seed: 7 }, false);
        let mut g = c.key_gen(0);
        for _ in 0..100 {
            let mut out = Vec::new();
            c.emit(&mut g, &mut out, None);
            let k = parse_args(&out)[1].clone();
            let n: u64 = k.trim_start_matches("key:").parse().unwrap();
            assert!(n < 10);
        }
        let c = one(Builtin::Get, None, KeyOrder::Sequential, false);
        let mut out = Vec::new();
        c.emit(&mut c.key_gen(0), &mut out, None);
        assert_eq!(parse_args(&out)[1], "key:__rand_int__");
    }

    #[test]
    fn cluster_mset_keys_share_a_slot() {
        let c = one(
            Builtin::Mset(10),
            Some(100_000),
            KeyOrder::Random { seed: 1 },
            true,
        );
        let mut out = Vec::new();
        let slot = c.emit(&mut c.key_gen(0), &mut out, None).1.unwrap();
        let args = parse_args(&out);
        assert_eq!(args.len(), 21);
        for k in args.iter().skip(1).step_by(2) {
            assert!(k.starts_with("key:{"), "{k}");
            assert_eq!(key_slot(k.as_bytes()), slot);
        }
    }

    #[test]
    fn node_keys_partition_the_keyspace_by_slot_owner() {
        for space in [1000u64, 16384, 40_000] {
            let c = one(
                Builtin::Get,
                Some(space),
                KeyOrder::Random { seed: 1 },
                true,
            );
            let owner = |slot: u16| (slot as usize * 3 / SLOTS) as u16;
            let mut seen = std::collections::BTreeSet::new();
            for node in 0..3u16 {
                let keys = c.node_keys(|s| owner(s) == node).unwrap();
                for i in 0..keys.len() {
                    let k = keys.nth(i);
                    assert!(k < space);
                    assert!(seen.insert(k), "key {k} twice");
                }
                // Requests drawn for the node name keys whose slot the node owns.
                let mut g = c.key_gen(u64::from(node));
                for _ in 0..200 {
                    let mut out = Vec::new();
                    let slot = c.emit(&mut g, &mut out, Some(&keys)).1.unwrap();
                    assert_eq!(owner(slot), node);
                    let name = parse_args(&out)[1].clone();
                    let n: u64 = name.rsplit(':').next().unwrap().parse().unwrap();
                    assert_eq!(name, format!("key:{{{:05}}}:{n:012}", n % 16384));
                }
            }
            assert_eq!(seen.len() as u64, space, "every key belongs to one node");
        }
        let mget = one(
            Builtin::Mget(4),
            Some(100_000),
            KeyOrder::Random { seed: 2 },
            true,
        );
        let keys = mget.node_keys(|s| s < 100).unwrap();
        let mut out = Vec::new();
        let slot = mget
            .emit(&mut mget.key_gen(0), &mut out, Some(&keys))
            .1
            .unwrap();
        assert!(slot < 100);
        for k in parse_args(&out).iter().skip(1) {
            let n: u64 = k.rsplit(':').next().unwrap().parse().unwrap();
            assert!(n < 100_000);
            assert_eq!(key_slot(k.as_bytes()), slot);
            assert_eq!(*k, format!("key:{{{:05}}}:{n:012}", n % 16384));
        }
    }

    #[test]
    fn zipf_keys_stay_in_range_with_key_0_hottest() {
        let order = KeyOrder::Zipf {
            seed: 5,
            exponent: 0.99,
        };
        let c = one(Builtin::Get, Some(1000), order, false);
        let mut g = c.key_gen(0);
        let mut counts = vec![0u32; 1000];
        for _ in 0..20_000 {
            let mut out = Vec::new();
            c.emit(&mut g, &mut out, None);
            let n: usize = parse_args(&out)[1]
                .trim_start_matches("key:")
                .parse()
                .unwrap();
            counts[n] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[500]);
        // In cluster mode each node's first key is its hottest, and every key is the node's.
        let c = one(Builtin::Get, Some(40_000), order, true);
        let keys = c.node_keys(|s| s < 5000).unwrap();
        let first = keys.nth(0);
        let mut g = c.key_gen(1);
        let mut hits_first = 0;
        for _ in 0..2000 {
            let mut out = Vec::new();
            let slot = c.emit(&mut g, &mut out, Some(&keys)).1.unwrap();
            assert!(slot < 5000);
            let n: u64 = parse_args(&out)[1]
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            hits_first += u32::from(n == first);
        }
        assert!(
            hits_first > 100,
            "the node's first key drew {hits_first} of 2000"
        );
        let bad = Workload {
            key_order: KeyOrder::Zipf {
                seed: 0,
                exponent: f64::NAN,
            },
            ..Workload::single(CommandSpec::Builtin(Builtin::Get), 3, Some(10))
        };
        assert!(Compiled::new(&bad, false).is_err());
    }

    #[test]
    fn ping_inline_is_a_line_and_shapes_follow_the_command() {
        let c = one(Builtin::PingInline, None, KeyOrder::Sequential, false);
        let mut out = Vec::new();
        let (idx, _) = c.emit(&mut c.key_gen(0), &mut out, None);
        assert_eq!(out, b"PING\r\n");
        assert_eq!(c.expect(idx), None);
        use resp::Frame;
        let lrange = Expect::of(Builtin::Lrange(3)).unwrap();
        let bulk = |s: &str| Frame::Bulk(s.as_bytes().to_vec());
        assert!(lrange.matches(&Frame::Array(vec![bulk("a"), bulk("b"), bulk("c")])));
        assert!(!lrange.matches(&Frame::Array(vec![bulk("a")])));
        let get = Expect::of(Builtin::Get).unwrap();
        assert!(get.matches(&bulk("v")));
        assert!(!get.matches(&Frame::Null));
        let mget = Expect::of(Builtin::Mget(2)).unwrap();
        assert!(!mget.matches(&Frame::Array(vec![bulk("a"), Frame::Null])));
        assert!(
            Expect::of(Builtin::Zpopmin)
                .unwrap()
                .matches(&Frame::Array(vec![bulk("m"), Frame::Double(1.0)]))
        );
        assert!(
            !Expect::of(Builtin::Zpopmin)
                .unwrap()
                .matches(&Frame::Array(vec![]))
        );
    }

    #[test]
    fn templates_route_by_their_first_templated_argument() {
        let template = |args: &[&str]| {
            let w = Workload {
                key_order: KeyOrder::Random { seed: 5 },
                ..Workload::single(
                    CommandSpec::Template(args.iter().map(|a| a.to_string()).collect()),
                    3,
                    Some(100_000),
                )
            };
            Compiled::new(&w, true).unwrap()
        };
        let c = template(&["FCALL", "f", "1", "key:{tag}:__rand_int__"]);
        for _ in 0..50 {
            let mut out = Vec::new();
            let slot = c.emit(&mut c.key_gen(1), &mut out, None).1.unwrap();
            assert_eq!(key_slot(parse_args(&out)[3].as_bytes()), slot);
        }
        let c = template(&["FT.SEARCH", "idx", "hello"]);
        let mut out = Vec::new();
        assert_eq!(
            c.emit(&mut c.key_gen(1), &mut out, None).1,
            Some(key_slot(b"idx"))
        );
    }

    #[test]
    fn dataset_fields_fill_each_row_and_pair_sequential_keys_with_rows() {
        let d = crate::spec::Dataset::parse(
            "term,n\n\"a, b\",1\n__rand_int__,2\n\"c \"\"q\"\"\",3\n",
            false,
            None,
        )
        .unwrap();
        assert_eq!(d.rows[0], ["a, b", "1"]);
        assert_eq!(d.rows[2], ["c \"q\"", "3"]);
        let w = Workload {
            key_order: KeyOrder::Sequential,
            dataset: Some(Arc::new(d)),
            ..Workload::single(
                CommandSpec::Template(vec![
                    "HSET".into(),
                    "doc:__rand_int__".into(),
                    "t".into(),
                    "__field:term__".into(),
                    "n".into(),
                    "x__field:n__y".into(),
                ]),
                3,
                Some(6),
            )
        };
        let c = Compiled::new(&w, false).unwrap();
        let mut g = c.key_gen(0);
        let want = [("a, b", "1"), ("__rand_int__", "2"), ("c \"q\"", "3")];
        for i in 0..6usize {
            let mut out = Vec::new();
            c.emit(&mut g, &mut out, None);
            let args = parse_args(&out);
            assert_eq!(args[1], format!("doc:{i:012}"));
            // Data is data: a value that looks like a placeholder stays as it is.
            assert_eq!(args[3], want[i % 3].0);
            assert_eq!(args[5], format!("x{}y", want[i % 3].1));
        }
        let missing = Workload {
            commands: vec![WeightedCommand {
                command: CommandSpec::Template(vec!["GET".into(), "__field:nope__".into()]),
                weight: 1,
            }],
            ..w
        };
        let err = Compiled::new(&missing, false).unwrap_err().to_string();
        assert!(
            err.contains("column `nope`") && err.contains("term, n"),
            "{err}"
        );
        assert!(crate::spec::Dataset::parse("a,b\n1\n", false, None).is_err());
        assert_eq!(
            crate::spec::Dataset::parse("a\tb\n1\t2\n3\t4\n", true, Some(1))
                .unwrap()
                .rows,
            [["1", "2"]]
        );
    }

    #[test]
    fn templates_and_weights() {
        let w = Workload {
            commands: vec![
                WeightedCommand {
                    command: CommandSpec::Template(vec![
                        "SET".into(),
                        "k:__rand_int__".into(),
                        "__data__".into(),
                    ]),
                    weight: 1,
                },
                WeightedCommand {
                    command: CommandSpec::Builtin(Builtin::Get),
                    weight: 3,
                },
            ],
            data_size: 5,
            keyspacelen: Some(10),
            key_order: KeyOrder::Random { seed: 3 },
            distinct_values: true,
            dataset: None,
            keyless_to_home: false,
        };
        let c = Compiled::new(&w, false).unwrap();
        let mut g = c.key_gen(0);
        let (mut sets, mut gets) = (0, 0);
        for _ in 0..4000 {
            let mut out = Vec::new();
            c.emit(&mut g, &mut out, None);
            let args = parse_args(&out);
            match args[0].as_str() {
                "SET" => {
                    sets += 1;
                    assert_eq!(args[2].len(), 5);
                    assert!(args[1].starts_with("k:"));
                }
                _ => gets += 1,
            }
        }
        assert!(sets > 800 && sets < 1200, "{sets} {gets}");
    }
}
