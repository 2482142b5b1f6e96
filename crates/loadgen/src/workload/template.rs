//! Command templates: each workload command encoded once as RESP, with the offsets of its
//! placeholders, and the reply shape the command implies.

use super::WorkloadError;
use crate::spec::Builtin;

const RAND: &str = "__rand_int__";
const DATA: &str = "__data__";
const TAG: &str = "{tag}";
/// `__field:NAME__`: the value of column NAME of the request's dataset row.
pub(super) const FIELD: &str = "__field:";
/// Internal marker for ZADD's score (random when a keyspace is given, else "0").
const SCORE: &str = "\u{0}score";

/// One encoded command with the offsets of its placeholders.
#[derive(Debug, Clone)]
pub(super) struct Template {
    pub(super) bytes: Vec<u8>,
    /// Start of each 12-digit key number.
    pub(super) keys: Vec<usize>,
    /// Start of each 12-digit random score.
    pub(super) scores: Vec<usize>,
    /// Start of each 5-digit hash tag (inside the braces).
    pub(super) tags: Vec<usize>,
    /// Start and length of each value.
    pub(super) values: Vec<(usize, usize)>,
    /// Byte range of the key used for cluster routing.
    pub(super) route: Option<(usize, usize)>,
    /// The reply shape the command implies, when it implies one.
    pub(super) expect: Option<Expect>,
    /// `route` is an argument with a key number or hash tag (not just the first argument).
    pub(super) keyed: bool,
}

impl Template {
    /// Fixed bytes with no placeholder (filled in by the caller as it encodes).
    pub(super) fn of_bytes(bytes: Vec<u8>) -> Template {
        Template {
            bytes,
            keys: Vec::new(),
            scores: Vec::new(),
            tags: Vec::new(),
            values: Vec::new(),
            route: None,
            expect: None,
            keyed: false,
        }
    }

    /// Without a templated key, the request goes to the client's own node.
    pub(super) fn unroute_keyless(&mut self) {
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
    pub(super) fn of(b: Builtin) -> Option<Expect> {
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

/// Value bytes as valkey-benchmark makes them: a linear congruential sequence mapped to
/// printable characters.
pub(super) fn value_bytes(size: usize) -> Vec<u8> {
    let mut state: u32 = 1234;
    (0..size)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b'0' + ((state >> 16) & 63) as u8
        })
        .collect()
}

/// The command line of a built-in workload, with the key and member names every engine uses:
/// `__rand_int__` where a key number goes, `__data__` where a value goes (valkey-benchmark's
/// placeholders), and in cluster mode `{tag}` so the keys of one call share a slot.
pub fn builtin_args(b: Builtin, cluster: bool) -> Vec<String> {
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

pub(super) fn compile_template(
    args: &[String],
    value: &[u8],
    keyspace: bool,
    cluster: bool,
    row: Option<Row<'_>>,
) -> Result<Template, WorkloadError> {
    if args.is_empty() {
        return Err(WorkloadError::EmptyCommand);
    }
    let mut t = Template::of_bytes(Vec::new());
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
                    return Err(WorkloadError::UnclosedField { arg: arg.clone() });
                };
                let name = &after[..end];
                let (columns, values) = row.unwrap_or_default();
                let Some(col) = columns.iter().position(|c| c == name) else {
                    return Err(WorkloadError::UnknownColumn {
                        arg: arg.clone(),
                        column: name.to_string(),
                        columns: columns.to_vec(),
                    });
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
