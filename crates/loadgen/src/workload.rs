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

const RAND: &str = "__rand_int__";
const DATA: &str = "__data__";
const TAG: &str = "{tag}";
/// `__field:NAME__`: the value of column NAME of the request's dataset row.
const FIELD: &str = "__field:";
/// Internal marker for ZADD's score (random when a keyspace is given, else "0").
const SCORE: &str = "\u{0}score";

/// One encoded command with the offsets of its placeholders.
#[derive(Debug, Clone)]
struct Template {
    bytes: Vec<u8>,
    /// Start of each 12-digit key number.
    keys: Vec<usize>,
    /// Start of each 12-digit random score.
    scores: Vec<usize>,
    /// Start of each 5-digit hash tag (inside the braces).
    tags: Vec<usize>,
    /// Start and length of each value.
    values: Vec<(usize, usize)>,
    /// Byte range of the key used for cluster routing.
    route: Option<(usize, usize)>,
    /// The reply shape the command implies, when it implies one.
    expect: Option<Expect>,
    /// `route` is an argument with a key number or hash tag (not just the first argument).
    keyed: bool,
}

impl Template {
    /// Without a templated key, the request goes to the client's own node.
    fn unroute_keyless(&mut self) {
        if !self.keyed {
            self.route = None;
        }
    }
}

/// The shape of a reply that did what its label claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A value: GET hit, a pop found an element, ZSCORE found its member.
    Value,
    /// The integer 1: SISMEMBER found its member.
    One,
    /// An array of exactly this many elements (LRANGE_N on a full list, ZPOPMIN's
    /// member and score), none of them null when `no_nulls` (MGET: every key hit).
    Array { len: usize, no_nulls: bool },
}

impl Expect {
    fn of(b: Builtin) -> Option<Expect> {
        Some(match b {
            Builtin::Get | Builtin::Lpop | Builtin::Rpop | Builtin::Spop | Builtin::Zscore => {
                Expect::Value
            }
            Builtin::Sismember => Expect::One,
            Builtin::Lrange(n) => Expect::Array {
                len: n as usize,
                no_nulls: false,
            },
            Builtin::Zrange(n) | Builtin::Xrange(n) => Expect::Array {
                len: n as usize,
                no_nulls: true,
            },
            Builtin::Mget(n) => Expect::Array {
                len: n as usize,
                no_nulls: true,
            },
            Builtin::Zpopmin => Expect::Array {
                len: 2,
                no_nulls: true,
            },
            _ => return None,
        })
    }

    /// Whether `reply` (not an error reply) has this shape.
    pub(crate) fn matches(self, reply: &resp::Frame) -> bool {
        use resp::Frame;
        match (self, reply) {
            // RESP3 answers ZSCORE with a double.
            (
                Expect::Value,
                Frame::Bulk(_) | Frame::Simple(_) | Frame::Verbatim { .. } | Frame::Double(_),
            ) => true,
            (Expect::One, Frame::Integer(1)) => true,
            (Expect::Array { len, no_nulls }, Frame::Array(items) | Frame::Set(items)) => {
                items.len() == len && !(no_nulls && items.contains(&Frame::Null))
            }
            _ => false,
        }
    }
}

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

/// The key numbers of `0..keyspacelen` whose hash tag lands in one node's slots, numbered
/// `0..len()` without a table of keys (cluster mode binds each connection to one node).
///
/// Key number `k` carries the hash tag `k % 16384`, so the node's keys are `t + 16384 j` for
/// each tag `t` it owns: index `i` maps to tag `tags[i % n]` and round `i / n`, and the last,
/// partial round holds only the tags below `keyspacelen % 16384`.
#[derive(Debug, Clone)]
pub(crate) struct NodeKeys {
    /// The tags whose slot the node owns, ascending.
    tags: Vec<u16>,
    /// Whole rounds of 16384 key numbers in the keyspace.
    full: u64,
    /// Tags below `rem` (a prefix of `tags`).
    below_rem: u64,
    /// Zipf key order: the distribution over the node's keys (its first key hottest).
    zipf: Option<Zipf>,
}

impl NodeKeys {
    /// Number of the node's key numbers (without a keyspace: number of its tags).
    pub(crate) fn len(&self) -> u64 {
        self.full * self.tags.len() as u64 + self.below_rem
    }

    /// Key number `i` of the node (`i < len()`).
    fn nth(&self, i: u64) -> u64 {
        let n = self.tags.len() as u64;
        if i < self.full * n {
            u64::from(self.tags[(i % n) as usize]) + SLOTS as u64 * (i / n)
        } else {
            u64::from(self.tags[(i - self.full * n) as usize]) + SLOTS as u64 * self.full
        }
    }
}

/// The key numbers with tag `t` (`t % 16384`): the `r`-th of them, modulo their count.
fn same_tag(t: u64, r: u64, space: u64) -> u64 {
    let count = (space / SLOTS as u64 + u64::from(t < space % SLOTS as u64)).max(1);
    t + SLOTS as u64 * (r % count)
}

/// Per-connection generator state.
pub(crate) struct KeyGen {
    rng: u64,
    counter: u64,
}

impl KeyGen {
    /// A double in `[0, 1)` (the top 53 bits of the next number).
    fn next_unit(&mut self) -> f64 {
        (self.next_rand() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn next_rand(&mut self) -> u64 {
        // splitmix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number generators").
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Value bytes as valkey-benchmark makes them: a linear congruential sequence mapped to
/// printable characters.
fn value_bytes(size: usize) -> Vec<u8> {
    let mut state: u32 = 1234;
    (0..size)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b'0' + ((state >> 16) & 63) as u8
        })
        .collect()
}

fn builtin_args(b: Builtin, cluster: bool) -> Vec<String> {
    let t = if cluster { ":{tag}" } else { "" };
    let key = format!("key{t}:{RAND}");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match b {
        Builtin::Ping | Builtin::PingInline => s(&["PING"]),
        Builtin::Set => vec!["SET".into(), key, DATA.into()],
        Builtin::Get => vec!["GET".into(), key],
        Builtin::Incr => vec!["INCR".into(), format!("counter{t}:{RAND}")],
        Builtin::Lpush | Builtin::Rpush => {
            vec![b.command_name().into(), format!("mylist{t}"), DATA.into()]
        }
        Builtin::Lpop | Builtin::Rpop => vec![b.command_name().into(), format!("mylist{t}")],
        Builtin::Sadd => vec![
            "SADD".into(),
            format!("myset{t}"),
            format!("element:{RAND}"),
        ],
        Builtin::Spop => vec!["SPOP".into(), format!("myset{t}")],
        Builtin::Hset => vec![
            "HSET".into(),
            format!("myhash{t}"),
            format!("element:{RAND}"),
            DATA.into(),
        ],
        Builtin::Zadd => vec![
            "ZADD".into(),
            format!("myzset{t}"),
            SCORE.into(),
            format!("element:{RAND}"),
        ],
        Builtin::Zpopmin => vec!["ZPOPMIN".into(), format!("myzset{t}")],
        Builtin::Lrange(n) => vec![
            "LRANGE".into(),
            format!("mylist{t}"),
            "0".into(),
            n.saturating_sub(1).to_string(),
        ],
        Builtin::Mset(n) => {
            let mut v = vec!["MSET".to_string()];
            for _ in 0..n {
                v.push(key.clone());
                v.push(DATA.into());
            }
            v
        }
        Builtin::Mget(n) => {
            let mut v = vec!["MGET".to_string()];
            for _ in 0..n {
                v.push(key.clone());
            }
            v
        }
        Builtin::Xadd => vec![
            "XADD".into(),
            format!("mystream{t}"),
            "*".into(),
            "myfield".into(),
            DATA.into(),
        ],
        // The member names SADD and ZADD write, so a seeded keyspace answers every read.
        Builtin::Sismember => vec![
            "SISMEMBER".into(),
            format!("myset{t}"),
            format!("element:{RAND}"),
        ],
        Builtin::Zscore => vec![
            "ZSCORE".into(),
            format!("myzset{t}"),
            format!("element:{RAND}"),
        ],
        Builtin::Zrange(n) => vec![
            "ZRANGE".into(),
            format!("myzset{t}"),
            "0".into(),
            n.saturating_sub(1).to_string(),
        ],
        Builtin::Xrange(n) => vec![
            "XRANGE".into(),
            format!("mystream{t}"),
            "-".into(),
            "+".into(),
            "COUNT".into(),
            n.to_string(),
        ],
    }
}

/// A dataset row for [`compile_template`]: the column names and this row's values.
type Row<'a> = (&'a [String], &'a [String]);

fn compile_template(
    args: &[String],
    value: &[u8],
    keyspace: bool,
    cluster: bool,
    row: Option<Row<'_>>,
) -> Result<Template, String> {
    if args.is_empty() {
        return Err("empty command".into());
    }
    let mut t = Template {
        bytes: Vec::new(),
        keys: Vec::new(),
        scores: Vec::new(),
        tags: Vec::new(),
        values: Vec::new(),
        route: None,
        expect: None,
        keyed: false,
    };
    resp::write_array_len(&mut t.bytes, args.len());
    let mut routed_by_placeholder = false;
    for (i, arg) in args.iter().enumerate() {
        // Expand the argument, recording placeholder offsets relative to its start.
        let mut out: Vec<u8> = Vec::with_capacity(arg.len());
        let mut keys = Vec::new();
        let mut scores = Vec::new();
        let mut tags = Vec::new();
        let mut values = Vec::new();
        let mut rest = arg.as_str();
        while !rest.is_empty() {
            if keyspace && rest.starts_with(RAND) {
                keys.push(out.len());
                out.extend_from_slice(b"000000000000");
                rest = &rest[RAND.len()..];
            } else if rest.starts_with(SCORE) {
                if keyspace {
                    scores.push(out.len());
                    out.extend_from_slice(b"000000000000");
                } else {
                    out.push(b'0');
                }
                rest = &rest[SCORE.len()..];
            } else if cluster && rest.starts_with(TAG) {
                tags.push(out.len() + 1);
                out.extend_from_slice(b"{00000}");
                rest = &rest[TAG.len()..];
            } else if let Some(after) = rest.strip_prefix(FIELD).filter(|_| row.is_some()) {
                let Some(end) = after.find("__") else {
                    return Err(format!("`{arg}` has `__field:` without its closing `__`"));
                };
                let name = &after[..end];
                let (columns, values) = row.unwrap_or_default();
                let Some(col) = columns.iter().position(|c| c == name) else {
                    return Err(format!(
                        "`{arg}` names the column `{name}`, which the dataset does not have (its columns: {})",
                        columns.join(", ")
                    ));
                };
                // The value goes in as it is: placeholders inside data are data.
                out.extend_from_slice(values[col].as_bytes());
                rest = &after[end + 2..];
            } else if rest.starts_with(DATA) {
                values.push((out.len(), value.len()));
                out.extend_from_slice(value);
                rest = &rest[DATA.len()..];
            } else {
                let c = rest.chars().next().unwrap_or_default();
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                rest = &rest[c.len_utf8()..];
            }
        }
        // `$<len>\r\n` precedes the argument.
        let header = format!("${}\r\n", out.len());
        let base = t.bytes.len() + header.len();
        t.bytes.extend_from_slice(header.as_bytes());
        t.bytes.extend_from_slice(&out);
        t.bytes.extend_from_slice(b"\r\n");
        t.keys.extend(keys.iter().map(|o| base + o));
        t.scores.extend(scores.iter().map(|o| base + o));
        t.tags.extend(tags.iter().map(|o| base + o));
        t.values.extend(values.iter().map(|(o, l)| (base + o, *l)));
        // The routing key: the first argument with a key number or a hash tag in it (a
        // template's key need not be its first argument: `FCALL f 1 key:{tag}:__rand_int__`),
        // else the first argument after the command name.
        let templated = !keys.is_empty() || !tags.is_empty();
        if (i == 1 && !routed_by_placeholder) || (templated && !routed_by_placeholder && i > 0) {
            t.route = Some((base, base + out.len()));
            routed_by_placeholder = templated;
            t.keyed = templated;
        }
    }
    Ok(t)
}

fn write_digits(buf: &mut [u8], mut v: u64) {
    if let Ok(twelve) = <&mut [u8; 12]>::try_from(&mut *buf) {
        // Key numbers: two independent halves of three digit pairs each.
        let v = v % 1_000_000_000_000;
        write_six(&mut twelve[..6], (v / 1_000_000) as u32);
        write_six(&mut twelve[6..], (v % 1_000_000) as u32);
        return;
    }
    for b in buf.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The decimal digit pairs `00` to `99`.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Writes `v` (below 1 000 000) as six zero-padded digits.
fn write_six(out: &mut [u8], v: u32) {
    let pairs = [v / 10_000, (v / 100) % 100, v % 100];
    for (dst, p) in out.chunks_exact_mut(2).zip(pairs) {
        let p = p as usize * 2;
        dst.copy_from_slice(&DIGIT_PAIRS[p..p + 2]);
    }
}

/// A uniform number below `n` from a uniform 64-bit `r` (the high half of `r × n`: no
/// division).
fn below(r: u64, n: u64) -> u64 {
    ((u128::from(r) * u128::from(n)) >> 64) as u64
}

impl Compiled {
    pub(crate) fn new(w: &Workload, cluster: bool) -> Result<Compiled, String> {
        if w.commands.is_empty() {
            return Err("the workload has no command".into());
        }
        if w.keyspacelen == Some(0) {
            return Err("keyspacelen must be at least 1".into());
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
                CommandSpec::Builtin(Builtin::PingInline) => Template {
                    bytes: b"PING\r\n".to_vec(),
                    keys: Vec::new(),
                    scores: Vec::new(),
                    tags: Vec::new(),
                    values: Vec::new(),
                    route: None,
                    expect: None,
                    keyed: false,
                },
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
                            per_row
                                .into_iter()
                                .next()
                                .ok_or("the dataset has no rows")?
                        }
                        (None, true) => {
                            return Err(format!(
                                "`{}` has `__field:` placeholders but the workload has no dataset",
                                args.join(" ")
                            ));
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
            return Err("the weights of the workload's commands add up to 0".into());
        }
        let (sequential, seed) = match w.key_order {
            KeyOrder::Sequential => (Some(Arc::new(AtomicU64::new(0))), 0),
            KeyOrder::Random { seed } | KeyOrder::Zipf { seed, .. } => (None, seed),
        };
        let zipf = match w.key_order {
            KeyOrder::Zipf { exponent, .. } if !(exponent.is_finite() && exponent > 0.0) => {
                return Err(format!(
                    "the zipf exponent must be a positive number, not {exponent}"
                ));
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
        let err = Compiled::new(&missing, false).unwrap_err();
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
